//! The layering written in ARCHITECTURE.md holds: no room (top-level module of `src/`) imports a room on its own
//! line or above it, and at every level of the module tree no siblings import each other in a cycle. The
//! checker reads files only; `scan` finds each file's references, this file maps files to modules and checks.

mod scan;
mod synthetic;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};

type ModulePath = Vec<String>;

/// Where a reference is written: the file, relative to the crate root, and its line.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Location {
    file: String,
    line: usize,
}

impl std::fmt::Display for Location {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{}:{}", self.file, self.line)
    }
}

/// Edges between the children of one module: (from, to) → where the references are written.
type SiblingEdges = BTreeMap<(String, String), BTreeSet<Location>>;

/// Every breach of the layering of the crate at `crate_root`, one line each: the table's own problems first,
/// then imports of a room not below the importer, then cycles among siblings. Empty when the layering holds.
pub fn violations(crate_root: &Path) -> Vec<String> {
    let files = source_files(crate_root);
    let modules: BTreeSet<ModulePath> = files.iter().map(|file| file.module.clone()).collect();
    let rooms: BTreeSet<String> = modules.iter().map(|module| module[0].clone()).collect();
    let (layers, mut problems) = match read_layers(crate_root) {
        Ok(layers) => layers,
        Err(problem) => (BTreeMap::new(), vec![problem]),
    };
    problems.extend(table_problems(&layers, &rooms));

    // Edges by the module whose children they join; the crate root's children are the rooms.
    let mut edges: BTreeMap<ModulePath, SiblingEdges> = BTreeMap::new();
    for file in &files {
        for reference in &file.scan.references {
            let written_in: ModulePath = file
                .module
                .iter()
                .chain(&reference.inline)
                .cloned()
                .collect();
            let Some(target) = scan::resolve(&written_in, &reference.segments) else {
                continue;
            };
            let target = deepest_module(&modules, &target);
            let common = file
                .module
                .iter()
                .zip(&target)
                .take_while(|(a, b)| a == b)
                .count();
            if common == file.module.len() || common == target.len() {
                // Within one module, or between a module and its own parent or descendants.
                continue;
            }
            let location = Location {
                file: file.relative.clone(),
                line: reference.line,
            };
            edges
                .entry(file.module[..common].to_vec())
                .or_default()
                .entry((file.module[common].clone(), target[common].clone()))
                .or_default()
                .insert(location);
        }
    }

    let room_edges = edges.remove(&ModulePath::new()).unwrap_or_default();
    problems.extend(upward_imports(&layers, &room_edges));
    for (parent, sibling_edges) in &edges {
        for cycle in cycles(sibling_edges) {
            problems.push(format!("cycle in {}: {cycle}", parent.join("::")));
        }
    }
    problems
}

/// A `.rs` file under `src/` with the module it is, and what it refers to.
struct SourceFile {
    relative: String,
    module: ModulePath,
    scan: scan::Scan,
}

/// Every `.rs` file under `src/` but the crate roots, each mapped to its module: by the file's place
/// (`src/a/b.rs` and `src/a/b/mod.rs` are `a::b`), unless a `#[path = "…"] mod name;` names it.
fn source_files(crate_root: &Path) -> Vec<SourceFile> {
    let src = crate_root.join("src");
    let mut paths = Vec::new();
    collect_rs_files(&src, &mut paths);
    let mut files: Vec<(PathBuf, SourceFile)> = paths
        .into_iter()
        .filter(|path| {
            !matches!(
                path.strip_prefix(&src).ok().and_then(Path::to_str),
                Some("lib.rs" | "main.rs")
            )
        })
        .map(|path| {
            let text = fs::read_to_string(&path)
                .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
            let file = SourceFile {
                relative: relative_name(crate_root, &path),
                module: module_by_place(&src, &path),
                scan: scan::scan(&text),
            };
            (path, file)
        })
        .collect();

    // A file named by a `#[path]` takes its module from the file that declares it, which may itself be named by
    // one: repeat until nothing changes (each round settles at least one more level).
    for _ in 0..files.len() {
        let named: Vec<(PathBuf, ModulePath)> = files
            .iter()
            .flat_map(|(path, file)| {
                let directory = path.parent().unwrap_or(&src).to_path_buf();
                file.scan.path_modules.iter().map(move |(name, target)| {
                    let module = file.module.iter().chain([name]).cloned().collect();
                    (normalize(&directory.join(target)), module)
                })
            })
            .collect();
        let mut changed = false;
        for (target, module) in named {
            if let Some((_, file)) = files.iter_mut().find(|(path, _)| normalize(path) == target)
                && file.module != module
            {
                file.module = module;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    files.into_iter().map(|(_, file)| file).collect()
}

fn collect_rs_files(directory: &Path, paths: &mut Vec<PathBuf>) {
    let entries =
        fs::read_dir(directory).unwrap_or_else(|error| panic!("{}: {error}", directory.display()));
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            collect_rs_files(&path, paths);
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            paths.push(path);
        }
    }
    paths.sort();
}

fn module_by_place(src: &Path, path: &Path) -> ModulePath {
    let relative = path.strip_prefix(src).expect("a file under src/");
    let mut module: ModulePath = relative
        .with_extension("")
        .components()
        .map(|component| component.as_os_str().to_string_lossy().into_owned())
        .collect();
    if module.last().is_some_and(|last| last == "mod") {
        module.pop();
    }
    module
}

fn relative_name(crate_root: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(crate_root).unwrap_or(path);
    relative
        .components()
        .map(|component| component.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Removes `.` and folds `..` without touching the file system (a `#[path]` may name a file that is elsewhere).
fn normalize(path: &Path) -> PathBuf {
    let mut normal = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                normal.pop();
            }
            other => normal.push(other),
        }
    }
    normal
}

/// The deepest module of the crate that `path` starts with (a path to an item counts as one to its module).
fn deepest_module(modules: &BTreeSet<ModulePath>, path: &[String]) -> ModulePath {
    (0..=path.len())
        .rev()
        .map(|length| path[..length].to_vec())
        .find(|prefix| modules.contains(prefix))
        .unwrap_or_default()
}

/// The rooms by line of the table (0 is the top layer), and the table's own problems. Err when there is no
/// table at all.
fn read_layers(crate_root: &Path) -> Result<(BTreeMap<String, usize>, Vec<String>), String> {
    let text = fs::read_to_string(crate_root.join("ARCHITECTURE.md")).map_err(|error| {
        format!("ARCHITECTURE.md: cannot be read ({error}), so there is no layer table")
    })?;
    let lines: Vec<&str> = text.lines().collect();
    let heading = lines
        .iter()
        .position(|line| line.trim() == "## Layers")
        .ok_or("ARCHITECTURE.md: no `## Layers` heading")?;
    let opening = (heading + 1..lines.len())
        .find(|&index| lines[index].trim_start().starts_with("```"))
        .ok_or("ARCHITECTURE.md: no code block after `## Layers`")?;

    let mut layers = BTreeMap::new();
    let mut problems = Vec::new();
    let mut layer = 0;
    for (index, line) in lines.iter().enumerate().skip(opening + 1) {
        if line.trim_start().starts_with("```") {
            break;
        }
        let content = line.split('#').next().unwrap_or_default();
        let rooms: Vec<&str> = content.split_whitespace().collect();
        if rooms.is_empty() {
            continue;
        }
        for room in rooms {
            if layers.insert(room.to_owned(), layer).is_some() {
                problems.push(format!(
                    "ARCHITECTURE.md:{}: `{room}` is listed twice",
                    index + 1
                ));
            }
        }
        layer += 1;
    }
    Ok((layers, problems))
}

fn table_problems(layers: &BTreeMap<String, usize>, rooms: &BTreeSet<String>) -> Vec<String> {
    let missing = rooms
        .iter()
        .filter(|room| !layers.contains_key(*room))
        .map(|room| {
            format!(
                "src/{room}: the room `{room}` is missing from the layer table in ARCHITECTURE.md"
            )
        });
    let unknown = layers
        .keys()
        .filter(|room| !rooms.contains(*room))
        .map(|room| {
            format!("ARCHITECTURE.md: the layer table names `{room}`, which is no module of src/")
        });
    missing.chain(unknown).collect()
}

/// Check A: a room may import only rooms on lower lines of the table. Rooms missing from the table are
/// reported as such, not here.
fn upward_imports(layers: &BTreeMap<String, usize>, room_edges: &SiblingEdges) -> Vec<String> {
    let mut problems = Vec::new();
    for ((from, to), locations) in room_edges {
        let (Some(from_layer), Some(to_layer)) = (layers.get(from), layers.get(to)) else {
            continue;
        };
        if to_layer <= from_layer {
            for location in locations {
                problems.push(format!(
                    "{location}: {from} imports {to}, which is not below it"
                ));
            }
        }
    }
    problems
}

/// Check B: the cycles among siblings, each written as `a → b (where) → a (where)`. Every edge that lies on a
/// cycle shows in at least one of them, on a shortest cycle through it, so the list is a complete to-do list
/// without listing every one of the possibly many cycles.
fn cycles(edges: &SiblingEdges) -> Vec<String> {
    let mut successors: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (from, to) in edges.keys() {
        successors.entry(from).or_default().push(to);
    }
    let mut covered: BTreeSet<(&str, &str)> = BTreeSet::new();
    let mut found = Vec::new();
    for (from, to) in edges.keys() {
        if covered.contains(&(from.as_str(), to.as_str())) {
            continue;
        }
        let Some(back) = shortest_path(&successors, to, from) else {
            continue;
        };
        // The cycle from → to → … → from, turned to start at its smallest name so each is written once.
        let mut cycle: Vec<&str> = std::iter::once(from.as_str()).chain(back).collect();
        cycle.pop();
        let start = (0..cycle.len())
            .min_by_key(|&index| cycle[index])
            .unwrap_or(0);
        cycle.rotate_left(start);
        let mut text = cycle[0].to_owned();
        for (index, node) in cycle.iter().enumerate() {
            let next = cycle[(index + 1) % cycle.len()];
            covered.insert((node, next));
            let locations = &edges[&((*node).to_owned(), next.to_owned())];
            let places: Vec<String> = locations.iter().map(Location::to_string).collect();
            text.push_str(&format!(" → {next} ({})", places.join(", ")));
        }
        if !found.contains(&text) {
            found.push(text);
        }
    }
    found
}

/// The nodes from `start` to `goal`, both included, on a shortest path; None when `goal` cannot be reached.
fn shortest_path<'a>(
    successors: &BTreeMap<&'a str, Vec<&'a str>>,
    start: &'a str,
    goal: &str,
) -> Option<Vec<&'a str>> {
    let mut came_from: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(node) = queue.pop_front() {
        if node == goal {
            let mut path = vec![node];
            while let Some(&previous) = came_from.get(path[path.len() - 1]) {
                path.push(previous);
            }
            path.reverse();
            return Some(path);
        }
        for &next in successors.get(node).into_iter().flatten() {
            if next != start && !came_from.contains_key(next) {
                came_from.insert(next, node);
                queue.push_back(next);
            }
        }
    }
    None
}

#[test]
fn the_layers_written_in_architecture_md_hold() {
    let problems = violations(Path::new(env!("CARGO_MANIFEST_DIR")));
    assert!(
        problems.is_empty(),
        "{} breaches of the layering in ARCHITECTURE.md (`## Layers`):\n{}\n",
        problems.len(),
        problems.join("\n")
    );
}

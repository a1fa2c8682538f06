//! Where a key of the configuration was written: a line and column of the file, or an environment variable.
//! Read only when something is wrong, to say so where the operator can find it.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml_edit::{ImDocument, Item, Key, Table, TomlError, Value};

use super::ENV_PREFIX;

/// A key as written in TOML, `api_roots[0].collections[0].anonymous_read`, held as figment's path (entries of
/// lists by their 0-based index, as TOML counts them in brackets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct KeyPath(Vec<String>);

impl KeyPath {
    pub(super) fn new(segments: Vec<String>) -> Self {
        Self(segments)
    }

    /// A key as written in TOML, as the checks after loading name it: `peer[0].interval`.
    pub(super) fn parse(written: &str) -> Self {
        let mut segments = Vec::new();
        for part in written.split('.') {
            let mut pieces = part.split('[');
            segments.extend(
                pieces
                    .next()
                    .filter(|name| !name.is_empty())
                    .map(str::to_owned),
            );
            segments.extend(pieces.map(|index| index.trim_end_matches(']').to_owned()));
        }
        Self(segments)
    }

    pub(super) fn segments(&self) -> &[String] {
        &self.0
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn is_index(segment: &str) -> bool {
    !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit())
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (position, segment) in self.0.iter().enumerate() {
            let bare = !segment.is_empty()
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            match (is_index(segment) && position > 0, bare, position) {
                (true, _, _) => write!(f, "[{segment}]")?,
                (false, true, 0) => write!(f, "{segment}")?,
                (false, true, _) => write!(f, ".{segment}")?,
                (false, false, 0) => write!(f, "{segment:?}")?,
                (false, false, _) => write!(f, ".{segment:?}")?,
            }
        }
        Ok(())
    }
}

/// Where a value of the configuration came from, as an error message starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Place {
    /// The file, at a line and column (both from 1) when the key could be found in it.
    File {
        path: PathBuf,
        position: Option<(usize, usize)>,
    },
    Environment(String),
    EmbeddedDefault,
}

impl Place {
    /// The file, where in it unknown.
    pub(super) fn file(path: &Path) -> Self {
        Place::File {
            path: path.to_owned(),
            position: None,
        }
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::File {
                path,
                position: Some((line, column)),
            } => write!(f, "{}:{line}:{column}", path.display()),
            Place::File {
                path,
                position: None,
            } => write!(f, "{}", path.display()),
            Place::Environment(variable) => write!(f, "environment variable {variable}"),
            Place::EmbeddedDefault => f.write_str("the embedded default"),
        }
    }
}

/// Which part of a key's entry an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Spot {
    /// The key itself (a key that should not be there).
    Key,
    /// Its value, or for a table its header.
    Value,
}

/// The configuration file as written, parsed with the positions of its keys and values.
pub(super) struct WrittenFile {
    path: PathBuf,
    text: String,
    document: Result<ImDocument<String>, TomlError>,
}

impl WrittenFile {
    /// `None` when the file cannot be read (again): then only its name is known.
    pub(super) fn read(path: &Path) -> Option<Self> {
        let text = std::fs::read_to_string(path).ok()?;
        Some(Self {
            path: path.to_owned(),
            document: ImDocument::parse(text.clone()),
            text,
        })
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Why the file is not TOML, and where, if it is not.
    pub(super) fn syntax_error(&self) -> Option<(Place, String)> {
        let error = self.document.as_ref().err()?;
        let place = self.place_at(error.span().map(|span| span.start));
        let message = error.message().trim().replace('\n', "; ");
        Some((place, message))
    }

    /// Where `key` is written. With `exact`, only the key itself counts; without, the deepest table or entry
    /// on its way does, when the key is not written there (a key missing from a table points at the table).
    pub(super) fn place(&self, key: &KeyPath, spot: Spot, exact: bool) -> Place {
        let offset = self.document.as_ref().ok().and_then(|document| {
            let found = find(document.as_table(), key.segments());
            let complete = found.depth == key.segments().len();
            if exact && !complete {
                return None;
            }
            match spot {
                Spot::Key if complete => found.key.or(found.node),
                _ => found.node.or(found.key),
            }
        });
        self.place_at(offset)
    }

    fn place_at(&self, offset: Option<usize>) -> Place {
        Place::File {
            path: self.path.clone(),
            position: offset.map(|offset| line_and_column(&self.text, offset)),
        }
    }
}

/// Line and column, both from 1, of a byte offset; columns count characters.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
    let line = before.matches('\n').count() + 1;
    (line, before[line_start..].chars().count() + 1)
}

/// The deepest entry found on a key's way: how many segments were found, and where its key and its value
/// (or table header) start.
#[derive(Debug, Default)]
struct Found {
    depth: usize,
    key: Option<usize>,
    node: Option<usize>,
}

#[derive(Clone, Copy)]
enum Node<'a> {
    Item(&'a Item),
    Table(&'a Table),
    Value(&'a Value),
}

impl<'a> Node<'a> {
    fn span(self) -> Option<Range<usize>> {
        match self {
            Node::Item(item) => item.span(),
            Node::Table(table) => table.span(),
            Node::Value(value) => value.span(),
        }
    }

    /// The entry under `segment`: a table's key, or a list's index; with the key as written, for a key.
    fn child(self, segment: &str) -> Option<(Option<&'a Key>, Node<'a>)> {
        let keyed = |(key, item): (&'a Key, &'a Item)| (Some(key), Node::Item(item));
        let index = || segment.parse::<usize>().ok();
        match self {
            Node::Table(table) | Node::Item(Item::Table(table)) => {
                table.get_key_value(segment).map(keyed)
            }
            Node::Item(Item::ArrayOfTables(tables)) => {
                tables.get(index()?).map(|table| (None, Node::Table(table)))
            }
            Node::Item(Item::Value(value)) => Node::Value(value).child(segment),
            Node::Value(Value::InlineTable(table)) => table.get_key_value(segment).map(keyed),
            Node::Value(Value::Array(values)) => {
                values.get(index()?).map(|value| (None, Node::Value(value)))
            }
            Node::Item(Item::None) | Node::Value(_) => None,
        }
    }
}

fn find(root: &Table, segments: &[String]) -> Found {
    let mut found = Found::default();
    let mut node = Node::Table(root);
    for segment in segments {
        let Some((key, child)) = node.child(segment) else {
            break;
        };
        node = child;
        found.depth += 1;
        let key = key.and_then(Key::span).map(|span| span.start);
        found.key = key.or(found.key);
        found.node = child.span().map(|span| span.start).or(key).or(found.node);
    }
    found
}

/// The `STIXGATE_*` variable that sets `key` or a table or list that holds it, as figment reads them:
/// `STIXGATE_TAXII__MAX_PAGE_SIZE` sets `taxii.max_page_size`.
pub(super) fn environment_variable(key: &KeyPath) -> Option<String> {
    std::env::vars_os().find_map(|(name, _)| {
        let name = name.into_string().ok()?;
        let rest = name
            .get(..ENV_PREFIX.len())
            .filter(|prefix| prefix.eq_ignore_ascii_case(ENV_PREFIX))
            .map(|_| &name[ENV_PREFIX.len()..])?;
        let segments: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
        let sets = !rest.is_empty()
            && segments.len() <= key.segments().len()
            && segments.iter().zip(key.segments()).all(|(a, b)| a == b);
        sets.then_some(name)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(text: &str) -> WrittenFile {
        WrittenFile {
            path: PathBuf::from("c.toml"),
            text: text.to_owned(),
            document: ImDocument::parse(text.to_owned()),
        }
    }

    fn position(place: Place) -> Option<(usize, usize)> {
        match place {
            Place::File { position, .. } => position,
            other => panic!("not in the file: {other:?}"),
        }
    }

    #[test]
    fn keys_are_shown_as_toml_writes_them_and_read_back_the_same() {
        let key = KeyPath::new(
            ["api_roots", "0", "collections", "12", "anonymus_read"]
                .map(str::to_owned)
                .to_vec(),
        );
        assert_eq!(
            key.to_string(),
            "api_roots[0].collections[12].anonymus_read"
        );
        assert_eq!(KeyPath::parse(&key.to_string()), key);
        let odd = KeyPath::new(vec!["a b".into(), "c".into()]);
        assert_eq!(odd.to_string(), "\"a b\".c");
        assert_eq!(KeyPath::parse("peer[1]").segments(), ["peer", "1"]);
    }

    #[test]
    fn keys_and_values_are_found_in_tables_lists_of_tables_inline_tables_and_dotted_keys() {
        let file = written(
            "listen = \"x\"\n\
             [taxii]\n\
             max_page_size = \"ten\"\n\
             [[api_roots]]\n\
             path = \"api\"\n\
             [[api_roots.collections]]\n\
             id = \"a\"\n\
             [[api_roots.collections]]\n\
             id = \"b\"\n  anonymus_read = true\n\
             [[peer]]\n\
             interval = 0\n\
             [intake]\n\
             rules = { shape.bare = [1, \"two\"] }\n\
             misp.public = 5\n",
        );
        let at = |key: &str, spot| position(file.place(&KeyPath::parse(key), spot, true));
        assert_eq!(at("listen", Spot::Value), Some((1, 10)));
        assert_eq!(at("taxii.max_page_size", Spot::Value), Some((3, 17)));
        assert_eq!(at("taxii.max_page_size", Spot::Key), Some((3, 1)));
        assert_eq!(
            at("api_roots[0].collections[1].anonymus_read", Spot::Key),
            Some((10, 3))
        );
        assert_eq!(at("api_roots[0].collections[1]", Spot::Value), Some((8, 1)));
        assert_eq!(at("peer[0].interval", Spot::Value), Some((12, 12)));
        assert_eq!(
            at("intake.rules.shape.bare[1]", Spot::Value),
            Some((14, 28))
        );
        assert_eq!(at("intake.misp.public", Spot::Value), Some((15, 15)));
        assert_eq!(
            at("taxii.title", Spot::Value),
            None,
            "not written: no position"
        );
        let near = file.place(&KeyPath::parse("api_roots[0].title"), Spot::Value, false);
        assert_eq!(position(near), Some((4, 1)), "the table it is missing from");
    }

    #[test]
    fn a_file_that_is_not_toml_says_where() {
        let (place, message) = written("a = 1\nlisten = \n").syntax_error().unwrap();
        assert_eq!(position(place), Some((2, 10)));
        assert!(message.contains("string"), "{message}");
        assert!(!message.contains('\n'), "{message}");
        assert!(written("a = 1\n").syntax_error().is_none());
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        assert_eq!(line_and_column("é = 1\nab = 2", 2), (1, 2));
        assert_eq!(line_and_column("é = 1\nab = 2", 7), (2, 1));
    }
}

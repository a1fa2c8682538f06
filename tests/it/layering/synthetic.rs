//! The checker on small crates written into temporary directories: each breach it must catch, and the
//! syntax it must read (or skip) to find references.

use super::violations;

/// A layer table, top line first, as ARCHITECTURE.md writes it.
fn architecture(table: &str) -> String {
    format!(
        "# Architecture\n\nSome prose.\n\n## Layers\n\n```\n{table}\n```\n\n## Code map\n\n```\nnot a table\n```\n"
    )
}

/// Writes a crate of `files` (path, text) with `table` as its layers, and checks it.
fn check(table: &str, files: &[(&str, &str)]) -> Vec<String> {
    let root = tempfile::tempdir().expect("a temporary directory");
    let mut all = vec![("ARCHITECTURE.md".to_owned(), architecture(table))];
    all.extend(
        files
            .iter()
            .map(|(path, text)| ((*path).to_owned(), (*text).to_owned())),
    );
    for (path, text) in all {
        let path = root.path().join(path);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("a folder");
        std::fs::write(path, text).expect("a written file");
    }
    violations(root.path())
}

#[test]
fn a_crate_that_keeps_its_layers_passes() {
    let problems = check(
        "top # the entry point\n\nmiddle\nbottom other",
        &[
            (
                "src/lib.rs",
                "pub mod top; pub mod middle; pub mod bottom; pub mod other;",
            ),
            (
                "src/main.rs",
                "use stixgate::top;\nfn main() { crate::top::run() }",
            ),
            (
                "src/top.rs",
                "use crate::{middle, bottom::Thing};\npub fn run() { crate::other::go() }",
            ),
            (
                "src/middle/mod.rs",
                "mod a; mod b;\npub use self::a::A;\nuse crate::bottom;",
            ),
            (
                "src/middle/a.rs",
                "use super::b::B;\nuse super::*;\npub struct A;",
            ),
            ("src/middle/b.rs", "use super::super::other;\npub struct B;"),
            ("src/bottom.rs", "pub struct Thing;"),
            ("src/other.rs", "pub fn go() {}"),
        ],
    );
    assert_eq!(problems, Vec::<String>::new());
}

#[test]
fn a_cycle_between_two_siblings_fails_with_both_places() {
    let problems = check(
        "server",
        &[
            (
                "src/server/mod.rs",
                "mod request_log;\nmod rights;\npub struct AppState;",
            ),
            (
                "src/server/request_log.rs",
                "use super::AppState;\n\nuse super::rights::Grant;\n",
            ),
            (
                "src/server/rights.rs",
                "pub struct Grant;\nfn f() {\n    super::request_log::log();\n}\n",
            ),
        ],
    );
    assert_eq!(
        problems,
        [
            "cycle in server: request_log → rights (src/server/request_log.rs:3) → request_log (src/server/rights.rs:3)"
        ]
    );
}

#[test]
fn a_cycle_through_a_subtree_and_a_longer_cycle_fail() {
    let problems = check(
        "store",
        &[
            ("src/store/mod.rs", ""),
            // groups/pages.rs uses entries: the edge is groups → entries, one level up.
            ("src/store/groups/mod.rs", "mod pages;"),
            (
                "src/store/groups/pages.rs",
                "use crate::store::entries::Entry;",
            ),
            ("src/store/entries.rs", "use super::keys::Key;"),
            (
                "src/store/keys.rs",
                "fn f() -> crate::store::groups::Group { todo!() }",
            ),
        ],
    );
    assert_eq!(
        problems,
        [
            "cycle in store: entries → keys (src/store/entries.rs:1) → groups (src/store/keys.rs:1) \
             → entries (src/store/groups/pages.rs:1)"
        ]
    );
}

#[test]
fn an_import_of_a_room_above_or_beside_fails() {
    let problems = check(
        "top\nbottom beside",
        &[
            ("src/top.rs", "use crate::bottom::Thing;"),
            (
                "src/bottom.rs",
                "pub struct Thing;\n\nuse crate::top::run;\nuse crate::beside;",
            ),
            (
                "src/beside.rs",
                "fn f() { crate::bottom::Thing; crate::bottom::Thing; }",
            ),
        ],
    );
    assert_eq!(
        problems,
        [
            "src/beside.rs:1: beside imports bottom, which is not below it",
            "src/bottom.rs:4: bottom imports beside, which is not below it",
            "src/bottom.rs:3: bottom imports top, which is not below it",
        ]
    );
}

#[test]
fn a_room_missing_from_the_table_or_a_table_entry_without_a_room_fails() {
    let problems = check(
        "top\ngone\nbottom",
        &[
            ("src/top.rs", ""),
            ("src/bottom/mod.rs", ""),
            ("src/extra/mod.rs", ""),
        ],
    );
    assert_eq!(
        problems,
        [
            "src/extra: the room `extra` is missing from the layer table in ARCHITECTURE.md",
            "ARCHITECTURE.md: the layer table names `gone`, which is no module of src/",
        ]
    );
}

#[test]
fn a_room_listed_twice_or_no_table_fails() {
    let twice = check("top\ntop", &[("src/top.rs", "")]);
    assert_eq!(twice, ["ARCHITECTURE.md:9: `top` is listed twice"]);

    let root = tempfile::tempdir().expect("a temporary directory");
    std::fs::create_dir(root.path().join("src")).expect("src/");
    std::fs::write(root.path().join("ARCHITECTURE.md"), "# Architecture\n")
        .expect("a written file");
    assert_eq!(
        violations(root.path()),
        ["ARCHITECTURE.md: no `## Layers` heading"]
    );
}

#[test]
fn nested_use_groups_and_super_super_paths_are_resolved() {
    let problems = check(
        "high\nlow",
        &[
            ("src/high.rs", "pub struct Y;"),
            ("src/low/mod.rs", "mod deep;\npub mod x;"),
            ("src/low/x.rs", ""),
            ("src/low/deep/mod.rs", "mod inner;"),
            (
                "src/low/deep/inner.rs",
                "use crate::{low::x, std_like::{a, b}};\n\
                 use crate::{\n    low::{self, x::X},\n    high::{self as h, Y},\n};\n\
                 fn f() {\n    super::super::super::high::Y;\n}\n\
                 use super::super::{x as y, super::high::*};\n",
            ),
        ],
    );
    assert_eq!(
        problems,
        [
            "src/low/deep/inner.rs:4: low imports high, which is not below it",
            "src/low/deep/inner.rs:7: low imports high, which is not below it",
            "src/low/deep/inner.rs:9: low imports high, which is not below it",
        ]
    );
}

#[test]
fn paths_in_comments_strings_and_macros_are_not_references() {
    let problems = check(
        "high\nlow",
        &[
            ("src/high.rs", "pub struct X;"),
            (
                "src/low.rs",
                r####"//! Uses crate::high::X, in prose.
/// See [`crate::high::X`].
// use crate::high;
/* crate::high::X /* nested */ crate::high::X */
pub(in crate::low) fn f() -> &'static str {
    let quote = '"';
    let escaped = '\'';
    let text = "use crate::high::X; \" crate::high::X";
    let raw = r#"crate::high::X "quoted" "#;
    let bytes = b"crate::high::X";
    macro_rules! m { () => { $crate::high::X } }
    text
}
fn g(_: &'static str) { let _ = crate::high::X; }
"####,
            ),
        ],
    );
    assert_eq!(
        problems,
        ["src/low.rs:14: low imports high, which is not below it"]
    );
}

#[test]
fn inline_modules_and_path_attributes_place_a_file_where_the_code_says() {
    // `tests` in x.rs and the file x_tests.rs are both inside x: their `super` is x, not the folder.
    let problems = check(
        "a",
        &[
            ("src/a/mod.rs", "mod x;\nmod y;"),
            (
                "src/a/x.rs",
                "#[cfg(test)]\n#[path = \"x_tests.rs\"]\nmod tests;\npub fn f() {}",
            ),
            (
                "src/a/x_tests.rs",
                "use super::f;\nuse super::super::y::g;\n",
            ),
            (
                "src/a/y.rs",
                "pub fn g() {}\n#[cfg(test)]\nmod tests {\n    use super::super::x::f;\n}\n",
            ),
        ],
    );
    assert_eq!(
        problems,
        ["cycle in a: x → y (src/a/x_tests.rs:2) → x (src/a/y.rs:4)"]
    );
}

//! Property tests: arbitrary envelopes of both shapes and bare events round-trip byte for byte through
//! `POST /envelopes` + `GET /envelopes/{id}`, and through `import` + `export`.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use reqwest::StatusCode;

use crate::helpers::{run_cli, spawn_app};

/// A JSON value that remembers how its numbers are written.
#[derive(Debug, Clone)]
enum Json {
    Null,
    Bool(bool),
    Number(String),
    Text(String),
    List(Vec<Json>),
    Object(Vec<(String, Json)>),
}

/// How the text is laid out: the same value written differently must still come back as written.
#[derive(Debug, Clone, Copy)]
struct Layout {
    spaced: bool,
    ascii_only: bool,
}

fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        "[1-9][0-9]{19,40}",
        "-[1-9][0-9]{19,30}",
        Just("1e+16".to_owned()),
        Just("31.9522".to_owned()),
        Just("100.0".to_owned()),
        Just("-0.0".to_owned()),
        Just("2.5E-7".to_owned()),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| format!("{f:?}")),
    ]
}

fn value(depth: u32) -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        number().prop_map(Json::Number),
        any::<String>().prop_map(Json::Text),
        "[\"\\\\/\\n\\t\\u{0}-\\u{1f}\\u{7f}é€𝄞]{0,8}".prop_map(Json::Text),
    ];
    leaf.prop_recursive(depth, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Json::List),
            prop::collection::hash_map(any::<String>(), inner, 0..5)
                .prop_map(|map| Json::Object(map.into_iter().collect())),
        ]
    })
}

/// Payload keys that follow IntelMQ's grammar; `extra.*` keys get deeply nested values. A bare event needs
/// an IntelMQ field, so `min_extra` is 1 for those.
fn payload(min_extra: usize) -> impl Strategy<Value = Vec<(String, Json)>> {
    let key = "[a-z_][a-z_0-9]{1,8}(\\.[a-z_0-9]{1,6}){0,3}"
        .prop_filter("keys with a meaning of their own", |k| {
            !["raw", "__type", "meta", "payload", "objects", "type"].contains(&k.as_str())
        });
    let plain = prop::collection::hash_map(key, value(1), 0..8);
    let extra = prop::collection::hash_map("extra\\.[a-z_0-9]{1,10}", value(5), min_extra..4);
    (plain, extra).prop_map(|(plain, extra)| {
        plain
            .into_iter()
            .chain(extra)
            .collect::<HashMap<_, _>>()
            .into_iter()
            .collect()
    })
}

fn meta_extras() -> impl Strategy<Value = Vec<(String, Json)>> {
    prop::collection::hash_map("[a-z]{2,6}:[a-z_]{1,8}", value(2), 0..3)
        .prop_map(|m| m.into_iter().collect())
}

#[derive(Debug, Clone)]
enum Record {
    Draft {
        id: String,
        parent: Option<String>,
        meta: Vec<(String, Json)>,
        payload: Vec<(String, Json)>,
    },
    Decided {
        id: String,
        meta: Vec<(String, Json)>,
        payload: Vec<(String, Json)>,
    },
    Bare {
        payload: Vec<(String, Json)>,
    },
}

static CASE: AtomicUsize = AtomicUsize::new(0);

/// Ids are made unique per case, so that no case meets another's envelope.
fn id() -> impl Strategy<Value = String> {
    "[^\\x00-\\x1f\\x7f-\\x9f]{1,40}".prop_map(|raw| {
        let case = CASE.fetch_add(1, Ordering::Relaxed);
        format!("{case}:{raw}").chars().take(256).collect()
    })
}

fn record() -> impl Strategy<Value = Record> {
    prop_oneof![
        (id(), prop::option::of(id()), meta_extras(), payload(0)).prop_map(
            |(id, parent, meta, payload)| Record::Draft {
                id,
                parent,
                meta,
                payload
            }
        ),
        (id(), meta_extras(), payload(0)).prop_map(|(id, meta, payload)| Record::Decided {
            id,
            meta,
            payload
        }),
        payload(1).prop_map(|payload| Record::Bare { payload }),
    ]
}

fn layout() -> impl Strategy<Value = Layout> {
    (any::<bool>(), any::<bool>()).prop_map(|(spaced, ascii_only)| Layout { spaced, ascii_only })
}

impl Record {
    fn text(&self, layout: Layout) -> String {
        let text = |s: &str| Json::Text(s.to_owned());
        let json = match self {
            Record::Draft {
                id,
                parent,
                meta,
                payload,
            } => {
                let mut uuid = vec![("current".to_owned(), text(id))];
                if let Some(parent) = parent {
                    uuid.push(("parent".to_owned(), text(parent)));
                }
                let mut header = vec![
                    ("version".to_owned(), Json::Number("1".into())),
                    ("uuid".to_owned(), Json::Object(uuid)),
                    ("type".to_owned(), text("event")),
                    ("format".to_owned(), text("intelmq")),
                ];
                header.extend(meta.iter().cloned());
                Json::Object(vec![
                    ("meta".to_owned(), Json::Object(header)),
                    ("payload".to_owned(), Json::Object(payload.clone())),
                ])
            }
            Record::Decided { id, meta, payload } => {
                let mut header = vec![("uuid".to_owned(), text(id))];
                header.extend(meta.iter().cloned());
                Json::Object(vec![
                    ("format".to_owned(), text("intelmq")),
                    ("version".to_owned(), Json::Number("1".into())),
                    ("type".to_owned(), text("event")),
                    ("meta".to_owned(), Json::Object(header)),
                    ("payload".to_owned(), Json::Object(payload.clone())),
                ])
            }
            Record::Bare { payload } => Json::Object(payload.clone()),
        };
        let mut out = String::new();
        write_json(&json, layout, &mut out);
        out
    }

    fn id(&self) -> Option<&str> {
        match self {
            Record::Draft { id, .. } | Record::Decided { id, .. } => Some(id),
            Record::Bare { .. } => None,
        }
    }
}

fn write_json(json: &Json, layout: Layout, out: &mut String) {
    let (comma, colon) = if layout.spaced {
        (", ", ": ")
    } else {
        (",", ":")
    };
    match json {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Number(n) => out.push_str(n),
        Json::Text(s) => write_string(s, layout, out),
        Json::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(comma);
                }
                write_json(item, layout, out);
            }
            out.push(']');
        }
        Json::Object(entries) => {
            out.push('{');
            for (i, (key, item)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(comma);
                }
                write_string(key, layout, out);
                out.push_str(colon);
                write_json(item, layout, out);
            }
            out.push('}');
        }
    }
}

fn write_string(s: &str, layout: Layout, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => write!(out, "\\u{:04x}", c as u32).unwrap(),
            c if layout.ascii_only && !c.is_ascii() => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    write!(out, "\\u{unit:04x}").unwrap();
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn wrapped_payload(record: &str) -> String {
    format!("\"payload\":{record}}}")
}

#[test]
fn envelopes_round_trip_through_post_and_get() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let app = runtime.block_on(spawn_app());
    let mut runner = TestRunner::new(Config {
        cases: 200,
        ..Config::default()
    });
    runner
        .run(&(record(), layout()), |(record, layout)| {
            let text = record.text(layout);
            runtime.block_on(async {
                let (status, answer) = app.post_envelopes("", text.clone()).await;
                prop_assert_eq!(status, StatusCode::OK, "{}", answer);
                prop_assert_eq!(&answer["records"][0]["status"], "stored", "{}", answer);
                let id = answer["records"][0]["id"].as_str().unwrap().to_owned();
                if let Some(expected) = record.id() {
                    prop_assert_eq!(id.as_str(), expected);
                }
                let (status, stored) = app.get_envelope(&id).await;
                prop_assert_eq!(status, StatusCode::OK);
                let stored = String::from_utf8(stored).unwrap();
                match record {
                    Record::Bare { .. } => {
                        prop_assert!(stored.ends_with(&wrapped_payload(&text)), "{}", stored)
                    }
                    _ => prop_assert_eq!(stored, text),
                }
                Ok(())
            })
        })
        .unwrap();
    runtime.block_on(app.stop());
}

#[test]
fn envelopes_round_trip_through_import_and_export() {
    let mut runner = TestRunner::new(Config::default());
    let records = prop::collection::vec((record(), layout()), 150)
        .new_tree(&mut runner)
        .unwrap()
        .current();
    let texts: Vec<String> = records
        .iter()
        .map(|(record, layout)| record.text(*layout))
        .collect();
    let data = tempfile::tempdir().unwrap();
    let output = run_cli(
        &["import", "-"],
        data.path(),
        format!("{}\n", texts.join("\n")).as_bytes(),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let exported = String::from_utf8(run_cli(&["export"], data.path(), b"").stdout).unwrap();
    let lines: Vec<&str> = exported.lines().collect();
    assert_eq!(lines.len(), texts.len());
    for (((record, _), text), line) in records.iter().zip(&texts).zip(lines) {
        match record {
            Record::Bare { .. } => assert!(line.ends_with(&wrapped_payload(text)), "{line}"),
            _ => assert_eq!(line, text),
        }
    }
}

#[test]
fn envelopes_round_trip_through_stix_byte_for_byte() {
    use stixgate::envelope::{Envelope, IntakeRules, Minting, Shape};
    use stixgate::mapping::{Tables, Unmapped, map_envelope, unmap};
    let tables = Tables::embedded();
    let rules = IntakeRules {
        minting: Minting::Uuid4,
        bare_shape: Shape::Decided,
    };
    let mut runner = TestRunner::new(Config {
        cases: 300,
        ..Config::default()
    });
    runner
        .run(&(record(), layout()), |(record, layout)| {
            let text = record.text(layout);
            let envelope =
                Envelope::parse(text.as_bytes(), &rules).expect("generated records are valid");
            let mapped = map_envelope(&envelope, &tables, None);
            for object in std::iter::once(&mapped.carrier).chain(&mapped.standard) {
                prop_assert!(
                    stixgate::stix::ObjectHeader::read(object.to_string().as_bytes()).is_ok(),
                    "{}",
                    object
                );
            }
            let carrier = serde_json::to_vec(&mapped.carrier).unwrap();
            let Ok(Unmapped::Carrier(back)) = unmap(&carrier, &[]) else {
                return Err(TestCaseError::fail("the carrier did not unmap"));
            };
            prop_assert_eq!(back.text(), envelope.text());
            if record.id().is_some() {
                prop_assert_eq!(back.text(), text.as_bytes());
            }
            Ok(())
        })
        .unwrap();
}

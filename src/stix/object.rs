//! The common properties every stored object must have right (STIX 2.1 §3.2), read from its exact text.

use serde::Deserialize;
use serde_json::Value;

use super::id::StixId;
use super::kind::Kind;
use super::timestamp::Timestamp;
use crate::quote::{cut, shown};

/// What the store needs to know of an object: its id and its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectHeader {
    pub id: StixId,
    /// `modified`, else `created`; `None` for objects without either (SCOs).
    pub version: Option<(Timestamp, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ObjectError {
    /// The object's id, when it has a usable one.
    pub id: Option<String>,
    pub message: String,
}

/// Only the common properties: the rest of the object is neither read nor copied.
#[derive(Deserialize)]
struct Common {
    #[serde(rename = "type")]
    object_type: Option<Value>,
    id: Option<Value>,
    spec_version: Option<Value>,
    created: Option<Value>,
    modified: Option<Value>,
}

impl ObjectHeader {
    /// Checks the common properties of one STIX 2.1 object: type, id (matching the type), the properties its
    /// kind requires (see [`Kind::required`]), spec_version, created and modified (STIX timestamps, modified
    /// not before created).
    pub fn read(text: &[u8]) -> Result<Self, ObjectError> {
        let common: Common = serde_json::from_slice(text).map_err(|e| ObjectError {
            id: None,
            message: format!("not a JSON object: {}", cut(&e.to_string())),
        })?;
        let fail = |id: Option<&str>, message: String| ObjectError {
            id: id.map(str::to_owned),
            message,
        };
        let Some(Value::String(raw_id)) = &common.id else {
            return Err(fail(None, "the object has no string `id`".into()));
        };
        let id = StixId::parse(raw_id).map_err(|m| fail(None, m))?;
        let in_id = Some(raw_id.as_str());
        match &common.object_type {
            Some(Value::String(t)) if t == id.object_type() => {}
            Some(Value::String(t)) => {
                return Err(fail(
                    in_id,
                    format!("`type` {} does not match the id's type", shown(t)),
                ));
            }
            _ => return Err(fail(in_id, "the object has no string `type`".into())),
        }
        let given = [
            ("spec_version", common.spec_version.is_some()),
            ("created", common.created.is_some()),
            ("modified", common.modified.is_some()),
        ];
        let kind = Kind::of(id.object_type());
        let missing: Vec<String> = given
            .iter()
            .filter(|(name, present)| !present && kind.required().contains(name))
            .map(|(name, _)| format!("`{name}`"))
            .collect();
        if !missing.is_empty() {
            let mut message = format!(
                "{} missing: required for {}",
                missing.join(", "),
                kind.described()
            );
            if common.spec_version.is_none() {
                message.push_str(
                    "; without `spec_version` an object is STIX 2.0, and only 2.1 is stored",
                );
            }
            return Err(fail(in_id, message));
        }
        let created = stix_time(&common.created, "created").map_err(|m| fail(in_id, m))?;
        let modified = stix_time(&common.modified, "modified").map_err(|m| fail(in_id, m))?;
        match &common.spec_version {
            Some(Value::String(v)) if v == "2.1" => {}
            Some(other) => {
                return Err(fail(
                    in_id,
                    format!(
                        "`spec_version` {} is not \"2.1\", the only version stored",
                        cut(&other.to_string())
                    ),
                ));
            }
            // STIX 2.1 §3.2: a missing spec_version means 2.0, except for SCOs (no created or modified).
            None if created.is_some() || modified.is_some() => {
                return Err(fail(
                    in_id,
                    "`spec_version` is missing: the object is STIX 2.0, and only 2.1 is stored"
                        .into(),
                ));
            }
            None => {}
        }
        if let (Some((created, _)), Some((modified, _))) = (&created, &modified)
            && modified < created
        {
            return Err(fail(in_id, "`modified` is earlier than `created`".into()));
        }
        Ok(Self {
            id,
            version: modified.or(created),
        })
    }
}

fn stix_time(value: &Option<Value>, name: &str) -> Result<Option<(Timestamp, String)>, String> {
    match value {
        None => Ok(None),
        Some(Value::String(text)) => Timestamp::parse_stix(text)
            .map(|t| Some((t, text.clone())))
            .map_err(|e| format!("`{name}`: {e}")),
        Some(other) => Err(format!(
            "`{name}` must be a timestamp string, not {}",
            cut(&other.to_string())
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f";

    fn read(text: &str) -> Result<ObjectHeader, ObjectError> {
        ObjectHeader::read(text.as_bytes())
    }

    #[test]
    fn the_version_is_modified_else_created_else_none() {
        let sdo = read(&format!(
            r#"{{"type":"indicator","id":"{ID}","spec_version":"2.1","created":"2020-01-01T00:00:00.000Z","modified":"2021-01-01T00:00:00.000Z"}}"#
        ))
        .unwrap();
        assert_eq!(sdo.version.unwrap().1, "2021-01-01T00:00:00.000Z");
        let marking = read(r#"{"type":"marking-definition","id":"marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9","spec_version":"2.1","created":"2017-01-20T00:00:00.000Z"}"#).unwrap();
        assert_eq!(marking.version.unwrap().1, "2017-01-20T00:00:00.000Z");
        let sco = read(r#"{"type":"ipv4-addr","id":"ipv4-addr--28bb3599-77cd-5a82-a950-b5bc3caf07c4","value":"198.51.100.3"}"#).unwrap();
        assert_eq!(sco.version, None);
    }

    #[test]
    fn broken_common_properties_are_named() {
        let cases = [
            (r#"[]"#.to_owned(), "not a JSON object"),
            (r#"{"type":"indicator"}"#.to_owned(), "no string `id`"),
            (
                format!(r#"{{"type":"malware","id":"{ID}","spec_version":"2.1"}}"#),
                "does not match",
            ),
            (
                format!(
                    r#"{{"type":"indicator","id":"{ID}","created":"2020-01-01T00:00:00.000Z","modified":"2020-01-01T00:00:00.000Z"}}"#
                ),
                "`spec_version` missing: required for an SDO (STIX 2.1 §3.2); without `spec_version` an object is STIX 2.0",
            ),
            (
                r#"{"type":"ipv4-addr","id":"ipv4-addr--28bb3599-77cd-5a82-a950-b5bc3caf07c4","created":"2020-01-01T00:00:00.000Z"}"#.to_owned(),
                "the object is STIX 2.0",
            ),
            (
                format!(
                    r#"{{"type":"indicator","id":"{ID}","spec_version":"2.0","created":"2020-01-01T00:00:00.000Z","modified":"2020-01-01T00:00:00.000Z"}}"#
                ),
                "not \"2.1\"",
            ),
            (
                format!(
                    r#"{{"type":"indicator","id":"{ID}","spec_version":"2.1","created":"yesterday","modified":"yesterday"}}"#
                ),
                "`created`",
            ),
            (
                format!(
                    r#"{{"type":"indicator","id":"{ID}","spec_version":"2.1","created":"2021-01-01T00:00:00Z","modified":"2020-01-01T00:00:00Z"}}"#
                ),
                "earlier than",
            ),
        ];
        for (text, expected) in cases {
            let error = read(&text).unwrap_err();
            assert!(error.message.contains(expected), "{text}: {error}");
        }
    }

    #[test]
    fn each_kind_needs_its_common_properties_and_the_message_names_the_missing_ones() {
        let uuid = "00000000-0000-4000-8000-000000000001";
        let time = r#""2020-01-01T00:00:00.000Z""#;
        let object = |object_type: &str, properties: &[&str]| {
            let mut text = format!(r#"{{"type":"{object_type}","id":"{object_type}--{uuid}""#);
            for property in properties {
                let value = if *property == "spec_version" {
                    r#""2.1""#
                } else {
                    time
                };
                text.push_str(&format!(r#","{property}":{value}"#));
            }
            text + "}"
        };
        let all = ["spec_version", "created", "modified"];
        let cases: [(&str, &[&str], Option<&str>); 9] = [
            (
                "indicator",
                &["spec_version", "created"],
                Some("`modified` missing: required for an SDO"),
            ),
            (
                "relationship",
                &["spec_version"],
                Some("`created`, `modified` missing: required for an SRO"),
            ),
            (
                "x-acme-widget",
                &["spec_version", "modified"],
                Some("`created` missing: required for a custom object"),
            ),
            (
                "extension-definition",
                &["spec_version", "created"],
                Some("`modified` missing: required for an extension-definition"),
            ),
            (
                "language-content",
                &["spec_version", "created"],
                Some("`modified` missing: required for a language-content"),
            ),
            (
                "marking-definition",
                &["spec_version"],
                Some("`created` missing: required for a marking-definition"),
            ),
            ("marking-definition", &["spec_version", "created"], None),
            ("url", &[], None),
            ("iep04-envelope", &all, None),
        ];
        for (object_type, properties, expected) in cases {
            let text = object(object_type, properties);
            match (read(&text), expected) {
                (Ok(_), None) => {}
                (Err(error), Some(expected)) => {
                    assert!(error.message.contains(expected), "{text}: {error}");
                    assert_eq!(
                        error.id.as_deref(),
                        Some(&*format!("{object_type}--{uuid}"))
                    );
                }
                (result, _) => panic!("{text}: {result:?}"),
            }
        }
    }
}

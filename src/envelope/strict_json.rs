//! JSON parsing that refuses duplicate object keys, which serde_json silently resolves to the last value.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::error::RecordError;

/// Parses `bytes` into a [`Value`], failing on invalid JSON or on any object with a repeated key.
pub fn parse(bytes: &[u8]) -> Result<Value, RecordError> {
    check_unique_keys(bytes)?;
    serde_json::from_slice(bytes).map_err(|e| RecordError::InvalidJson(e.to_string()))
}

/// Fails on invalid JSON or on any object, at any depth, with a repeated key, naming the key and where it is.
pub fn check_unique_keys(bytes: &[u8]) -> Result<(), RecordError> {
    let duplicate = RefCell::new(None);
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let check = KeyCheck {
        path: &Path::Root,
        duplicate: &duplicate,
    };
    if let Err(error) = check
        .deserialize(&mut deserializer)
        .and_then(|()| deserializer.end())
    {
        return Err(duplicate
            .into_inner()
            .unwrap_or_else(|| RecordError::InvalidJson(error.to_string())));
    }
    Ok(())
}

/// Where a value sits in the document; rendered only when an error is reported.
enum Path<'a> {
    Root,
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root => f.write_str("the top-level object"),
            nested => write!(f, "`{}`", Segments(nested)),
        }
    }
}

/// A path as dotted keys and `[index]` parts.
struct Segments<'a>(&'a Path<'a>);

impl fmt::Display for Segments<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Path::Root => Ok(()),
            Path::Key(Path::Root, key) => f.write_str(key),
            Path::Key(parent, key) => write!(f, "{}.{key}", Segments(parent)),
            Path::Index(parent, index) => write!(f, "{}[{index}]", Segments(parent)),
        }
    }
}

struct KeyCheck<'a> {
    path: &'a Path<'a>,
    /// Set when a duplicate key stops the walk, so that the caller can report it as such.
    duplicate: &'a RefCell<Option<RecordError>>,
}

impl KeyCheck<'_> {
    fn at<'b>(&'b self, path: &'b Path<'b>) -> KeyCheck<'b> {
        KeyCheck {
            path,
            duplicate: self.duplicate,
        }
    }
}

impl<'de> DeserializeSeed<'de> for KeyCheck<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for KeyCheck<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        while seq
            .next_element_seed(self.at(&Path::Index(self.path, index)))?
            .is_some()
        {
            index += 1;
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen: HashSet<Cow<'de, str>> = HashSet::new();
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            map.next_value_seed(self.at(&Path::Key(self.path, &key)))?;
            if seen.contains(&key) {
                *self.duplicate.borrow_mut() = Some(RecordError::DuplicateKey {
                    key: key.clone().into_owned(),
                    location: self.path.to_string(),
                });
                return Err(de::Error::custom("duplicate key"));
            }
            seen.insert(key);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_duplicate_key_and_where_it_is() {
        let err = parse(br#"{"payload": {"extra": {"a": 1, "a": 2}}}"#).unwrap_err();
        assert_eq!(err.to_string(), r#"duplicate key "a" in `payload.extra`"#);
        let err = parse(br#"{"x": 1, "x": 1}"#).unwrap_err();
        assert_eq!(
            err,
            RecordError::DuplicateKey {
                key: "x".into(),
                location: "the top-level object".into()
            }
        );
    }

    #[test]
    fn keeps_big_numbers_and_accepts_same_key_in_different_objects() {
        let value =
            parse(br#"{"a": {"k": 1}, "b": {"k": 123456789012345678901234567890}}"#).unwrap();
        assert_eq!(
            value["b"]["k"].to_string(),
            "123456789012345678901234567890"
        );
    }

    #[test]
    fn reports_syntax_errors_with_position() {
        let err = parse(b"{\"a\": }").unwrap_err();
        assert!(
            matches!(err, RecordError::InvalidJson(ref m) if m.contains("line 1 column")),
            "{err}"
        );
    }
}

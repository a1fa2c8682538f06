//! IntelMQ's hierarchical form (`hierarchical_output`) back to its flat keys, within a size budget.
//!
//! Flattening copies every parent key into each key below it, so a small nested object can give a flat event
//! many times its size (a 16 KiB key over 1,500 sub-keys gives 24 MiB). [`flatten_within`] counts the
//! bytes of the flat event as JSON while it builds it, and stops before it would pass its limit.

use std::io;

use serde_json::{Map, Value};

/// How many times the size of its record an event may take once flattened (plus [`FLAT_SLACK`]): IntelMQ's
/// own hierarchical output flattens to less than twice its size.
pub const FLAT_GROWTH: usize = 4;
/// What a small record may grow by when flattened, beyond [`FLAT_GROWTH`] times its size.
pub const FLAT_SLACK: usize = 4096;

/// The most bytes the flat form of an event that came in a record of `record` bytes may take: every route
/// that takes, stores or serves IntelMQ events holds them to it.
pub fn flat_budget(record: usize) -> usize {
    record
        .saturating_mul(FLAT_GROWTH)
        .saturating_add(FLAT_SLACK)
}

/// A flat event that would pass its limit; nothing past the limit was built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the event, flattened (nested keys joined with `.`), would be larger than {limit} bytes; an event may \
     flatten to {FLAT_GROWTH} times its size plus {FLAT_SLACK} bytes: send it flat"
)]
pub struct TooLarge {
    pub limit: usize,
}

/// `{"source": {"ip": ...}, "extra": {"k": {...}}}` -> `{"source.ip": ..., "extra.k": {...}}`. Nested objects
/// are joined with `.`, except below `extra`, where only the first level becomes a key: IntelMQ reads
/// `extra` that way, and the values of `extra.*` may be objects of their own. A flat event comes back as it was.
///
/// The flat event, written as compact JSON (`serde_json::to_vec`), is at most `limit` bytes, or this is
/// [`TooLarge`]: each key and value is counted before it is copied, so the work and memory spent stay within
/// the size of `event` plus `limit`.
pub fn flatten_within(
    event: &Map<String, Value>,
    limit: usize,
) -> Result<Map<String, Value>, TooLarge> {
    let mut flat = Flat::new(limit, true);
    flat.check(0)?;
    flat.add_object(event)?;
    Ok(flat.map)
}

/// The JSON size of `event` flattened, as [`flatten_within`] counts it (a key given twice is counted twice),
/// or [`TooLarge`] past `limit`; nothing is copied, for intake, which only checks.
pub fn flat_size_within(event: &Map<String, Value>, limit: usize) -> Result<usize, TooLarge> {
    let mut flat = Flat::new(limit, false);
    flat.check(0)?;
    flat.add_object(event)?;
    Ok(flat.size)
}

/// A flat event being built, or only counted, with the JSON size it will have.
struct Flat {
    map: Map<String, Value>,
    /// Whether the members are kept in `map`, or only counted.
    build: bool,
    /// An upper bound of the JSON size of `map`: a key given twice is counted twice.
    size: usize,
    /// Members counted, for the commas between them.
    members: usize,
    limit: usize,
    /// The joined parent keys of the object being read, each followed by `.`; empty at the top.
    prefix: String,
}

impl Flat {
    fn new(limit: usize, build: bool) -> Self {
        Self {
            map: Map::new(),
            build,
            // `{}`
            size: 2,
            members: 0,
            limit,
            prefix: String::new(),
        }
    }

    fn add_object(&mut self, object: &Map<String, Value>) -> Result<(), TooLarge> {
        for (key, value) in object {
            match value {
                Value::Object(inner) if key == "extra" => {
                    let depth = self.enter(key);
                    for (name, value) in inner {
                        self.add(name, value)?;
                    }
                    self.prefix.truncate(depth);
                }
                Value::Object(inner) if !key.starts_with("extra.") => {
                    let depth = self.enter(key);
                    self.add_object(inner)?;
                    self.prefix.truncate(depth);
                }
                _ => self.add(key, value)?,
            }
        }
        Ok(())
    }

    /// Adds `key` to the prefix; the prefix's former length, to go back to.
    fn enter(&mut self, key: &str) -> usize {
        let depth = self.prefix.len();
        self.prefix.push_str(key);
        self.prefix.push('.');
        depth
    }

    /// The member `prefix + name: value`, once its size is counted.
    fn add(&mut self, name: &str, value: &Value) -> Result<(), TooLarge> {
        let comma = usize::from(self.members > 0);
        let key = escaped_len(&self.prefix) + escaped_len(name) + 2;
        self.check(comma + key + 1)?;
        let mut counter = Counter(0);
        serde_json::to_writer(&mut counter, value).expect("JSON values serialize");
        self.size = self.check(comma + key + 1 + counter.0)?;
        self.members += 1;
        if self.build {
            self.map
                .insert(format!("{}{name}", self.prefix), value.clone());
        }
        Ok(())
    }

    /// The size with `more` bytes added, if it stays within the limit.
    fn check(&self, more: usize) -> Result<usize, TooLarge> {
        match self.size.checked_add(more) {
            Some(size) if size <= self.limit => Ok(size),
            _ => Err(TooLarge { limit: self.limit }),
        }
    }
}

/// The length of `text` inside a JSON string as `serde_json` writes it, without the quotes.
fn escaped_len(text: &str) -> usize {
    text.bytes()
        .map(|byte| match byte {
            b'"' | b'\\' | b'\x08' | b'\x0c' | b'\n' | b'\r' | b'\t' => 2,
            0..0x20 => 6,
            _ => 1,
        })
        .sum()
}

/// Counts what is written to it.
struct Counter(usize);

impl io::Write for Counter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.0 += data.len();
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn flatten(event: &Value) -> Map<String, Value> {
        flatten_within(event.as_object().unwrap(), usize::MAX).unwrap()
    }

    #[test]
    fn nested_keys_are_joined_but_extra_values_stay_whole() {
        let hierarchical = json!({"source": {"ip": "192.0.2.1", "geolocation": {"cc": "AT"}}, "extra": {"os": {"name": "x"}}, "raw": "eA=="});
        assert_eq!(
            Value::Object(flatten(&hierarchical)),
            json!({"source.ip": "192.0.2.1", "source.geolocation.cc": "AT", "extra.os": {"name": "x"}, "raw": "eA=="})
        );
        let already = json!({"source.ip": "192.0.2.1", "extra.k": {"a": 1}});
        assert_eq!(Value::Object(flatten(&already)), already);
        let deeper = json!({"a": {"extra": {"b": {"c": 1}}, "extra.d": {"e": 2}, "f": {}}});
        assert_eq!(
            Value::Object(flatten(&deeper)),
            json!({"a.extra.b": {"c": 1}, "a.extra.d": {"e": 2}})
        );
    }

    /// The count is the exact JSON size when no key is given twice, escapes and numbers included.
    #[test]
    fn the_counted_size_is_the_json_size() {
        let event = json!({"a\"\\\n\u{1}é": {"b": [1.50, "x\u{7f}\t"], "c": null}, "extra": {"k": {"z": true}}});
        let flat = flatten(&event);
        let size = serde_json::to_vec(&flat).unwrap().len();
        assert_eq!(
            flatten_within(event.as_object().unwrap(), size).unwrap(),
            flat
        );
        assert_eq!(flat_size_within(event.as_object().unwrap(), size), Ok(size));
        assert!(flat_size_within(event.as_object().unwrap(), size - 1).is_err());
        assert_eq!(
            flatten_within(event.as_object().unwrap(), size - 1),
            Err(TooLarge { limit: size - 1 })
        );
        assert_eq!(flatten_within(&Map::new(), 2).unwrap(), Map::new());
        assert!(flatten_within(&Map::new(), 1).is_err());
    }

    /// The amplifying shape of issue 22: a long key over many sub-keys is refused at the limit.
    #[test]
    fn a_long_key_over_many_sub_keys_is_refused() {
        let inner: Map<String, Value> = (0..1500).map(|i| (format!("a{i}"), json!(0))).collect();
        let mut event = Map::new();
        event.insert("feed.name".into(), json!("x"));
        event.insert("k".repeat(16_384), Value::Object(inner));
        let body = serde_json::to_vec(&event).unwrap().len();
        assert_eq!(
            flatten_within(&event, 1 << 20),
            Err(TooLarge { limit: 1 << 20 })
        );
        assert!(flatten_within(&event, 30 << 20).is_ok_and(|flat| flat.len() == 1501));
        assert!(body < 40_000);
    }
}

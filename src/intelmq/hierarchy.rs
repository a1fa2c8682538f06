//! IntelMQ's hierarchical form (`hierarchical_output`) back to its flat keys.

use serde_json::{Map, Value};

/// `{"source": {"ip": ...}, "extra": {"k": {...}}}` -> `{"source.ip": ..., "extra.k": {...}}`. Nested objects
/// are joined with `.`, except below `extra`, where only the first level becomes a key: IntelMQ reads
/// `extra` that way, and the values of `extra.*` may be objects of their own. A flat event comes back as it was.
pub fn flatten(event: &Map<String, Value>) -> Map<String, Value> {
    let mut flat = Map::new();
    for (key, value) in event {
        match value {
            Value::Object(inner) if key == "extra" => {
                for (name, value) in inner {
                    flat.insert(format!("extra.{name}"), value.clone());
                }
            }
            Value::Object(inner) if !key.starts_with("extra.") => {
                for (name, value) in flatten(inner) {
                    flat.insert(format!("{key}.{name}"), value);
                }
            }
            _ => {
                flat.insert(key.clone(), value.clone());
            }
        }
    }
    flat
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_keys_are_joined_but_extra_values_stay_whole() {
        let hierarchical = json!({"source": {"ip": "192.0.2.1", "geolocation": {"cc": "AT"}}, "extra": {"os": {"name": "x"}}, "raw": "eA=="});
        let flat = flatten(hierarchical.as_object().unwrap());
        assert_eq!(
            Value::Object(flat),
            json!({"source.ip": "192.0.2.1", "source.geolocation.cc": "AT", "extra.os": {"name": "x"}, "raw": "eA=="})
        );
        let already = json!({"source.ip": "192.0.2.1", "extra.k": {"a": 1}});
        assert_eq!(
            Value::Object(flatten(already.as_object().unwrap())),
            already
        );
    }
}

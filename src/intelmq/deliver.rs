//! What may go to an IntelMQ instance: only keys it accepts. An unknown key stops the receiving bot
//! (`InvalidKey` becomes a `ConfigurationError`), so such keys move under `extra.` or, when that is taken,
//! are dropped; both are counted, never delivered.

use serde_json::{Map, Value};

use super::FieldList;

#[derive(Debug, Clone, PartialEq)]
pub struct Delivered {
    pub event: Map<String, Value>,
    /// Keys moved to `extra.<key>`.
    pub moved: Vec<String>,
    /// Keys dropped: their `extra.` name was taken.
    pub dropped: Vec<String>,
}

/// The payload as `fields` allows it. `__type` is left out: callers add it when the receiver wants it.
pub fn deliverable(payload: &Map<String, Value>, fields: &FieldList, report: bool) -> Delivered {
    let mut event = Map::new();
    let mut unknown = Vec::new();
    for (key, value) in payload {
        if key == "__type" {
            continue;
        }
        if fields.accepts(key, report) {
            event.insert(key.clone(), value.clone());
        } else {
            unknown.push((key, value));
        }
    }
    let (mut moved, mut dropped) = (Vec::new(), Vec::new());
    for (key, value) in unknown {
        let renamed = format!("extra.{key}");
        if fields.accepts(&renamed, report) && !event.contains_key(&renamed) {
            event.insert(renamed, value.clone());
            moved.push(key.clone());
        } else {
            dropped.push(key.clone());
        }
    }
    Delivered {
        event,
        moved,
        dropped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_keys_move_under_extra_or_are_dropped() {
        let payload = json!({"source.ip": "192.0.2.1", "notify": true, "extra.notify": 1, "rtir_incident_id": 7, "__type": "Event"});
        let delivered = deliverable(
            payload.as_object().unwrap(),
            &FieldList::intelmq_35(),
            false,
        );
        assert_eq!(
            Value::Object(delivered.event),
            json!({"source.ip": "192.0.2.1", "extra.notify": 1, "extra.rtir_incident_id": 7})
        );
        assert_eq!(delivered.moved, ["rtir_incident_id"]);
        assert_eq!(delivered.dropped, ["notify"]);
    }
}

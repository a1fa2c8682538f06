//! What may go to an IntelMQ instance: only keys it accepts, with values it accepts. An unknown key stops
//! the receiving bot (`InvalidKey` becomes a `ConfigurationError`), so such keys move under `extra.` or, when
//! that is taken, are dropped. Values are sanitised as IntelMQ would; one it would refuse (`InvalidValue`, a
//! dumped event) is dropped. All of it is counted, never delivered.

use serde_json::{Map, Value};

use crate::envelope::intelmq::FieldList;
use crate::envelope::intelmq::validate::sanitize;

#[derive(Debug, Clone, PartialEq)]
pub struct Delivered {
    pub event: Map<String, Value>,
    /// Keys moved to `extra.<key>`.
    pub moved: Vec<String>,
    /// Keys dropped: their `extra.` name was taken, or IntelMQ would refuse their value.
    pub dropped: Vec<String>,
    /// Why each refused value was refused, by key.
    pub refused: Vec<(String, String)>,
}

/// The payload as `fields` allows it. `__type` is left out: callers add it when the receiver wants it.
pub fn deliverable(payload: &Map<String, Value>, fields: &FieldList, report: bool) -> Delivered {
    let mut event = Map::new();
    let mut unknown = Vec::new();
    let mut refused = Vec::new();
    for (key, value) in payload {
        if key == "__type" {
            continue;
        }
        let spec = if report {
            fields.report.get(key)
        } else {
            fields.event.get(key)
        };
        if let Some(spec) = spec {
            match sanitize(spec, value) {
                Ok(value) => {
                    event.insert(key.clone(), value);
                }
                Err(reason) => refused.push((key.clone(), reason)),
            }
        } else if fields.accepts(key, report) {
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
    dropped.extend(refused.iter().map(|(key, _)| key.clone()));
    Delivered {
        event,
        moved,
        dropped,
        refused,
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

    #[test]
    fn values_are_sanitised_and_refused_ones_dropped() {
        let payload = json!({"time.source": "2024-01-01T00:00:00Z", "classification.type": "unknown", "source.ip": "999.1.1.1"});
        let delivered = deliverable(
            payload.as_object().unwrap(),
            &FieldList::intelmq_35(),
            false,
        );
        assert_eq!(
            Value::Object(delivered.event),
            json!({"time.source": "2024-01-01T00:00:00+00:00", "classification.type": "undetermined"})
        );
        assert_eq!(delivered.dropped, ["source.ip"]);
        assert_eq!(delivered.refused[0].1, "not an IP address");
    }
}

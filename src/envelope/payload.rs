//! What an envelope's IntelMQ payload must be, and a bare IntelMQ message: keys in IntelMQ's grammar, `raw`
//! in base64, a known `__type`, and at least one IntelMQ field.

use base64::Engine;
use serde_json::{Map, Value};

use super::error::RecordError;
use super::intelmq::{has_field, is_valid_key};

/// Checks the payload keys against IntelMQ's key grammar and `raw` against base64.
pub fn check_payload(payload: &Map<String, Value>) -> Result<(), RecordError> {
    if let Some(bad) = payload.keys().find(|key| !is_valid_key(key)) {
        return Err(RecordError::BadPayloadKey(bad.clone()));
    }
    match payload.get("raw") {
        None => Ok(()),
        Some(Value::String(raw)) => base64::engine::general_purpose::STANDARD
            .decode(raw)
            .map(drop)
            .map_err(|e| RecordError::BadRaw(e.to_string())),
        Some(_) => Err(RecordError::WrongType {
            field: "raw",
            expected: "a base64 string",
        }),
    }
}

/// A bare message must hold an IntelMQ field: JSON that holds none is something else sent here by mistake.
pub fn check_has_field(message: &Map<String, Value>) -> Result<(), RecordError> {
    if has_field(message) {
        return Ok(());
    }
    Err(RecordError::NoIntelmqField(some_keys(message)))
}

/// The first few keys, each cut short, so that the message stays readable whatever was sent.
fn some_keys(message: &Map<String, Value>) -> String {
    const SHOWN: usize = 5;
    const KEY_CHARS: usize = 40;
    if message.is_empty() {
        return "the object is empty".to_owned();
    }
    let mut keys: Vec<String> = message
        .keys()
        .take(SHOWN)
        .map(|key| match key.char_indices().nth(KEY_CHARS) {
            Some((cut, _)) => format!("{:?}…", &key[..cut]),
            None => format!("{key:?}"),
        })
        .collect();
    if message.len() > SHOWN {
        keys.push(format!("and {} more", message.len() - SHOWN));
    }
    keys.join(", ")
}

/// The envelope `type` of a bare message, from IntelMQ's `__type` (absent means an event).
pub fn message_kind(message: &Map<String, Value>) -> Result<&'static str, RecordError> {
    match message.get("__type") {
        None => Ok("event"),
        Some(Value::String(t)) if t == "Event" => Ok("event"),
        Some(Value::String(t)) if t == "Report" => Ok("report"),
        Some(other) => Err(RecordError::BadMessageType(match other {
            Value::String(s) => s.clone(),
            _ => other.to_string(),
        })),
    }
}

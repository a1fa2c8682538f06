//! Ids for bare IntelMQ events, which carry none.

use serde_json::{Map, Value};
use uuid::Uuid;

use super::id::EnvelopeId;
use super::sorted_json::{self, Style};

/// Namespace of the content-derived ids minted in [`Minting::Hash`] mode. Frozen: changing it changes every id.
pub const HASH_ID_NAMESPACE: Uuid = Uuid::from_u128(0x5a1c_0e9e_54b1_4c8e_9f2a_3b7d_61e0_c4d2);

/// How an id is minted for a bare IntelMQ event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Minting {
    /// A random UUIDv4.
    Uuid4,
    /// A CyCat id `publisher:project:<uuid4>`, for instance `cert-at:intelmq:72ddb00c-...`.
    Cycat { instance: String },
    /// A UUIDv5 every instance can recompute from the content: see [`Minting::content_id`].
    Hash,
}

impl Minting {
    pub fn mint(&self, message: &Map<String, Value>) -> EnvelopeId {
        let id = match self {
            Minting::Uuid4 => Uuid::new_v4().to_string(),
            Minting::Cycat { instance } => format!("{instance}:{}", Uuid::new_v4()),
            Minting::Hash => Self::content_id(message).to_string(),
        };
        EnvelopeId::parse(id).expect("minted ids are short and printable")
    }

    /// UUIDv5 in [`HASH_ID_NAMESPACE`] over the message's canonical text: every key except `time.observation`
    /// (as IntelMQ's own dedup hash) and `__type` (a serialisation detail), keys sorted by code point at every
    /// level, no whitespace, strings escaped as serde_json does, numbers exactly as received.
    pub fn content_id(message: &Map<String, Value>) -> Uuid {
        let mut content = message.clone();
        content.shift_remove("time.observation");
        content.shift_remove("__type");
        let mut canonical = String::new();
        sorted_json::write(&Value::Object(content), Style::Compact, &mut canonical);
        Uuid::new_v5(&HASH_ID_NAMESPACE, canonical.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(json: &str) -> Map<String, Value> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn content_id_ignores_observation_time_type_and_key_order() {
        let a = message(
            r#"{"source.ip": "10.0.0.1", "time.observation": "2020-01-01T00:00:00+00:00", "__type": "Event"}"#,
        );
        let b = message(
            r#"{"time.observation": "2024-05-05T00:00:00+00:00", "source.ip": "10.0.0.1"}"#,
        );
        assert_eq!(Minting::content_id(&a), Minting::content_id(&b));
        let c = message(r#"{"source.ip": "10.0.0.2"}"#);
        assert_ne!(Minting::content_id(&a), Minting::content_id(&c));
    }

    #[test]
    fn content_id_is_frozen() {
        let event = message(r#"{"feed.name": "Example", "raw": "bG9yZW0gaXBzdW0="}"#);
        assert_eq!(
            Minting::Hash.mint(&event).as_str(),
            Uuid::new_v5(
                &HASH_ID_NAMESPACE,
                br#"{"feed.name":"Example","raw":"bG9yZW0gaXBzdW0="}"#
            )
            .to_string()
        );
    }

    #[test]
    fn cycat_ids_carry_the_instance_name() {
        let minting = Minting::Cycat {
            instance: "cert-at:intelmq".into(),
        };
        let id = minting.mint(&Map::new());
        let uuid = id.as_str().strip_prefix("cert-at:intelmq:").unwrap();
        assert_eq!(Uuid::parse_str(uuid).unwrap().get_version_num(), 4);
    }
}

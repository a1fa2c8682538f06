//! Writes that the store's tests of every engine make: an envelope with a given id and payload, put into a
//! collection.

use super::{DuplicatePolicy, WriteOp};
use crate::envelope::{Envelope, IntakeRules, Minting, Shape};

/// An envelope with the id `id` and the payload `body` (JSON text).
pub(super) fn envelope(id: &str, body: &str) -> Envelope {
    let text = format!(r#"{{"meta":{{"uuid":{{"current":"{id}"}}}},"payload":{body}}}"#);
    let rules = IntakeRules {
        minting: Minting::Uuid4,
        bare_shape: Shape::Draft,
    };
    Envelope::parse(text.as_bytes(), &rules).unwrap()
}

/// Puts the envelope `id` with the payload `body` into `collection`.
pub(super) fn put_in(collection: &str, id: &str, body: &str, policy: DuplicatePolicy) -> WriteOp {
    WriteOp::PutEnvelope {
        envelope: envelope(id, body),
        collection: collection.into(),
        policy,
        objects: Vec::new(),
    }
}

//! Envelope <-> STIX 2.1: every envelope as its carrier, plus standard objects for IntelMQ payloads,
//! driven by the tables in `mappings/`; and back.

mod carrier;
mod catalog;
mod ids;
mod observables;
mod reverse;
mod standard;
mod tables;
mod traffic;
mod values;

use serde_json::Value;

use crate::envelope::Envelope;
use crate::stix::Timestamp;

pub use carrier::{
    CARRIER_EXTENSION_ID, CARRIER_ID_NAMESPACE, CARRIER_TYPE, carrier_id, carrier_times,
};
pub use catalog::{GATEWAY_IDENTITY_ID, catalog};
pub use ids::{SCO_NAMESPACE, STANDARD_ID_NAMESPACE};
pub use observables::{Observables, observed_time};
pub use reverse::{Unmapped, reference_context, unmap};
pub use tables::{DEFAULT_TABLES, Kind, Side, Tables, TablesError};

/// The STIX objects of one envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapped {
    pub carrier: Value,
    /// Standard objects, for IntelMQ payloads: what tools that know nothing of IEP04 understand.
    pub standard: Vec<Value>,
    /// Values left out of the standard objects because they would have made invalid STIX.
    pub warnings: Vec<String>,
}

/// What every object of one envelope shares.
struct Context {
    envelope_id: String,
    carrier_id: String,
    created: String,
    modified: String,
    marking: Option<String>,
}

/// Maps one envelope. The same envelope always maps to the same objects; `modified`, when given, is the
/// `modified` of its per-envelope objects, for a later version of an envelope id.
pub fn map_envelope(envelope: &Envelope, tables: &Tables, modified: Option<Timestamp>) -> Mapped {
    let payload = envelope.payload();
    let (created, created_text) = carrier_times(&payload);
    let modified = modified
        .filter(|m| *m > created)
        .map(Timestamp::to_stix_millis);
    let is_intelmq = envelope.is_intelmq();
    let mut warnings = Vec::new();
    let marking = match payload.get("tlp").and_then(Value::as_str) {
        Some(tlp) if is_intelmq => {
            let marking = tables.marking(tlp);
            if marking.is_none() {
                warnings.push(format!(
                    "tlp: {tlp:?} is not in the [tlp] table; no marking"
                ));
            }
            marking.map(str::to_owned)
        }
        _ => None,
    };
    let context = Context {
        envelope_id: envelope.id().to_string(),
        carrier_id: carrier_id(envelope.id()),
        modified: modified.unwrap_or_else(|| created_text.clone()),
        created: created_text,
        marking,
    };
    let carrier = carrier::carrier(envelope, &context);
    let standard = if is_intelmq {
        standard::standard_objects(&payload, &context, tables, &mut warnings)
    } else {
        Vec::new()
    };
    Mapped {
        carrier,
        standard,
        warnings,
    }
}

/// The back-link that per-envelope standard objects carry to their carrier (a property extension: nothing
/// points at the carrier type from outside the extension, which OpenCTI would refuse).
fn back_link(context: &Context) -> Value {
    serde_json::json!({
        CARRIER_EXTENSION_ID: {"extension_type": "property-extension", "envelope_ref": context.carrier_id}
    })
}

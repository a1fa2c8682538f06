//! Envelope <-> STIX 2.1.

mod carrier;

pub use carrier::{
    CARRIER_EXTENSION_ID, CARRIER_ID_NAMESPACE, CARRIER_TYPE, Carrier, carrier_id, carrier_times,
};

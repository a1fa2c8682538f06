//! stixgate: a TAXII 2.1 / STIX 2.1 gateway for IntelMQ's IEP04 event envelopes.
#![forbid(unsafe_code)]

pub mod envelope;
pub mod store;

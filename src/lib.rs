//! stixgate: a TAXII 2.1 / STIX 2.1 gateway for IntelMQ's IEP04 event envelopes.
#![forbid(unsafe_code)]

pub mod backup;
pub mod cli;
pub mod client;
pub mod config;
pub mod envelope;
#[doc(hidden)]
pub mod fuzzing;
pub mod ingest;
pub mod intelmq;
pub mod jobs;
pub mod logging;
pub mod mapping;
pub mod misp;
pub mod quote;
pub mod secret;
pub mod server;
pub mod stix;
pub mod store;
pub mod taxii;

//! stixgate: a TAXII 2.1 / STIX 2.1 gateway for IntelMQ's IEP04 event envelopes.
//!
//! `ARCHITECTURE.md` at the root of the repository maps the modules: what each owns, what it may import, and
//! the invariants that hold across them.
#![forbid(unsafe_code)]

pub mod app;
pub mod backup;
pub mod cli;
pub mod config;
pub mod envelope;
pub mod federation;
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod ingest;
pub mod intelmq;
pub mod jobs;
pub mod logging;
pub mod mapping;
pub mod misp;
pub mod quote;
pub mod secret;
pub mod stix;
pub mod store;
pub mod taxii;

//! One integration-test binary: one link step, shared helpers.

mod bad_input;
mod cli;
mod crash;
mod envelopes_api;
mod helpers;
mod mapping;
mod operations;
mod roundtrip;
mod taxii_auth;
mod taxii_endpoints;
mod taxii_paging;

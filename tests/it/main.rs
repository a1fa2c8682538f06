//! One integration-test binary: one link step, shared helpers.

mod backup;
mod bad_input;
mod check_config;
mod cli;
mod client;
mod compaction;
mod crash;
mod deploy;
mod envelopes_api;
mod federation;
mod helpers;
mod hostile;
mod intelmq_io;
mod live;
mod logs;
mod mapping;
mod misp_feed;
mod operations;
mod operator_page;
#[path = "../support/pg_cluster.rs"]
mod pg_cluster;
mod refused_requests;
mod rights;
mod roundtrip;
mod scale_out;
mod scale_out_backup;
mod scale_out_jobs;
mod secrets;
mod start_failures;
mod taxii_auth;
mod taxii_endpoints;
mod taxii_paging;
mod topologies;

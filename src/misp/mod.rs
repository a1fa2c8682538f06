//! IntelMQ envelopes as a MISP feed: the `<event-uuid>.json`, `manifest.json` and `hashes.csv` that MISP's
//! "MISP Feed" format pulls (Sync Actions > Feeds). Pure: the server reads the store and serves the results.
//!
//! Envelopes are grouped into one event per feed name (`feed.name`) per UTC day (of `time.source`, else
//! `time.observation`). Attributes come from the same mapping tables as the STIX objects.

mod attributes;
mod event;
mod feed;
mod tags;

pub use attributes::Attribute;
pub use event::{EVENT_NAMESPACE, FeedEnvelope, MispEvent, build_events};
pub use feed::{hashes_csv, manifest};

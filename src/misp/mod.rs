//! IntelMQ envelopes as MISP feeds: the `<event-uuid>.json`, `manifest.json` and `hashes.csv` that MISP's
//! "MISP Feed" format pulls (Sync Actions > Feeds).
//!
//! Each collection has a feed, and `[[misp.feeds]]` adds feeds of part of one. A feed groups envelopes into
//! events by its rule (by default one event per `feed.name` per UTC day); attributes come from the same
//! mapping tables as the STIX objects. Each feed's state is kept in the store's views as envelopes arrive
//! ([`MispFeeds`]), so serving a file reads only that file's records.

pub mod attributes;
mod changes;
mod definition;
mod maintainer;
mod render;
mod settings;
mod tags;
mod view;

pub use attributes::attributes;
pub use definition::{EVENT_NAMESPACE, FeedDefinition};
pub use maintainer::{Feed, MispFeeds};
pub use render::{event_file, manifest_entry};
pub use settings::{GroupBy, MispDistribution, MispFeedSettings, MispSettings, TlpLevel};
pub use view::{CHUNK, Meta, Summary};

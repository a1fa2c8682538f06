//! IntelMQ where it is: what an IntelMQ instance accepts when events are delivered to it, the settings of the
//! IntelMQ endpoints, the TCP intake of IntelMQ's `tcp` output bot, and the pushes to IntelMQ instances.
//!
//! The event format itself (fields, hierarchy, values) is in [`crate::envelope::intelmq`].

mod deliver;
mod events;
mod feed;
mod push;
mod settings;
mod tcp;

pub use deliver::{Delivered, deliverable};
pub use events::{EventError, store_event};
pub use feed::{FeedError, FeedFormat, FeedPage, feed_page};
pub use push::{Push, PushJob, prepare as prepare_pushes};
pub use settings::{FieldFileError, IntelmqPushSettings, IntelmqSettings, IntelmqTcpSettings};
pub use tcp::{Target, TcpIntake, TcpIntakeJob};

//! IntelMQ where it is: its field list, its hierarchical form, and what an IntelMQ instance accepts.
//! Pure: no I/O.

mod deliver;
mod fields;
mod hierarchy;
mod validate;

pub use deliver::{Delivered, deliverable};
pub use fields::{FieldList, FieldsError};
pub use hierarchy::{
    FLAT_GROWTH, FLAT_SLACK, TooLarge, flat_budget, flat_size_within, flatten_within,
};
pub use validate::{check_payload, sanitize};

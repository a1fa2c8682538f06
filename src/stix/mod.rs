//! STIX 2.1 basics: timestamps, identifiers and the common properties of objects. Pure: no I/O.

mod id;
mod kind;
mod object;
mod timestamp;

pub use id::{StixId, is_valid_type};
pub use object::{ObjectError, ObjectHeader};
pub use timestamp::{Timestamp, TimestampError};

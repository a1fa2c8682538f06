//! What the `cargo fuzz` targets in `fuzz/` call that the library does not otherwise export. Not an API.

pub use crate::http::body::read_limited;

//! TAXII 2.1 on the wire: media types, query filters, paging cursors and resources. Pure: shared by the
//! server and the client, no I/O.

pub mod cursor;
pub mod filter;
pub mod media;
pub mod resources;

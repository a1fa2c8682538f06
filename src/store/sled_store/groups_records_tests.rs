//! A group of long entries is cut into records by bytes, so that sled's cache can evict them (see
//! [`GROUP_BYTES`]); entries' own round trips are tested in `group_entries.rs`.

use sled::Batch;

use super::*;
use crate::store::sled_store::groups::{GROUP_BYTES, GROUP_ENTRIES, entries, key_position, put};
use crate::store::sled_store::inline_str::InlineStr;

#[test]
fn a_group_of_long_entries_is_put_as_records_of_about_group_bytes() {
    // Ids that are not UUIDs are kept whole, so these entries are long.
    let written: Vec<ObjectEntry> = (0..40)
        .map(|i| ObjectEntry {
            date_added: 10 + i,
            id: InlineStr::new(&format!("x-{i}-{}", "a".repeat(250))),
            version: 1,
            version_text: InlineStr::new("v"),
            place: Place {
                segment: 0,
                offset: 100,
                length: 1,
            },
        })
        .collect();
    let tree = sled::Config::new().temporary(true).open().unwrap();
    let mut batch = Batch::default();
    put::<Objects>(&mut batch, b"G", &written);
    tree.apply_batch(batch).unwrap();
    let mut read = Vec::new();
    for record in tree.iter() {
        let (key, value) = record.unwrap();
        assert!(value.len() <= GROUP_BYTES, "{} bytes", value.len());
        for entry in entries::<Objects>(key_position(&key).unwrap(), &value) {
            read.push(entry.unwrap());
        }
    }
    assert!(tree.len() > 1 && written.len() < GROUP_ENTRIES);
    assert_eq!(read, written);
}

//! Group records' encoding: entries round trip, and a group of long entries is cut into records by bytes.

use super::*;

fn place(n: u32) -> Place {
    Place {
        segment: 0,
        offset: n * 100,
        length: n,
    }
}

#[test]
fn object_entries_round_trip_with_their_positions_counted_from_the_key() {
    let written = [
        ObjectEntry {
            date_added: 1_000,
            id: "indicator--a",
            version: -5,
            version_text: "2020-01-01T00:00:00Z",
            place: place(1),
        },
        ObjectEntry {
            date_added: 1_000 + (1 << 40),
            id: "malware--b",
            version: 7,
            version_text: "",
            place: place(2),
        },
    ];
    let value = encode::<Objects>(900, &written);
    let decoded: Vec<_> = entries::<Objects>(900, &value)
        .collect::<StoreResult<_>>()
        .unwrap();
    assert_eq!(decoded, written);
    let cut = entries::<Objects>(900, &value[..value.len() - 1]).collect::<Vec<_>>();
    assert!(cut[0].is_ok() && cut[1].is_err() && cut.len() == 2);
}

#[test]
fn a_group_of_long_entries_is_put_as_records_of_about_group_bytes() {
    let ids: Vec<String> = (0..40)
        .map(|i| format!("x-{i}-{}", "a".repeat(250)))
        .collect();
    let written: Vec<ObjectEntry<'_>> = (0..40)
        .map(|i| ObjectEntry {
            date_added: 10 + i,
            id: &ids[i as usize],
            version: 1,
            version_text: "v",
            place: place(1),
        })
        .collect();
    let tree = sled::Config::new().temporary(true).open().unwrap();
    let mut batch = Batch::default();
    put::<Objects>(&mut batch, b"G", &written);
    tree.apply_batch(batch).unwrap();
    let mut read = Vec::new();
    for record in tree.iter() {
        let (key, value) = record.unwrap();
        assert!(value.len() < GROUP_BYTES + 300, "{} bytes", value.len());
        for entry in entries::<Objects>(key_position(&key).unwrap(), &value) {
            let entry = entry.unwrap();
            read.push((entry.date_added, entry.id.to_owned()));
        }
    }
    assert!(tree.len() > 1 && written.len() < GROUP_ENTRIES);
    let written: Vec<_> = written
        .iter()
        .map(|e| (e.date_added, e.id.to_owned()))
        .collect();
    assert_eq!(read, written);
}

#[test]
fn envelope_entries_round_trip() {
    let written = [EnvelopeEntry {
        seq: 3,
        id: "e",
        version: 2,
        received: 99,
        collection: "c1",
        place: place(3),
    }];
    let value = encode::<Envelopes>(3, &written);
    let decoded: Vec<_> = entries::<Envelopes>(3, &value)
        .collect::<StoreResult<_>>()
        .unwrap();
    assert_eq!(decoded, written);
}

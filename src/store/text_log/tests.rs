use super::*;
use crate::store::test_ops::Tmpfs;

fn open(dir: &Path, checkpoint: Option<Checkpoint>) -> io::Result<TextLog> {
    TextLog::open(dir, checkpoint, &[], DEFAULT_SEGMENT_BYTES)
}

fn write(log: &TextLog, texts: &[&[u8]]) -> Vec<Place> {
    let mut staged = log.stage();
    let places = texts.iter().map(|text| staged.push(text)).collect();
    log.commit(staged).unwrap();
    places
}

fn read(log: &TextLog, place: Place) -> Vec<u8> {
    log.read(place, &mut Window::default()).unwrap()
}

fn segment_length(dir: &Path) -> u64 {
    std::fs::metadata(segment_path(dir, 0)).unwrap().len()
}

fn append_raw(dir: &Path, bytes: &[u8]) {
    use std::io::Write;
    let mut file = OpenOptions::new()
        .append(true)
        .open(segment_path(dir, 0))
        .unwrap();
    file.write_all(bytes).unwrap();
}

#[test]
fn texts_read_back_across_reopens_and_through_one_window() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), None).unwrap();
    let first = write(&log, &[b"one", b"", b"three"]);
    let checkpoint = log.stage().end();
    drop(log);
    let log = open(dir.path(), Some(checkpoint)).unwrap();
    let second = write(&log, &[b"four"]);
    let mut window = Window::default();
    let texts: Vec<Vec<u8>> = first
        .iter()
        .chain(&second)
        .map(|&place| log.read(place, &mut window).unwrap())
        .collect();
    assert_eq!(texts, [&b"one"[..], b"", b"three", b"four"]);
    let mut encoded = Vec::new();
    second[0].encode(&mut encoded);
    assert_eq!(Place::decode(encoded.try_into().unwrap()), second[0]);
    assert_eq!(log.size().unwrap(), 4 * 8 + 3 + 5 + 4);
}

#[test]
fn a_torn_tail_is_cut_back_to_the_last_whole_record() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), None).unwrap();
    let kept = write(&log, &[b"kept"]);
    let checkpoint = log.stage().end();
    // A crash after the index batch: a whole record nothing names, then a record cut off mid-text.
    write(&log, &[b"never indexed"]);
    let whole = segment_length(dir.path());
    drop(log);
    append_raw(dir.path(), &[0, 0, 0, 100, 1, 2, 3, 4, b'x', b'y']);
    let log = open(dir.path(), Some(checkpoint)).unwrap();
    assert_eq!(segment_length(dir.path()), whole);
    assert_eq!(read(&log, kept[0]), b"kept");
    let next = write(&log, &[b"after"]);
    assert_eq!(u64::from(next[0].offset), whole);
    assert_eq!(read(&log, next[0]), b"after");
}

#[test]
fn a_record_whose_checksum_fails_is_cut_with_what_follows() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), None).unwrap();
    write(&log, &[b"kept"]);
    let checkpoint = log.stage().end();
    drop(log);
    let mut garbage = 5u32.to_be_bytes().to_vec();
    garbage.extend_from_slice(&crc32fast::hash(b"other").to_be_bytes());
    garbage.extend_from_slice(b"wrong");
    let mut after = 1u32.to_be_bytes().to_vec();
    after.extend_from_slice(&crc32fast::hash(b"z").to_be_bytes());
    after.push(b'z');
    append_raw(dir.path(), &[garbage, after].concat());
    let log = open(dir.path(), Some(checkpoint)).unwrap();
    assert_eq!(log.stage().end(), checkpoint);
    assert_eq!(segment_length(dir.path()), u64::from(checkpoint.end));
}

#[test]
fn damage_before_the_checkpoint_is_reported_on_read() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), None).unwrap();
    let place = write(&log, &[b"text"])[0];
    let file = OpenOptions::new()
        .write(true)
        .open(segment_path(dir.path(), 0))
        .unwrap();
    file.write_all_at(b"T", 8).unwrap();
    let error = log.read(place, &mut Window::default()).unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::InvalidData);
}

#[test]
fn a_log_shorter_than_its_checkpoint_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), None).unwrap();
    write(&log, &[b"text"]);
    let checkpoint = log.stage().end();
    drop(log);
    let too_far = Checkpoint {
        end: checkpoint.end + 1,
        ..checkpoint
    };
    let error = open(dir.path(), Some(too_far)).err().unwrap();
    assert_eq!(error.kind(), io::ErrorKind::InvalidData);
    let missing = Checkpoint { segment: 1, end: 0 };
    let error = open(dir.path(), Some(missing)).err().unwrap();
    assert_eq!(error.kind(), io::ErrorKind::InvalidData);
}

#[test]
fn spliced_records_give_back_their_text_and_survive_tail_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), None).unwrap();
    let inner = write(&log, &[b"{\"id\":\"x\"}"])[0];
    let splice = Splice {
        before: b"{\"raw\":\"",
        inner,
        after: b"\"}",
    };
    let mut staged = log.stage();
    let same_batch = staged.push(b"plain");
    let spliced = staged.push_spliced(&splice);
    let nested = staged.push_spliced(&Splice {
        inner: spliced,
        ..splice
    });
    let inner_of_same_batch = staged.push_spliced(&Splice {
        inner: same_batch,
        ..splice
    });
    log.commit(staged).unwrap();
    let text = br#"{"raw":"eyJpZCI6IngifQ=="}"#;
    assert_eq!(read(&log, spliced), text);
    assert_eq!(read(&log, inner_of_same_batch), br#"{"raw":"cGxhaW4="}"#);
    let error = log.read(nested, &mut Window::default()).unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::InvalidData);
    // Recovery walks spliced records as whole records.
    let end = log.stage().end();
    drop(log);
    let log = open(dir.path(), Some(Checkpoint { segment: 0, end: 0 })).unwrap();
    assert_eq!(log.stage().end(), end);
    let mut window = Window::default();
    for _ in 0..2 {
        assert_eq!(log.read(spliced, &mut window).unwrap(), text);
        assert_eq!(log.read(inner, &mut window).unwrap(), b"{\"id\":\"x\"}");
    }
}

#[test]
fn texts_read_ahead_together_are_lent_from_one_read() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), None).unwrap();
    let places = write(&log, &[b"one", b"two", b"three"]);
    let span = usize::try_from(places[2].end() - u64::from(places[0].offset)).unwrap();
    let mut window = Window::default();
    assert_eq!(
        *log.read_in(places[0], &mut window, span).unwrap(),
        b"one"[..]
    );
    // Gone from the file, the others still come from what the first read took in.
    std::fs::File::options()
        .write(true)
        .open(segment_path(dir.path(), 0))
        .unwrap()
        .set_len(0)
        .unwrap();
    assert_eq!(
        *log.read_in(places[2], &mut window, 0).unwrap(),
        b"three"[..]
    );
    assert_eq!(*log.read_in(places[1], &mut window, 0).unwrap(), b"two"[..]);
    drop(window);
    // A new window (with the spare buffer of the one dropped) reads the file again.
    assert!(
        log.read_in(places[1], &mut Window::default(), span)
            .is_err()
    );
}

#[test]
fn a_window_never_serves_the_bytes_an_earlier_window_read() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (log_a, log_b) = (open(a.path(), None).unwrap(), open(b.path(), None).unwrap());
    // The same places in two logs.
    let place = write(&log_a, &[b"in a"])[0];
    assert_eq!(write(&log_b, &[b"in b"])[0], place);
    for _ in 0..2 {
        assert_eq!(read(&log_a, place), b"in a");
        assert_eq!(read(&log_b, place), b"in b");
    }
}

#[test]
fn a_write_that_finds_the_disk_full_leaves_the_log_as_it_was_and_the_next_one_writes_there() {
    let tmpfs = Tmpfs::mount("512k");
    let dir = tmpfs.path().join("texts");
    let filler = tmpfs.path().join("filler");
    std::fs::write(&filler, vec![1; 128 * 1024]).unwrap();
    let log = open(&dir, None).unwrap();
    let mut written = Vec::new();
    let refused = loop {
        let text = format!("{:05}", written.len()).repeat(3000).into_bytes();
        let mut staged = log.stage();
        let place = staged.push(&text);
        match log.commit(staged) {
            Ok(()) => written.push((place, text)),
            Err(error) => break error,
        }
    };
    assert_eq!(refused.kind(), io::ErrorKind::StorageFull, "{refused}");
    assert!(
        written.len() > 10,
        "the disk took too little to mean anything"
    );
    let end = log.stage().end();
    let last = written.last().unwrap().0;
    assert_eq!(end.end as u64, last.end(), "the end did not move");
    assert_eq!(
        segment_length(&dir),
        last.end(),
        "the partial record was cut off"
    );

    std::fs::remove_file(&filler).unwrap();
    let after = write(&log, &[b"after space was freed"]);
    assert_eq!(after[0].offset as u64, last.end());
    written.push((after[0], b"after space was freed".to_vec()));
    let checkpoint = log.stage().end();
    drop(log);
    let log = open(&dir, Some(checkpoint)).unwrap();
    assert_eq!(log.stage().end(), checkpoint, "nothing to cut on open");
    for (place, text) in &written {
        assert_eq!(read(&log, *place), *text);
    }
}

//! The text log: the exact texts of objects and envelopes, appended in order of writing to checksummed segment
//! files, so that the index (sled) holds a 12-byte [`Place`] per text instead of the text.
//!
//! ## On-disk format
//!
//! The log lives in the directory `texts/` of the data directory, as segment files named by their number in
//! eight decimal digits, `00000000.seg`, `00000001.seg`, … A segment is a sequence of records, with nothing
//! before the first:
//!
//! | field | size | |
//! |---|---|---|
//! | length | u32, big-endian | bytes of the text |
//! | checksum | u32, big-endian | CRC-32 (IEEE) of the text |
//! | text | length bytes | the exact text |
//!
//! The high bit of the length field (never set by a text's length: texts are far below 2 GiB) marks a
//! **spliced** record (layout 5, `sled_store/format.rs`): an envelope text that embeds, as standard base64 with
//! padding, the exact text of an object stored earlier (the IntelMQ envelope the maker makes of a posted object
//! carries it in `payload.raw`). Its bytes, in place of the text, are:
//!
//! | field | size | |
//! |---|---|---|
//! | inner place | 12 bytes | the [`Place`] of the embedded text, a plain record written before this one |
//! | before length | u32, big-endian | |
//! | before | before length bytes | the text's bytes before the base64 |
//! | after | the rest | the text's bytes after it |
//!
//! The text is before, the base64 of the inner text, after; the checksum is the CRC-32 of the record's own bytes
//! (the inner text has its own). Only a plain record can be embedded, so a read takes at most two records.
//!
//! A [`Place`] is segment:u32, offset of the record:u32, length:u32 (of the record's bytes after the header, the
//! length field without its high bit), all big-endian. A record never starts at or after [`SEGMENT_BYTES`]: the
//! writer starts the next segment instead, so offsets fit in 32 bits.
//!
//! ## Crash rules
//!
//! - Texts are written and fsynced ([`TextLog::commit`]) before the index batch that holds their places is
//!   applied, so no index entry, durable or not, ever names a text that is not on disk.
//! - The index stores the log's end ([`Checkpoint`]) in the same atomic batch as the places. On open, the records
//!   after the checkpoint are checked: the log is cut back after the last whole record whose checksum holds. A
//!   torn or garbage tail (a crash during a write) is thus removed. Whole records after the checkpoint were
//!   written for a batch that never became durable; nothing names them, and they stay as dead bytes.
//! - Only the last segment can have such a tail: a segment is fsynced before the next one is started.
//! - A spliced record names only a record before it in the log (of an earlier batch, or earlier in its own), so
//!   a tail cut back never keeps a spliced record without its inner text.
//!
//! Texts are never rewritten in place. Texts of deleted objects stay in the log as dead bytes, and must: a
//! spliced envelope text may still name one.

use std::borrow::Cow;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use base64::Engine;

/// Where the writer starts a new segment.
pub const SEGMENT_BYTES: u32 = 1 << 30;
const HEADER: usize = 8;
/// The high bit of a record's length field: the record is spliced.
const SPLICED: u32 = 1 << 31;
/// A read of a text reads this much ahead at least, so that walking texts written together is sequential IO.
const READ_AHEAD: usize = 256 * 1024;

/// Where a text is: its record's segment and offset, and the text's length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    pub segment: u32,
    pub offset: u32,
    pub length: u32,
}

impl Place {
    pub const ENCODED: usize = 12;

    pub fn encode(&self, into: &mut Vec<u8>) {
        into.extend_from_slice(&self.segment.to_be_bytes());
        into.extend_from_slice(&self.offset.to_be_bytes());
        into.extend_from_slice(&self.length.to_be_bytes());
    }

    /// The offset after its record.
    pub fn end(&self) -> u64 {
        u64::from(self.offset) + HEADER as u64 + u64::from(self.length)
    }

    pub fn decode(bytes: [u8; Self::ENCODED]) -> Self {
        let word = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().expect("4 bytes"));
        Self {
            segment: word(0),
            offset: word(4),
            length: word(8),
        }
    }
}

/// The end of the log: the segment being written and the offset after its last record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Checkpoint {
    pub segment: u32,
    pub end: u32,
}

impl Checkpoint {
    pub fn encode(&self) -> [u8; 8] {
        let mut bytes = [0; 8];
        bytes[..4].copy_from_slice(&self.segment.to_be_bytes());
        bytes[4..].copy_from_slice(&self.end.to_be_bytes());
        bytes
    }

    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let bytes: [u8; 8] = bytes.try_into().ok()?;
        Some(Self {
            segment: u32::from_be_bytes(bytes[..4].try_into().ok()?),
            end: u32::from_be_bytes(bytes[4..].try_into().ok()?),
        })
    }
}

/// Texts placed but not written yet: the records of one index batch.
pub struct Staged {
    end: Checkpoint,
    /// Records by segment, each with the offset its bytes start at.
    chunks: Vec<(Checkpoint, Vec<u8>)>,
}

impl Staged {
    /// Places `text` after everything staged so far.
    pub fn push(&mut self, text: &[u8]) -> Place {
        self.push_record(text, 0)
    }

    /// Places a spliced record of `splice` after everything staged so far; its text is [`Splice::text`].
    pub fn push_spliced(&mut self, splice: &Splice<'_>) -> Place {
        let before = u32::try_from(splice.before.len()).expect("texts are far below 4 GiB");
        let mut bytes = Vec::with_capacity(16 + splice.before.len() + splice.after.len());
        splice.inner.encode(&mut bytes);
        bytes.extend_from_slice(&before.to_be_bytes());
        bytes.extend_from_slice(splice.before);
        bytes.extend_from_slice(splice.after);
        self.push_record(&bytes, SPLICED)
    }

    /// Places a record of `bytes` whose length field carries `flag`.
    fn push_record(&mut self, text: &[u8], flag: u32) -> Place {
        let length = u32::try_from(text.len()).expect("texts are far below 2 GiB");
        assert!(length < SPLICED, "texts are far below 2 GiB");
        if self.end.end >= SEGMENT_BYTES || self.chunks.is_empty() {
            if self.end.end >= SEGMENT_BYTES {
                self.end = Checkpoint {
                    segment: self.end.segment + 1,
                    end: 0,
                };
            }
            self.chunks.push((self.end, Vec::new()));
        }
        let place = Place {
            segment: self.end.segment,
            offset: self.end.end,
            length,
        };
        let (_, bytes) = self.chunks.last_mut().expect("a chunk was pushed");
        bytes.extend_from_slice(&(length | flag).to_be_bytes());
        bytes.extend_from_slice(&crc32fast::hash(text).to_be_bytes());
        bytes.extend_from_slice(text);
        self.end.end += u32::try_from(HEADER).expect("small") + length;
        place
    }

    /// The log's end once these records are written.
    pub fn end(&self) -> Checkpoint {
        self.end
    }

    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }
}

pub struct TextLog {
    dir: PathBuf,
    /// The end of the log; only the writer moves it.
    end: Mutex<Checkpoint>,
    /// Every segment, by number, open for reading (and the last for writing too).
    segments: RwLock<Vec<Arc<File>>>,
}

/// Bytes read ahead by one reader, for the texts that follow: one span for the records read, one for the texts
/// that spliced records embed (written earlier, in the same order).
#[derive(Default)]
pub struct Window {
    records: Span,
    embedded: Span,
}

/// Bytes of one segment: `bytes[..filled]` holds the segment's bytes from `start`. Its buffer comes from the
/// thread's spare one on its first read and goes back to it when the span drops, so that a page allocates (and
/// zeroes) none; the bytes in it never outlive the span.
#[derive(Default)]
struct Span {
    segment: u32,
    start: u64,
    filled: usize,
    bytes: Vec<u8>,
}

/// A span's buffer kept between reads of a thread up to this size.
const SPARE_BYTES: usize = 1 << 20;

thread_local! {
    static SPARE: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

impl Drop for Span {
    fn drop(&mut self) {
        if self.bytes.capacity() != 0 && self.bytes.len() <= SPARE_BYTES {
            SPARE.set(std::mem::take(&mut self.bytes));
        }
    }
}

/// An envelope text as a spliced record holds it: `before`, the base64 of the text at `inner`, `after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Splice<'a> {
    pub before: &'a [u8],
    pub inner: Place,
    pub after: &'a [u8],
}

impl Splice<'_> {
    /// The text, given the inner text.
    pub fn text(&self, inner: &[u8]) -> Vec<u8> {
        let encoded = base64::engine::general_purpose::STANDARD.encode(inner);
        [self.before, encoded.as_bytes(), self.after].concat()
    }

    fn decode(bytes: &[u8]) -> Option<Splice<'_>> {
        let (inner, rest) = bytes.split_at_checked(Place::ENCODED)?;
        let (before, rest) = rest.split_at_checked(4)?;
        let before = u32::from_be_bytes(before.try_into().ok()?) as usize;
        let (before, after) = rest.split_at_checked(before)?;
        Some(Splice {
            before,
            inner: Place::decode(inner.try_into().ok()?),
            after,
        })
    }
}

impl TextLog {
    /// Opens (or creates) the log in `dir`, checking and cutting back what follows `checkpoint` (see the crash
    /// rules above). Errors of kind `InvalidData` mean the log lacks what the checkpoint says it holds.
    pub fn open(dir: &Path, checkpoint: Option<Checkpoint>) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let checkpoint = checkpoint.unwrap_or_default();
        let mut numbers = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let name = entry?.file_name();
            if let Some(number) = name
                .to_str()
                .and_then(|n| n.strip_suffix(".seg"))
                .and_then(|n| n.parse::<u32>().ok())
            {
                numbers.push(number);
            }
        }
        numbers.sort_unstable();
        let last = numbers.last().copied().unwrap_or(0);
        if last < checkpoint.segment
            || numbers
                .iter()
                .enumerate()
                .any(|(i, &n)| i as u64 != u64::from(n))
        {
            return Err(invalid(format!(
                "the text log in {} lacks segments (the index names segment {})",
                dir.display(),
                checkpoint.segment
            )));
        }
        let mut segments = Vec::with_capacity(numbers.len().max(1));
        for number in 0..=last {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(segment_path(dir, number))?;
            segments.push(Arc::new(file));
        }
        let from = if last == checkpoint.segment {
            checkpoint.end
        } else {
            0
        };
        let end = recover_tail(&segments[last as usize], from)?;
        Ok(Self {
            dir: dir.to_owned(),
            end: Mutex::new(Checkpoint { segment: last, end }),
            segments: RwLock::new(segments),
        })
    }

    /// Starts placing texts after the end of the log.
    pub fn stage(&self) -> Staged {
        Staged {
            end: *self.end.lock().expect("not poisoned"),
            chunks: Vec::new(),
        }
    }

    /// Writes staged texts and makes them durable. On failure, the log is cut back to where it was.
    pub fn commit(&self, staged: Staged) -> io::Result<()> {
        let mut end = self.end.lock().expect("not poisoned");
        if staged.is_empty() {
            return Ok(());
        }
        for (at, bytes) in &staged.chunks {
            let file = self.segment_for_writing(at.segment)?;
            let written = file
                .write_all_at(bytes, u64::from(at.end))
                .and_then(|()| file.sync_data());
            if let Err(error) = written {
                // Best effort: what was not whole is cut back on the next open anyway.
                let _ = file.set_len(u64::from(at.end));
                return Err(error);
            }
        }
        *end = staged.end;
        Ok(())
    }

    /// The file of segment `number`, created (and its directory entry made durable) if it is the next one.
    fn segment_for_writing(&self, number: u32) -> io::Result<Arc<File>> {
        if let Some(file) = self.file(number) {
            return Ok(file);
        }
        let file = Arc::new(
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(segment_path(&self.dir, number))?,
        );
        File::open(&self.dir)?.sync_all()?;
        self.segments
            .write()
            .expect("not poisoned")
            .push(Arc::clone(&file));
        Ok(file)
    }

    fn file(&self, number: u32) -> Option<Arc<File>> {
        self.segments
            .read()
            .expect("not poisoned")
            .get(number as usize)
            .cloned()
    }

    /// The text at `place`, read through `window`. Errors of kind `InvalidData` mean a damaged record.
    pub fn read(&self, place: Place, window: &mut Window) -> io::Result<Vec<u8>> {
        Ok(self.read_in(place, window, READ_AHEAD)?.into_owned())
    }

    /// The text at `place`, in `window`: when the window lacks its record, the window is read anew from the
    /// record on, `ahead` bytes at least (the reader knows best where the texts it reads next end). A plain
    /// record's text is lent from the window; a spliced record's is made. Errors of kind `InvalidData` mean a
    /// damaged record.
    pub fn read_in<'w>(
        &self,
        place: Place,
        window: &'w mut Window,
        ahead: usize,
    ) -> io::Result<Cow<'w, [u8]>> {
        let Window { records, embedded } = window;
        let (spliced, bytes) = self.record(place, records, ahead)?;
        if !spliced {
            return Ok(Cow::Borrowed(bytes));
        }
        let splice =
            Splice::decode(bytes).ok_or_else(|| invalid(format!("a bad splice at {place:?}")))?;
        match self.record(splice.inner, embedded, READ_AHEAD)? {
            (false, inner) => Ok(Cow::Owned(splice.text(inner))),
            (true, _) => Err(invalid(format!("the splice at {place:?} names a splice"))),
        }
    }

    /// The bytes of the record at `place`, read through `span` (anew, `ahead` bytes at least, when it lacks
    /// them), and whether it is spliced.
    fn record<'w>(
        &self,
        place: Place,
        span: &'w mut Span,
        ahead: usize,
    ) -> io::Result<(bool, &'w [u8])> {
        let start = u64::from(place.offset);
        let size = HEADER + place.length as usize;
        let inside = span.segment == place.segment
            && start >= span.start
            && start + size as u64 <= span.start + span.filled as u64;
        if !inside {
            let file = self
                .file(place.segment)
                .ok_or_else(|| invalid(format!("no text segment {}", place.segment)))?;
            let wanted = size.max(ahead);
            if span.bytes.capacity() == 0 {
                span.bytes = SPARE.take();
            }
            if span.bytes.len() < wanted {
                span.bytes.resize(wanted, 0);
            }
            span.segment = place.segment;
            span.start = start;
            span.filled = read_up_to(&file, &mut span.bytes[..wanted], start)?;
        }
        let from = usize::try_from(start - span.start).expect("inside the window");
        let record = span.bytes[..span.filled]
            .get(from..from + size)
            .ok_or_else(|| invalid(format!("the text at {place:?} is cut short")))?;
        let (header, bytes) = record.split_at(HEADER);
        let length = u32::from_be_bytes(header[..4].try_into().expect("4 bytes"));
        let checksum = u32::from_be_bytes(header[4..].try_into().expect("4 bytes"));
        if length & !SPLICED != place.length || crc32fast::hash(bytes) != checksum {
            return Err(invalid(format!("the text at {place:?} fails its checksum")));
        }
        Ok((length & SPLICED != 0, bytes))
    }

    /// Bytes the log takes on disk.
    pub fn size(&self) -> io::Result<u64> {
        let segments = self.segments.read().expect("not poisoned");
        segments
            .iter()
            .map(|file| file.metadata().map(|m| m.len()))
            .sum()
    }
}

fn segment_path(dir: &Path, number: u32) -> PathBuf {
    dir.join(format!("{number:08}.seg"))
}

/// Checks the records from `from` to the end of `file` and cuts it after the last whole one; returns the new end.
fn recover_tail(file: &File, from: u32) -> io::Result<u32> {
    let length = file.metadata()?.len();
    if length < u64::from(from) {
        return Err(invalid(format!(
            "a text segment is {length} bytes long, shorter than the {from} the index has seen"
        )));
    }
    let mut tail =
        vec![0; usize::try_from(length - u64::from(from)).expect("segments fit in memory")];
    read_up_to(file, &mut tail, u64::from(from))?;
    let mut good = 0;
    while let Some(header) = tail.get(good..good + HEADER) {
        let size =
            (u32::from_be_bytes(header[..4].try_into().expect("4 bytes")) & !SPLICED) as usize;
        let checksum = u32::from_be_bytes(header[4..].try_into().expect("4 bytes"));
        match tail.get(good + HEADER..good + HEADER + size) {
            Some(text) if crc32fast::hash(text) == checksum => good += HEADER + size,
            _ => break,
        }
    }
    let end = from + u32::try_from(good).expect("segments stay below 4 GiB");
    if u64::from(end) < length {
        tracing::warn!(
            cut = length - u64::from(end),
            "the text log ended in an unfinished write; it was cut back to its last whole record"
        );
        file.set_len(u64::from(end))?;
        file.sync_all()?;
    }
    Ok(end)
}

/// Reads into `buffer` from `offset` until it is full or the file ends; returns the bytes read.
fn read_up_to(file: &File, buffer: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut read = 0;
    while read < buffer.len() {
        match file.read_at(&mut buffer[read..], offset + read as u64) {
            Ok(0) => break,
            Ok(n) => read += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(read)
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

#[cfg(test)]
#[path = "text_log_tests.rs"]
mod tests;

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
//! length field without its high bit), all big-endian. A record never starts at or after the segment size ([`DEFAULT_SEGMENT_BYTES`], at most
//! [`MAX_SEGMENT_BYTES`]): the writer starts the next segment instead, so offsets fit in 32 bits.
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
//! Texts are never rewritten in place. Texts of deleted objects stay in the log as dead bytes (while a spliced
//! envelope text names one, it is live) until compaction (`sled_store/compact.rs`) copies the live records of a
//! sealed segment to the log's end and retires the segment: its file is removed once the index durably names
//! the copies, so segment numbers have gaps, which the index lists (`M retired-segments`). A retired segment's
//! file found on open (a crash before it was removed) is removed then; any other missing segment is an error.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

mod read;
mod segments;

use read::read_up_to;
pub use read::{Record, Splice, Window};
use segments::Segments;

/// Where the writer starts a new segment unless told otherwise (`store.segment_mb`): compaction works a segment
/// at a time, so this bounds what one compaction step copies.
pub const DEFAULT_SEGMENT_BYTES: u32 = 64 << 20;
/// The largest segment size: offsets are 32 bits.
pub const MAX_SEGMENT_BYTES: u32 = 1 << 30;
/// How long a retired segment's file stays open for readers. Readers read a text right after the record that
/// names it, or a few hundred records later at most (a scan reads one record ahead), never minutes later.
pub const RETIRED_OPEN: std::time::Duration = std::time::Duration::from_secs(300);
const HEADER: usize = 8;
/// The high bit of a record's length field: the record is spliced.
const SPLICED: u32 = 1 << 31;
/// A read of a text reads this much ahead at least, so that walking texts written together is sequential IO.
const READ_AHEAD: usize = 256 * 1024;

/// Where a text is: its record's segment and offset, and the text's length. Places order as the log does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
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
        u64::from(self.offset) + self.record_size()
    }

    /// The bytes its record takes in the segment, header included.
    pub fn record_size(&self) -> u64 {
        HEADER as u64 + u64::from(self.length)
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
    segment_bytes: u32,
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
        if self.end.end >= self.segment_bytes || self.chunks.is_empty() {
            if self.end.end >= self.segment_bytes {
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
    /// Where the writer starts a new segment.
    segment_bytes: u32,
    /// The end of the log; only the writer moves it.
    end: Mutex<Checkpoint>,
    /// Where a failed write left bytes that could not be cut off then (see [`TextLog::commit`]).
    torn: Mutex<Option<Checkpoint>>,
    segments: RwLock<Segments>,
}

impl TextLog {
    /// Opens (or creates) the log in `dir`, checking and cutting back what follows `checkpoint` (see the crash
    /// rules above). `retired` are the segments compaction emptied: their files are gone, or removed now. Errors
    /// of kind `InvalidData` mean the log lacks what the checkpoint says it holds.
    pub fn open(
        dir: &Path,
        checkpoint: Option<Checkpoint>,
        retired: &[u32],
        segment_bytes: u32,
    ) -> io::Result<Self> {
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
        // A crash after the batch that retired a segment and before its file was removed leaves the file.
        let (leftovers, mut numbers): (Vec<u32>, Vec<u32>) =
            numbers.into_iter().partition(|n| retired.contains(n));
        for number in &leftovers {
            std::fs::remove_file(segment_path(dir, *number))?;
        }
        numbers.sort_unstable();
        let last = numbers.last().copied().unwrap_or(0).max(checkpoint.segment);
        if let Some(lacking) = (0..=last).find(|n| !numbers.contains(n) && !retired.contains(n)) {
            // The last segment alone may be missing: a log that was never written to.
            if lacking != last || last != 0 {
                return Err(invalid(format!(
                    "the text log in {} lacks segment {lacking} (the index names segments up to {})",
                    dir.display(),
                    checkpoint.segment
                )));
            }
        }
        let mut segments = Segments::default();
        for number in 0..=last {
            if retired.contains(&number) {
                segments.skip();
            } else {
                segments.push(Arc::new(open_segment(dir, number)?));
            }
        }
        let from = if last == checkpoint.segment {
            checkpoint.end
        } else {
            0
        };
        let last_file = segments.get(last).expect("the last segment was opened");
        let end = recover_tail(&last_file, from)?;
        if !leftovers.is_empty() {
            File::open(dir)?.sync_all()?;
        }
        Ok(Self {
            dir: dir.to_owned(),
            segment_bytes,
            end: Mutex::new(Checkpoint { segment: last, end }),
            torn: Mutex::new(None),
            segments: RwLock::new(segments),
        })
    }

    /// Starts placing texts after the end of the log.
    pub fn stage(&self) -> Staged {
        Staged {
            end: *self.end.lock().expect("not poisoned"),
            segment_bytes: self.segment_bytes,
            chunks: Vec::new(),
        }
    }

    /// Writes staged texts and makes them durable. On failure (a full disk: a write cut short, or a failed
    /// fsync), nothing of `staged` counts as written: the end stays where it was, the segment is cut back to it,
    /// and the next commit writes there again. After a failed fsync the kernel may have dropped the dirty pages
    /// (Linux marks them clean), so the bytes after the last good fsync are never trusted, only rewritten.
    pub fn commit(&self, staged: Staged) -> io::Result<()> {
        let mut end = self.end.lock().expect("not poisoned");
        if staged.is_empty() {
            return Ok(());
        }
        self.cut_torn_tail()?;
        for (at, bytes) in &staged.chunks {
            let file = self.segment_for_writing(at.segment)?;
            let written = file
                .write_all_at(bytes, u64::from(at.end))
                .and_then(|()| file.sync_data());
            if let Err(error) = written {
                if file.set_len(u64::from(at.end)).is_err() {
                    *self.torn.lock().expect("not poisoned") = Some(*at);
                }
                return Err(error);
            }
        }
        *end = staged.end;
        Ok(())
    }

    /// Cuts back a segment whose cut after a failed write failed too: its tail may hold part of a record, which
    /// a shorter record written over it would leave behind. Until it succeeds, nothing more is written.
    fn cut_torn_tail(&self) -> io::Result<()> {
        let mut torn = self.torn.lock().expect("not poisoned");
        if let Some(at) = *torn {
            if let Some(file) = self.file(at.segment) {
                file.set_len(u64::from(at.end))?;
            }
            *torn = None;
        }
        Ok(())
    }

    /// The segment being written: every segment before it is sealed.
    pub fn current_segment(&self) -> u32 {
        self.end.lock().expect("not poisoned").segment
    }

    /// The file of segment `number`, created (and its directory entry made durable) if it is the next one.
    fn segment_for_writing(&self, number: u32) -> io::Result<Arc<File>> {
        if let Some(file) = self.file(number) {
            return Ok(file);
        }
        let file = Arc::new(open_segment(&self.dir, number)?);
        File::open(&self.dir)?.sync_all()?;
        self.segments
            .write()
            .expect("not poisoned")
            .push(Arc::clone(&file));
        Ok(file)
    }

    /// Retires segment `number`, sealed, once the index durably names nothing in it (compaction moved its live
    /// texts away): its file is removed now, and closed by the first [`TextLog::release_retired`] at least
    /// [`RETIRED_OPEN`] later, so that a reader that read a record naming it just before still reads it.
    pub fn retire(&self, number: u32) -> io::Result<()> {
        assert!(
            number < self.current_segment(),
            "only a sealed segment is retired"
        );
        self.segments.write().expect("not poisoned").retire(number);
        match std::fs::remove_file(segment_path(&self.dir, number)) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(error),
            _ => {}
        }
        File::open(&self.dir)?.sync_all()
    }

    /// Closes the files of segments retired at least [`RETIRED_OPEN`] ago, which frees their space.
    pub fn release_retired(&self) {
        self.segments
            .write()
            .expect("not poisoned")
            .release(RETIRED_OPEN);
    }

    fn file(&self, number: u32) -> Option<Arc<File>> {
        self.segments.read().expect("not poisoned").get(number)
    }

    /// Bytes the log takes on disk (retired segments still open for readers left out).
    pub fn size(&self) -> io::Result<u64> {
        Ok(self.segment_sizes()?.iter().map(|(_, size)| size).sum())
    }

    /// The bytes of each segment on disk, by number.
    pub fn segment_sizes(&self) -> io::Result<Vec<(u32, u64)>> {
        let segments = self.segments.read().expect("not poisoned");
        segments
            .live()
            .map(|(number, file)| Ok((number, file.metadata()?.len())))
            .collect()
    }
}

fn open_segment(dir: &Path, number: u32) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(segment_path(dir, number))
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

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

#[cfg(test)]
mod tests;

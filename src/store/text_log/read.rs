//! Reading texts: through a [`Window`] of bytes read ahead, rebuilding spliced ones.

use std::borrow::Cow;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use base64::Engine;

use super::{HEADER, Place, READ_AHEAD, SPLICED, TextLog, invalid};

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
        checked(&span.bytes[..span.filled], from, place)
    }

    /// The record at `place` as it is stored, read through `window`: for compaction, which copies records.
    pub fn raw<'w>(&self, place: Place, window: &'w mut Window) -> io::Result<Record<'w>> {
        let (spliced, bytes) = self.record(place, &mut window.records, READ_AHEAD)?;
        Record::new(spliced, bytes, place)
    }

    /// All the bytes of segment `number`, to take its records with [`Record::at`].
    pub fn read_segment(&self, number: u32) -> io::Result<Vec<u8>> {
        let file = self
            .file(number)
            .ok_or_else(|| invalid(format!("no text segment {number}")))?;
        let length = usize::try_from(file.metadata()?.len()).expect("segments fit in memory");
        let mut bytes = vec![0; length];
        let read = read_up_to(&file, &mut bytes, 0)?;
        bytes.truncate(read);
        Ok(bytes)
    }
}

/// A record as it is stored: a plain text, or a splice.
#[derive(Debug, Clone, Copy)]
pub enum Record<'a> {
    Plain(&'a [u8]),
    Spliced(Splice<'a>),
}

impl<'a> Record<'a> {
    /// The record at `place` in `segment`, the bytes of its whole segment ([`TextLog::read_segment`]).
    pub fn at(segment: &'a [u8], place: Place) -> io::Result<Self> {
        let (spliced, bytes) = checked(segment, place.offset as usize, place)?;
        Self::new(spliced, bytes, place)
    }

    fn new(spliced: bool, bytes: &'a [u8], place: Place) -> io::Result<Self> {
        if !spliced {
            return Ok(Self::Plain(bytes));
        }
        Splice::decode(bytes)
            .map(Self::Spliced)
            .ok_or_else(|| invalid(format!("a bad splice at {place:?}")))
    }
}

/// The bytes of the record at `place`, which starts at `from` in `bytes`, once its length and checksum hold; and
/// whether it is spliced.
fn checked(bytes: &[u8], from: usize, place: Place) -> io::Result<(bool, &[u8])> {
    let size = HEADER + place.length as usize;
    let record = bytes
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

/// Reads into `buffer` from `offset` until it is full or the file ends; returns the bytes read.
pub(super) fn read_up_to(file: &File, buffer: &mut [u8], offset: u64) -> io::Result<usize> {
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

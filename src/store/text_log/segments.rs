//! The open segment files: those the index may name, by number, and the retired ones still open for readers.

use std::fs::File;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Segment files by number. A retired segment (compaction moved its live texts away) is a gap; its file is kept
/// open for a while, because a reader may have read a record naming it just before the index moved on
/// ([`Segments::release`]).
#[derive(Default)]
pub(super) struct Segments {
    live: Vec<Option<Arc<File>>>,
    retired: Vec<Retired>,
}

struct Retired {
    number: u32,
    since: Instant,
    file: Arc<File>,
}

impl Segments {
    /// The file of segment `number`, live or retired but still open.
    pub fn get(&self, number: u32) -> Option<Arc<File>> {
        match self.live.get(number as usize) {
            Some(Some(file)) => Some(Arc::clone(file)),
            _ => self
                .retired
                .iter()
                .find(|r| r.number == number)
                .map(|r| Arc::clone(&r.file)),
        }
    }

    /// Adds the next segment.
    pub fn push(&mut self, file: Arc<File>) {
        self.live.push(Some(file));
    }

    /// Passes over the next segment number, retired before this open.
    pub fn skip(&mut self) {
        self.live.push(None);
    }

    /// The live segments, by number.
    pub fn live(&self) -> impl Iterator<Item = (u32, &Arc<File>)> {
        self.live.iter().enumerate().filter_map(|(number, file)| {
            let number = u32::try_from(number).expect("segment numbers are u32");
            file.as_ref().map(|file| (number, file))
        })
    }

    /// Takes segment `number` out of the live ones, keeping its file open for readers.
    pub fn retire(&mut self, number: u32) {
        if let Some(file) = self.live.get_mut(number as usize).and_then(Option::take) {
            self.retired.push(Retired {
                number,
                since: Instant::now(),
                file,
            });
        }
    }

    /// Closes the files retired at least `after` ago.
    pub fn release(&mut self, after: Duration) {
        self.retired.retain(|r| r.since.elapsed() < after);
    }
}

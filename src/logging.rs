//! Where log lines go: standard error, through a queue that a thread of its own empties.
//!
//! A log write must never stop the server from serving or from stopping. Writing to standard error from the
//! thread that logs can block (a pipe whose reader is slow or gone) or fail (a full disk under a redirected
//! log); and tracing-subscriber's own handling of a failed write prints to standard error with `eprintln!`,
//! which panics when that fails too, taking the request, the writer or a job with it. So every thread only
//! queues its line, never waiting; one thread writes them out. A line that does not fit in the queue, or whose
//! write fails, is dropped and counted ([`lines_dropped`], `stixgate_log_lines_dropped_total` in `/metrics`).

use std::io::{self, IsTerminal, Write};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::thread;
use std::time::{Duration, Instant};

use tracing_subscriber::fmt::MakeWriter;

use serde::Deserialize;

/// Lines waiting for the log thread at most; more are dropped rather than waited for.
const QUEUE_LINES: usize = 8192;

/// How long [`flush`] waits for the queued lines to be written, at most.
const FLUSH_PATIENCE: Duration = Duration::from_secs(2);

static LINES_DROPPED: AtomicU64 = AtomicU64::new(0);
static QUEUE: OnceLock<SyncSender<Message>> = OnceLock::new();

/// Log lines dropped since the process started: the queue was full, or writing them failed.
pub fn lines_dropped() -> u64 {
    LINES_DROPPED.load(Ordering::Relaxed)
}

enum Message {
    Line(Vec<u8>),
    /// Answered once every line queued before it has been written (or dropped).
    Flush(SyncSender<()>),
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// For people: one line of text per event.
    Text,
    /// For log shippers: one JSON object per line, with each field as a key.
    Json,
}

/// Logs at `filter` (an `EnvFilter` directive; `info` if it does not parse) in `format`, to standard error
/// through the queue. Only the first call in a process takes effect.
pub fn init(filter: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logger = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(QueuedStderr::start())
        // Our writer never fails; this keeps tracing-subscriber from ever printing (and panicking) itself.
        .log_internal_errors(false);
    let _ = match format {
        LogFormat::Text => logger.with_ansi(io::stderr().is_terminal()).try_init(),
        // Each field a top-level key, so that a log shipper can index it without unpacking.
        LogFormat::Json => logger
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
    };
}

/// Waits until the lines queued so far are written, for [`FLUSH_PATIENCE`] at most: called before the process
/// exits, so that its last lines are not lost, and never keeping it from exiting.
pub fn flush() {
    let Some(queue) = QUEUE.get() else {
        return;
    };
    let deadline = Instant::now() + FLUSH_PATIENCE;
    let (done, written) = mpsc::sync_channel(1);
    let mut message = Message::Flush(done);
    loop {
        match queue.try_send(message) {
            Ok(()) => break,
            Err(TrySendError::Full(back)) if Instant::now() < deadline => {
                message = back;
                thread::sleep(Duration::from_millis(5));
            }
            Err(_) => return,
        }
    }
    let _ = written.recv_timeout(deadline.saturating_duration_since(Instant::now()));
}

/// The `MakeWriter` that queues each formatted event as one line.
struct QueuedStderr {
    queue: Option<SyncSender<Message>>,
}

impl QueuedStderr {
    fn start() -> Self {
        let (sender, lines) = mpsc::sync_channel(QUEUE_LINES);
        let started = thread::Builder::new()
            .name("log writer".into())
            .spawn(move || write_lines(lines, io::stderr()));
        let queue = match started {
            Ok(_) => QUEUE.get_or_init(|| sender).clone(),
            // No thread, no log: every line is counted as dropped.
            Err(_) => return Self { queue: None },
        };
        Self { queue: Some(queue) }
    }
}

/// Writes each queued line, counting the ones whose write fails; ends when every sender is gone.
fn write_lines(lines: Receiver<Message>, mut out: impl Write) {
    for message in lines {
        match message {
            Message::Line(line) => {
                if out.write_all(&line).and_then(|()| out.flush()).is_err() {
                    LINES_DROPPED.fetch_add(1, Ordering::Relaxed);
                }
            }
            Message::Flush(done) => {
                let _ = done.try_send(());
            }
        }
    }
}

impl<'a> MakeWriter<'a> for QueuedStderr {
    type Writer = QueuedLine<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        QueuedLine {
            queue: self.queue.as_ref(),
            line: Vec::new(),
        }
    }
}

/// One event's text, queued whole when tracing-subscriber drops it after writing.
struct QueuedLine<'a> {
    queue: Option<&'a SyncSender<Message>>,
    line: Vec<u8>,
}

impl Write for QueuedLine<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.line.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for QueuedLine<'_> {
    fn drop(&mut self) {
        if self.line.is_empty() {
            return;
        }
        let line = std::mem::take(&mut self.line);
        let queued = self
            .queue
            .is_some_and(|queue| queue.try_send(Message::Line(line)).is_ok());
        if !queued {
            LINES_DROPPED.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Serialises tests that count dropped lines, a process-wide number.
#[cfg(test)]
static COUNTING: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer like a full disk: every write fails.
    struct FullDisk;

    impl Write for FullDisk {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from_raw_os_error(28))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn failed_writes_are_counted_and_the_writer_goes_on() {
        let _counting = COUNTING.lock().unwrap_or_else(|e| e.into_inner());
        let (sender, lines) = mpsc::sync_channel(4);
        let before = lines_dropped();
        let writer = thread::spawn(move || write_lines(lines, FullDisk));
        for _ in 0..3 {
            sender.send(Message::Line(b"x\n".to_vec())).unwrap();
        }
        let (done, written) = mpsc::sync_channel(1);
        sender.send(Message::Flush(done)).unwrap();
        written.recv().unwrap();
        assert!(lines_dropped() - before >= 3);
        drop(sender);
        writer.join().unwrap();
    }

    #[test]
    fn a_full_queue_drops_the_line_instead_of_waiting() {
        let _counting = COUNTING.lock().unwrap_or_else(|e| e.into_inner());
        // Nobody reads this queue: the second line finds it full.
        let (sender, _lines) = mpsc::sync_channel(1);
        let before = lines_dropped();
        for _ in 0..2 {
            let mut line = QueuedLine {
                queue: Some(&sender),
                line: Vec::new(),
            };
            line.write_all(b"x\n").unwrap();
        }
        assert_eq!(lines_dropped() - before, 1);
    }
}

//! `stixgate import` and `export`: envelopes in and out as IntelMQ-facing NDJSON.

use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::{
    Common, held_by_server, init_logging, open_store, read_input, refuse_missing_data,
    split_or_report,
};
use crate::envelope::{Envelope, intelmq};
use crate::ingest::{Intake, RecordStatus, Tally};
use crate::store::Writer;

/// Records validated and stored per durable write during `import`.
const IMPORT_CHUNK: usize = 1000;

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    common: Common,
    /// Collection (id or alias) to store into [default: intake.collection of the configuration].
    #[arg(long)]
    collection: Option<String>,
    /// Files to read; `-` reads standard input.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    common: Common,
    /// Write bare IntelMQ events (the payloads) the way IntelMQ's file output does, instead of envelopes.
    #[arg(long)]
    without_meta: bool,
    /// With --without-meta: add `__type`, as IntelMQ's `message_with_type` does.
    #[arg(long, requires = "without_meta")]
    with_type: bool,
}

pub(super) async fn import(args: ImportArgs) -> anyhow::Result<ExitCode> {
    let settings = args.common.settings()?;
    init_logging("warn", settings.log_format);
    let name = args
        .collection
        .as_deref()
        .unwrap_or(&settings.intake.collection);
    let tables = Arc::new(settings.mapping_tables()?);
    let Some(collection) = settings.collection(name) else {
        bail!("no collection has the id or alias {name:?}");
    };
    let intake = Intake::new(&settings.intake, collection.id.clone(), tables);
    let store = open_store(&settings).map_err(|error| {
        held_by_server(
            error,
            "send the records to the server's POST /envelopes instead",
        )
    })?;
    let (writer, writer_task) = Writer::start(Arc::clone(&store));
    let mut tally = Tally::default();
    for file in &args.files {
        let input = read_input(file)?;
        let Some(records) = split_or_report(file, &input) else {
            tally.errors += 1;
            continue;
        };
        let progress = progress_bar(records.len(), file);
        for chunk in records.chunks(IMPORT_CHUNK) {
            let reports = intake.store_records(chunk, &writer).await?;
            for report in reports.iter().filter(|r| r.status == RecordStatus::Error) {
                progress.suspend(|| {
                    eprintln!(
                        "{}:line {}: {}",
                        file.display(),
                        report.line,
                        report.message.as_deref().unwrap_or_default()
                    );
                });
            }
            tally.add(&reports);
            progress.inc(chunk.len() as u64);
        }
        progress.finish_and_clear();
    }
    writer.stop().await;
    writer_task.await?;
    store.flush()?;
    eprintln!(
        "imported: {} stored, {} duplicates, {} errors",
        tally.stored, tally.duplicates, tally.errors
    );
    Ok(if tally.errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub(super) fn export(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let settings = args.common.settings()?;
    refuse_missing_data(&settings)?;
    let store = open_store(&settings).map_err(|error| {
        held_by_server(
            error,
            "read the envelopes from the server (GET /intelmq/feed) instead, stop it first, or take a \
             `stixgate backup`, which works while it serves",
        )
    })?;
    let mut out = BufWriter::new(io::stdout().lock());
    for stored in store.envelopes() {
        let stored = stored?;
        let written = if args.without_meta {
            let envelope = Envelope::reparse(stored.text)
                .with_context(|| format!("stored envelope {:?} no longer parses", stored.id))?;
            let line =
                intelmq::file_output_line(&envelope.payload(), envelope.kind(), args.with_type);
            out.write_all(line.as_bytes())
        } else {
            out.write_all(&one_line(&stored.text))
        };
        match written.and_then(|()| out.write_all(b"\n")) {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
            other => other?,
        }
    }
    match out.flush() {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        other => Ok(other.map(|()| ExitCode::SUCCESS)?),
    }
}

/// A stored JSON text as one NDJSON line. Text without line breaks is kept byte for byte; text with them (an
/// envelope that was posted pretty-printed) loses the whitespace outside its strings, which keeps the JSON
/// value, its key order and the bytes of every string and number.
fn one_line(text: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if !text.iter().any(|b| matches!(b, b'\n' | b'\r')) {
        return text.into();
    }
    let mut line = Vec::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for &byte in text {
        if in_string {
            // A backslash escapes the next byte, so an escaped quote does not end the string.
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else if byte == b'"' {
            in_string = true;
        } else if matches!(byte, b' ' | b'\t' | b'\n' | b'\r') {
            continue;
        }
        line.push(byte);
    }
    line.into()
}

fn progress_bar(records: usize, file: &Path) -> ProgressBar {
    if !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(records as u64).with_message(file.display().to_string());
    if let Ok(style) =
        ProgressStyle::with_template("{msg} {wide_bar} {pos}/{len} records ({per_sec})")
    {
        bar.set_style(style);
    }
    bar
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn line_breaks_go_and_strings_stay_byte_for_byte() {
        let pretty = b"{\n  \"meta\": {\"uuid\": \"a b\\\" \\n\"},\n\t\"payload\": {\"x\": 1.50, \"\xc3\xa7 \": [ 1 ,2 ]}\r\n}";
        let line = one_line(pretty);
        assert_eq!(
            std::str::from_utf8(&line).unwrap(),
            r#"{"meta":{"uuid":"a b\" \n"},"payload":{"x":1.50,"ç ":[1,2]}}"#
        );
        let compact = br#"{"meta": {"uuid": "x"}}"#;
        assert_eq!(&*one_line(compact), compact);
    }
}

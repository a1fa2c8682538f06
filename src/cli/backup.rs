//! `stixgate backup` and `restore`.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;

use super::{Common, handover, open_store, refuse_missing_data};
use crate::backup;
use crate::http::admin;
use crate::store;
use crate::store::{Engine, StoreError};

#[derive(Debug, Args)]
pub struct BackupArgs {
    #[command(flatten)]
    common: Common,
    /// The file to write; standard output when absent or `-`.
    output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    common: Common,
    /// The backup to read; `-` reads standard input.
    input: PathBuf,
}

/// Bytes kept of the end of a streamed backup: more than its end record takes.
const TAIL: usize = 4096;

pub(super) async fn backup(args: BackupArgs) -> anyhow::Result<ExitCode> {
    let settings = args.common.settings()?;
    refuse_missing_data(&settings)?;
    let mut output = Output::open(args.output.as_deref())?;
    let written = match store::open_snapshot(&settings.store, &settings.data) {
        Ok(snapshot) => backup::write(snapshot.store(), &mut output)
            .map_err(anyhow::Error::from)
            .and_then(|tally| {
                snapshot.end()?;
                Ok(tally.to_string())
            }),
        Err(StoreError::Locked(_)) => from_server(&settings.data, &mut output).await,
        Err(other) => Err(other.into()),
    };
    let summary = written.and_then(|summary| output.finish().map(|()| summary));
    match summary {
        Ok(summary) => {
            eprintln!("backed up: {summary}");
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            output.discard();
            Err(error)
        }
    }
}

/// Has the server that holds the data directory read the backup, and writes what it streams.
async fn from_server(data: &Path, output: &mut Output) -> anyhow::Result<String> {
    let mut response = handover::post(data, admin::BACKUP_PATH, Vec::new(), "the backup").await?;
    let mut lines = 0u64;
    // The end of the stream, long enough to hold its last line (the short end record).
    let mut tail = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .context("the backup broke off while the server sent it")?
    {
        output.write_all(&chunk)?;
        lines += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
        tail.extend_from_slice(&chunk);
        tail.drain(..tail.len().saturating_sub(TAIL));
    }
    let Some(body) = tail.strip_suffix(b"\n") else {
        bail!("the backup broke off in the middle of a line");
    };
    let last_line = body.rsplit(|&b| b == b'\n').next().unwrap_or_default();
    backup::check_end(last_line, lines.saturating_sub(1))?;
    Ok(format!("{lines} lines, read by the server at one moment"))
}

pub(super) fn restore(args: RestoreArgs) -> anyhow::Result<ExitCode> {
    let settings = args.common.settings()?;
    let input: Box<dyn BufRead> = if args.input == Path::new("-") {
        Box::new(io::stdin().lock())
    } else {
        let file =
            File::open(&args.input).with_context(|| format!("reading {}", args.input.display()))?;
        Box::new(BufReader::new(file))
    };
    let (tally, into) = match settings.store.engine {
        Engine::Sled => (
            backup::restore(input, &settings.data),
            settings.data.display().to_string(),
        ),
        Engine::Postgres => (
            open_store(&settings)
                .map_err(backup::RestoreError::from)
                .and_then(|store| backup::restore_into(input, store.as_ref())),
            "the PostgreSQL database".to_owned(),
        ),
    };
    let tally = tally.with_context(|| format!("restoring {}", args.input.display()))?;
    eprintln!(
        "restored into {into}: {tally}; the MISP feeds are made again when the server starts"
    );
    Ok(ExitCode::SUCCESS)
}

/// Where a backup goes: standard output, or a file that gets its name only once the backup is whole.
enum Output {
    Stdout(BufWriter<io::Stdout>),
    File {
        file: BufWriter<File>,
        partial: PathBuf,
        path: PathBuf,
    },
}

impl Output {
    fn open(path: Option<&Path>) -> anyhow::Result<Self> {
        match path {
            None => Ok(Self::Stdout(BufWriter::new(io::stdout()))),
            Some(path) if path == Path::new("-") => Ok(Self::Stdout(BufWriter::new(io::stdout()))),
            Some(path) => {
                let mut partial = path.as_os_str().to_owned();
                partial.push(".partial");
                let partial = PathBuf::from(partial);
                let file = crate::secret::create_private(&partial)
                    .with_context(|| format!("creating {}", partial.display()))?;
                Ok(Self::File {
                    file: BufWriter::new(file),
                    partial,
                    path: path.to_owned(),
                })
            }
        }
    }

    fn finish(&mut self) -> anyhow::Result<()> {
        match self {
            Self::Stdout(out) => out.flush().context("writing the backup to stdout"),
            Self::File {
                file,
                partial,
                path,
            } => file
                .flush()
                .and_then(|()| file.get_ref().sync_all())
                .and_then(|()| std::fs::rename(&*partial, &*path))
                .with_context(|| format!("writing {}", path.display())),
        }
    }

    /// Removes what a failed backup wrote to a file.
    fn discard(&self) {
        if let Self::File { partial, .. } = self {
            let _ = std::fs::remove_file(partial);
        }
    }
}

impl Write for Output {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match self {
            Self::Stdout(out) => out.write(bytes),
            Self::File { file, .. } => file.write(bytes),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Stdout(out) => out.flush(),
            Self::File { file, .. } => file.flush(),
        }
    }
}

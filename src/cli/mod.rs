//! The `stixgate` command line: the clap definitions and the dispatch; each area's commands live in their own
//! file.

mod backup;
mod check_config;
mod exchange;
mod handover;
mod import_export;
mod mapping;
mod package_files;
mod secrets;
mod serve;

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::config::Settings;
use crate::envelope::{RawRecord, split_records};
use crate::logging::init as init_logging;
use crate::store::{self, Engine, Store, StoreError};

#[derive(Debug, Parser)]
#[command(
    name = "stixgate",
    version,
    about = "TAXII 2.1 / STIX 2.1 gateway for IntelMQ IEP04 envelopes"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API until SIGTERM or SIGINT.
    Serve(serve::ServeArgs),
    /// Check a configuration as `serve` would (and the TLS files, mapping tables and field lists it names),
    /// then print the effective configuration with its secrets redacted; non-zero, naming the problem, when
    /// `serve` would refuse it.
    CheckConfig(check_config::CheckConfigArgs),
    /// Store envelopes or bare IntelMQ events from files (a JSON object, a JSON array or NDJSON); `-` is stdin.
    Import(import_export::ImportArgs),
    /// Write every stored envelope to stdout as NDJSON, one line each, in the order they were stored.
    Export(import_export::ExportArgs),
    /// Map envelopes or bare IntelMQ events (files, or `-` for stdin) to one STIX 2.1 bundle on stdout.
    Map(mapping::MapArgs),
    /// Turn STIX (a bundle, a TAXII envelope or a list of objects, from a file or `-`) into envelopes (NDJSON).
    Unmap(mapping::UnmapArgs),
    /// Copy the objects of remote TAXII 2.1 collections into a local collection, with the envelopes they give
    /// back. URL is a discovery URL, an API root or a collection; a rerun resumes where the last one stopped.
    Pull(exchange::PullArgs),
    /// Send the objects a local collection gained since the last push to a remote TAXII 2.1 collection.
    Push(exchange::PushArgs),
    /// Write a backup of everything the configured store holds (the sled data directory or the PostgreSQL
    /// database), as NDJSON, to OUTPUT or stdout. It works while servers run: on sled the server reads it at
    /// one moment and writes wait meanwhile; on PostgreSQL it reads one moment of the database.
    Backup(backup::BackupArgs),
    /// Restore a backup (a file, or `-` for stdin) into the configured store: an empty or missing sled data
    /// directory, or an empty PostgreSQL database.
    Restore(backup::RestoreArgs),
    /// Read a password (twice and without echo on a terminal, else one line of stdin) and print its argon2
    /// hash, for `password` of a `[[users]]` entry.
    HashPassword,
    /// Print a new random bearer token, and the SHA-256 digest to list in `tokens` of a `[[users]]` entry.
    NewToken,
    /// Write the shell completions and man pages that the Debian package installs into DIR (scripts/deb).
    #[command(hide = true)]
    PackageFiles(package_files::PackageFilesArgs),
}

/// The configuration, for the commands that need no store (`map`, `unmap`).
#[derive(Debug, Args)]
pub struct ConfigFile {
    /// TOML configuration file, layered over the embedded default.
    #[arg(long, env = "STIXGATE_CONFIG", global = true)]
    config: Option<PathBuf>,
}

impl ConfigFile {
    fn settings(&self) -> anyhow::Result<Settings> {
        Ok(Settings::load(self.config.as_deref())?)
    }
}

/// The configuration and the data directory, for the commands that open the store or a server's.
#[derive(Debug, Args)]
pub struct Common {
    #[command(flatten)]
    config: ConfigFile,
    /// Data directory: the embedded store's (sled) files, and a running server's `admin.json`; with
    /// PostgreSQL only `serve` uses it [default: ./stixgate-data, or $STIXGATE_DATA].
    #[arg(long, global = true)]
    data: Option<PathBuf>,
}

impl Common {
    fn settings(&self) -> anyhow::Result<Settings> {
        let mut settings = self.config.settings()?;
        if let Some(data) = &self.data {
            settings.data.clone_from(data);
        }
        Ok(settings)
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve::serve(args).await,
        Command::CheckConfig(args) => check_config::check_config(args),
        Command::Import(args) => import_export::import(args).await,
        Command::Export(args) => import_export::export(args),
        Command::Map(args) => mapping::map(args),
        Command::Unmap(args) => mapping::unmap(args),
        Command::Pull(args) => exchange::pull(args).await,
        Command::Push(args) => exchange::push(args).await,
        Command::Backup(args) => backup::backup(args).await,
        Command::Restore(args) => backup::restore(args),
        Command::HashPassword => secrets::hash_password(),
        Command::NewToken => Ok(secrets::new_token()),
        Command::PackageFiles(args) => package_files::package_files(&args),
    }
}

fn open_store(settings: &Settings) -> Result<Arc<dyn Store>, StoreError> {
    store::open(&settings.store, &settings.data)
}

/// Refuses, on sled, a data directory that does not exist, instead of reading an empty store made there.
fn refuse_missing_data(settings: &Settings) -> anyhow::Result<()> {
    if settings.store.engine == Engine::Sled && !settings.data.is_dir() {
        anyhow::bail!("there is no data directory at {}", settings.data.display());
    }
    Ok(())
}

/// A store that would not open, with what to do instead when a server holds it: `instead` says it.
fn held_by_server(error: StoreError, instead: &str) -> anyhow::Error {
    match error {
        StoreError::Locked(_) => anyhow::anyhow!("{error}. While a server runs on it, {instead}"),
        other => other.into(),
    }
}

fn read_input(file: &Path) -> anyhow::Result<Vec<u8>> {
    let mut input = Vec::new();
    if file == Path::new("-") {
        io::stdin()
            .read_to_end(&mut input)
            .context("reading standard input")?;
    } else {
        input = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    }
    Ok(input)
}

/// The records of one input file, or `None` after saying on stderr why it has none.
fn split_or_report<'a>(file: &Path, input: &'a [u8]) -> Option<Vec<RawRecord<'a>>> {
    split_records(input)
        .map_err(|error| eprintln!("{}:{error}", file.display()))
        .ok()
}

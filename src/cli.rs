//! The `stixgate` command line.

use std::io::{self, BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use crate::client::{Connection, Job, Local, Progress, Report, RetryPolicy, Task};
use crate::config::{DEFAULT_CONFIG, Settings};
use crate::envelope::{Envelope, intelmq, split_records};
use crate::ingest::{Intake, RecordStatus, Tally};
use crate::mapping;
use crate::secret;
use crate::server::{Application, admin};
use crate::store::{SledStore, Store, StoreError, Writer};

/// Records validated and stored per durable write during `import`.
const IMPORT_CHUNK: usize = 1000;

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
    Serve(ServeArgs),
    /// Store envelopes or bare IntelMQ events from files (a JSON object, a JSON array or NDJSON); `-` is stdin.
    Import(ImportArgs),
    /// Write every stored envelope to stdout as NDJSON, in the order they were stored.
    Export(ExportArgs),
    /// Map envelopes or bare IntelMQ events (files, or `-` for stdin) to one STIX 2.1 bundle on stdout.
    Map(MapArgs),
    /// Turn STIX (a bundle, a TAXII envelope or a list of objects, from a file or `-`) into envelopes (NDJSON).
    Unmap(UnmapArgs),
    /// Copy the objects of remote TAXII 2.1 collections into a local collection, with the envelopes they give
    /// back. URL is a discovery URL, an API root or a collection; a rerun resumes where the last one stopped.
    Pull(PullArgs),
    /// Send the objects a local collection gained since the last push to a remote TAXII 2.1 collection.
    Push(PushArgs),
    /// Read a password from stdin and print its argon2 hash, for `password` of a `[[users]]` entry.
    HashPassword,
    /// Print a new random bearer token, and the SHA-256 digest to list in `tokens` of a `[[users]]` entry.
    NewToken,
}

#[derive(Debug, Args)]
pub struct Common {
    /// TOML configuration file, layered over the embedded default.
    #[arg(long, env = "STIXGATE_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Data directory [default: ./stixgate-data, or $STIXGATE_DATA].
    #[arg(long, global = true)]
    data: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    common: Common,
    /// Address to listen on, such as 127.0.0.1:8080.
    #[arg(long)]
    listen: Option<String>,
    /// Print the embedded default configuration and exit.
    #[arg(long)]
    print_default_config: bool,
}

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

#[derive(Debug, Args)]
pub struct MapArgs {
    #[command(flatten)]
    common: Common,
    /// Files to read; `-` reads standard input.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct UnmapArgs {
    #[command(flatten)]
    common: Common,
    /// The file to read; `-` reads standard input.
    file: PathBuf,
}

#[derive(Debug, Args)]
pub struct PullArgs {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    remote: RemoteArgs,
    /// Local collection (id or alias) to store into [default: intake.collection of the configuration].
    #[arg(long)]
    into: Option<String>,
    /// Objects to ask for per page (servers cap it to their own maximum) [default: 1000].
    #[arg(long)]
    page_size: Option<usize>,
    /// A discovery URL, an API root or a collection URL.
    url: String,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    remote: RemoteArgs,
    /// Local collection (id or alias) to send [default: intake.collection of the configuration].
    #[arg(long)]
    collection: Option<String>,
    /// Leave out objects of this type (repeatable). medallion 3.0.0 needs `--skip-type extension-definition`:
    /// it cannot serve a collection holding an object with a `version` property.
    #[arg(long = "skip-type", value_name = "TYPE")]
    skip_types: Vec<String>,
    /// The remote collection's URL, or a discovery URL or API root with exactly one writable collection.
    url: String,
}

/// How to reach the remote server.
#[derive(Debug, Args)]
pub struct RemoteArgs {
    /// HTTP Basic user name; needs --password.
    #[arg(long)]
    user: Option<String>,
    /// HTTP Basic password.
    #[arg(long)]
    password: Option<String>,
    /// Bearer token, sent as `Authorization: Bearer TOKEN`.
    #[arg(long)]
    token: Option<String>,
    /// Client certificate for TLS client authentication (PEM, leaf first); needs --key.
    #[arg(long)]
    cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long)]
    key: Option<PathBuf>,
    /// PEM certificates to trust instead of the system's roots.
    #[arg(long)]
    ca: Option<PathBuf>,
    /// Proxy for every request, such as http://proxy.example:3128.
    #[arg(long)]
    proxy: Option<String>,
    /// Tries after a connection error, 429 or 5xx, with exponential backoff and jitter.
    #[arg(long, default_value_t = RetryPolicy::default().retries)]
    retries: u32,
}

impl RemoteArgs {
    fn job(self, task: Task) -> anyhow::Result<Job> {
        let connection = Connection {
            user: self.user,
            password: self.password,
            token: self.token,
            cert: self.cert,
            key: self.key,
            ca: self.ca,
            proxy: self.proxy,
        }
        .absolute()?;
        Ok(Job {
            task,
            connection,
            retries: self.retries,
        })
    }
}

impl Common {
    fn settings(&self) -> anyhow::Result<Settings> {
        let mut settings = Settings::load(self.config.as_deref())?;
        if let Some(data) = &self.data {
            settings.data.clone_from(data);
        }
        Ok(settings)
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Import(args) => import(args).await,
        Command::Export(args) => export(args),
        Command::Map(args) => map(args),
        Command::Unmap(args) => unmap(args),
        Command::Pull(args) => {
            let settings = args.common.settings()?;
            let into = args
                .into
                .unwrap_or_else(|| settings.intake.collection.clone());
            let task = Task::Pull {
                url: args.url,
                into,
                limit: args.page_size,
            };
            run_job(settings, args.remote.job(task)?).await
        }
        Command::Push(args) => {
            let settings = args.common.settings()?;
            let collection = args
                .collection
                .unwrap_or_else(|| settings.intake.collection.clone());
            let task = Task::Push {
                url: args.url,
                collection,
                skip_types: args.skip_types,
            };
            run_job(settings, args.remote.job(task)?).await
        }
        Command::HashPassword => hash_password(),
        Command::NewToken => {
            let (token, digest) = secret::new_token();
            println!("token (give to the client):     {token}");
            println!("digest (put in users.tokens):   {digest}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    if args.print_default_config {
        print!("{DEFAULT_CONFIG}");
        return Ok(ExitCode::SUCCESS);
    }
    let mut settings = args.common.settings()?;
    if let Some(listen) = args.listen {
        settings.listen = listen;
    }
    init_logging(&settings.log);
    let data = settings.data.display().to_string();
    let host = settings
        .listen
        .rsplit_once(':')
        .map_or("127.0.0.1", |(host, _)| host)
        .to_owned();
    let application = Application::build(settings)?;
    tracing::info!(data, "listening on http://{host}:{}", application.port());
    application.run_until_stopped(shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

async fn import(args: ImportArgs) -> anyhow::Result<ExitCode> {
    let settings = args.common.settings()?;
    init_logging("warn");
    let name = args
        .collection
        .as_deref()
        .unwrap_or(&settings.intake.collection);
    let tables = Arc::new(settings.mapping_tables()?);
    let Some(intake) = Intake::new(&settings, name, tables) else {
        bail!("no collection has the id or alias {name:?}");
    };
    let store = open_store(&settings.data).map_err(|error| match error {
        StoreError::Locked(_) => anyhow::anyhow!(
            "{error}. While a server runs on it, send the records to the server's POST /envelopes instead"
        ),
        other => other.into(),
    })?;
    let (writer, writer_task) = Writer::start(Arc::clone(&store));
    let mut tally = Tally::default();
    for file in &args.files {
        let input = read_input(file)?;
        let records = match split_records(&input) {
            Ok(records) => records,
            Err(error) => {
                eprintln!("{}:{error}", file.display());
                tally.errors += 1;
                continue;
            }
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

/// Runs a pull or push on the data directory, and prints its summary.
async fn run_job(settings: Settings, job: Job) -> anyhow::Result<ExitCode> {
    init_logging("warn");
    job.check(&settings)?;
    let store = match open_store(&settings.data) {
        Ok(store) => store,
        Err(StoreError::Locked(_)) => return hand_over(&settings.data, &job).await,
        Err(other) => return Err(other.into()),
    };
    let (writer, writer_task) = Writer::start(Arc::clone(&store));
    let local = Local {
        store: Arc::clone(&store),
        writer: writer.clone(),
    };
    let spinner = Spinner::new();
    let result = job.run(&settings, &local, &spinner).await;
    spinner.0.finish_and_clear();
    writer.stop().await;
    writer_task.await?;
    store.flush()?;
    Ok(summarize(&result?))
}

/// Hands a job to the server that holds the data directory, through its admin endpoint, and waits for it.
async fn hand_over(data: &Path, job: &Job) -> anyhow::Result<ExitCode> {
    let file = data.join(admin::ADMIN_FILE);
    let held = || {
        format!(
            "the data directory {} is in use by another process, and no server's admin endpoint is named in {}",
            data.display(),
            file.display()
        )
    };
    let text = std::fs::read(&file).with_context(held)?;
    let endpoint: admin::AdminFile = serde_json::from_slice(&text).with_context(held)?;
    eprintln!(
        "a server holds {}: the job runs there (at {})",
        data.display(),
        endpoint.url
    );
    let spinner = Spinner::new();
    spinner.update("waiting for the server to finish the job");
    let response = reqwest::Client::new()
        .post(format!("{}{}", endpoint.url, admin::JOBS_PATH))
        .bearer_auth(&endpoint.token)
        .json(job)
        .send()
        .await
        .with_context(|| {
            format!(
                "the server's admin endpoint {} does not answer (a server that was killed leaves {} behind)",
                endpoint.url,
                file.display()
            )
        })?;
    spinner.0.finish_and_clear();
    let status = response.status();
    let body = response
        .bytes()
        .await
        .context("the server's answer broke off")?;
    if !status.is_success() {
        let message = serde_json::from_slice::<admin::JobError>(&body)
            .map(|e| e.error)
            .unwrap_or_else(|_| String::from_utf8_lossy(&body).into_owned());
        bail!("the server did not finish the job ({status}): {message}");
    }
    let report: Report =
        serde_json::from_slice(&body).context("the server's report is not readable")?;
    Ok(summarize(&report))
}

/// Prints a job's report; the exit code says whether everything went through.
fn summarize(report: &Report) -> ExitCode {
    for line in report.lines() {
        eprintln!("{line}");
    }
    if report.succeeded() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// A spinner with the totals so far, on a terminal only.
struct Spinner(ProgressBar);

impl Spinner {
    fn new() -> Self {
        if !io::stderr().is_terminal() {
            return Self(ProgressBar::hidden());
        }
        let bar = ProgressBar::new_spinner();
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Self(bar)
    }
}

impl Progress for Spinner {
    fn update(&self, message: &str) {
        self.0.set_message(message.to_owned());
    }
}

fn export(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let settings = args.common.settings()?;
    if !settings.data.is_dir() {
        bail!("there is no data directory at {}", settings.data.display());
    }
    let store = open_store(&settings.data)?;
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
            out.write_all(&stored.text)
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

fn map(args: MapArgs) -> anyhow::Result<ExitCode> {
    let settings = args.common.settings()?;
    let (rules, tables) = (settings.intake_rules(), settings.mapping_tables()?);
    let mut objects: Vec<serde_json::Value> = Vec::new();
    let mut failed = false;
    for file in &args.files {
        let input = read_input(file)?;
        let records = match split_records(&input) {
            Ok(records) => records,
            Err(error) => {
                eprintln!("{}:{error}", file.display());
                failed = true;
                continue;
            }
        };
        for record in records {
            let envelope = match Envelope::parse(record.bytes, &rules) {
                Ok(envelope) => envelope,
                Err(error) => {
                    eprintln!("{}:line {}: {error}", file.display(), record.line);
                    failed = true;
                    continue;
                }
            };
            let mapped = mapping::map_envelope(&envelope, &tables, None);
            for warning in &mapped.warnings {
                eprintln!(
                    "{}:line {}: warning: {warning}",
                    file.display(),
                    record.line
                );
            }
            objects.extend(std::iter::once(mapped.carrier).chain(mapped.standard));
        }
    }
    objects.extend(mapping::catalog());
    let mut seen = std::collections::HashSet::new();
    objects.retain(|object| seen.insert(object["id"].to_string()));
    let bundle = serde_json::json!({
        "type": "bundle",
        "id": format!("bundle--{}", uuid::Uuid::new_v4()),
        "objects": objects,
    });
    println!("{}", serde_json::to_string_pretty(&bundle)?);
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn unmap(args: UnmapArgs) -> anyhow::Result<ExitCode> {
    let input = read_input(&args.file)?;
    let texts = stix_objects(&input).with_context(|| {
        format!(
            "{} is not a STIX bundle, a TAXII envelope or a JSON list of objects",
            args.file.display()
        )
    })?;
    let objects: Vec<serde_json::Value> = texts
        .iter()
        .filter_map(|t| serde_json::from_str(t.get()).ok())
        .collect();
    let mut out = BufWriter::new(io::stdout().lock());
    let mut failed = false;
    for text in texts {
        match mapping::unmap(text.get().as_bytes(), &objects) {
            Ok(mapping::Unmapped::Carrier(envelope) | mapping::Unmapped::Foreign(envelope)) => {
                out.write_all(envelope.text())?;
                out.write_all(b"\n")?;
            }
            Ok(mapping::Unmapped::Skipped) => {}
            Err(error) => {
                eprintln!(
                    "{}: object {}: {error}",
                    args.file.display(),
                    object_id(text.get())
                );
                failed = true;
            }
        }
    }
    out.flush()?;
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The exact texts of the objects of a bundle, a TAXII envelope, a JSON array, or one object.
fn stix_objects(input: &[u8]) -> anyhow::Result<Vec<&serde_json::value::RawValue>> {
    use serde_json::value::RawValue;
    #[derive(serde::Deserialize)]
    struct Container<'a> {
        #[serde(borrow)]
        objects: Option<Vec<&'a RawValue>>,
        #[serde(rename = "type")]
        object_type: Option<String>,
    }
    let input = input.trim_ascii();
    serde_json::from_slice::<serde::de::IgnoredAny>(input).context("it is not JSON")?;
    if input.starts_with(b"[") {
        return serde_json::from_slice(input).context("a list must hold JSON objects");
    }
    let container: Container = serde_json::from_slice(input).context("it is not a JSON object")?;
    match (container.objects, container.object_type) {
        (Some(objects), _) => Ok(objects),
        (None, Some(t)) if t != "bundle" => Ok(vec![serde_json::from_slice(input)?]),
        _ => Ok(Vec::new()),
    }
}

fn object_id(text: &str) -> String {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|o| o["id"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "(without id)".to_owned())
}

fn hash_password() -> anyhow::Result<ExitCode> {
    if io::stdin().is_terminal() {
        eprint!("password: ");
    }
    let mut password = String::new();
    io::stdin()
        .read_line(&mut password)
        .context("reading the password from stdin")?;
    let password = password.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        bail!("the password is empty");
    }
    println!("{}", secret::hash_password(password));
    Ok(ExitCode::SUCCESS)
}

fn open_store(data: &Path) -> Result<Arc<dyn Store>, StoreError> {
    Ok(Arc::new(SledStore::open(data)?))
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

fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(io::stderr().is_terminal())
        .try_init();
}

/// SIGTERM or SIGINT: both stop gracefully.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("installing a SIGTERM handler works on unix");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}

//! `stixgate pull` and `push`: jobs against a remote TAXII server, run here or handed to a running server.

use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use indicatif::ProgressBar;

use super::{Common, handover, init_logging, open_store};
use crate::config::Settings;
use crate::federation::{Connection, Exchange, Local, Progress, Report, RetryPolicy, Task};
use crate::http::admin;
use crate::store::{StoreError, Writer};

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
    /// HTTP Basic user name; needs a password (--password-file, $STIXGATE_PASSWORD or --password).
    #[arg(long)]
    user: Option<String>,
    /// HTTP Basic password. It may start with `-`, as random ones do. On the command line it shows in `ps`
    /// and in the shell's history: prefer --password-file or $STIXGATE_PASSWORD.
    #[arg(
        long,
        allow_hyphen_values = true,
        env = "STIXGATE_PASSWORD",
        hide_env_values = true
    )]
    password: Option<String>,
    /// A file whose first line is the HTTP Basic password (the line break after it is not part of it).
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    /// Bearer token, sent as `Authorization: Bearer TOKEN`. On the command line it shows in `ps` and in the
    /// shell's history: prefer --token-file or $STIXGATE_TOKEN.
    #[arg(
        long,
        allow_hyphen_values = true,
        env = "STIXGATE_TOKEN",
        hide_env_values = true
    )]
    token: Option<String>,
    /// A file whose first line is the bearer token (the line break after it is not part of it).
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
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
    fn job(mut self, mut task: Task) -> anyhow::Result<Exchange> {
        self.password = secret_or_file(
            self.password,
            self.password_file.as_deref(),
            "password",
            "--password or $STIXGATE_PASSWORD",
        )?;
        self.token = secret_or_file(
            self.token,
            self.token_file.as_deref(),
            "token",
            "--token or $STIXGATE_TOKEN",
        )?;
        // Out of the URL, which the job's reports and the server's log show.
        let url = match &mut task {
            Task::Pull { url, .. } | Task::Push { url, .. } => url,
        };
        crate::secret::lift_url_credentials(
            url,
            &mut self.user,
            &mut self.password,
            self.token.as_deref(),
        )
        .map_err(anyhow::Error::msg)?;
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
        Ok(Exchange {
            task,
            connection,
            retries: self.retries,
        })
    }
}

/// A secret given on the command line or in its environment variable (`given`, from `given_by`), or the
/// first line of `file`; both at once are refused, since which one counts would be a guess. `what` names the
/// secret for the user.
fn secret_or_file(
    given: Option<String>,
    file: Option<&Path>,
    what: &str,
    given_by: &str,
) -> anyhow::Result<Option<String>> {
    let Some(file) = file else {
        return Ok(given);
    };
    if given.is_some() {
        anyhow::bail!(
            "the {what} is given twice, in --{what}-file and in {given_by}: give it one way"
        );
    }
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("reading the {what} file {}", file.display()))?;
    match text.lines().next() {
        Some(line) if !line.is_empty() => Ok(Some(line.to_owned())),
        _ => anyhow::bail!(
            "the {what} file {} has no {what} on its first line",
            file.display()
        ),
    }
}

pub(super) async fn pull(args: PullArgs) -> anyhow::Result<ExitCode> {
    let settings = args.common.settings()?;
    let into = args
        .into
        .unwrap_or_else(|| settings.intake.collection.clone());
    let task = Task::Pull {
        url: args.url,
        into,
        limit: args.page_size,
        wait: None,
    };
    run_job(settings, args.remote.job(task)?).await
}

pub(super) async fn push(args: PushArgs) -> anyhow::Result<ExitCode> {
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

/// Runs a pull or push on the data directory, and prints its summary.
async fn run_job(settings: Settings, job: Exchange) -> anyhow::Result<ExitCode> {
    init_logging("warn", settings.log_format);
    job.check(&settings.collection_names())?;
    let store = match open_store(&settings) {
        Ok(store) => store,
        Err(StoreError::Locked(_)) => return hand_over(&settings, &job).await,
        Err(other) => return Err(other.into()),
    };
    let (writer, writer_task) = Writer::start(Arc::clone(&store));
    let local = Local {
        store: Arc::clone(&store),
        writer: writer.clone(),
    };
    let spinner = Spinner::new();
    let result = job
        .run(&settings.collection_names(), &local, &spinner)
        .await;
    spinner.0.finish_and_clear();
    writer.stop().await;
    writer_task.await?;
    store.flush()?;
    Ok(summarize(&result?))
}

/// Hands a job to the server that holds the data directory, and waits for its report.
async fn hand_over(settings: &Settings, job: &Exchange) -> anyhow::Result<ExitCode> {
    let spinner = Spinner::new();
    spinner.update("waiting for the server to finish the job");
    let body = serde_json::to_vec(job).context("the job does not serialize")?;
    let response = handover::post(&settings.data, admin::JOBS_PATH, body, "the job").await;
    spinner.0.finish_and_clear();
    let body = response?
        .bytes()
        .await
        .context("the server's answer broke off")?;
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

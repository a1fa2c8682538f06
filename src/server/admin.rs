//! The admin endpoint: how `stixgate pull`, `push` and `backup` hand their work to the server that holds the
//! data directory, instead of failing on its lock.
//!
//! It listens on loopback only, on its own port, in plain HTTP (the CLI need not trust the server's TLS
//! certificate). Its address and a fresh bearer token are in `admin.json` in the data directory, readable by
//! its owner only: whoever may open the data directory may use the endpoint, and nobody else.

mod backup;

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use actix_web::dev::Server;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde::{Deserialize, Serialize};

use super::AppState;
use crate::client::{ClientError, Job, Local, Quiet};
use crate::secret;

/// The file in the data directory that tells the command line where the admin endpoint is.
pub const ADMIN_FILE: &str = "admin.json";
/// POST a [`Job`], get its [`crate::client::Report`] when it is done.
pub const JOBS_PATH: &str = "/admin/jobs";
/// POST (no body), get a backup of the store as it is at one moment (see [`crate::backup`]), streamed as it is
/// read. Writes wait while it is read.
pub const BACKUP_PATH: &str = "/admin/backup";

/// What `admin.json` holds.
#[derive(Debug, Serialize, Deserialize)]
pub struct AdminFile {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    pub token: String,
}

/// Why a job handed over did not run, as the endpoint answers it (4xx or 5xx).
#[derive(Debug, Serialize, Deserialize)]
pub struct JobError {
    pub error: String,
}

struct TokenDigest(String);

/// The admin server, bound and not yet running, and the file that points at it.
pub struct Admin {
    pub server: Server,
    pub file: PathBuf,
}

/// Binds the admin endpoint on a free loopback port and writes `admin.json` into `data`.
pub fn start(state: web::Data<AppState>, data: &Path) -> std::io::Result<Admin> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}", listener.local_addr()?);
    let (token, digest) = secret::new_token();
    let file = data.join(ADMIN_FILE);
    write_private(&file, &serde_json::to_vec(&AdminFile { url, token })?)?;
    let digest = web::Data::new(TokenDigest(digest));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(digest.clone())
            .route(JOBS_PATH, web::post().to(run_job))
            .route(BACKUP_PATH, web::post().to(backup::stream))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run();
    Ok(Admin { server, file })
}

/// Writes a file only its owner may read, replacing any earlier one at once.
fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let temporary = path.with_extension("json.new");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&temporary)?;
    file.write_all(contents)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)
}

/// The refusal of a request without the token of `admin.json`.
fn refusal(request: &HttpRequest, digest: &TokenDigest) -> Option<HttpResponse> {
    let token = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    // Digests are compared, not tokens: the time a comparison takes says nothing of the token.
    let authorized = token.is_some_and(|t| secret::token_digest(t) == digest.0);
    (!authorized).then(|| {
        HttpResponse::Unauthorized().json(JobError {
            error: format!(
                "the admin endpoint needs the token in {ADMIN_FILE} of the data directory"
            ),
        })
    })
}

async fn run_job(
    state: web::Data<AppState>,
    digest: web::Data<TokenDigest>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    if let Some(refusal) = refusal(&request, &digest) {
        return refusal;
    }
    let job: Job = match serde_json::from_slice(&body) {
        Ok(job) => job,
        Err(error) => {
            return HttpResponse::BadRequest().json(JobError {
                error: format!("the job is not valid: {error}"),
            });
        }
    };
    if let Err(error) = job.check(&state.settings) {
        return HttpResponse::BadRequest().json(JobError {
            error: error.to_string(),
        });
    }
    let local = Local {
        store: state.store.clone(),
        writer: state.writer.clone(),
    };
    tracing::info!(job = ?job.task, "running a job handed over by the command line");
    match job.run(&state.settings, &local, &Quiet).await {
        Ok(report) => HttpResponse::Ok().json(report),
        Err(error @ ClientError::Store(_)) => HttpResponse::InternalServerError().json(JobError {
            error: error.to_string(),
        }),
        Err(error) => HttpResponse::BadGateway().json(JobError {
            error: error.to_string(),
        }),
    }
}

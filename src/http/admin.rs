//! The admin endpoint: how `stixgate pull`, `push` and `backup` hand their work to the server that holds the
//! data directory, instead of failing on its lock.
//!
//! It listens on loopback only, on its own port, in plain HTTP (the CLI need not trust the server's TLS
//! certificate). Its address and a fresh bearer token are in `admin.json` in the data directory, readable by
//! its owner only. Its routes are for admins ([`Rule::Admin`]): whoever holds that token (who may open the
//! data directory anyway) and users with `admin = true`.

mod backup;

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::http::Method;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpResponse, HttpServer, web};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::auth::Authenticator;
use super::endpoint::Endpoint;
use super::rights::Rule;
use super::routes;
use crate::federation::{ClientError, Exchange, Local, Quiet};
use crate::secret;

/// The file in the data directory that tells the command line where the admin endpoint is.
pub const ADMIN_FILE: &str = "admin.json";
/// POST a [`Exchange`], get its [`crate::federation::Report`] when it is done.
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

/// The admin server, bound and not yet running, and the file that points at it.
pub struct Admin {
    pub server: Server,
    pub file: PathBuf,
    /// `http://127.0.0.1:PORT`, as `admin.json` names it.
    pub url: String,
}

/// The admin endpoint's routes. It is built from this list alone, as the main app is from its own.
pub fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::new(JOBS_PATH, Method::POST, Rule::Admin, |r| r.to(run_job)),
        Endpoint::new(BACKUP_PATH, Method::POST, Rule::Admin, |r| {
            r.to(backup::stream)
        }),
    ]
}

/// Binds the admin endpoint on a free loopback port and writes `admin.json` into `data`.
pub fn start(state: web::Data<AppState>, data: &Path) -> std::io::Result<Admin> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}", listener.local_addr()?);
    let (token, digest) = secret::new_token();
    let file = data.join(ADMIN_FILE);
    let named = AdminFile {
        url: url.clone(),
        token,
    };
    write_private(&file, &serde_json::to_vec(&named)?)?;
    let shutdown_timeout = state.settings.shutdown_timeout;
    let authenticator =
        Arc::new(Authenticator::new(&state.settings.users).with_operator_token(&digest));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .configure(|config| routes::register(config, endpoints(), &authenticator))
            .default_service(web::to(routes::not_found))
            .wrap(from_fn(super::request_log::log_request))
    })
    .workers(1)
    .shutdown_timeout(shutdown_timeout)
    .disable_signals()
    .listen(listener)?
    .run();
    Ok(Admin { server, file, url })
}

/// Writes a file only its owner may read, replacing any earlier one at once.
fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let temporary = path.with_extension("json.new");
    let mut file = crate::secret::create_private(&temporary)?;
    file.write_all(contents)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)
}

async fn run_job(state: web::Data<AppState>, body: web::Bytes) -> HttpResponse {
    let job: Exchange = match serde_json::from_slice(&body) {
        Ok(job) => job,
        Err(error) => {
            return HttpResponse::BadRequest().json(JobError {
                error: format!("the job is not valid: {error}"),
            });
        }
    };
    if let Err(error) = job.check(&state.settings.collection_names()) {
        return HttpResponse::BadRequest().json(JobError {
            error: error.to_string(),
        });
    }
    let local = Local {
        store: state.store.clone(),
        writer: state.writer.clone(),
    };
    tracing::info!(
        job = job.task.kind(),
        url = job.task.shown_url(),
        "running a job handed over by the command line"
    );
    match job
        .run(&state.settings.collection_names(), &local, &Quiet)
        .await
    {
        Ok(report) => HttpResponse::Ok().json(report),
        Err(error @ ClientError::Store(_)) => HttpResponse::InternalServerError().json(JobError {
            error: error.to_string(),
        }),
        Err(error) => HttpResponse::BadGateway().json(JobError {
            error: error.to_string(),
        }),
    }
}

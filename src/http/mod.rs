//! Only HTTP: the routes and their rights, authentication, bodies, errors, the request log, TLS, metrics, the
//! TAXII endpoints, the operator page, the envelope and IntelMQ endpoints, MISP feed files, and the admin
//! endpoint. One function, [`configure`], builds the app for `main` and for the tests; [`server`] binds it.
//! What the handlers do beyond HTTP lives in the rooms below (`ingest`, `intelmq`, `misp`, `federation`,
//! `store`).

pub mod admin;
mod auth;
mod base_url;
pub(crate) mod body;
mod cross_site;
pub mod endpoint;
mod envelopes;
mod error;
mod intelmq;
mod metrics;
mod misp;
mod peers;
mod request_log;
pub mod rights;
pub mod routes;
mod taxii;
mod tls;
pub mod ui;

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::http::Method;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpResponse, HttpServer, web};
use tokio::sync::watch;

use crate::config::Settings;
use crate::federation::Peers;
use crate::ingest::Intake;
use crate::jobs::Node;
use crate::misp::MispFeeds;
use crate::store::{Store, Writer};
use crate::taxii::cursor::CursorKey;

pub use admin::Admin;
pub use auth::Authenticator;
use endpoint::Endpoint;
pub use error::ApiError;
pub use metrics::Metrics;
use rights::{Named, Right, Rule};

/// What every request handler shares.
pub struct AppState {
    pub settings: Arc<Settings>,
    pub store: Arc<dyn Store>,
    pub writer: Writer,
    pub intake: Intake,
    pub authenticator: Arc<Authenticator>,
    pub cursor_key: CursorKey,
    pub metrics: Metrics,
    pub peers: Arc<Peers>,
    pub misp: Arc<MispFeeds>,
    /// Becomes true when the server stops, so that long-lived responses (IntelMQ streams) end.
    pub stopping: watch::Receiver<bool>,
    /// This node among those that share the store: which background jobs it runs.
    pub node: Node,
}

/// Every route of the app, with what it needs from its caller. The app is built from this list alone.
pub fn endpoints(settings: &Settings) -> Vec<Endpoint> {
    let query = |right| Rule::Collection(right, Named::Query);
    let mut endpoints = taxii::endpoints(settings);
    endpoints.extend([
        Endpoint::new("/healthz", Method::GET, Rule::Open, |r| r.to(healthz)),
        Endpoint::new("/metrics", Method::GET, Rule::Metrics, |r| r.to(metrics)),
        Endpoint::new("/peers", Method::GET, Rule::Admin, |r| r.to(peers::status)),
        Endpoint::new("/envelopes", Method::POST, query(Right::Write), |r| {
            r.to(envelopes::post)
        }),
        Endpoint::new("/envelopes/{id}", Method::GET, Rule::StoredEnvelope, |r| {
            r.to(envelopes::get)
        }),
        Endpoint::new("/intelmq/events", Method::POST, query(Right::Write), |r| {
            r.to(intelmq::post_event)
        }),
        Endpoint::new("/intelmq/feed", Method::GET, query(Right::Read), |r| {
            r.to(intelmq::feed)
        }),
        Endpoint::new("/intelmq/stream", Method::GET, query(Right::Read), |r| {
            r.to(intelmq::stream)
        }),
        Endpoint::new(
            "/misp/{feed}/{file}",
            Method::GET,
            Rule::Collection(Right::Read, Named::MispFeed),
            |r| r.to(misp::file),
        ),
        // MISP asks for `url . '/manifest.json'`: a feed URL pasted with its final `/` asks for
        // `…//manifest.json`, which is the same file.
        Endpoint::new(
            "/misp/{feed}//{file}",
            Method::GET,
            Rule::Collection(Right::Read, Named::MispFeed),
            |r| r.to(misp::file),
        ),
    ]);
    endpoints.extend(ui::endpoints());
    endpoints
}

/// The routes and middleware, shared by `main` and the tests.
pub fn configure(state: web::Data<AppState>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |config| {
        routes::register(config, endpoints(&state.settings), &state.authenticator);
        config
            .app_data(state)
            .app_data(web::QueryConfig::default().error_handler(|error, _| {
                ApiError::BadRequest(format!("bad query parameters: {error}")).into()
            }))
            .app_data(web::PathConfig::default().error_handler(|error, _| {
                ApiError::BadRequest(format!("bad path: {error}")).into()
            }))
            .default_service(web::to(routes::not_found));
    }
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let store = state.store.clone();
    let size = web::block(move || store.size_on_disk())
        .await
        .ok()
        .and_then(Result::ok);
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render(size) + &peers::render_metrics(&state.peers))
}

/// Reads the TLS files of the settings, when there are some, into what the server serves TLS with.
pub fn tls_config(settings: &Settings) -> Result<Option<rustls::ServerConfig>, String> {
    settings.tls.as_ref().map(tls::server_config).transpose()
}

/// The app of `state` on `listener`, with TLS when `tls` is given, bound and not yet running: it stops only
/// when told (the caller handles signals), giving requests in flight `shutdown_timeout`.
pub fn server(
    state: web::Data<AppState>,
    listener: TcpListener,
    tls: Option<rustls::ServerConfig>,
) -> std::io::Result<Server> {
    let shutdown_timeout = state.settings.shutdown_timeout;
    let server = HttpServer::new(move || {
        App::new()
            .configure(configure(state.clone()))
            .wrap(from_fn(routes::refuse_long_urls))
            .wrap(from_fn(request_log::log_request))
    })
    .shutdown_timeout(shutdown_timeout)
    .disable_signals();
    Ok(match tls {
        Some(tls) => server.listen_rustls_0_23(listener, tls)?,
        None => server.listen(listener)?,
    }
    .run())
}

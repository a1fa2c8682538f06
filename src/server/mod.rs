//! The HTTP server: one function builds the app for `main` and for the tests, [`Application`] binds and runs it.

pub mod admin;
mod auth;
pub(crate) mod body;
mod cross_site;
mod envelope_maker;
mod envelopes;
mod error;
mod intelmq;
mod intelmq_push;
mod intelmq_tcp;
mod metrics;
mod misp;
mod peers;
mod request_log;
pub mod rights;
pub mod routes;
mod shutdown;
mod taxii;
mod tls;
pub mod ui;

use std::future::Future;
use std::net::{TcpListener, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::http::Method;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpResponse, HttpServer, web};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::client::Local;
use crate::config::{PostedEnvelopes, Settings};
use crate::ingest::Intake;
use crate::jobs::{Jobs, Node, Running, compact_texts};
use crate::mapping::Tables;
use crate::misp::MispFeeds;
use crate::store::{self, Engine, Store, StoreError, Writer};
use crate::taxii::cursor::CursorKey;
use envelope_maker::EnvelopeMaker;

pub use error::ApiError;
use rights::{Named, Right, Rule};
use routes::Endpoint;
use shutdown::Shutdown;

/// What every request handler shares.
pub struct AppState {
    pub settings: Arc<Settings>,
    pub store: Arc<dyn Store>,
    pub writer: Writer,
    pub intake: Intake,
    pub authenticator: Arc<auth::Authenticator>,
    pub cursor_key: CursorKey,
    pub metrics: metrics::Metrics,
    pub peers: Arc<peers::Peers>,
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
        .body(state.metrics.render(size) + &state.peers.render())
}

/// What `serve` makes of its settings before it opens the store: all that can refuse a configuration that
/// loaded, short of binding its ports.
pub struct Prepared {
    tables: Arc<Tables>,
    tls: Option<rustls::ServerConfig>,
    pushes: Vec<intelmq_push::Push>,
}

/// Reads the mapping tables, the TLS files and the IntelMQ field lists, resolves the listen addresses, and
/// refuses anonymous writes on a public address. `stixgate check-config` runs this too.
pub fn prepare(settings: &Settings) -> Result<Prepared, StartError> {
    let tcp_listen = settings.intelmq.tcp.as_ref().map(|tcp| &tcp.listen);
    for address in std::iter::once(&settings.listen).chain(tcp_listen) {
        address
            .to_socket_addrs()
            .map_err(|reason| StartError::Bind {
                address: address.clone(),
                reason,
            })?;
    }
    let tables = Arc::new(
        settings
            .mapping_tables()
            .map_err(|e| StartError::Refused(e.to_string()))?,
    );
    if let Some(refusal) = settings.public_anonymous_write() {
        return Err(StartError::Refused(refusal));
    }
    let tls = settings
        .tls
        .as_ref()
        .map(tls::server_config)
        .transpose()
        .map_err(StartError::Tls)?;
    let pushes = intelmq_push::prepare(settings)?;
    Ok(Prepared {
        tables,
        tls,
        pushes,
    })
}

/// A bound, not yet running, server with its store.
pub struct Application {
    port: u16,
    server: Server,
    store: Arc<dyn Store>,
    writer: Writer,
    writer_task: JoinHandle<()>,
    /// The jobs that run on one node at a time, each under its lease: the peers' schedules, the IntelMQ
    /// pushes, the MISP feeds' upkeep, the envelope maker and the pruning of statuses.
    jobs: Running,
    /// The IntelMQ tcp listener.
    background: Vec<JoinHandle<()>>,
    intelmq_tcp: Option<std::net::SocketAddr>,
    stopping: watch::Sender<bool>,
    admin: admin::Admin,
    /// How long requests in flight get once the server is asked to stop (`shutdown_timeout`).
    drain: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Tls(String),
    #[error("cannot listen on {address}: {reason}")]
    Bind {
        address: String,
        reason: std::io::Error,
    },
}

impl Application {
    /// Binds the listeners (port 0 picks a free port), opens the store and starts the writer. Whatever can
    /// fail without the store is done first, so that a start that fails leaves no new data directory behind.
    pub fn build(settings: Settings) -> Result<Self, StartError> {
        let listener = TcpListener::bind(&settings.listen).map_err(|reason| StartError::Bind {
            address: settings.listen.clone(),
            reason,
        })?;
        let port = listener
            .local_addr()
            .map_err(|reason| StartError::Bind {
                address: settings.listen.clone(),
                reason,
            })?
            .port();
        let tcp_intake = settings
            .intelmq
            .tcp
            .as_ref()
            .map(|tcp| {
                intelmq_tcp::TcpIntake::bind(&tcp.listen).map_err(|reason| StartError::Bind {
                    address: tcp.listen.clone(),
                    reason,
                })
            })
            .transpose()?;
        let Prepared {
            tables,
            tls,
            pushes,
        } = prepare(&settings)?;
        std::fs::create_dir_all(&settings.data)
            .map_err(|e| StoreError::data_directory(&settings.data, &e))?;
        let store = store::open(&settings.store, &settings.data)?;
        let node = Node::new(
            settings.store.node_id.as_deref(),
            store::leases(&settings.store)?,
        );
        let (writer, writer_task) = Writer::start(Arc::clone(&store));
        // Live waits and streams on this node wake for what other nodes store too.
        store.follow_others(writer.others_added());
        let misp = Arc::new(MispFeeds::new(
            &settings,
            Arc::clone(&store),
            writer.clone(),
            Arc::clone(&tables),
        ));
        let envelope_maker =
            (settings.taxii.envelopes_from_posts == PostedEnvelopes::All).then(|| {
                let collections = settings.api_roots.iter().flat_map(|root| &root.collections);
                Arc::new(EnvelopeMaker::new(
                    Arc::clone(&store),
                    writer.clone(),
                    collections.map(|c| c.id.clone()).collect(),
                    settings.intake.duplicate_policy,
                ))
            });
        let intake = Intake::new(&settings, &settings.intake.collection, tables)
            .expect("intake.collection is checked when the settings are loaded");
        let (stopping, stopping_seen) = watch::channel(false);
        let state = web::Data::new(AppState {
            authenticator: Arc::new(auth::Authenticator::new(&settings.users)),
            cursor_key: CursorKey::new(store.cursor_secret()?),
            metrics: metrics::Metrics::default(),
            peers: Arc::new(peers::Peers::new(&settings.peer)),
            misp: Arc::clone(&misp),
            intake,
            settings: Arc::new(settings),
            store: Arc::clone(&store),
            writer: writer.clone(),
            stopping: stopping_seen,
            node: node.clone(),
        });
        let mut jobs = Jobs::new(node);
        intelmq_push::add(&mut jobs, pushes, &state);
        jobs.add("misp-feeds", move || Arc::clone(&misp).maintain());
        if let Some(maker) = envelope_maker {
            jobs.add("envelope-maker", move || Arc::clone(&maker).maintain());
        }
        let retention = Duration::from_secs(state.settings.taxii.status_retention_hours * 3600);
        let pruner = writer.clone();
        jobs.add("prune-statuses", move || {
            prune_statuses(pruner.clone(), retention)
        });
        if state.settings.store.engine == Engine::Sled {
            let compactor = writer.clone();
            jobs.add("compact-texts", move || compact_texts(compactor.clone()));
        }
        let mut background = Vec::new();
        let intelmq_tcp = match tcp_intake.zip(state.settings.intelmq.tcp.as_ref()) {
            Some((intake, tcp)) => {
                let address = intake.address;
                let name = tcp
                    .collection
                    .as_ref()
                    .unwrap_or(&state.settings.intake.collection);
                let collection = state
                    .settings
                    .collection(name)
                    .expect("intelmq.tcp.collection is checked when the settings are loaded")
                    .id
                    .clone();
                let target = intelmq_tcp::Target {
                    collection,
                    separator: tcp.separator.clone().into_bytes(),
                };
                background.push(intake.start(state.clone(), target));
                Some(address)
            }
            None => None,
        };
        let (shared_settings, peer_states) =
            (Arc::clone(&state.settings), Arc::clone(&state.peers));
        let admin_state = state.clone();
        let address = listener.local_addr().ok();
        let server = HttpServer::new(move || {
            App::new()
                .configure(configure(state.clone()))
                .wrap(from_fn(routes::refuse_long_urls))
                .wrap(from_fn(request_log::log_request))
        })
        .shutdown_timeout(shared_settings.shutdown_timeout)
        .disable_signals();
        let server = match tls {
            Some(tls) => server.listen_rustls_0_23(listener, tls),
            None => server.listen(listener),
        }
        .map_err(|reason| StartError::Bind {
            address: format!("{address:?}"),
            reason,
        })?
        .run();
        let admin = admin::start(admin_state, &shared_settings.data).map_err(|reason| {
            StartError::Bind {
                address: "127.0.0.1:0 (the admin endpoint)".into(),
                reason,
            }
        })?;
        let local = Local {
            store: Arc::clone(&store),
            writer: writer.clone(),
        };
        peers::add(&mut jobs, &shared_settings, &local, &peer_states);
        Ok(Self {
            port,
            server,
            store,
            writer,
            writer_task,
            jobs: jobs.start(),
            background,
            intelmq_tcp,
            stopping,
            admin,
            drain: Duration::from_secs(shared_settings.shutdown_timeout),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Where the IntelMQ tcp intake listens, when it is configured.
    pub fn intelmq_tcp_address(&self) -> Option<std::net::SocketAddr> {
        self.intelmq_tcp
    }

    /// Serves until `shutdown` completes, then drains in-flight requests, finishes pending writes and flushes,
    /// each within its bound (see [`shutdown::Shutdown`]).
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), StoreError> {
        let handle: ServerHandle = self.server.handle();
        let mut server = tokio::spawn(self.server);
        let admin_handle = self.admin.server.handle();
        let admin_server = tokio::spawn(self.admin.server);
        let stages = tokio::select! {
            result = &mut server => {
                result.map_err(|e| StoreError::Io(Box::new(e)))?.map_err(|e| StoreError::Io(Box::new(e)))?;
                Shutdown::begin(self.drain)
            }
            () = shutdown => {
                tracing::info!("shutting down: draining in-flight requests");
                let stages = Shutdown::begin(self.drain);
                // Long polls and streams end at once instead of holding up the drain.
                self.stopping.send_replace(true);
                stages.drain("the HTTP server", async {
                    handle.stop(true).await;
                    let _ = server.await;
                })
                .await;
                stages
            }
        };
        // Jobs handed over by the command line finish (or time out) before the writer stops.
        stages
            .drain("the admin endpoint", async {
                admin_handle.stop(true).await;
                let _ = admin_server.await;
            })
            .await;
        if let Err(error) = std::fs::remove_file(&self.admin.file) {
            tracing::warn!(%error, file = %self.admin.file.display(), "the admin file stays behind");
        }
        // A run cut short here resumes from its checkpoint at the next start (here or on another node), and an
        // IntelMQ event whose `Ok` was not sent is sent again by its bot.
        stages
            .stage("stopping background jobs", self.jobs.stop())
            .await;
        for task in &self.background {
            task.abort();
        }
        let writer = self.writer;
        let writer_task = self.writer_task;
        let writer_done = stages
            .stage("finishing pending writes", async move {
                writer.stop().await;
                let _ = writer_task.await;
            })
            .await;
        let store = self.store;
        let mut flushed = Ok(());
        let flush = async {
            flushed = match tokio::task::spawn_blocking(move || store.flush()).await {
                Ok(result) => result,
                Err(error) => Err(StoreError::Io(Box::new(error))),
            };
        };
        let flush_done = stages.stage("flushing the store", flush).await;
        flushed?;
        if writer_done && flush_done {
            tracing::info!("stopped; everything acknowledged is on disk");
        } else {
            tracing::warn!("stopped with a stage cut short; everything acknowledged is on disk");
        }
        Ok(())
    }
}

/// Removes status resources older than `retention`, hourly.
async fn prune_statuses(writer: Writer, retention: Duration) {
    let mut hourly = tokio::time::interval(Duration::from_secs(3600));
    loop {
        hourly.tick().await;
        let before = crate::stix::Timestamp::now().micros() - retention.as_micros() as i64;
        let op = crate::store::WriteOp::PruneStatuses {
            before: u64::try_from(before).unwrap_or(0),
        };
        if let Err(error) = writer.write(vec![op]).await {
            tracing::warn!(%error, "pruning old statuses failed; trying again in an hour");
        }
    }
}

//! The composition root: settings in, store opened, jobs registered with the supervisor, HTTP bound.
//! [`Application::build`] is the one builder, for `stixgate serve` and for the tests.

mod shutdown;

use std::future::Future;
use std::net::{TcpListener, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::web;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::{PostedEnvelopes, Settings};
use crate::federation::{Local, PeerJob, Peers};
use crate::http::{self, Admin, AppState, Authenticator, Metrics};
use crate::ingest::{EnvelopeMaker, Intake};
use crate::intelmq::{Push, PushJob, Target, TcpIntake, prepare_pushes};
use crate::jobs::{CompactTexts, Job, Node, PruneStatuses, Running, Supervisor};
use crate::mapping::Tables;
use crate::misp::MispFeeds;
use crate::store::{self, Engine, Store, StoreError, Writer};
use crate::taxii::cursor::CursorKey;
use shutdown::Shutdown;

/// What `serve` makes of its settings before it opens the store: all that can refuse a configuration that
/// loaded, short of binding its ports.
pub struct Prepared {
    tables: Arc<Tables>,
    tls: Option<rustls::ServerConfig>,
    pushes: Vec<Push>,
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
    let tls = http::tls_config(settings).map_err(StartError::Tls)?;
    let pushes = prepare_pushes(
        &settings.intelmq.push,
        &settings.intake.collection,
        &settings.collection_names(),
    )
    .map_err(StartError::Refused)?;
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
    /// The background jobs, each under its supervisor: on one node at a time under its lease (the peers'
    /// schedules, the IntelMQ pushes, the MISP feeds' upkeep, the envelope maker, the store's upkeep), or on
    /// every node (the IntelMQ TCP intake).
    jobs: Running,
    intelmq_tcp: Option<std::net::SocketAddr>,
    stopping: watch::Sender<bool>,
    admin: Admin,
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
    /// Binds the listeners (port 0 picks a free port), opens the store and starts the writer. A start that
    /// fails leaves no new data directory behind: whatever can fail without the store is done first, and a
    /// data directory this start made is removed when a later step fails (the store did not open, the
    /// database refused, the admin endpoint could not bind).
    pub fn build(settings: Settings) -> Result<Self, StartError> {
        let made = NewDirectory::find(&settings.data);
        let built = Self::build_in(settings);
        if built.is_err() {
            made.remove();
        }
        built
    }

    fn build_in(settings: Settings) -> Result<Self, StartError> {
        let bind_error = |address: &str| {
            let address = address.to_owned();
            move |reason| StartError::Bind { address, reason }
        };
        let listener = TcpListener::bind(&settings.listen).map_err(bind_error(&settings.listen))?;
        let port = listener
            .local_addr()
            .map_err(bind_error(&settings.listen))?
            .port();
        let tcp_intake = settings
            .intelmq
            .tcp
            .as_ref()
            .map(|tcp| TcpIntake::bind(&tcp.listen).map_err(bind_error(&tcp.listen)))
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
        let collections = settings.collection_names();
        let intake_collection = collections
            .id_of(&settings.intake.collection)
            .expect("intake.collection is checked when the settings are loaded")
            .to_owned();
        let misp = MispFeeds::new(
            &settings.misp,
            collections,
            Arc::clone(&store),
            writer.clone(),
            Arc::clone(&tables),
        );
        let intake = Intake::new(&settings.intake, intake_collection, tables);
        let (stopping, stopping_seen) = watch::channel(false);
        let state = web::Data::new(AppState {
            authenticator: Arc::new(Authenticator::new(&settings.users)),
            metrics: Metrics::default(),
            cursor_key: CursorKey::new(store.cursor_secret()?),
            peers: Arc::new(Peers::new(&settings.peer)),
            misp: Arc::new(misp),
            store: Arc::clone(&store),
            writer: writer.clone(),
            intake,
            stopping: stopping_seen,
            node: node.clone(),
            settings: Arc::new(settings),
        });
        let intelmq_tcp = tcp_intake.as_ref().map(|tcp_intake| tcp_intake.address);
        let supervisor = background_jobs(&state, node, pushes, tcp_intake);
        let address = listener.local_addr().ok();
        let server =
            http::server(state.clone(), listener, tls).map_err(|reason| StartError::Bind {
                address: format!("{address:?}"),
                reason,
            })?;
        let drain = Duration::from_secs(state.settings.shutdown_timeout);
        let data = state.settings.data.clone();
        let admin = http::admin::start(state, &data).map_err(|reason| StartError::Bind {
            address: "127.0.0.1:0 (the admin endpoint)".into(),
            reason,
        })?;
        Ok(Self {
            port,
            server,
            store,
            writer,
            writer_task,
            jobs: supervisor.start(),
            intelmq_tcp,
            stopping,
            admin,
            drain,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The admin endpoint's URL: loopback only, for the command line's hand-over of jobs and backups.
    pub fn admin_url(&self) -> &str {
        &self.admin.url
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

/// The outermost directory of a data directory that does not exist yet, which a start would make; nothing
/// when it exists.
struct NewDirectory(Option<PathBuf>);

impl NewDirectory {
    fn find(data: &Path) -> Self {
        let missing = data
            .ancestors()
            .take_while(|path| !path.as_os_str().is_empty() && !path.exists())
            .last();
        Self(missing.map(Path::to_owned))
    }

    /// Removes the directory, if this start made it, with what the failed start put in it.
    fn remove(self) {
        let Some(directory) = self.0.filter(|directory| directory.exists()) else {
            return;
        };
        if let Err(error) = std::fs::remove_dir_all(&directory) {
            tracing::warn!(%error, directory = %directory.display(), "the failed start leaves the data directory it made");
        }
    }
}

/// Every background job of this node, each registered with the supervisor, which runs it under its lease (or
/// on every node): the pushes to IntelMQ, the MISP feeds' upkeep, the envelope maker, the store's upkeep, the
/// IntelMQ TCP intake and the peers.
fn background_jobs(
    state: &web::Data<AppState>,
    node: Node,
    pushes: Vec<Push>,
    tcp_intake: Option<TcpIntake>,
) -> Supervisor {
    let mut supervisor = Supervisor::new(node);
    let collections = Arc::new(state.settings.collection_names());
    let skipped = &state.metrics.feed_events_skipped;
    for push in pushes {
        supervisor.add(Arc::new(PushJob {
            push,
            store: Arc::clone(&state.store),
            writer: state.writer.clone(),
            skipped: Arc::clone(skipped),
        }));
    }
    supervisor.add(Arc::clone(&state.misp) as Arc<dyn Job>);
    if state.settings.taxii.envelopes_from_posts == PostedEnvelopes::All {
        supervisor.add(Arc::new(EnvelopeMaker::new(
            Arc::clone(&state.store),
            state.writer.clone(),
            collections.ids().map(str::to_owned).collect(),
            state.settings.intake.duplicate_policy,
        )));
    }
    supervisor.add(Arc::new(PruneStatuses {
        writer: state.writer.clone(),
        retention: Duration::from_secs(state.settings.taxii.status_retention_hours * 3600),
    }));
    if state.settings.store.engine == Engine::Sled {
        supervisor.add(Arc::new(CompactTexts {
            writer: state.writer.clone(),
        }));
    }
    if let Some(tcp_intake) = tcp_intake {
        supervisor.add(Arc::new(tcp_intake.serving(tcp_target(state))));
    }
    let local = Local {
        store: Arc::clone(&state.store),
        writer: state.writer.clone(),
    };
    let intake_name = &state.settings.intake.collection;
    for job in PeerJob::all(
        &state.settings.peer,
        intake_name,
        &collections,
        &local,
        &state.peers,
    ) {
        supervisor.add(Arc::new(job));
    }
    supervisor
}

/// Where IntelMQ's TCP intake stores its events: the collection `intelmq.tcp.collection` names, else the
/// intake collection, by the intake's rules.
fn tcp_target(state: &web::Data<AppState>) -> Target {
    let settings = &state.settings;
    let tcp = settings
        .intelmq
        .tcp
        .as_ref()
        .expect("called only when intelmq.tcp is configured");
    let name = tcp
        .collection
        .as_ref()
        .unwrap_or(&settings.intake.collection);
    let collection = settings
        .collection(name)
        .expect("intelmq.tcp.collection is checked when the settings are loaded")
        .id
        .clone();
    Target {
        collection,
        separator: tcp.separator.clone().into_bytes(),
        intake: state.intake.clone(),
        writer: state.writer.clone(),
        max_content_length: settings.max_content_length,
        stored: Arc::clone(&state.metrics.envelopes_stored),
    }
}

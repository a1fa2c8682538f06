//! Test servers: in-process on a free port, or the real `stixgate` binary as a child process.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use stixgate::app::{Application, StartError};
use stixgate::config::Settings;
use stixgate::store::StoreError;
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const BINARY: &str = env!("CARGO_BIN_EXE_stixgate");

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub data: TempDir,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

/// An in-process server on 127.0.0.1 with a fresh data directory and the embedded default configuration.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let data = tempfile::tempdir().expect("a temporary directory");
    let mut settings = Settings::load(None).expect("the default configuration loads");
    settings.listen = "127.0.0.1:0".into();
    settings.data = data.path().to_owned();
    adjust(&mut settings);
    let application = build_when_unlocked(settings).await;
    let address = format!("http://127.0.0.1:{}", application.port());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        application
            .run_until_stopped(async {
                let _ = stopped.await;
            })
            .await
            .expect("the server stops cleanly");
    });
    TestApp {
        address,
        client: reqwest::Client::builder()
            .timeout(PATIENCE)
            .build()
            .expect("a client"),
        data,
        stop,
        task,
    }
}

/// Builds the app, waiting (without blocking the runtime, whose tasks may be what still holds it) for the
/// lock of a data directory that an app stopped just before in this process may not have released yet.
async fn build_when_unlocked(settings: Settings) -> Application {
    // Up to 30 s: on a machine busy with other builds, sled's threads once took longer than 10 s to let go.
    for _ in 0..300 {
        match Application::build(settings.clone()) {
            Err(StartError::Store(StoreError::Locked(_))) => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            other => return other.expect("the server starts"),
        }
    }
    panic!("the data directory stayed locked");
}

/// Long enough for any honest request or shutdown on a loaded machine; short enough that a hang fails the
/// test with a message instead of holding up CI.
const PATIENCE: Duration = Duration::from_secs(120);

impl TestApp {
    pub async fn post_envelopes(
        &self,
        query: &str,
        body: impl Into<reqwest::Body>,
    ) -> (StatusCode, Value) {
        let response = self
            .client
            .post(format!("{}/envelopes{query}", self.address))
            .body(body)
            .send()
            .await
            .expect("the server answers");
        let status = response.status();
        (status, response.json().await.expect("a JSON answer"))
    }

    pub async fn get_envelope(&self, id: &str) -> (StatusCode, Vec<u8>) {
        let response = self
            .client
            .get(format!("{}/envelopes/{}", self.address, encode_segment(id)))
            .send()
            .await
            .expect("the server answers");
        (
            response.status(),
            response.bytes().await.expect("a body").to_vec(),
        )
    }

    /// The envelope once it is stored: those made from posted objects appear when the envelope maker has
    /// caught up, after the POST's answer.
    pub async fn wait_for_envelope(&self, id: &str) -> Vec<u8> {
        wait_for_envelope(&self.client, &self.address, id).await
    }

    /// Stops the server gracefully and gives back its data directory.
    pub async fn stop(self) -> TempDir {
        // Idle keep-alive connections would hold up the graceful shutdown until they time out.
        drop(self.client);
        let _ = self.stop.send(());
        tokio::time::timeout(PATIENCE, self.task)
            .await
            .expect("the server stops within the patience")
            .expect("the server task ends");
        self.data
    }
}

/// Polls `GET /envelopes/{id}` until the envelope is there, for at most [`PATIENCE`].
pub async fn wait_for_envelope(client: &reqwest::Client, address: &str, id: &str) -> Vec<u8> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let response = client
            .get(format!("{address}/envelopes/{}", encode_segment(id)))
            .send()
            .await
            .expect("the server answers");
        match response.status() {
            StatusCode::OK => return response.bytes().await.expect("a body").to_vec(),
            StatusCode::NOT_FOUND if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            other => panic!("the envelope {id} did not appear: {other}"),
        }
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn encode_segment(raw: &str) -> String {
    raw.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A `stixgate serve` child process.
pub struct ServerProcess {
    pub address: String,
    pub child: Child,
    /// Every line it has written to stderr so far.
    pub log: Arc<Mutex<Vec<String>>>,
}

impl ServerProcess {
    /// Starts `stixgate serve` on a free port with `data` as its data directory, and waits until it listens.
    pub fn start(data: &Path) -> Self {
        Self::start_with(data, &["--listen", "127.0.0.1:0"])
    }

    /// Starts `stixgate serve --data DATA ARGS...` (ARGS name where to listen), and waits until it listens.
    pub fn start_with(data: &Path, args: &[&str]) -> Self {
        Self::start_with_env(data, args, &[])
    }

    /// [`ServerProcess::start_with`] with these environment variables set too.
    pub fn start_with_env(data: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(BINARY)
            .envs(env.iter().copied())
            .arg("serve")
            .args(args)
            .arg("--data")
            .arg(data)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("stixgate starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (found, address) = mpsc::channel();
        let log = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&log);
        std::thread::spawn(move || {
            // Keeps reading until the process ends, so that it never blocks on a full pipe.
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                kept.lock().expect("not poisoned").push(line.clone());
                if let Some(at) = line.find("listening on http://") {
                    // Ends at a space in text logs, at the closing quote in JSON logs.
                    let url = line[at + "listening on ".len()..]
                        .split(|c: char| c.is_whitespace() || c == '"')
                        .next()
                        .unwrap_or_default();
                    let _ = found.send(url.to_owned());
                }
            }
        });
        let address = match address.recv_timeout(Duration::from_secs(30)) {
            Ok(address) => address,
            Err(_) => panic!(
                "stixgate did not say where it listens:\n{}",
                log.lock().expect("not poisoned").join("\n")
            ),
        };
        Self {
            address,
            child,
            log,
        }
    }

    pub fn port(&self) -> u16 {
        self.address
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("the address ends in a port")
    }

    /// Starts `stixgate serve --config FILE` on a free port, with `data` as its data directory.
    pub fn start_configured(data: &Path, config: &Path) -> Self {
        let config = config.to_str().expect("a UTF-8 path");
        Self::start_with(data, &["--listen", "127.0.0.1:0", "--config", config])
    }

    /// Every line of its log so far.
    pub fn log_lines(&self) -> Vec<String> {
        self.log.lock().expect("not poisoned").clone()
    }

    /// How many lines of its log contain `text`.
    pub fn log_count(&self, text: &str) -> usize {
        let log = self.log.lock().expect("not poisoned");
        log.iter().filter(|line| line.contains(text)).count()
    }

    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL is delivered");
        self.child.wait().expect("the child is reaped");
    }

    /// SIGTERM, then waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        self.child.wait().expect("the child is reaped")
    }
}

/// A test that ends, or fails, without stopping its server still stops it: a child process outlives its
/// `Child` otherwise, and every server left behind keeps a port, a lease keeper and its timers running.
impl Drop for ServerProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs the `stixgate` binary to completion with `stdin` as its input.
pub fn run_cli(args: &[&str], data: &Path, stdin: &[u8]) -> Output {
    run_cli_with_env(args, data, stdin, &[])
}

/// [`run_cli`] with these environment variables set too.
pub fn run_cli_with_env(args: &[&str], data: &Path, stdin: &[u8], env: &[(&str, &str)]) -> Output {
    use std::io::Write;
    let mut child = Command::new(BINARY)
        .envs(env.iter().copied())
        .args(args)
        .arg("--data")
        .arg(data)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("stixgate starts");
    let written = child.stdin.take().expect("stdin is piped").write_all(stdin);
    // A command that refuses before it reads (a restore into a directory that is not empty) may be gone already.
    if let Err(error) = written {
        assert_eq!(
            error.kind(),
            std::io::ErrorKind::BrokenPipe,
            "stdin: {error}"
        );
    }
    child.wait_with_output().expect("stixgate ends")
}

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

pub const TAXII: &str = "application/taxii+json;version=2.1";
/// The collection of the embedded default configuration.
pub const COLLECTION: &str = "6e1f0c3a-2b7d-4f8e-9a5c-1d2e3f4a5b6c";

impl TestApp {
    /// A request to `path` (relative to the server) with the TAXII `Accept` header.
    pub fn taxii(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.address))
            .header("Accept", TAXII)
    }

    /// GETs a TAXII resource that must be there, as JSON.
    pub async fn taxii_json(&self, path: &str) -> Value {
        let response = self.taxii(reqwest::Method::GET, path).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        response.json().await.unwrap()
    }

    /// POSTs an envelope of `objects` to a collection and gives back the status resource.
    pub async fn add_objects(&self, collection: &str, objects: &[Value]) -> Value {
        self.post_objects(collection, None, objects).await
    }

    /// [`TestApp::add_objects`] as a user, with its name and password.
    pub async fn add_objects_as(
        &self,
        collection: &str,
        user: (&str, &str),
        objects: &[Value],
    ) -> Value {
        self.post_objects(collection, Some(user), objects).await
    }

    async fn post_objects(
        &self,
        collection: &str,
        user: Option<(&str, &str)>,
        objects: &[Value],
    ) -> Value {
        let mut request = self.taxii(
            reqwest::Method::POST,
            &format!("/api/collections/{collection}/objects/"),
        );
        if let Some((name, password)) = user {
            request = request.basic_auth(name, Some(password));
        }
        let response = request
            .header("Content-Type", TAXII)
            .json(&serde_json::json!({ "objects": objects }))
            .send()
            .await
            .expect("the server answers");
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        response.json().await.expect("a status resource")
    }
}

/// A collection of the first API root, with the users who may read and write it by name.
pub fn collection(
    id: &str,
    read: &[&str],
    write: &[&str],
    anonymous_read: bool,
) -> stixgate::config::CollectionSettings {
    let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect();
    stixgate::config::CollectionSettings {
        id: id.into(),
        alias: None,
        title: id.into(),
        description: None,
        read: names(read),
        write: names(write),
        anonymous_read,
        anonymous_write: false,
    }
}

/// A valid STIX 2.1 indicator; `n` makes the id, `modified` the version.
pub fn indicator(n: u32, modified: &str) -> Value {
    serde_json::json!({
        "type": "indicator",
        "spec_version": "2.1",
        "id": format!("indicator--00000000-0000-4000-8000-{n:012}"),
        "created": "2020-01-01T00:00:00.000Z",
        "modified": modified,
        "name": format!("indicator {n}"),
        "pattern": format!("[ipv4-addr:value = '198.51.100.{}']", n % 250),
        "pattern_type": "stix",
        "valid_from": "2020-01-01T00:00:00Z"
    })
}

/// A user who logs in with the password `{name}-pw`, without tokens and not an admin.
pub fn user(name: &str) -> stixgate::config::UserSettings {
    stixgate::config::UserSettings {
        name: name.into(),
        password: Some(stixgate::secret::hash_password(&format!("{name}-pw"))),
        tokens: vec![],
        admin: false,
    }
}

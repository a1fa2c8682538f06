//! A throwaway PostgreSQL cluster for tests: one per test binary, started on first use in a temporary directory
//! on a free port, with a fresh database for each caller. Shared by the library's store tests and `tests/it`.
//!
//! The server binaries are found in `STIXGATE_PG_BIN`, else `pg_config --bindir`, else the newest
//! `/usr/lib/postgresql/*/bin` (Debian's packages put them there, off PATH). As root (CI), the cluster runs as
//! the `postgres` user, since `initdb` refuses root. A shell watchdog owns the cluster: it stops it and removes
//! the directory when the test process exits, however it exits, because its standard input then closes, and
//! when a signal for the whole process group (a `timeout`, Ctrl-C) reaches it.
//! Durability is off (`fsync=off`): for tests only. [`Cluster::without_tls`] starts another, of its own, as a
//! local PostgreSQL is often set up: no TLS, and the superuser `postgres`.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

/// The running cluster; its watchdog's standard input is held open until the process exits.
pub struct Cluster {
    bin: PathBuf,
    port: u16,
    /// The role `initdb` made, which psql connects as.
    superuser: &'static str,
    /// The CA (PEM) that signed the server's certificate, for `localhost` and `127.0.0.1`.
    pub ca: PathBuf,
    _watchdog: Mutex<(Child, ChildStdin)>,
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();
static DATABASES: AtomicUsize = AtomicUsize::new(0);

const WATCHDOG: &str = r#"
set -e
chmod 600 "$DIR/server.key"
if [ "$(id -u)" = 0 ]; then chown -R postgres "$DIR"; RUN="runuser -u postgres --"; else RUN=""; fi
stop() {
    $RUN "$BIN/pg_ctl" -D "$DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$DIR"
    exit 0
}
# A signal to the test's process group (timeout, Ctrl-C) reaches this shell too: stop the cluster then as well.
trap stop TERM INT HUP
if ! $RUN "$BIN/initdb" -D "$DIR/data" -A trust -U "$SUPERUSER" -E UTF8 --locale=C --no-sync >"$DIR/initdb.log" 2>&1; then
    cat "$DIR/initdb.log" >&2; exit 1
fi
# The role tls_only may log in over TLS only.
$RUN sh -c "{ echo 'hostnossl all tls_only 127.0.0.1/32 reject'; cat '$DIR/data/pg_hba.conf'; } > '$DIR/hba' \
    && mv '$DIR/hba' '$DIR/data/pg_hba.conf'"
if ! $RUN "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 -o "-p $PORT -k $DIR \
        -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
        -c max_connections=300 -c ssl=$SSL -c ssl_cert_file=$DIR/server.crt -c ssl_key_file=$DIR/server.key" start >/dev/null; then
    cat "$DIR/server.log" >&2; exit 1
fi
echo ready
read _ || true
stop
"#;

impl Cluster {
    /// The cluster of this test process, started on first use.
    pub fn get() -> &'static Cluster {
        CLUSTER.get_or_init(|| {
            let cluster = Cluster::start("stixgate", true);
            cluster.sql("postgres", "CREATE ROLE tls_only LOGIN SUPERUSER");
            cluster
        })
    }

    /// A cluster of its own that speaks no TLS, with the superuser `postgres` and no other role; it stops and
    /// its directory is removed when it is dropped.
    pub fn without_tls() -> Cluster {
        Cluster::start("postgres", false)
    }

    /// The port it listens on, at 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    fn start(superuser: &'static str, tls: bool) -> Cluster {
        let bin = server_binaries();
        let dir = tempfile::Builder::new()
            .prefix("stixgate-pg-")
            .tempdir()
            .expect("a temporary directory")
            .keep();
        let ca = write_certificates(&dir);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let mut watchdog = Command::new("sh")
            .args(["-c", WATCHDOG])
            .env("BIN", &bin)
            .env("DIR", &dir)
            .env("PORT", port.to_string())
            .env("SUPERUSER", superuser)
            .env("SSL", if tls { "on" } else { "off" })
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("sh runs");
        let mut ready = String::new();
        BufReader::new(watchdog.stdout.take().expect("piped"))
            .read_line(&mut ready)
            .expect("the watchdog answers");
        assert_eq!(
            ready.trim(),
            "ready",
            "the test PostgreSQL cluster did not start (its log is above)"
        );
        let stdin = watchdog.stdin.take().expect("piped");
        Cluster {
            bin,
            port,
            superuser,
            ca,
            _watchdog: Mutex::new((watchdog, stdin)),
        }
    }

    /// A URL of a new, empty database in the cluster.
    pub fn fresh_database(&self) -> String {
        let name = format!(
            "t_{}_{}",
            std::process::id(),
            DATABASES.fetch_add(1, Ordering::Relaxed)
        );
        self.sql("postgres", &format!("CREATE DATABASE {name}"));
        self.url(&name)
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://stixgate@127.0.0.1:{}/{database}", self.port)
    }

    /// A URL of `database` for `user` at `host`.
    pub fn url_as(&self, user: &str, host: &str, database: &str) -> String {
        format!("postgres://{user}@{host}:{}/{database}", self.port)
    }

    /// Runs SQL in `database` with psql; panics with psql's words when it fails.
    pub fn sql(&self, database: &str, sql: &str) -> String {
        let output = self
            .psql(database)
            .args(["-At", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .output()
            .expect("psql runs");
        assert!(
            output.status.success(),
            "psql failed on {sql}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// A psql session on `database`, to be given commands on its standard input.
    pub fn session(&self, database: &str) -> Session {
        let child = self
            .psql(database)
            .args(["-At", "-v", "ON_ERROR_STOP=1"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("psql runs");
        Session { child }
    }

    fn psql(&self, database: &str) -> Command {
        let mut command = Command::new(self.bin.join("psql"));
        command.args([
            "-h",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
            "-U",
            self.superuser,
            "-d",
            database,
        ]);
        command
    }
}

/// An open psql session: a transaction can be left open in it while the test does other things.
pub struct Session {
    child: Child,
}

impl Session {
    /// Sends SQL and waits until psql has run it: it echoes `marker` when it gets there.
    pub fn run(&mut self, sql: &str, marker: &str) {
        let stdin = self.child.stdin.as_mut().expect("piped");
        writeln!(stdin, "{sql}\n\\echo {marker}").expect("psql reads");
        stdin.flush().expect("psql reads");
        let stdout = self.child.stdout.as_mut().expect("piped");
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        while line.trim() != marker {
            line.clear();
            assert!(
                reader.read_line(&mut line).expect("psql answers") > 0,
                "psql ended before {marker}"
            );
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// A CA and the server's certificate and key signed by it, in `dir`; gives the CA's file.
fn write_certificates(dir: &Path) -> PathBuf {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&server_key, &issuer)
        .unwrap();
    std::fs::write(dir.join("server.crt"), server.pem()).unwrap();
    std::fs::write(dir.join("server.key"), server_key.serialize_pem()).unwrap();
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    ca_file
}

/// The directory of `initdb`, `pg_ctl` and `psql`.
fn server_binaries() -> PathBuf {
    if let Some(bin) = std::env::var_os("STIXGATE_PG_BIN") {
        return bin.into();
    }
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if let Some(bin) = from_pg_config.filter(|bin| bin.join("initdb").is_file()) {
        return bin;
    }
    let newest = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .filter(|bin| bin.join("initdb").is_file())
        .max_by_key(|bin| version_of(bin));
    newest.expect(
        "the PostgreSQL server is not installed (no initdb in /usr/lib/postgresql/*/bin): \
         `apt-get install -y postgresql`, or set STIXGATE_PG_BIN",
    )
}

/// The major version of `/usr/lib/postgresql/VERSION/bin`.
fn version_of(bin: &Path) -> u32 {
    bin.parent()
        .and_then(Path::file_name)
        .and_then(|name| name.to_str())
        .and_then(|name| name.parse().ok())
        .unwrap_or(0)
}

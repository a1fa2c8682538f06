//! The book's PostgreSQL setup ("Running several nodes", "The database") run as it is written, on a cluster of
//! its own that speaks no TLS, as a local PostgreSQL often does: its SQL makes the role and the database, and
//! stixgate starts on its configuration, stores an envelope and reads it back. Under the default `sslmode` the
//! same configuration fails to start with the setting named.

use reqwest::StatusCode;

use crate::helpers::{BINARY, ServerProcess, fixtures, run_cli};
use crate::pg_cluster::Cluster;

const PAGE: &str = "docs/src/guide/several-nodes.md";
const SECTION: &str = "## The database";

/// The fenced blocks of `language` in the section of the page that begins at [`SECTION`].
fn blocks(language: &str) -> Vec<String> {
    let page = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(PAGE))
        .expect("the book's page");
    let section = page
        .split_once(SECTION)
        .expect("the page has its database section")
        .1;
    let section = section.split("\n## ").next().unwrap_or_default();
    let fence = format!("```{language}\n");
    section
        .split(fence.as_str())
        .skip(1)
        .map(|rest| rest.split("```").next().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn the_books_database_setup_runs_as_written_and_stixgate_serves_on_it() {
    let [sql] = <[String; 1]>::try_from(blocks("sql")).expect("one SQL block");
    let [config] = <[String; 1]>::try_from(blocks("toml")).expect("one TOML block");
    let cluster = Cluster::without_tls();
    // As PostgreSQL's superuser, in its maintenance database: what `sudo -u postgres psql` is.
    for statement in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        cluster.sql("postgres", statement);
    }
    let here = ":5432/";
    assert!(config.contains(here), "{config}");
    let config = config.replace(here, &format!(":{}/", cluster.port()));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("stixgate.toml");
    std::fs::write(&file, &config).unwrap();
    let file = file.to_str().unwrap();

    let checked = std::process::Command::new(BINARY)
        .args(["check-config", "--config", file])
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&checked.stdout);
    assert!(
        checked.status.success(),
        "{shown}{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    assert!(
        shown.contains("<redacted>") && !shown.contains("change-me"),
        "{shown}"
    );

    // The same file without its `sslmode` line: the default, "require", which this server cannot speak.
    let default_tls = dir.path().join("default-sslmode.toml");
    let without: String = config
        .lines()
        .filter(|line| !line.starts_with("sslmode"))
        .map(|line| format!("{line}\n"))
        .collect();
    assert_ne!(without, config);
    std::fs::write(&default_tls, without).unwrap();
    let refused = run_cli(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--config",
            default_tls.to_str().unwrap(),
        ],
        &dir.path().join("refused"),
        b"",
    );
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(stderr.contains("server does not support TLS"), "{stderr}");
    assert!(stderr.contains("store.sslmode = \"disable\""), "{stderr}");

    let node = ServerProcess::start_configured(&dir.path().join("data"), file.as_ref());
    let client = reqwest::Client::new();
    let envelope = std::fs::read(fixtures().join("intelmq/sinkhole.draft.json")).unwrap();
    let stored = client
        .post(format!("{}/envelopes", node.address))
        .body(envelope.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(stored.status(), StatusCode::OK);
    let read = client
        .get(format!(
            "{}/envelopes/cert-at:intelmq:3f2b8c1e-7d4a-4e9b-a6c5-0d1e2f3a4b5c",
            node.address
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), StatusCode::OK);
    assert!(!read.bytes().await.unwrap().is_empty());
    let tables = cluster.sql(
        "stixgate",
        "SELECT count(*) FROM pg_tables WHERE tableowner = 'stixgate'",
    );
    assert_ne!(
        tables.trim(),
        "0",
        "stixgate made its tables as the role the book makes"
    );
}

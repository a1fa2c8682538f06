//! A backup of a PostgreSQL database that nodes go on writing to: one moment of it, whatever is written while
//! the backup reads.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::Value;

use crate::federation::envelopes;
use crate::helpers::{fixtures, run_cli_with_env};
use crate::pg_cluster::Cluster;
use crate::scale_out::node_with_args;

/// Envelopes in the database before the backup: enough that reading them and their objects takes many
/// chunks, during which the writers go on.
const STORED: usize = 4_000;

async fn post_envelopes(client: &reqwest::Client, address: &str, texts: &[String]) -> bool {
    client
        .post(format!("{address}/envelopes"))
        .body(texts.join("\n"))
        .send()
        .await
        .is_ok_and(|response| response.status().is_success())
}

/// Every envelope stored through `POST /envelopes` comes with its carrier object, in one transaction: a backup
/// of one moment holds as many carriers as envelopes. Reads of the tables one after the other, each at its
/// own moment, would find the carriers of envelopes stored after the envelopes were read.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_taken_while_a_node_writes_is_one_moment_of_the_database() {
    let url = Cluster::get().fresh_database();
    let dir = tempfile::tempdir().unwrap();
    let node = node_with_args(
        &url,
        dir.path(),
        &["--listen", "127.0.0.1:0"],
        &[("STIXGATE_STORE__SSLMODE", "disable")],
    );
    let client = reqwest::Client::new();
    for batch in 0..4 {
        let texts = envelopes(&format!("before-{batch}"), STORED / 4);
        assert!(post_envelopes(&client, &node.address, &texts).await);
    }
    let (stop, written): (Arc<AtomicBool>, Arc<AtomicUsize>) = Default::default();
    let writers: Vec<_> = (0..2)
        .map(|writer| {
            let (stop, written) = (Arc::clone(&stop), Arc::clone(&written));
            let (client, address) = (client.clone(), node.address.clone());
            tokio::spawn(async move {
                for n in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let texts = envelopes(&format!("during-{writer}-{n}"), 1);
                    if post_envelopes(&client, &address, &texts).await {
                        written.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    while written.load(Ordering::Relaxed) < 10 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let backup_dir = tempfile::tempdir().unwrap();
    let before = written.load(Ordering::Relaxed);
    let backup = tokio::task::spawn_blocking({
        let url = url.clone();
        move || {
            let postgres = [
                ("STIXGATE_STORE__ENGINE", "postgres"),
                ("STIXGATE_STORE__URL", url.as_str()),
                ("STIXGATE_STORE__SSLMODE", "disable"),
            ];
            run_cli_with_env(&["backup", "-"], backup_dir.path(), b"", &postgres)
        }
    })
    .await
    .unwrap();
    let during = written.load(Ordering::Relaxed) - before;
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.await.unwrap();
    }
    assert!(
        backup.status.success(),
        "{}",
        String::from_utf8_lossy(&backup.stderr)
    );
    assert!(during > 0, "nothing was written while the backup ran");

    let (mut envelopes_kept, mut carriers) = (0, 0);
    for line in backup
        .stdout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
    {
        let record: Value = serde_json::from_slice(line).unwrap();
        match record["kind"].as_str() {
            Some("envelope") => envelopes_kept += 1,
            Some("object")
                if record["id"]
                    .as_str()
                    .is_some_and(|id| id.starts_with("iep04-envelope--")) =>
            {
                carriers += 1;
            }
            _ => {}
        }
    }
    assert!(envelopes_kept >= STORED);
    assert_eq!(
        carriers, envelopes_kept,
        "{during} envelopes were stored while the backup ran"
    );
}

/// On PostgreSQL the command line's store commands need no data directory: `import`, `export`, `backup` and
/// `restore` work with `--data` naming none, and make none.
#[test]
fn import_export_backup_and_restore_on_postgresql_need_no_data_directory() {
    let cluster = Cluster::get();
    let (first, second) = (cluster.fresh_database(), cluster.fresh_database());
    let parent = tempfile::tempdir().unwrap();
    let data = parent.path().join("never-made");
    let run = |args: &[&str], url: &str, stdin: &[u8]| {
        let postgres = [
            ("STIXGATE_STORE__ENGINE", "postgres"),
            ("STIXGATE_STORE__URL", url),
            ("STIXGATE_STORE__SSLMODE", "disable"),
        ];
        let output = run_cli_with_env(args, &data, stdin, &postgres);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    };
    let fixture = fixtures().join("intelmq/sinkhole.draft.json");
    run(&["import", fixture.to_str().unwrap()], &first, b"");
    let exported = run(&["export"], &first, b"");
    assert_eq!(exported.iter().filter(|&&b| b == b'\n').count(), 1);
    let backup = run(&["backup", "-"], &first, b"");
    run(&["restore", "-"], &second, &backup);
    assert_eq!(run(&["export"], &second, b""), exported);
    assert!(!data.exists(), "{} was made", data.display());
}

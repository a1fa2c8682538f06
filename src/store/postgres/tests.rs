//! What only the PostgreSQL engine has: several nodes on one database, and its schema's version.

use std::sync::Arc;

use tokio_postgres::types::Type;

use super::pg_cluster::Cluster;
use super::{PostgresOptions, PostgresStore, SslMode};
use crate::store::{NewObject, Store, StoreError, StoreResult, WriteOp, WriteOutcome};

fn node(url: &str) -> PostgresStore {
    let options = PostgresOptions {
        url: url.to_owned(),
        pool_size: 4,
        sslmode: SslMode::Disable,
        ca: None,
    };
    PostgresStore::open(&options).unwrap()
}

fn object(id: &str) -> WriteOp {
    WriteOp::PutObject {
        collection: "c1".into(),
        object: NewObject {
            id: id.into(),
            version: 1,
            version_text: "v1".into(),
            text: format!(r#"{{"id":"{id}"}}"#).into_bytes(),
        },
    }
}

/// The ids and date_added of a collection's objects after `after`.
fn added(store: &dyn Store, after: Option<u64>) -> Vec<(String, u64)> {
    store
        .added_after("c1", None, after)
        .map(|o| o.map(|o| (o.id, o.date_added)).unwrap())
        .collect()
}

#[test]
fn a_writer_held_inside_its_transaction_makes_no_reader_skip() {
    let cluster = Cluster::get();
    let url = cluster.fresh_database();
    let database = url.rsplit('/').next().unwrap().to_owned();
    let (one, two) = (node(&url), Arc::new(node(&url)));
    one.apply(vec![object("indicator--first")]).unwrap();
    // A slow writer on another node: it has locked the collection, taken the next date_added and written,
    // but not committed.
    let mut slow = cluster.session(&database);
    slow.run(
        "BEGIN; \
         SELECT last_added FROM collections WHERE id = 'c1' FOR UPDATE; \
         INSERT INTO objects SELECT 'c1', last_added + 1, 'indicator--slow', 'indicator', 1, 'v1', '{}' \
           FROM collections WHERE id = 'c1'; \
         UPDATE collections SET last_added = last_added + 1, objects = objects + 1 WHERE id = 'c1';",
        "held",
    );
    let fast = {
        let two = Arc::clone(&two);
        std::thread::spawn(move || two.apply(vec![object("indicator--fast")]).unwrap())
    };
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(!fast.is_finished(), "a writer went past the held lock");
    let seen = added(&one, None);
    assert_eq!(seen.len(), 1, "{seen:?}");
    let cursor = seen[0].1;
    slow.run("COMMIT;", "committed");
    assert_eq!(fast.join().unwrap(), [WriteOutcome::Stored { version: 0 }]);
    let after: Vec<String> = added(&*two, Some(cursor))
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(after, ["indicator--slow", "indicator--fast"]);
}

#[test]
fn two_nodes_writing_one_collection_at_once_give_dates_a_reader_never_skips() {
    let url = Cluster::get().fresh_database();
    let nodes: Vec<Arc<PostgresStore>> = (0..2).map(|_| Arc::new(node(&url))).collect();
    let writers: Vec<_> = nodes
        .iter()
        .enumerate()
        .map(|(n, store)| {
            let store = Arc::clone(store);
            std::thread::spawn(move || {
                for group in 0..20 {
                    let ops = (0..10)
                        .map(|i| object(&format!("indicator--{n}-{group}-{i}")))
                        .collect();
                    store.apply(ops).unwrap();
                }
            })
        })
        .collect();
    // Reads while they write, through both nodes in turn, each time after the last date_added seen.
    let mut seen: Vec<(String, u64)> = Vec::new();
    let mut turn = 0;
    loop {
        let done = writers.iter().all(|w| w.is_finished());
        let page = added(&*nodes[turn % 2], seen.last().map(|(_, d)| *d));
        turn += 1;
        if done && page.is_empty() {
            break;
        }
        seen.extend(page.into_iter().take(7));
    }
    for writer in writers {
        writer.join().unwrap();
    }
    assert_eq!(seen.len(), 400);
    assert!(seen.windows(2).all(|w| w[0].1 < w[1].1), "date_added grows");
    let mut ids: Vec<&str> = seen.iter().map(|(id, _)| id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 400, "every object once");
}

#[test]
fn a_schema_newer_than_this_stixgate_is_refused_clearly() {
    let cluster = Cluster::get();
    let url = cluster.fresh_database();
    drop(node(&url));
    let database = url.rsplit('/').next().unwrap();
    cluster.sql(
        database,
        "INSERT INTO stixgate_schema (version) VALUES (99)",
    );
    let options = PostgresOptions {
        url,
        pool_size: 1,
        sslmode: SslMode::Disable,
        ca: None,
    };
    let error = PostgresStore::open(&options).err().unwrap();
    assert!(
        matches!(error, StoreError::NewerSchema { found: 99, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("newer than this stixgate knows"));
}

#[test]
fn an_unreachable_database_is_named_without_its_password() {
    let options = PostgresOptions {
        url: "postgres://stixgate:hunter2@127.0.0.1:1/stixgate".into(),
        pool_size: 1,
        sslmode: SslMode::Disable,
        ca: None,
    };
    let error = PostgresStore::open(&options).err().unwrap().to_string();
    assert!(
        error.starts_with("cannot connect to the PostgreSQL database 127.0.0.1:1/stixgate:"),
        "{error}"
    );
    assert!(!error.contains("hunter2"), "{error}");
}

/// Opens a store as `tls_only`, whom the test cluster lets in over TLS only, and writes and reads through it.
fn open_as_tls_only(host: &str, sslmode: SslMode, ca: Option<&std::path::Path>) -> StoreResult<()> {
    let cluster = Cluster::get();
    let url = cluster.fresh_database();
    let database = url.rsplit('/').next().unwrap();
    let options = PostgresOptions {
        url: cluster.url_as("tls_only", host, database),
        pool_size: 1,
        sslmode,
        ca: ca.map(ToOwned::to_owned),
    };
    let store = PostgresStore::open(&options)?;
    store.apply(vec![object("indicator--over-tls")])?;
    assert_eq!(added(&store, None).len(), 1);
    Ok(())
}

#[test]
fn tls_is_used_as_sslmode_says_and_verify_full_checks_the_certificate() {
    let error = open_as_tls_only("127.0.0.1", SslMode::Disable, None).unwrap_err();
    assert!(error.to_string().contains("no encryption"), "{error}");
    open_as_tls_only("127.0.0.1", SslMode::Require, None).unwrap();
    let ca = &Cluster::get().ca;
    open_as_tls_only("localhost", SslMode::VerifyFull, Some(ca)).unwrap();
    // Another CA did not sign the server's certificate.
    let other = tempfile::tempdir().unwrap();
    let other_ca = other.path().join("other-ca.pem");
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    std::fs::write(&other_ca, certified.cert.pem()).unwrap();
    let error = open_as_tls_only("localhost", SslMode::VerifyFull, Some(&other_ca)).unwrap_err();
    assert!(matches!(error, StoreError::Connect { .. }), "{error}");
    assert!(
        error.to_string().contains("invalid peer certificate"),
        "{error}"
    );
}

#[test]
fn a_server_without_tls_is_refused_under_the_default_sslmode_with_the_setting_that_connects() {
    let cluster = Cluster::without_tls();
    cluster.sql("postgres", "CREATE DATABASE plain");
    let options = |sslmode| PostgresOptions {
        url: format!("postgres://postgres@127.0.0.1:{}/plain", cluster.port()),
        pool_size: 1,
        sslmode,
        ca: None,
    };
    let error = PostgresStore::open(&options(SslMode::Require))
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("server does not support TLS"), "{error}");
    assert!(error.contains("store.sslmode = \"disable\""), "{error}");
    let store = PostgresStore::open(&options(SslMode::Disable)).unwrap();
    store.apply(vec![object("indicator--without-tls")]).unwrap();
    assert_eq!(added(&store, None).len(), 1);
}

/// A group that PostgreSQL rolls back to break a deadlock with another session is applied again.
#[test]
fn a_group_rolled_back_by_a_deadlock_is_applied_again() {
    let cluster = Cluster::get();
    let url = cluster.fresh_database();
    let database = url.rsplit('/').next().unwrap().to_owned();
    let store = Arc::new(node(&url));
    let mut other = cluster.session(&database);
    other.run("BEGIN; INSERT INTO notes VALUES ('b', 'other');", "holds b");
    let note = |key: &str| WriteOp::PutNote {
        key: key.into(),
        value: b"group".to_vec(),
    };
    let group = {
        let store = Arc::clone(&store);
        std::thread::spawn(move || store.apply(vec![note("a"), note("b")]))
    };
    // The group now holds `a` and waits for `b`; taking `a` closes the cycle, and the group, which waited
    // first, is the one PostgreSQL rolls back.
    std::thread::sleep(std::time::Duration::from_millis(300));
    other.run(
        "INSERT INTO notes VALUES ('a', 'other') ON CONFLICT (key) DO UPDATE SET value = excluded.value;",
        "holds a",
    );
    other.run("COMMIT;", "committed");
    let outcomes = group.join().unwrap().unwrap();
    assert_eq!(outcomes, [WriteOutcome::Stored { version: 0 }; 2]);
    assert_eq!(store.note("a").unwrap().unwrap(), b"group");
    assert_eq!(store.note("b").unwrap().unwrap(), b"group");
}

/// The bounds of several objects in one query are those of each object asked alone; an object without
/// versions is left out, and one named twice is answered once.
#[test]
fn version_bounds_of_several_objects_are_those_of_each() {
    let store = node(&Cluster::get().fresh_database());
    let version = |id: &str, version: i64| WriteOp::PutObject {
        collection: "c1".into(),
        object: NewObject {
            id: id.into(),
            version,
            version_text: format!("v{version}"),
            text: format!(r#"{{"id":"{id}","v":{version}}}"#).into_bytes(),
        },
    };
    store
        .apply(vec![
            version("indicator--a", 1),
            version("indicator--a", 3),
            version("indicator--a", 2),
            version("indicator--b", 5),
        ])
        .unwrap();
    let ids = [
        "indicator--a",
        "indicator--b",
        "indicator--none",
        "indicator--a",
    ];
    let bounds = store.version_bounds_of("c1", &ids).unwrap();
    assert_eq!(bounds.len(), 2, "{bounds:?}");
    for id in ["indicator--a", "indicator--b"] {
        assert_eq!(
            bounds.get(id).copied(),
            store.version_bounds("c1", id).unwrap()
        );
    }
    assert_eq!(bounds["indicator--a"], (1, 3));
    assert!(store.version_bounds_of("c2", &ids).unwrap().is_empty());
}

/// A page is read by the primary key in its order, stopping after the page, even when the table has no
/// statistics yet (filled since autovacuum last looked): the planner then guessed a few hundred rows and chose
/// to read every row after the cursor and sort them.
#[test]
fn pages_are_read_by_the_primary_key_even_without_statistics() {
    let cluster = Cluster::get();
    let url = cluster.fresh_database();
    let store = node(&url);
    // Written around the engine, which would have the statistics gathered.
    cluster.sql(
        url.rsplit('/').next().unwrap(),
        "INSERT INTO objects SELECT 'c1', n, 'indicator--' || n, 'indicator', 1, 'v1', '{}' \
         FROM generate_series(1, 20000) AS n",
    );
    let plan = store
        .pool
        .run(|shared| async move {
            let client = shared.connection().await?;
            let rows = client
                .query_typed(
                    "EXPLAIN SELECT stix_id, version, version_text, date_added, text FROM objects \
                     WHERE collection = $1 AND date_added > $2 ORDER BY date_added LIMIT 1001",
                    &[(&"c1", Type::TEXT), (&0_i64, Type::INT8)],
                )
                .await
                .map_err(super::db_error)?;
            Ok(rows
                .iter()
                .map(|r| r.get::<_, String>(0))
                .collect::<Vec<_>>())
        })
        .unwrap()
        .join("\n");
    assert!(plan.contains("Index Scan using objects_pkey"), "{plan}");
    assert!(!plan.contains("Sort"), "{plan}");
}

/// A database made by an earlier stixgate (schema 2: envelope ids unique across collections) is refused with the
/// way to move it, and left as it was: nothing of this stixgate's schema is made on top of it.
#[test]
fn a_schema_earlier_than_this_stixgate_is_refused_with_the_way_to_move_it() {
    let cluster = Cluster::get();
    let url = cluster.fresh_database();
    let database = url.rsplit('/').next().unwrap();
    cluster.sql(
        database,
        "CREATE TABLE stixgate_schema (version integer PRIMARY KEY, \
                                       applied_at timestamptz NOT NULL DEFAULT now());
         INSERT INTO stixgate_schema (version) VALUES (1), (2);
         CREATE TABLE envelopes (id text PRIMARY KEY, position bigint NOT NULL UNIQUE);
         INSERT INTO envelopes VALUES ('x', 0);",
    );
    let options = PostgresOptions {
        url: url.clone(),
        pool_size: 1,
        sslmode: SslMode::Disable,
        ca: None,
    };
    let error = PostgresStore::open(&options).err().unwrap();
    assert!(
        matches!(error, StoreError::EarlierSchema { found: 2, known: 3 }),
        "{error}"
    );
    let message = error.to_string();
    for part in [
        "schema version 2 of an earlier stixgate",
        "`stixgate backup FILE` with the earlier stixgate",
        "`stixgate restore FILE` with this one, into an empty database",
    ] {
        assert!(message.contains(part), "{message}");
    }
    let left = cluster.sql(
        database,
        "SELECT string_agg(version::text, ',' ORDER BY version), to_regclass('collections') IS NULL \
         FROM stixgate_schema",
    );
    assert_eq!(left.trim(), "1,2|t");
    assert_eq!(
        cluster.sql(database, "SELECT id FROM envelopes").trim(),
        "x"
    );
}

/// An empty database gets this stixgate's schema, recorded once, and opens again as it is.
#[test]
fn an_empty_database_gets_the_schema_of_this_stixgate_once() {
    let cluster = Cluster::get();
    let url = cluster.fresh_database();
    let database = url.rsplit('/').next().unwrap();
    node(&url).apply(vec![object("indicator--1")]).unwrap();
    let store = node(&url);
    assert_eq!(added(&store, None).len(), 1);
    let recorded = cluster.sql(database, "SELECT version FROM stixgate_schema");
    assert_eq!(recorded.trim(), "3");
}

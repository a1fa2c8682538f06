//! The leases of background jobs on a real database: one holder at a time, taken over once expired.

use std::time::Duration;

use super::PostgresLeases;
use crate::store::postgres::pg_cluster::Cluster;
use crate::store::postgres::{PostgresOptions, PostgresStore, SslMode};
use crate::store::{Lease, Leases};

fn leases(url: &str) -> PostgresLeases {
    let options = PostgresOptions {
        url: url.to_owned(),
        pool_size: 4,
        sslmode: SslMode::Disable,
        ca: None,
    };
    // Opening the store makes the schema, with the leases' table.
    PostgresStore::open(&options).unwrap();
    PostgresLeases::open(&options).unwrap()
}

fn jobs(names: &[&str]) -> Vec<String> {
    names.iter().map(|name| (*name).to_owned()).collect()
}

#[test]
fn a_lease_has_one_holder_until_it_expires_or_is_released() {
    let url = Cluster::get().fresh_database();
    let (a, b) = (leases(&url), leases(&url));
    let long = Duration::from_secs(60);
    let both = jobs(&["peer/hub", "prune-statuses"]);
    assert_eq!(
        a.take("a", &jobs(&["peer/hub"]), long).unwrap(),
        ["peer/hub"]
    );
    // b gets what is free, and not what a holds; a renews its own.
    assert_eq!(b.take("b", &both, long).unwrap(), ["prune-statuses"]);
    assert_eq!(a.take("a", &both, long).unwrap(), ["peer/hub"]);
    let holders = a.holders(&both).unwrap().unwrap();
    let holder_of = |job: &str| -> Option<&Lease> { holders.iter().find(|l| l.job == job) };
    assert_eq!(holder_of("peer/hub").unwrap().holder, "a");
    assert_eq!(holder_of("prune-statuses").unwrap().holder, "b");

    // A lease that is not renewed expires (by the database's clock), and the next node to ask takes it.
    assert_eq!(
        a.take("a", &jobs(&["peer/hub"]), Duration::from_millis(200))
            .unwrap(),
        ["peer/hub"]
    );
    assert!(b.take("b", &both, long).unwrap() == ["prune-statuses"]);
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(b.take("b", &both, long).unwrap(), both);
    assert!(a.take("a", &both, long).unwrap().is_empty());
    assert!(
        b.holders(&both)
            .unwrap()
            .unwrap()
            .iter()
            .all(|l| l.holder == "b")
    );

    // Released leases are free at once.
    b.release("b").unwrap();
    assert!(a.holders(&both).unwrap().unwrap().is_empty());
    assert_eq!(a.take("a", &both, long).unwrap(), both);
}

#[test]
fn nodes_that_take_one_lease_at_once_get_it_once() {
    let url = Cluster::get().fresh_database();
    let nodes: Vec<(String, PostgresLeases)> = (0..4)
        .map(|n| (format!("node-{n}"), leases(&url)))
        .collect();
    for round in 0..20 {
        let job = vec![format!("envelope-maker/{round}")];
        let taken: Vec<Vec<String>> = std::thread::scope(|scope| {
            let takers: Vec<_> = nodes
                .iter()
                .map(|(name, node)| {
                    scope.spawn(|| node.take(name, &job, Duration::from_secs(60)).unwrap())
                })
                .collect();
            takers.into_iter().map(|t| t.join().unwrap()).collect()
        });
        assert_eq!(
            taken.iter().filter(|t| !t.is_empty()).count(),
            1,
            "{taken:?}"
        );
    }
}

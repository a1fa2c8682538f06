//! The group-commit writer in front of every engine: each request gets its own outcomes, watchers wake for their
//! collection only, and an exclusive read holds writes back.

use super::*;

on_every_engine!(async
    the_writer_answers_each_request_with_its_own_outcomes,
    writes_wait_while_an_exclusive_read_runs,
    a_watcher_wakes_for_objects_stored_in_its_own_collection,
);

async fn the_writer_answers_each_request_with_its_own_outcomes(engine: &dyn Engine) {
    let store: Arc<dyn Store> = Arc::from(engine.open());
    let (writer, task) = Writer::start(Arc::clone(&store));
    let writes = (0..50).map(|i| {
        let writer = writer.clone();
        tokio::spawn(async move {
            let id = format!("id-{}", i % 25);
            writer
                .write(vec![put(&id, "{}", DuplicatePolicy::KeepFirst)])
                .await
                .unwrap()
        })
    });
    let mut stored = 0;
    for write in writes {
        if write.await.unwrap() == [WriteOutcome::Stored { version: 0 }] {
            stored += 1;
        }
    }
    assert_eq!(stored, 25);
    writer.stop().await;
    task.await.unwrap();
    assert!(
        writer
            .write(vec![put("late", "{}", DuplicatePolicy::KeepFirst)])
            .await
            .is_err()
    );
}

async fn a_watcher_wakes_for_objects_stored_in_its_own_collection(engine: &dyn Engine) {
    let store: Arc<dyn Store> = Arc::from(engine.open());
    let (writer, task) = Writer::start(Arc::clone(&store));
    let (mut c1, mut c2) = (writer.objects_added("c1"), writer.objects_added("c2"));
    writer
        .write(vec![object("indicator--1", 1, "{}")])
        .await
        .unwrap();
    assert!(c1.has_changed().unwrap(), "stored in c1");
    assert!(!c2.has_changed().unwrap(), "nothing stored in c2");
    c1.borrow_and_update();
    // The same object again stores nothing, and wakes nobody.
    writer
        .write(vec![object("indicator--1", 1, "{}")])
        .await
        .unwrap();
    assert!(!c1.has_changed().unwrap());
    writer.stop().await;
    task.await.unwrap();
    assert!(c2.changed().await.is_err(), "a watch ends with the writer");
}

async fn writes_wait_while_an_exclusive_read_runs(engine: &dyn Engine) {
    let store: Arc<dyn Store> = Arc::from(engine.open());
    let (writer, task) = Writer::start(Arc::clone(&store));
    let (release, released) = std::sync::mpsc::channel::<()>();
    let (started, reading) = tokio::sync::oneshot::channel();
    let read = {
        let writer = writer.clone();
        tokio::spawn(async move {
            writer
                .exclusive(move |store: &dyn Store| {
                    let _ = started.send(());
                    released.recv().unwrap();
                    store.envelopes().count()
                })
                .await
        })
    };
    reading.await.unwrap();
    let write = {
        let writer = writer.clone();
        tokio::spawn(async move {
            writer
                .write(vec![put("during", "{}", DuplicatePolicy::KeepFirst)])
                .await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(!write.is_finished(), "a write went through during the read");
    release.send(()).unwrap();
    assert_eq!(read.await.unwrap().unwrap(), 0);
    assert_eq!(
        write.await.unwrap().unwrap(),
        [WriteOutcome::Stored { version: 0 }]
    );
    writer.stop().await;
    task.await.unwrap();
}

/// A group refused on a full disk is answered with [`StoreError::DiskFull`], and the writer goes on: once space
/// is freed, the next write is stored, and everything stored before and after reads back.
#[tokio::test]
async fn the_writer_refuses_writes_on_a_full_disk_and_stores_them_again_once_space_is_freed() {
    use crate::store::test_ops::Tmpfs;
    let tmpfs = Tmpfs::mount("16m");
    let data = tmpfs.path().join("data");
    let store: Arc<dyn Store> = Arc::new(SledStore::open(&data).unwrap());
    let (writer, task) = Writer::start(Arc::clone(&store));
    let put_one = |id: &str| vec![put(id, "{}", DuplicatePolicy::KeepFirst)];
    writer.write(put_one("before")).await.unwrap();
    let filler = tmpfs.fill("filler");
    for attempt in 0..3 {
        let refused = writer
            .write(put_one(&format!("while-full-{attempt}")))
            .await;
        assert!(
            matches!(refused, Err(StoreError::DiskFull(ref path)) if *path == data),
            "{refused:?}"
        );
    }
    std::fs::remove_file(filler).unwrap();
    let stored = writer.write(put_one("after")).await.unwrap();
    assert_eq!(stored, [WriteOutcome::Stored { version: 0 }]);
    for id in ["before", "after"] {
        assert!(store.envelope("c1", id).unwrap().is_some(), "{id}");
    }
    assert!(store.envelope("c1", "while-full-0").unwrap().is_none());
    writer.stop().await;
    task.await.unwrap();
}

//! Group records hold up to `GROUP_ENTRIES` entries each, and deletes rewrite or remove them: pages, reverse walks
//! and lookups that start, end or land inside a record, or cross records, give what a model of the store gives,
//! before and after a reopen.

use proptest::prelude::*;
use proptest::sample::Index;

use super::SledStore;
use super::groups::GROUP_ENTRIES;
use crate::store::tests::{open, put};
use crate::store::{DuplicatePolicy, NewObject, Store, WriteOp, WriteOutcome};

/// Entries a walk checks: enough to cross into the next record.
const WALK: usize = GROUP_ENTRIES + 20;

/// One writer group: new objects, deletes of objects stored by earlier groups, new envelopes.
#[derive(Debug, Clone)]
struct Group {
    objects: usize,
    deletes: Vec<Index>,
    envelopes: usize,
}

fn group() -> impl Strategy<Value = Group> {
    (
        0..GROUP_ENTRIES * 5 / 2,
        prop::collection::vec(any::<Index>(), 0..30),
        0..GROUP_ENTRIES + 10,
    )
        .prop_map(|(objects, deletes, envelopes)| Group {
            objects,
            deletes,
            envelopes,
        })
}

/// What the store should hold: object ids in order of addition, envelope ids in order of storage.
#[derive(Default)]
struct Model {
    objects: Vec<String>,
    envelopes: Vec<String>,
    made: usize,
}

impl Model {
    fn ops(&mut self, group: &Group) -> Vec<WriteOp> {
        let mut ops = Vec::new();
        let mut deleted = Vec::new();
        for index in &group.deletes {
            if !self.objects.is_empty() {
                let id = self.objects.remove(index.index(self.objects.len()));
                deleted.push(id.clone());
                ops.push(WriteOp::DeleteObject {
                    collection: "c1".into(),
                    id,
                    version: 1,
                });
            }
        }
        for _ in 0..group.objects {
            self.made += 1;
            let id = format!("indicator--{}", self.made);
            ops.push(WriteOp::PutObject {
                collection: "c1".into(),
                object: NewObject {
                    id: id.clone(),
                    version: 1,
                    version_text: "v1".into(),
                    text: format!(r#"{{"id":"{id}"}}"#).into_bytes(),
                },
            });
            self.objects.push(id);
        }
        for _ in 0..group.envelopes {
            self.made += 1;
            let id = format!("e{}", self.made);
            ops.push(put(&id, "{}", DuplicatePolicy::KeepFirst));
            self.envelopes.push(id);
        }
        ops
    }
}

/// Positions to start walks at: both ends, around every record boundary a full group makes, and some more.
fn starts(len: usize) -> Vec<usize> {
    let mut starts: Vec<usize> = (0..len).step_by(401).collect();
    for boundary in (GROUP_ENTRIES..len).step_by(GROUP_ENTRIES) {
        starts.extend([boundary - 1, boundary, boundary + 1]);
    }
    starts.push(len.saturating_sub(1));
    starts.retain(|&start| start < len);
    starts
}

fn check(store: &SledStore, model: &Model) {
    let objects: Vec<_> = store
        .added_after("c1", None, None)
        .map(Result::unwrap)
        .collect();
    let ids: Vec<_> = objects.iter().map(|o| o.id.clone()).collect();
    assert_eq!(ids, model.objects);
    for object in &objects {
        assert_eq!(
            object.text,
            format!(r#"{{"id":"{}"}}"#, object.id).as_bytes()
        );
    }
    for start in starts(objects.len()) {
        let date = objects[start].date_added;
        let after: Vec<_> = store
            .added_after("c1", None, Some(date))
            .take(WALK)
            .map(|o| o.unwrap().id)
            .collect();
        assert_eq!(after, model.objects[start + 1..][..after.len()]);
        assert_eq!(after.len(), WALK.min(objects.len() - start - 1));
        let from: Vec<_> = store
            .added_after("c1", Some("indicator"), Some(date - 1))
            .take(WALK)
            .map(|o| o.unwrap().id)
            .collect();
        assert_eq!(from, model.objects[start..][..from.len()]);
        assert_eq!(from.len(), WALK.min(objects.len() - start));
        let found = store.object("c1", &objects[start].id, 1).unwrap().unwrap();
        assert_eq!(found, objects[start]);
    }
    let summary = store.collection_summary("c1").unwrap();
    assert_eq!(summary.objects, objects.len() as u64);
    assert_eq!(summary.newest_added, objects.last().map(|o| o.date_added));

    let envelopes: Vec<_> = store.envelopes().map(|e| e.unwrap().id).collect();
    assert_eq!(envelopes, model.envelopes);
    for start in starts(envelopes.len()) {
        let position = store
            .envelope("c1", &envelopes[start])
            .unwrap()
            .unwrap()
            .position;
        let after: Vec<_> = store
            .envelopes_after("c1", Some(position))
            .take(WALK)
            .map(|e| e.unwrap().id)
            .collect();
        assert_eq!(after, model.envelopes[start + 1..][..after.len()]);
        assert_eq!(after.len(), WALK.min(envelopes.len() - start - 1));
        let before: Vec<_> = store
            .envelopes_before("c1", Some(position))
            .take(WALK)
            .map(|e| e.unwrap().id)
            .collect();
        let expected: Vec<_> = model.envelopes[..start]
            .iter()
            .rev()
            .take(WALK)
            .cloned()
            .collect();
        assert_eq!(before, expected);
    }
    let newest_first: Vec<_> = store
        .envelopes_before("c1", None)
        .map(|e| e.unwrap().id)
        .collect();
    assert!(newest_first.iter().eq(model.envelopes.iter().rev()));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4))]

    #[test]
    fn walks_and_lookups_across_group_records_match_a_model(groups in prop::collection::vec(group(), 1..5)) {
        let dir = tempfile::tempdir().unwrap();
        let mut model = Model::default();
        {
            let store = open(&dir);
            for group in &groups {
                let outcomes = store.apply(model.ops(group)).unwrap();
                let stored = |o: &WriteOutcome| matches!(o, WriteOutcome::Stored { .. } | WriteOutcome::Removed);
                prop_assert!(outcomes.iter().all(stored), "{:?}", outcomes);
                check(&store, &model);
            }
            store.flush().unwrap();
        }
        check(&open(&dir), &model);
    }
}

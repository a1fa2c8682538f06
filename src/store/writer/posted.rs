//! The posted objects the writer hands on once they are durable (see [`super::Writer::posted_objects`]).

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::envelope::Envelope;
use crate::store::{WriteOp, WriteOutcome};

/// Posted objects held for their taker at most; beyond, groups are dropped (the taker reads them back).
const MAX_HELD: usize = 50_000;

/// The envelope a posted object gives, as its request made it while checking it.
#[derive(Debug)]
pub enum MadeEnvelope {
    /// None of its own: a carrier (its envelope is stored with it), an observable, one of our own objects.
    None,
    Made(Envelope),
    /// One that depends on objects stored before it (an observed-data's observables): its taker reads the
    /// store to make it.
    FromStore,
}

/// An object that a durable group stored, with what its request made of it.
#[derive(Debug)]
pub struct PostedObject {
    pub id: String,
    pub version: i64,
    pub envelope: MadeEnvelope,
}

/// Every object one durable group stored in a collection, in the order they were added: the group stored
/// nothing else there.
#[derive(Debug)]
pub struct PostedGroup {
    pub collection: String,
    pub objects: Vec<PostedObject>,
}

/// The taker's end of [`Writer::posted_objects`].
pub struct PostedGroups {
    groups: mpsc::UnboundedReceiver<PostedGroup>,
    held: Arc<AtomicUsize>,
}

impl PostedGroups {
    /// The next group, once there is one; `None` once the writer has stopped.
    pub async fn recv(&mut self) -> Option<PostedGroup> {
        let group = self.groups.recv().await?;
        self.held.fetch_sub(group.objects.len(), Ordering::Relaxed);
        Some(group)
    }

    /// The next group if one is waiting.
    pub fn try_recv(&mut self) -> Option<PostedGroup> {
        let group = self.groups.try_recv().ok()?;
        self.held.fetch_sub(group.objects.len(), Ordering::Relaxed);
        Some(group)
    }
}

/// The writer's end of [`Writer::posted_objects`]: nothing is kept while nobody takes.
#[derive(Default)]
pub(super) struct PostedTaker(
    Mutex<Option<(mpsc::UnboundedSender<PostedGroup>, Arc<AtomicUsize>)>>,
);

impl PostedTaker {
    pub(super) fn take(&self) -> PostedGroups {
        let (sender, groups) = mpsc::unbounded_channel();
        let held = Arc::new(AtomicUsize::new(0));
        *self.0.lock().expect("not poisoned") = Some((sender, Arc::clone(&held)));
        PostedGroups { groups, held }
    }

    /// Ends the taker's stream.
    pub(super) fn close(&self) {
        *self.0.lock().expect("not poisoned") = None;
    }

    pub(super) fn wanted(&self) -> bool {
        self.0.lock().expect("not poisoned").is_some()
    }

    /// Passes `group` on, or drops it when the taker holds too much already or has gone.
    pub(super) fn hand_over(&self, group: PostedGroup) {
        let mut taker = self.0.lock().expect("not poisoned");
        let Some((groups, held)) = taker.as_ref() else {
            return;
        };
        let count = group.objects.len();
        if held.load(Ordering::Relaxed) + count > MAX_HELD {
            tracing::debug!(collection = %group.collection, objects = count, "posted objects not handed over: the taker is behind");
            return;
        }
        held.fetch_add(count, Ordering::Relaxed);
        if groups.send(group).is_err() {
            *taker = None;
        }
    }
}

/// What one op of a group may add to a collection's objects.
pub(super) enum Addition {
    Nothing,
    /// A posted object, with what its request made of it.
    Posted(String, PostedObject),
    /// Objects of other origins (pulls, restores, envelopes' own objects), which nobody handed over.
    Other(String),
}

impl Addition {
    pub(super) fn of(op: &WriteOp, made: Option<MadeEnvelope>) -> Self {
        match (op, made) {
            (WriteOp::PutObject { collection, object }, Some(envelope)) => Self::Posted(
                collection.clone(),
                PostedObject {
                    id: object.id.clone(),
                    version: object.version,
                    envelope,
                },
            ),
            (WriteOp::PutObject { collection, .. }, None)
            | (WriteOp::RestoreObject { collection, .. }, _) => Self::Other(collection.clone()),
            (
                WriteOp::PutEnvelope {
                    collection,
                    objects,
                    ..
                },
                _,
            ) if !objects.is_empty() => Self::Other(collection.clone()),
            _ => Self::Nothing,
        }
    }
}

/// The posted objects a group stored, per collection in the order they were added; a collection where the
/// group also stored objects that were not handed over is left out (its taker reads the store there).
pub(super) fn groups(additions: Vec<Addition>, outcomes: &[WriteOutcome]) -> Vec<PostedGroup> {
    let mut groups: Vec<PostedGroup> = Vec::new();
    let mut incomplete = HashSet::new();
    for (addition, outcome) in additions.into_iter().zip(outcomes) {
        if !matches!(outcome, WriteOutcome::Stored { .. }) {
            continue;
        }
        match addition {
            Addition::Posted(collection, object) => {
                match groups.iter_mut().find(|g| g.collection == collection) {
                    Some(group) => group.objects.push(object),
                    None => groups.push(PostedGroup {
                        collection,
                        objects: vec![object],
                    }),
                }
            }
            Addition::Other(collection) => {
                incomplete.insert(collection);
            }
            Addition::Nothing => {}
        }
    }
    groups.retain(|group| !incomplete.contains(&group.collection));
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::NewObject;

    fn put(collection: &str, n: u32) -> WriteOp {
        let text = format!(
            r#"{{"type": "ipv4-addr", "spec_version": "2.1", "id": "ipv4-addr--00000000-0000-4000-8000-{n:012}", "value": "192.0.2.{n}"}}"#
        );
        WriteOp::PutObject {
            collection: collection.into(),
            object: NewObject::from_text(text.into_bytes()).unwrap(),
        }
    }

    #[test]
    fn only_stored_objects_of_collections_that_nothing_else_added_to_are_handed_on() {
        let ops = [
            put("a", 1),
            put("a", 2),
            put("b", 3),
            put("b", 4),
            put("a", 5),
        ];
        let made = [true, true, true, false, true];
        let additions = ops
            .iter()
            .zip(made)
            .map(|(op, made)| Addition::of(op, made.then_some(MadeEnvelope::None)))
            .collect();
        let stored = WriteOutcome::Stored { version: 0 };
        let outcomes = [stored, WriteOutcome::Duplicate, stored, stored, stored];
        let groups = groups(additions, &outcomes);
        assert_eq!(
            groups.len(),
            1,
            "b also stored an object nobody made: {groups:?}"
        );
        assert_eq!(groups[0].collection, "a");
        let ids: Vec<&str> = groups[0].objects.iter().map(|o| o.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "ipv4-addr--00000000-0000-4000-8000-000000000001",
                "ipv4-addr--00000000-0000-4000-8000-000000000005"
            ]
        );
    }
}

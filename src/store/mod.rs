//! Durable storage: envelopes, STIX objects per collection, and the writer that makes writes durable.
//!
//! Engines implement [`Store`]; all writes go through the single [`Writer`] task, which groups concurrent
//! requests into one atomic apply and one flush, and answers only once the group is durable. What a write does
//! given what is stored (a duplicate, a conflict, a new version, where a restored record may go) is decided once,
//! for every engine, in `rules/`: an engine reads what the rules need and persists what they decide.

mod collections;
mod fields;
mod keys;
mod lease;
mod postgres;
mod rules;
mod settings;
mod sled_store;
mod text_log;
mod writer;

use std::collections::HashMap;
use std::io;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use crate::envelope::Envelope;
use crate::stix::{ObjectError, ObjectHeader};

pub use collections::CollectionNames;
pub use lease::{Lease, Leases, Unshared};
pub use postgres::{PostgresLeases, PostgresOptions, PostgresStore, SslMode};
pub use rules::RESTORE_ORDER;
pub use settings::{Engine, Snapshot, StoreSettings, leases, open, open_snapshot};
pub use sled_store::{SledOptions, SledStore};
pub use text_log::RETIRED_OPEN;
pub use writer::{MadeEnvelope, PostedGroup, PostedGroups, PostedObject, Writer};

/// What one [`Store::compact`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Compaction {
    /// The text log segments it retired.
    pub segments: Vec<u32>,
    /// The bytes those segments took.
    pub bytes_freed: u64,
    /// The records it wrote anew at the log's end (live texts, and the spliced texts naming them).
    pub texts_moved: u64,
}

/// The object type of a STIX id, `type--uuid`: what `match[type]` filters on, for every engine.
fn type_of(stix_id: &str) -> &str {
    stix_id.split_once("--").map_or(stix_id, |(t, _)| t)
}

/// What to do with an envelope whose id its collection holds already with other content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DuplicatePolicy {
    /// Keep what was stored first and report the newcomer as a duplicate with other content.
    #[default]
    KeepFirst,
    /// Store the newcomer as the next version of the id; reads give the newest.
    NewVersion,
}

/// One write. A group of them is applied atomically.
#[derive(Debug, Clone)]
pub enum WriteOp {
    /// Stores an envelope and, if it is stored (not a duplicate), its STIX objects in the same collection. Whether
    /// it is a duplicate, a conflict or a new version is decided by what that collection holds under its id,
    /// never by another collection.
    PutEnvelope {
        envelope: Envelope,
        collection: String,
        policy: DuplicatePolicy,
        objects: Vec<NewObject>,
    },
    PutObject {
        collection: String,
        object: NewObject,
    },
    DeleteObject {
        collection: String,
        id: String,
        version: i64,
    },
    /// A TAXII status resource (JSON text), kept until [`WriteOp::PruneStatuses`] removes it.
    PutStatus {
        id: String,
        text: Vec<u8>,
    },
    /// Removes the statuses stored before this time (microseconds since the Unix epoch).
    PruneStatuses {
        before: u64,
    },
    /// Bookkeeping that is not data: client checkpoints, provenance. Replaces what `key` held.
    PutNote {
        key: String,
        value: Vec<u8>,
    },
    /// A record of a derived view (see [`Store::view`]). Replaces what `key` held.
    PutView {
        key: Vec<u8>,
        value: Vec<u8>,
    },
    DeleteView {
        key: Vec<u8>,
    },
    /// Removes every view record stored under `prefix` (put it before the group's other ops on that prefix).
    ClearView {
        prefix: Vec<u8>,
    },
    /// Puts back an envelope version from a backup, with its version, position, collection and received time,
    /// and no objects (they come back on their own). Within its collection, the versions of an id must grow (a
    /// backup of an earlier stixgate, whose ids spanned collections, may skip some) and positions must grow;
    /// anything else is a [`WriteOutcome::Conflict`] and writes nothing.
    RestoreEnvelope(StoredEnvelope),
    /// Puts back an object version from a backup with its `date_added`, which must be later than every
    /// `date_added` of the collection so far; an earlier one, or a version stored already, is a
    /// [`WriteOutcome::Conflict`] and writes nothing.
    RestoreObject {
        collection: String,
        object: StoredObject,
    },
    /// Puts back a TAXII status from a backup, with the time it was stored.
    RestoreStatus(StoredStatus),
    /// Replaces the secret that signs paging cursors (see [`Store::cursor_secret`]), so that cursors handed
    /// out before a backup stay valid after its restore.
    SetCursorSecret([u8; 32]),
    /// Makes every collection's next envelope take this position or a later one. A backup of a stixgate whose
    /// positions counted every collection restores with it: a cursor handed out before may name another
    /// collection's position, and must pass over no envelope stored later.
    RaiseEnvelopeFloor(u64),
}

/// A STIX object version to add to a collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewObject {
    /// The STIX id, `type--uuid`.
    pub id: String,
    /// The version as microseconds since the Unix epoch: STIX `modified`, else `created`, else 0.
    pub version: i64,
    /// The version exactly as the object writes it; empty for objects without `modified` or `created`.
    pub version_text: String,
    /// The object's exact JSON text.
    pub text: Vec<u8>,
}

impl NewObject {
    /// An object to store verbatim: its exact text, with its id and version read from it.
    pub fn from_text(text: Vec<u8>) -> Result<Self, ObjectError> {
        let header = ObjectHeader::read(&text)?;
        let (version, version_text) = header
            .version
            .map_or((0, String::new()), |(timestamp, text)| {
                (timestamp.micros(), text)
            });
        Ok(Self {
            id: header.id.as_str().to_owned(),
            version,
            version_text,
            text,
        })
    }

    /// An object from outside (a TAXII client, a peer): also refused when a key repeats anywhere in it,
    /// which readers would resolve differently (an `object_marking_refs` read as AMBER by one and WHITE by
    /// another). Restores take what was stored as it was.
    pub fn received(text: Vec<u8>) -> Result<Self, ObjectError> {
        let object = Self::from_text(text)?;
        crate::envelope::check_unique_keys(&object.text).map_err(|error| ObjectError {
            id: Some(object.id.clone()),
            message: error.to_string(),
        })?;
        Ok(object)
    }
}

/// What became of one write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// Stored; for envelopes, as this version of the id (0 for the first).
    Stored { version: u32 },
    /// The same bytes were stored already (for objects: the same JSON value): nothing changed.
    Duplicate,
    /// Other content is stored under the same id (and version): it was kept, nothing changed.
    Conflict,
    /// Deleted or pruned.
    Removed,
    /// There was nothing to delete.
    Absent,
}

/// An envelope as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEnvelope {
    pub id: String,
    pub version: u32,
    /// Where it stands in the order its collection's envelopes were stored, for resuming a walk (feeds, exports).
    /// Positions count one collection: what other collections store never moves them.
    pub position: u64,
    pub collection: String,
    /// When it was stored, in microseconds since the Unix epoch.
    pub received: u64,
    pub text: Vec<u8>,
}

/// A STIX object version as stored in a collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    pub id: String,
    pub version: i64,
    pub version_text: String,
    /// When this version was added to the collection, in microseconds since the Unix epoch; unique and
    /// strictly increasing within a collection.
    pub date_added: u64,
    pub text: Vec<u8>,
}

impl StoredObject {
    /// Its STIX type, the prefix of its id.
    pub fn object_type(&self) -> &str {
        type_of(&self.id)
    }

    pub fn borrowed(&self) -> ObjectRef<'_> {
        ObjectRef {
            id: &self.id,
            version: self.version,
            version_text: &self.version_text,
            date_added: self.date_added,
            text: &self.text,
        }
    }
}

/// A [`StoredObject`] borrowed from where the store read it, for a reader that copies out only what it keeps (a
/// page writes the texts straight into its response): see [`Store::visit_added_after`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectRef<'a> {
    pub id: &'a str,
    pub version: i64,
    pub version_text: &'a str,
    pub date_added: u64,
    pub text: &'a [u8],
}

impl ObjectRef<'_> {
    pub fn to_stored(&self) -> StoredObject {
        StoredObject {
            id: self.id.to_owned(),
            version: self.version,
            version_text: self.version_text.to_owned(),
            date_added: self.date_added,
            text: self.text.to_vec(),
        }
    }
}

/// What a collection holds, from counts an engine keeps as it writes: as cheap for a million objects as for
/// ten.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CollectionSummary {
    /// Object versions stored (deleted ones are no longer counted).
    pub objects: u64,
    /// Envelope versions stored.
    pub envelopes: u64,
    /// The newest `date_added` of its objects, in microseconds since the Unix epoch.
    pub newest_added: Option<u64>,
}

/// A TAXII status resource as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredStatus {
    pub id: String,
    /// When it was stored, in microseconds since the Unix epoch; statuses are pruned by it.
    pub stored_at: u64,
    pub text: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "the data directory {0} is in use by another process (is `stixgate serve` running on it?)"
    )]
    Locked(PathBuf),
    #[error(
        "the data in {path} is damaged: {detail}; restore it from a backup (`stixgate restore`)"
    )]
    Corrupt { path: PathBuf, detail: String },
    #[error(
        "the data directory {} holds the store layout of an earlier stixgate; run `stixgate backup --data {} FILE` \
         with the earlier stixgate, then `stixgate restore --data NEW-DIRECTORY FILE` with this one",
        .0.display(),
        .0.display()
    )]
    EarlierLayout(PathBuf),
    #[error("a stored record is malformed: {0}")]
    Malformed(String),
    #[error("cannot write to the data directory {}: {problem}", path.display())]
    DataDirectory { path: PathBuf, problem: String },
    /// The file system of the data directory is full: writes are refused until space is freed, and resume by
    /// themselves then.
    #[error(
        "cannot write to the data directory {}: no space left on the device; free some space or change --data",
        .0.display()
    )]
    DiskFull(PathBuf),
    #[error("storage failed: {0}")]
    Io(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("{0}")]
    Settings(String),
    #[error("cannot connect to the PostgreSQL database {target}: {problem}")]
    Connect { target: String, problem: String },
    #[error(
        "the PostgreSQL database holds schema version {found}, newer than this stixgate knows ({known}); \
         run the stixgate that made it, or a later one"
    )]
    NewerSchema { found: i32, known: i32 },
    #[error(
        "the PostgreSQL database holds schema version {found} of an earlier stixgate (this one knows {known}); \
         run `stixgate backup FILE` with the earlier stixgate, then `stixgate restore FILE` with this one, into \
         an empty database"
    )]
    EarlierSchema { found: i32, known: i32 },
    #[error("the writer has stopped")]
    WriterStopped,
}

impl StoreError {
    /// A failure to create or write the data directory, with its likely cause and what to do about it.
    pub fn data_directory(path: &Path, error: &io::Error) -> Self {
        use io::ErrorKind as Kind;
        let problem = match error.kind() {
            Kind::PermissionDenied => {
                "permission denied; run as the directory's owner or change --data".to_owned()
            }
            Kind::StorageFull | Kind::QuotaExceeded => return Self::DiskFull(path.to_owned()),
            Kind::ReadOnlyFilesystem => "the file system is read-only; change --data".to_owned(),
            Kind::NotADirectory | Kind::AlreadyExists => {
                "a part of the path is a file, not a directory; change --data".to_owned()
            }
            _ => error.to_string(),
        };
        Self::DataDirectory {
            path: path.to_owned(),
            problem,
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Called with a collection's id when another process sharing the store has added objects or envelopes to it.
pub type OthersAdded = Arc<dyn Fn(&str) + Send + Sync>;
pub type StoreIter<'a, T> = Box<dyn Iterator<Item = StoreResult<T>> + Send + 'a>;

/// A storage engine. Writes come only from the [`Writer`], so engines need not guard against concurrent writers.
pub trait Store: Send + Sync {
    /// Applies `ops` atomically, in order: a later op sees the effect of an earlier one. Not durable until
    /// [`Store::flush`] returns.
    fn apply(&self, ops: Vec<WriteOp>) -> StoreResult<Vec<WriteOutcome>>;

    /// Makes everything applied so far durable.
    fn flush(&self) -> StoreResult<()>;

    /// The newest version of the envelope with this exact id in `collection`. Ids are unique within a collection
    /// only: another collection may hold the same id, which this never looks at.
    fn envelope(&self, collection: &str, id: &str) -> StoreResult<Option<StoredEnvelope>>;

    /// One version of the envelope with this exact id in `collection`.
    fn envelope_version(
        &self,
        collection: &str,
        id: &str,
        version: u32,
    ) -> StoreResult<Option<StoredEnvelope>>;

    /// The envelope versions of `collection` stored after position `after` (see [`StoredEnvelope::position`]),
    /// in the order they were stored.
    fn envelopes_after(
        &self,
        collection: &str,
        after: Option<u64>,
    ) -> StoreIter<'_, StoredEnvelope>;

    /// The envelope versions of `collection` stored before position `before` (all when `None`), newest first.
    fn envelopes_before(
        &self,
        collection: &str,
        before: Option<u64>,
    ) -> StoreIter<'_, StoredEnvelope>;

    /// Every stored envelope version: collection after collection (in byte order of their ids), each in the
    /// order its envelopes were stored.
    fn envelopes(&self) -> StoreIter<'_, StoredEnvelope>;

    /// The object versions of a collection (or of one object type in it) added after `after`, oldest first.
    fn added_after(
        &self,
        collection: &str,
        object_type: Option<&str>,
        after: Option<u64>,
    ) -> StoreIter<'_, StoredObject>;

    /// [`Store::added_after`] for a reader that expects to take about `expected` of them (a page, and one more
    /// to tell whether there is more): an engine that reads in chunks makes its first chunk that size.
    fn added_after_expecting(
        &self,
        collection: &str,
        object_type: Option<&str>,
        after: Option<u64>,
        expected: usize,
    ) -> StoreIter<'_, StoredObject> {
        let _ = expected;
        self.added_after(collection, object_type, after)
    }

    /// Gives `visit` the object versions [`Store::added_after_expecting`] would give, borrowed, until it breaks: an
    /// engine that reads texts into a buffer of its own lends them from there, so that a page copies each text once,
    /// into its response, and allocates nothing per object.
    fn visit_added_after(
        &self,
        collection: &str,
        object_type: Option<&str>,
        after: Option<u64>,
        expected: usize,
        visit: &mut dyn FnMut(ObjectRef<'_>) -> ControlFlow<()>,
    ) -> StoreResult<()> {
        for object in self.added_after_expecting(collection, object_type, after, expected) {
            if visit(object?.borrowed()).is_break() {
                break;
            }
        }
        Ok(())
    }

    /// The collection's counts and newest `date_added`, without reading its objects.
    fn collection_summary(&self, collection: &str) -> StoreResult<CollectionSummary>;

    /// One object version of a collection.
    fn object(&self, collection: &str, id: &str, version: i64)
    -> StoreResult<Option<StoredObject>>;

    /// Every version of one object in a collection, oldest version first.
    fn object_versions(&self, collection: &str, id: &str) -> StoreResult<Vec<StoredObject>>;

    /// The oldest and the newest version of one object in a collection; `None` if it has none.
    fn version_bounds(&self, collection: &str, id: &str) -> StoreResult<Option<(i64, i64)>>;

    /// [`Store::version_bounds`] of several objects of a collection at once (those with none are left out), for
    /// a page that checks `match[version]` on each of its objects.
    fn version_bounds_of(
        &self,
        collection: &str,
        ids: &[&str],
    ) -> StoreResult<HashMap<String, (i64, i64)>> {
        let mut bounds = HashMap::new();
        for id in ids {
            if let Some(found) = self.version_bounds(collection, id)? {
                bounds.insert((*id).to_owned(), found);
            }
        }
        Ok(bounds)
    }

    /// Whether any object of the collection has more than one version. When none has, every object is its
    /// own first and last version, and listings need not look versions up.
    fn has_multiple_versions(&self, collection: &str) -> StoreResult<bool>;

    /// Every object version of every collection: collection after collection, each in order of addition.
    fn all_objects(&self) -> StoreIter<'_, (String, StoredObject)>;

    /// A TAXII status resource as stored.
    fn status(&self, id: &str) -> StoreResult<Option<Vec<u8>>>;

    /// Every TAXII status resource kept.
    fn statuses(&self) -> StoreIter<'_, StoredStatus>;

    /// What [`WriteOp::PutNote`] last stored under `key`.
    fn note(&self, key: &str) -> StoreResult<Option<Vec<u8>>>;

    /// Every note, as key and value.
    fn notes(&self) -> StoreIter<'_, (String, Vec<u8>)>;

    /// A record of a derived view: data that its owner (the MISP feeds) makes from envelopes and keeps
    /// up to date itself, under keys it lays out.
    fn view(&self, key: &[u8]) -> StoreResult<Option<Vec<u8>>>;

    /// The view records whose keys start with `prefix` and come after `after` (a whole key), in key order.
    fn view_range(&self, prefix: &[u8], after: Option<&[u8]>) -> StoreIter<'_, (Vec<u8>, Vec<u8>)>;

    /// A random secret made when the database was created, for signing paging cursors: it survives
    /// restarts and is the same for every worker.
    fn cursor_secret(&self) -> StoreResult<[u8; 32]>;

    /// Bytes the store takes on disk.
    fn size_on_disk(&self) -> StoreResult<u64>;

    /// Reclaims the space of texts that nothing names any more (deleted objects), where the engine keeps texts
    /// apart from its index: sled's text log, a segment at a time (`sled_store/compact.rs`). Call it through
    /// [`Writer::compact`], which keeps every other write out while it runs. An engine that keeps texts in its
    /// rows has nothing to do here: PostgreSQL reclaims dead rows itself (autovacuum).
    fn compact(&self) -> StoreResult<Compaction> {
        Ok(Compaction::default())
    }

    /// From now on, calls `added` within about a second whenever another process that shares this store adds
    /// objects or envelopes to a collection. Engines that only one process opens (sled) never call it.
    fn follow_others(&self, added: OthersAdded) {
        drop(added);
    }
}

#[cfg(test)]
mod scope_tests;
#[cfg(test)]
mod summary_tests;
#[cfg(test)]
mod test_ops;
#[cfg(test)]
mod tests;

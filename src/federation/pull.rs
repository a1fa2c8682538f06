//! `pull`: remote collections into a local one.
//!
//! Every object is stored verbatim, so that it is served again unchanged; every object the reverse mapping
//! turns into an envelope (a carrier, a foreign indicator or observed-data) also stores that envelope. An
//! envelope whose id is known already is a duplicate, whatever `duplicate_policy` says: federation must not
//! make new versions of what went round. Each page is one durable write with the checkpoint that follows it,
//! so a pull that stops anywhere resumes exactly after the last page it stored.

use reqwest::Url;
use serde::{Deserialize, Serialize};

use super::checkpoint::{self, Provenance};
use super::pages::{Page, Pager, Paging};
use super::{ClientError, Local, Progress, Remote, RemoteCollection, resolve};
use crate::mapping::{Unmapped, reference_context, unmap};
use crate::stix::Timestamp;
use crate::store::{DuplicatePolicy, NewObject, WriteOp, WriteOutcome};

/// What a pull did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullSummary {
    /// Remote collections pulled from.
    pub collections: usize,
    /// Objects received.
    pub objects: usize,
    /// Objects (or object versions) the local collection did not have.
    pub new_objects: usize,
    /// Envelopes stored.
    pub envelopes: usize,
    /// Envelopes whose id was known already.
    pub duplicates: usize,
    /// Objects that could not be stored, or not read back into an envelope, each with why.
    pub failures: Vec<String>,
    /// Remote collections whose pull stopped, each with why.
    pub errors: Vec<String>,
    /// Every page came from a server that offers stixgate's live extension, so a live peer may wait there
    /// for new objects instead of polling.
    #[serde(default)]
    pub live: bool,
}

impl PullSummary {
    pub fn progress_line(&self) -> String {
        format!(
            "{} objects ({} new), {} new envelopes, {} duplicates, {} failures",
            self.objects,
            self.new_objects,
            self.envelopes,
            self.duplicates,
            self.failures.len()
        )
    }

    pub fn succeeded(&self) -> bool {
        self.failures.is_empty() && self.errors.is_empty()
    }
}

/// Pulls every readable collection behind `url` into the local collection `into` (an id), its pages asked for
/// as `paging` says. Errors of one remote collection are reported in the summary and the others are still
/// pulled.
pub async fn pull(
    remote: &Remote,
    local: &Local,
    url: &Url,
    into: &str,
    paging: Paging,
    progress: &dyn Progress,
) -> Result<PullSummary, ClientError> {
    let collections: Vec<RemoteCollection> = resolve(remote, url)
        .await?
        .into_iter()
        .filter(|c| c.resource.can_read)
        .collect();
    if collections.is_empty() {
        return Err(ClientError::NoCollection(format!(
            "{url} offers no collection these credentials may read"
        )));
    }
    let mut summary = PullSummary {
        live: true,
        ..PullSummary::default()
    };
    for collection in &collections {
        summary.collections += 1;
        if let Err(error) = pull_collection(
            remote,
            local,
            collection,
            into,
            paging,
            &mut summary,
            progress,
        )
        .await
        {
            summary.errors.push(format!("{}: {error}", collection.url));
        }
    }
    Ok(summary)
}

async fn pull_collection(
    remote: &Remote,
    local: &Local,
    collection: &RemoteCollection,
    into: &str,
    paging: Paging,
    summary: &mut PullSummary,
    progress: &dyn Progress,
) -> Result<(), ClientError> {
    let key = checkpoint::pull_key(into, collection.url.as_str());
    let start = checkpoint::read_pull(local.store.as_ref(), &key)?;
    let mut pager = Pager::new(remote, collection.objects_url(), start, paging);
    while let Some(page) = pager.next_page().await? {
        summary.live &= page.live;
        store_page(local, collection, into, &key, page, summary).await?;
        progress.update(&summary.progress_line());
    }
    Ok(())
}

/// What one received object becomes.
enum Received {
    Object(NewObject),
    /// The object and the envelope it gives back.
    WithEnvelope(NewObject, String),
    Failed,
}

async fn store_page(
    local: &Local,
    collection: &RemoteCollection,
    into: &str,
    key: &str,
    page: Page,
    summary: &mut PullSummary,
) -> Result<(), ClientError> {
    summary.objects += page.objects.len();
    // The observables of the page, for the references of observed-data.
    let values = reference_context(page.objects.iter().map(|raw| raw.get().as_bytes()));
    let mut ops = Vec::new();
    let mut received = Vec::with_capacity(page.objects.len());
    for raw in &page.objects {
        let object = match NewObject::received(raw.get().as_bytes().to_vec()) {
            Ok(object) => object,
            Err(error) => {
                summary.failures.push(format!(
                    "object {}: {}",
                    error.id.as_deref().unwrap_or("(without id)"),
                    error.message
                ));
                received.push(Received::Failed);
                continue;
            }
        };
        ops.push(WriteOp::PutObject {
            collection: into.to_owned(),
            object: object.clone(),
        });
        match unmap(raw.get().as_bytes(), &values) {
            Ok(Unmapped::Carrier(envelope) | Unmapped::Foreign(envelope)) => {
                let id = envelope.id().as_str().to_owned();
                ops.push(WriteOp::PutEnvelope {
                    envelope,
                    collection: into.to_owned(),
                    policy: DuplicatePolicy::KeepFirst,
                    objects: Vec::new(),
                });
                received.push(Received::WithEnvelope(object, id));
            }
            Ok(Unmapped::Skipped) => received.push(Received::Object(object)),
            Err(error) => {
                summary.failures.push(format!(
                    "object {}: stored, but gives no envelope: {error}",
                    object.id
                ));
                received.push(Received::Object(object));
            }
        }
    }
    if let Some(last) = page.date_added_last {
        ops.push(checkpoint::pull_note(key.to_owned(), last));
    }
    let provenance = Provenance {
        peer: collection.url.to_string(),
        received: Timestamp::now().to_taxii(),
    };
    let envelope_ids: Vec<Option<String>> = ops
        .iter()
        .map(|op| match op {
            WriteOp::PutEnvelope { envelope, .. } => Some(envelope.id().as_str().to_owned()),
            _ => None,
        })
        .collect();
    // Provenance only for envelopes that are new here, in the same flush as them.
    let into = into.to_owned();
    let outcomes = local
        .writer
        .write_then(ops, move |outcomes| {
            outcomes
                .iter()
                .zip(envelope_ids)
                .filter_map(|(outcome, id)| match (outcome, id) {
                    (WriteOutcome::Stored { .. }, Some(id)) => {
                        Some(checkpoint::provenance_note(&into, &id, &provenance))
                    }
                    _ => None,
                })
                .collect()
        })
        .await?;
    tally(&received, &outcomes, summary);
    Ok(())
}

/// Counts the outcomes, which follow the ops: each object, then its envelope if it has one.
fn tally(received: &[Received], outcomes: &[WriteOutcome], summary: &mut PullSummary) {
    let mut outcomes = outcomes.iter();
    for item in received {
        let (object, envelope) = match item {
            Received::Failed => continue,
            Received::Object(object) => (object, None),
            Received::WithEnvelope(object, id) => (object, Some(id)),
        };
        match outcomes.next() {
            Some(WriteOutcome::Stored { .. }) => summary.new_objects += 1,
            Some(WriteOutcome::Conflict) => summary.failures.push(format!(
                "object {} version {:?}: the local collection holds other content under this id and \
                 version; it was kept",
                object.id, object.version_text
            )),
            _ => {}
        }
        if envelope.is_some() {
            match outcomes.next() {
                Some(WriteOutcome::Stored { .. }) => summary.envelopes += 1,
                _ => summary.duplicates += 1,
            }
        }
    }
}

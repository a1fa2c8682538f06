//! Add Objects (§5.5): every object is checked on its own; the valid ones are stored, the others reported
//! as failures, and the status is answered once everything is durable. The envelopes that foreign objects
//! give (`taxii.envelopes_from_posts = "all"`) are made here, to check them, but stored after the answer: the
//! writer hands them to the envelope maker (`ingest::EnvelopeMaker`) with their objects once those are
//! durable. The POST waits only for what it stores itself.

use std::sync::{Arc, Mutex};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::super::AppState;
use super::super::body::read_body;
use super::super::error::ApiError;
use super::super::rights::{Grant, status_owner};
use super::status::StoredStatus;
use super::{RootIndex, root, taxii};
use crate::config::PostedEnvelopes;
use crate::envelope::JsonSyntax;
use crate::mapping::{CARRIER_TYPE, Unmapped, reference_context, unmap};
use crate::quote::cut;
use crate::stix::Timestamp;
use crate::store::{DuplicatePolicy, MadeEnvelope, NewObject, WriteOp, WriteOutcome};
use crate::taxii::resources::{Status, StatusDetail, non_empty};

/// The most failures a status lists (with `failure_count` exact): a body of many small bad objects would
/// otherwise get, and store, a status many times its size.
pub const LISTED_FAILURES: usize = 100;

/// Only `objects` is read; `more` and `next` mean nothing in a request.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    objects: Option<Vec<&'a RawValue>>,
}

pub async fn add(
    state: web::Data<AppState>,
    index: web::Data<RootIndex>,
    request: HttpRequest,
    payload: web::Payload,
    grant: Grant,
) -> Result<HttpResponse, ApiError> {
    let collection = grant.collection();
    let body = read_body(&request, payload, &state.settings).await?;
    let request_timestamp = Timestamp::now();
    let envelope = read_envelope(&body)?;

    // Failures past those the status lists are only counted, so that many small bad objects do not make
    // a status (nor the memory to build it) many times the size of the body.
    let (mut listed_failures, mut unlisted_failures) = (0, 0);
    let mut checked: Vec<Result<NewObject, StatusDetail>> = Vec::new();
    for raw in envelope.objects.unwrap_or_default() {
        match NewObject::received(raw.get().as_bytes().to_vec()) {
            Ok(object) => checked.push(Ok(object)),
            Err(_) if listed_failures >= LISTED_FAILURES => unlisted_failures += 1,
            Err(error) => {
                listed_failures += 1;
                checked.push(Err(StatusDetail {
                    id: error.id.unwrap_or_default(),
                    version: String::new(),
                    message: Some(error.message),
                }));
            }
        }
    }
    let (envelopes, made) = envelopes_of(
        &mut checked,
        &collection.id,
        state.intake.policy,
        state.settings.taxii.envelopes_from_posts,
    );
    let object_count = checked.iter().flatten().count();
    // Objects first, so that their outcomes line up with `checked` in the status; then the carriers' envelopes.
    let ops: Vec<WriteOp> = checked
        .iter()
        .flatten()
        .map(|object| WriteOp::PutObject {
            collection: collection.id.clone(),
            object: object.clone(),
        })
        .chain(envelopes)
        .collect();
    // The status is written in the same flush as the objects it reports on.
    let status = StoredStatus {
        root: root(&state, &index).path.clone(),
        owner: status_owner(&grant.caller),
        resource: Status {
            id: uuid::Uuid::new_v4().to_string(),
            status: "complete".into(),
            request_timestamp: Some(request_timestamp.to_taxii()),
            total_count: (checked.len() + unlisted_failures) as u64,
            success_count: 0,
            successes: None,
            failure_count: 0,
            failures: None,
            pending_count: 0,
            pendings: None,
        },
    };
    let answer = Arc::new(Mutex::new(None));
    let answer_slot = Arc::clone(&answer);
    let outcomes = state
        .writer
        .write_posted(ops, made, move |outcomes| {
            let stored = report(status, checked, unlisted_failures, outcomes);
            let text = serde_json::to_vec(&stored).expect("statuses serialize");
            let op = WriteOp::PutStatus {
                id: stored.resource.id.clone(),
                text,
            };
            *answer_slot.lock().expect("not poisoned") = Some(stored);
            vec![op]
        })
        .await?;
    let stored = answer
        .lock()
        .expect("not poisoned")
        .take()
        .expect("the follow-up ran before the answer");
    // The object outcomes come first; the envelopes' follow them.
    let newly_stored = outcomes
        .iter()
        .take(object_count)
        .filter(|o| matches!(o, WriteOutcome::Stored { .. }))
        .count();
    state
        .metrics
        .count_stored(&state.metrics.objects_stored, newly_stored);
    Ok(taxii(StatusCode::ACCEPTED).json(stored.resource))
}

/// The body as a TAXII envelope, parsed once: the body is only parsed again, without keeping anything, to tell
/// what is not JSON (400) from what is not an envelope (422) when it is refused.
fn read_envelope(body: &[u8]) -> Result<Envelope<'_>, ApiError> {
    let not_json = |body: &[u8]| {
        serde_json::from_slice::<JsonSyntax>(body)
            .err()
            .map(|e| ApiError::BadRequest(format!("the body is not JSON: {}", cut(&e.to_string()))))
    };
    if let Some(refused) = not_json(body) {
        return Err(refused);
    }
    // A struct is also read from a JSON array: only an object is an envelope.
    let is_object = body
        .iter()
        .find(|byte| !byte.is_ascii_whitespace())
        .is_some_and(|&byte| byte == b'{');
    if !is_object {
        return Err(ApiError::Unprocessable(
            "the body is not a TAXII envelope (a JSON object)".into(),
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::Unprocessable(format!(
            "the body is not a TAXII envelope: {}",
            cut(&e.to_string())
        ))
    })
}

/// The status of a request: successes and failures in the order the objects came in; of the failures, only
/// the first [`LISTED_FAILURES`] (`failure_count` counts them all, with the `unlisted` ones left out before).
fn report(
    mut status: StoredStatus,
    checked: Vec<Result<NewObject, StatusDetail>>,
    unlisted: usize,
    outcomes: &[WriteOutcome],
) -> StoredStatus {
    let mut outcomes = outcomes.iter();
    let (mut successes, mut failures) = (Vec::new(), Vec::new());
    for result in checked {
        let object = match result {
            Ok(object) => object,
            Err(failure) => {
                failures.push(failure);
                continue;
            }
        };
        let detail = |message: Option<&str>| StatusDetail {
            id: object.id.clone(),
            version: object.version_text.clone(),
            message: message.map(str::to_owned),
        };
        match outcomes.next() {
            Some(WriteOutcome::Stored { .. }) => successes.push(detail(None)),
            // §5.5: an exact duplicate is not an error, and adds no version.
            Some(WriteOutcome::Duplicate) => successes.push(detail(Some("already in the collection"))),
            _ => failures.push(detail(Some(
                "the collection holds a different object with this id and version; a new version needs a later `modified`",
            ))),
        }
    }
    let resource = &mut status.resource;
    resource.success_count = successes.len() as u64;
    resource.failure_count = (failures.len() + unlisted) as u64;
    failures.truncate(LISTED_FAILURES);
    resource.successes = non_empty(successes);
    resource.failures = non_empty(failures);
    status
}

/// The envelopes of the posted carriers, each the exact envelope it holds; with `which` all, also what each
/// object that stays valid gives, in their order, for the envelope maker to store once the object is stored.
/// An observed-data's envelope is only checked: the maker makes it again with the observables stored before
/// it. An object that gives no valid envelope is refused whole.
fn envelopes_of(
    checked: &mut [Result<NewObject, StatusDetail>],
    collection: &str,
    policy: DuplicatePolicy,
    which: PostedEnvelopes,
) -> (Vec<WriteOp>, Vec<MadeEnvelope>) {
    let mut made = Vec::new();
    if which == PostedEnvelopes::None {
        return (Vec::new(), made);
    }
    let context = reference_context(checked.iter().flatten().map(|o| o.text.as_slice()));
    let mut ops = Vec::new();
    for entry in checked.iter_mut() {
        let Ok(object) = entry else { continue };
        let object_type = object.id.split_once("--").map(|(t, _)| t);
        if which == PostedEnvelopes::Carriers && object_type != Some(CARRIER_TYPE) {
            continue;
        }
        match unmap(&object.text, &context) {
            Ok(Unmapped::Carrier(envelope)) => {
                ops.push(WriteOp::PutEnvelope {
                    envelope,
                    collection: collection.to_owned(),
                    policy,
                    objects: Vec::new(),
                });
                made.push(MadeEnvelope::None);
            }
            Ok(Unmapped::Foreign(_)) if object_type == Some("observed-data") => {
                made.push(MadeEnvelope::FromStore);
            }
            Ok(Unmapped::Foreign(envelope)) => made.push(MadeEnvelope::Made(envelope)),
            Ok(Unmapped::Skipped) => made.push(MadeEnvelope::None),
            Err(error) => {
                *entry = Err(StatusDetail {
                    id: object.id.clone(),
                    version: object.version_text.clone(),
                    message: Some(format!("it gives no valid envelope: {error}")),
                });
            }
        }
    }
    if which != PostedEnvelopes::All {
        made.clear();
    }
    (ops, made)
}

//! Reading and deleting objects: Get Objects (§5.4), Get Manifest (§5.3), Get an Object (§5.6), Get Object
//! Versions (§5.8) and Delete an Object (§5.7).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};
use bytes::Bytes;

use super::super::AppState;
use super::super::error::{ApiError, shown};
use super::super::rights::Grant;
use super::live;
use super::query::{self, Collect, Page};
use super::taxii;
use crate::stix::{StixId, Timestamp};
use crate::store::{ObjectRef, StoredObject, WriteOp};
use crate::taxii::filter::{Endpoint, Filters, VersionFilter};
use crate::taxii::media::STIX_21;
use crate::taxii::resources::{self, non_empty};

const FIRST: &str = "X-TAXII-Date-Added-First";
const LAST: &str = "X-TAXII-Date-Added-Last";

/// The object a path names; its collection is the grant's.
#[derive(serde::Deserialize)]
pub struct ObjectPath {
    object: String,
}

fn date_added(micros: u64) -> String {
    Timestamp::from_micros(micros as i64).to_taxii()
}

/// The version as the object writes it; objects without one use their date_added (§5.3.1).
fn version_of(object: &StoredObject) -> String {
    if object.version_text.is_empty() {
        date_added(object.date_added)
    } else {
        object.version_text.clone()
    }
}

/// 200 with the X-TAXII-Date-Added headers of a page (omitted when it is empty: there is no date to give).
fn page_response<C>(page: &Page<C>) -> HttpResponseBuilder {
    let mut response = taxii(StatusCode::OK);
    if let Some((first, last)) = page.added {
        response.insert_header((FIRST, date_added(first)));
        response.insert_header((LAST, date_added(last)));
    }
    response
}

/// The envelope (§3.7), written around the stored texts as the store lends them, without parsing them again:
/// the texts go after room kept for its start, `{"more":…,"next":…`, which is known only once the page is full.
struct EnvelopeBody {
    bytes: Vec<u8>,
    /// Objects the page asks for at most, to size the body by its first text.
    limit: usize,
}

/// Room for `{"more":false,"next":"…"` before the objects: a cursor is 32 characters.
const HEAD_ROOM: usize = 96;
/// A body sized by its first text takes this at most; a page of larger texts grows it as it goes.
const SIZED_BYTES: usize = 4 << 20;

impl EnvelopeBody {
    fn new(limit: usize) -> Self {
        Self {
            bytes: vec![0; HEAD_ROOM],
            limit,
        }
    }

    /// The envelope of `page`, whose objects this body holds.
    fn finish(page: Page<Self>) -> Bytes {
        let mut bytes = page.objects.bytes;
        let mut head = Vec::with_capacity(HEAD_ROOM);
        head.extend_from_slice(if page.more {
            b"{\"more\":true"
        } else {
            b"{\"more\":false"
        });
        if let Some(next) = &page.next {
            head.extend_from_slice(b",\"next\":");
            head.extend_from_slice(&serde_json::to_vec(next).expect("strings serialize"));
        }
        if page.count > 0 {
            bytes.push(b']');
        }
        bytes.push(b'}');
        match HEAD_ROOM.checked_sub(head.len()) {
            Some(at) => {
                bytes[at..HEAD_ROOM].copy_from_slice(&head);
                Bytes::from(bytes).slice(at..)
            }
            None => {
                head.extend_from_slice(&bytes[HEAD_ROOM..]);
                Bytes::from(head)
            }
        }
    }
}

impl Collect for EnvelopeBody {
    fn take(&mut self, object: ObjectRef<'_>) {
        if self.bytes.len() == HEAD_ROOM {
            let sized = self.limit.saturating_mul(object.text.len() + 1);
            self.bytes.reserve(sized.min(SIZED_BYTES) + 16);
            self.bytes.extend_from_slice(b",\"objects\":[");
        } else {
            self.bytes.push(b',');
        }
        self.bytes.extend_from_slice(object.text);
    }
}

fn page_size(state: &AppState, filters: &Filters) -> usize {
    let taxii = &state.settings.taxii;
    filters
        .limit
        .unwrap_or(taxii.default_page_size)
        .min(taxii.max_page_size)
}

/// What a page keeps of its objects, made for the page's size.
trait Kept: Collect + Send + 'static {
    fn for_page(limit: usize) -> Self;
}

impl Kept for Vec<StoredObject> {
    fn for_page(limit: usize) -> Self {
        Vec::with_capacity(limit.min(1024))
    }
}

impl Kept for EnvelopeBody {
    fn for_page(limit: usize) -> Self {
        Self::new(limit)
    }
}

async fn read_page<C: Kept>(
    state: &web::Data<AppState>,
    collection_id: String,
    filters: Filters,
) -> Result<Page<C>, ApiError> {
    let state = state.clone();
    web::block(move || {
        let limit = page_size(&state, &filters);
        query::page(
            state.store.as_ref(),
            &collection_id,
            &filters,
            limit,
            &state.cursor_key,
            C::for_page(limit),
        )
    })
    .await?
}

/// The page a read request asks for: filters parsed, and the object known when the path names one.
async fn requested_page<C: Kept>(
    state: &web::Data<AppState>,
    grant: &Grant,
    object: Option<&str>,
    request: &HttpRequest,
    endpoint: Endpoint,
) -> Result<Page<C>, ApiError> {
    let collection = grant.collection();
    let mut filters = Filters::parse(request.query_string(), endpoint)?;
    if let Some(object) = object {
        filters.ids = Some(vec![known_object(state, &collection.id, object).await?]);
    }
    if endpoint == Endpoint::Versions {
        filters.versions = Some(VersionFilter {
            all: true,
            ..VersionFilter::default()
        });
    }
    read_page(state, collection.id.clone(), filters).await
}

pub async fn objects(
    state: web::Data<AppState>,
    request: HttpRequest,
    grant: Grant,
) -> Result<HttpResponse, ApiError> {
    let wait = live::requested_wait(request.query_string())?;
    // Watched from before the first read, so that objects added between that read and the wait wake it.
    let mut added = state.writer.objects_added(&grant.collection().id);
    added.borrow_and_update();
    let listing =
        || requested_page::<EnvelopeBody>(&state, &grant, None, &request, Endpoint::Listing);
    let mut page = listing().await?;
    if let Some(wait) = wait {
        let deadline = tokio::time::Instant::now() + wait;
        let mut stopping = state.stopping.clone();
        // Objects filtered out wake it too: it reads again and waits on.
        while page.count == 0
            && !page.more
            && live::objects_added(&mut added, &mut stopping, deadline).await
        {
            page = listing().await?;
        }
    }
    let mut response = page_response(&page);
    if wait.is_some() && *state.stopping.borrow() {
        // A follower would send its next wait on this kept-alive connection, which the drain still serves,
        // and be answered at once, again and again until the drain ends. Closed, it has to connect anew,
        // which the stopped listener refuses: the follower backs off instead.
        response.force_close();
    }
    Ok(response
        .insert_header((live::HEADER, "1"))
        .body(EnvelopeBody::finish(page)))
}

pub async fn manifest(
    state: web::Data<AppState>,
    request: HttpRequest,
    grant: Grant,
) -> Result<HttpResponse, ApiError> {
    let page: Page<Vec<StoredObject>> =
        requested_page(&state, &grant, None, &request, Endpoint::Listing).await?;
    let records = page
        .objects
        .iter()
        .map(|object| resources::ManifestRecord {
            id: object.id.clone(),
            date_added: date_added(object.date_added),
            version: version_of(object),
            media_type: Some(STIX_21.to_owned()),
        })
        .collect();
    Ok(page_response(&page).json(resources::Manifest {
        more: Some(page.more),
        next: page.next.clone(),
        objects: non_empty(records),
    }))
}

/// The object id in the path, checked, and whether the collection has any version of it.
async fn known_object(
    state: &web::Data<AppState>,
    collection_id: &str,
    object: &str,
) -> Result<StixId, ApiError> {
    let id = StixId::parse(object).map_err(ApiError::BadRequest)?;
    let store = state.store.clone();
    let (collection_id, lookup) = (collection_id.to_owned(), id.as_str().to_owned());
    match web::block(move || store.version_bounds(&collection_id, &lookup)).await?? {
        Some(_) => Ok(id),
        None => Err(ApiError::NotFound(format!(
            "the collection holds no object {}",
            shown(object)
        ))),
    }
}

pub async fn object(
    state: web::Data<AppState>,
    path: web::Path<ObjectPath>,
    request: HttpRequest,
    grant: Grant,
) -> Result<HttpResponse, ApiError> {
    let object = Some(path.object.as_str());
    let page: Page<EnvelopeBody> =
        requested_page(&state, &grant, object, &request, Endpoint::Object).await?;
    Ok(page_response(&page).body(EnvelopeBody::finish(page)))
}

pub async fn versions(
    state: web::Data<AppState>,
    path: web::Path<ObjectPath>,
    request: HttpRequest,
    grant: Grant,
) -> Result<HttpResponse, ApiError> {
    let object = Some(path.object.as_str());
    let page: Page<Vec<StoredObject>> =
        requested_page(&state, &grant, object, &request, Endpoint::Versions).await?;
    let versions = page.objects.iter().map(version_of).collect();
    Ok(page_response(&page).json(resources::Versions {
        more: Some(page.more),
        next: page.next.clone(),
        versions: non_empty(versions),
    }))
}

/// Deletes the versions `match[version]` selects; all of them when it is absent (§5.7 "deletes an object";
/// medallion deletes only the newest).
pub async fn delete(
    state: web::Data<AppState>,
    path: web::Path<ObjectPath>,
    request: HttpRequest,
    grant: Grant,
) -> Result<HttpResponse, ApiError> {
    let collection = grant.collection();
    let filters = Filters::parse(request.query_string(), Endpoint::Delete)?;
    let id = known_object(&state, &collection.id, &path.object).await?;
    let chosen = if filters.wants_stix_21() {
        let store = state.store.clone();
        let (collection_id, lookup) = (collection.id.clone(), id.as_str().to_owned());
        let all = web::block(move || store.object_versions(&collection_id, &lookup)).await??;
        let versions = filters.versions.unwrap_or(VersionFilter {
            all: true,
            ..VersionFilter::default()
        });
        select_versions(all, &versions)
    } else {
        Vec::new()
    };
    if chosen.is_empty() {
        return Err(ApiError::NotFound(format!(
            "no version of {} matches the filters",
            shown(&path.object)
        )));
    }
    let ops = chosen
        .into_iter()
        .map(|object| WriteOp::DeleteObject {
            collection: collection.id.clone(),
            id: object.id,
            version: object.version,
        })
        .collect();
    state.writer.write(ops).await?;
    Ok(taxii(StatusCode::OK).finish())
}

/// The versions `filter` picks out of all versions of one object (oldest version first).
fn select_versions(all: Vec<StoredObject>, filter: &VersionFilter) -> Vec<StoredObject> {
    let (Some(first), Some(last)) = (
        all.first().map(|o| o.version),
        all.last().map(|o| o.version),
    ) else {
        return Vec::new();
    };
    all.into_iter()
        .filter(|o| {
            filter.all
                || (filter.first && o.version == first)
                || (filter.last && o.version == last)
                || filter.exact.iter().any(|t| t.micros() == o.version)
        })
        .collect()
}

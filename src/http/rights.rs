//! Who may do what: the one place where requests are allowed or refused.
//!
//! Every route is registered with a [`Rule`] (see `routes.rs`), and the middleware built here decides each
//! request against it before any handler runs. A handler learns the outcome, the caller and the collection,
//! as a [`Grant`]; it never decides rights itself. The two decisions that need what a handler reads from the
//! store first (the collection of a stored envelope, the owner of a status) are made by functions here.
//! Before any of it, a browser's cross-site request that would change state is refused (`cross_site.rs`).
//!
//! The answers, the same on every route:
//! - credentials that do not hold: 401, whatever the route needs (while no users are configured, credentials
//!   are not looked at: see [`Authenticator::authenticate`]);
//! - no credentials, where users exist and the request needs a right anonymous callers lack: 401 with
//!   `WWW-Authenticate`;
//! - a user with some right on the collection, but not the one needed: 403;
//! - a user with no right at all on it: 404, the same answer as for a collection that does not exist.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::AUTHORIZATION;
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use futures_util::future::{Ready, ready};

use super::AppState;
use super::auth::Authenticator;
use super::error::{ApiError, nothing_served, shown};
use crate::config::{CollectionSettings, Principal};
use crate::quote::cut;

/// Whom the rights decision authenticated, set by it before it decides: a refusal comes back as an error,
/// without the request and its grant, and its log line should still name who was refused.
#[derive(Clone, Default)]
pub(super) struct AuthenticatedCaller(Rc<RefCell<Option<Principal>>>);

impl AuthenticatedCaller {
    pub(super) fn set(&self, caller: &Principal) {
        *self.0.borrow_mut() = Some(caller.clone());
    }

    /// Who was authenticated, if anyone was.
    pub(super) fn get(&self) -> Option<Principal> {
        self.0.borrow().clone()
    }
}

/// What a route needs from its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Anyone, without looking at credentials: liveness probes.
    Open,
    /// A listing of the whole server (discovery, the operator page): any caller; an anonymous caller who
    /// sees no collection is asked to authenticate where users exist. It shows only what the caller may see.
    Listing,
    /// An API root or its collections: anyone who may see a collection in that root. Anyone else is answered
    /// as for a root that does not exist (404), or asked to authenticate (401), so that a root's title and
    /// description are not shown to whom it holds nothing for.
    RootListing,
    /// A right on the collection the request names.
    Collection(Right, Named),
    /// The read right on the collections a stored envelope is looked for in: see [`envelope_collections`].
    StoredEnvelope,
    /// Only whoever made the request a status reports on: see [`status_access`].
    StatusOwner,
    /// `/metrics`: anyone while `metrics.public` is true, else admins.
    Metrics,
    /// Users with `admin = true`, and the command line holding the data directory's admin token.
    Admin,
}

/// A right on a collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Right {
    Read,
    Write,
    /// Both: TAXII's Delete Objects (§5.7).
    ReadWrite,
}

/// Where a request names its collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Named {
    /// The `{collection}` segment of a TAXII path (id or alias), within the route's API root.
    TaxiiPath,
    /// The `collection` query parameter (id or alias), else `intake.collection`.
    Query,
    /// The `{feed}` segment of a MISP feed path: a `misp.feeds` name or a collection's id or alias.
    MispFeed,
}

/// The outcome of the rights decision, for the handler.
#[derive(Debug, Clone)]
pub struct Grant {
    pub caller: Principal,
    /// The collection a [`Rule::Collection`] route named.
    pub collection: Option<CollectionSettings>,
}

impl Grant {
    /// The collection of a [`Rule::Collection`] route.
    pub fn collection(&self) -> &CollectionSettings {
        self.collection
            .as_ref()
            .expect("a collection route's grant names its collection")
    }
}

/// A handler's view of the decision. A request that reaches a handler without one was never decided:
/// refused, so that a mistake in the wiring fails closed.
impl FromRequest for Grant {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(request.extensions().get::<Grant>().cloned().ok_or_else(|| {
            tracing::error!(path = request.path(), "a route has no rights decision");
            ApiError::Forbidden("this route has no rights decision".into())
        }))
    }
}

/// The methods of one resource with their rules, and the API root it belongs to (for TAXII paths).
pub struct ResourceRules {
    pub methods: Vec<(Method, Rule)>,
    pub root: Option<usize>,
    pub authenticator: Arc<Authenticator>,
}

/// Decides a request against its resource's rules; methods the resource lacks pass on to its 405 answer.
pub async fn enforce(
    rules: Rc<ResourceRules>,
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let rule = rules
        .methods
        .iter()
        .find(|(method, _)| method == request.method())
        .map(|(_, rule)| *rule);
    if let Some(rule) = rule
        && rule != Rule::Open
    {
        let state = request
            .app_data::<web::Data<AppState>>()
            .expect("the app always has its state")
            .clone();
        let caller = rules
            .authenticator
            .authenticate(request.headers().get(AUTHORIZATION))
            .await?;
        if let Some(authenticated) = request.extensions().get::<AuthenticatedCaller>() {
            authenticated.set(&caller);
        }
        let grant = decide(&state, &rules, rule, caller, request.request())?;
        request.extensions_mut().insert(grant);
    }
    next.call(request).await
}

fn decide(
    state: &AppState,
    rules: &ResourceRules,
    rule: Rule,
    caller: Principal,
    request: &HttpRequest,
) -> Result<Grant, ApiError> {
    let settings = &state.settings;
    let granted = |caller, collection| Ok(Grant { caller, collection });
    match rule {
        Rule::Open | Rule::StoredEnvelope | Rule::StatusOwner => granted(caller, None),
        Rule::Listing | Rule::RootListing => {
            let sees_any = settings
                .api_roots
                .iter()
                .enumerate()
                .filter(|(index, _)| rule == Rule::Listing || rules.root == Some(*index))
                .flat_map(|(_, root)| &root.collections)
                .any(|c| c.access(&caller).visible());
            if !sees_any && asks_to_authenticate(&rules.authenticator, &caller) {
                return Err(ApiError::Unauthorized(
                    "this server requires authentication".into(),
                ));
            }
            if !sees_any && rule == Rule::RootListing {
                return Err(nothing_served(request));
            }
            granted(caller, None)
        }
        Rule::Metrics if settings.metrics.public => granted(caller, None),
        Rule::Metrics | Rule::Admin => {
            if settings.is_admin(&caller) {
                granted(caller, None)
            } else if asks_to_authenticate(&rules.authenticator, &caller) {
                Err(ApiError::Unauthorized(format!(
                    "{} is for admins: authenticate as a user with admin = true",
                    request.path()
                )))
            } else {
                Err(ApiError::Forbidden(format!(
                    "{} is for admins (users with admin = true)",
                    request.path()
                )))
            }
        }
        Rule::Collection(right, named) => {
            let (name, found) = named_collection(state, rules, named, request)?;
            let collection =
                collection_access(&rules.authenticator, &caller, found, right, || {
                    not_found(named, &name)
                })?;
            granted(caller, Some(collection.clone()))
        }
    }
}

/// Whether a refusal should ask for credentials: not when there is nobody to authenticate as.
fn asks_to_authenticate(authenticator: &Authenticator, caller: &Principal) -> bool {
    *caller == Principal::Anonymous && authenticator.knows_anyone()
}

/// The collection a request names, and the name as given (for the answer when there is none).
fn named_collection<'a>(
    state: &'a AppState,
    rules: &ResourceRules,
    named: Named,
    request: &HttpRequest,
) -> Result<(String, Option<&'a CollectionSettings>), ApiError> {
    let settings = &state.settings;
    Ok(match named {
        Named::TaxiiPath => {
            let name = request.match_info().get("collection").unwrap_or_default();
            let root = rules.root.and_then(|index| settings.api_roots.get(index));
            let found = root.and_then(|root| {
                root.collections
                    .iter()
                    .find(|c| c.id == name || c.alias.as_deref() == Some(name))
            });
            (name.to_owned(), found)
        }
        Named::Query => {
            let pairs: Vec<(String, String)> = serde_urlencoded::from_str(request.query_string())
                .map_err(|error| {
                ApiError::BadRequest(format!("bad query parameters: {}", cut(&error.to_string())))
            })?;
            let name = pairs
                .into_iter()
                .find(|(key, _)| key == "collection")
                .map_or_else(|| settings.intake.collection.clone(), |(_, value)| value);
            let found = settings.collection(&name);
            (name, found)
        }
        Named::MispFeed => {
            let name = request.match_info().get("feed").unwrap_or_default();
            let found = state
                .misp
                .find(name)
                .and_then(|feed| settings.collection(&feed.definition.collection));
            (name.to_owned(), found)
        }
    })
}

fn not_found(named: Named, name: &str) -> ApiError {
    ApiError::NotFound(match named {
        Named::TaxiiPath => format!("this API root has no collection {}", shown(name)),
        Named::Query => format!("no collection has the id or alias {}", shown(name)),
        Named::MispFeed => format!(
            "no MISP feed is named {} (a collection's id or alias, or a misp.feeds name)",
            shown(name)
        ),
    })
}

/// The decision on one collection. `missing` is the answer for a collection that does not exist, which
/// a caller with no right on an existing one gets too, so that it learns nothing of it.
fn collection_access<'a>(
    authenticator: &Authenticator,
    caller: &Principal,
    collection: Option<&'a CollectionSettings>,
    right: Right,
    missing: impl FnOnce() -> ApiError,
) -> Result<&'a CollectionSettings, ApiError> {
    let access = collection.map(|c| c.access(caller)).unwrap_or_default();
    let allowed = match right {
        Right::Read => access.read,
        Right::Write => access.write,
        Right::ReadWrite => access.read && access.write,
    };
    match collection {
        Some(collection) if allowed => Ok(collection),
        _ if asks_to_authenticate(authenticator, caller) => Err(ApiError::Unauthorized(
            "this request requires authentication".into(),
        )),
        Some(collection) if access.visible() => Err(ApiError::Forbidden(format!(
            "you may not {} collection {:?}",
            match right {
                Right::Read => "read",
                Right::Write => "write to",
                Right::ReadWrite => "delete from",
            },
            collection.id
        ))),
        _ => Err(missing()),
    }
}

/// The collections `GET /envelopes/{id}` looks in: the one `?collection=` names (by id or alias), which the
/// caller must be able to read, else every collection the caller may read. An envelope id is unique within its
/// collection only, and one held by a collection the caller cannot read is, to this caller, no envelope at all:
/// such collections are never looked in, so that neither the answer nor its time tells the two apart.
pub fn envelope_collections<'a>(
    state: &'a AppState,
    grant: &Grant,
    named: Option<&str>,
) -> Result<Vec<&'a CollectionSettings>, ApiError> {
    let settings = &state.settings;
    if let Some(name) = named {
        let found = settings.collection(name);
        let missing = || not_found(Named::Query, name);
        let collection = collection_access(
            &state.authenticator,
            &grant.caller,
            found,
            Right::Read,
            missing,
        )?;
        return Ok(vec![collection]);
    }
    let mut readable: Vec<&CollectionSettings> = Vec::new();
    for collection in settings.api_roots.iter().flat_map(|root| &root.collections) {
        let new = !readable.iter().any(|c| c.id == collection.id);
        if new && collection.access(&grant.caller).read {
            readable.push(collection);
        }
    }
    if readable.is_empty() && asks_to_authenticate(&state.authenticator, &grant.caller) {
        return Err(ApiError::Unauthorized(
            "this request requires authentication".into(),
        ));
    }
    Ok(readable)
}

/// Who owns a status: the user name, or `None` for an anonymous request.
pub fn status_owner(caller: &Principal) -> Option<String> {
    match caller {
        Principal::Anonymous => None,
        Principal::User(name) => Some(name.clone()),
        Principal::Operator => Some(String::new()),
    }
}

/// The decision for a status, once the handler has read its owner: only the owner sees it; to anyone else
/// it does not exist (`missing`), and an anonymous caller is asked to authenticate.
pub fn status_access(
    state: &AppState,
    grant: &Grant,
    owner: Option<&str>,
    missing: impl FnOnce() -> ApiError,
) -> Result<(), ApiError> {
    if status_owner(&grant.caller).as_deref() == owner {
        Ok(())
    } else if asks_to_authenticate(&state.authenticator, &grant.caller) {
        Err(ApiError::Unauthorized(
            "this status requires authentication".into(),
        ))
    } else {
        Err(missing())
    }
}

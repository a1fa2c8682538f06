//! Discovery (§4.1), API root (§4.2), collections (§5.1) and collection (§5.2).

use actix_web::{HttpResponse, web};

use super::super::AppState;
use super::super::auth::Caller;
use super::super::error::ApiError;
use super::{RootIndex, root, taxii_json};
use crate::config::{ApiRootSettings, CollectionSettings, Principal};
use crate::taxii::media::{STIX_21, TAXII_21};
use crate::taxii::resources::{self, non_empty};

/// Whether the caller may see anything in this root.
fn sees_any(root: &ApiRootSettings, caller: &Principal) -> bool {
    root.collections.iter().any(|c| c.access(caller).visible())
}

/// Anonymous callers who can see nothing are asked for credentials when there are users.
fn check_anonymous(state: &AppState, sees: bool, caller: &Principal) -> Result<(), ApiError> {
    if !sees && *caller == Principal::Anonymous && !state.settings.users.is_empty() {
        return Err(ApiError::Unauthorized(
            "this server requires authentication".into(),
        ));
    }
    Ok(())
}

pub async fn discovery(
    state: web::Data<AppState>,
    Caller(caller): Caller,
) -> Result<HttpResponse, ApiError> {
    let roots: Vec<String> = state
        .settings
        .api_roots
        .iter()
        .filter(|root| sees_any(root, &caller))
        .map(|root| format!("/{}/", root.path))
        .collect();
    check_anonymous(&state, !roots.is_empty(), &caller)?;
    let taxii = &state.settings.taxii;
    Ok(taxii_json(&resources::Discovery {
        title: taxii.title.clone(),
        description: taxii.description.clone(),
        contact: taxii.contact.clone(),
        default: roots.first().cloned(),
        api_roots: non_empty(roots),
    }))
}

pub async fn api_root(
    state: web::Data<AppState>,
    index: web::Data<RootIndex>,
    Caller(caller): Caller,
) -> Result<HttpResponse, ApiError> {
    let root = root(&state, &index);
    check_anonymous(&state, sees_any(root, &caller), &caller)?;
    Ok(taxii_json(&resources::ApiRoot {
        title: root.title.clone(),
        description: root.description.clone(),
        versions: vec![TAXII_21.to_owned()],
        max_content_length: state.settings.max_content_length as u64,
    }))
}

fn describe(collection: &CollectionSettings, caller: &Principal) -> resources::Collection {
    let access = collection.access(caller);
    resources::Collection {
        id: collection.id.clone(),
        title: collection.title.clone(),
        description: collection.description.clone(),
        alias: collection.alias.clone(),
        can_read: access.read,
        can_write: access.write,
        media_types: Some(vec![STIX_21.to_owned()]),
    }
}

pub async fn collections(
    state: web::Data<AppState>,
    index: web::Data<RootIndex>,
    Caller(caller): Caller,
) -> Result<HttpResponse, ApiError> {
    let root = root(&state, &index);
    check_anonymous(&state, sees_any(root, &caller), &caller)?;
    let visible = root
        .collections
        .iter()
        .filter(|c| c.access(&caller).visible())
        .map(|c| describe(c, &caller))
        .collect();
    Ok(taxii_json(&resources::Collections {
        collections: non_empty(visible),
    }))
}

pub async fn collection(
    state: web::Data<AppState>,
    index: web::Data<RootIndex>,
    path: web::Path<String>,
    Caller(caller): Caller,
) -> Result<HttpResponse, ApiError> {
    let (collection, _) = super::collection(&state, &index, &path, &caller)?;
    Ok(taxii_json(&describe(collection, &caller)))
}

//! Discovery (§4.1), API root (§4.2), collections (§5.1) and collection (§5.2).

use actix_web::{HttpRequest, HttpResponse, web};

use super::super::AppState;
use super::super::base_url::base_url;
use super::super::error::ApiError;
use super::super::rights::Grant;
use super::{RootIndex, root, taxii_json};
use crate::config::{CollectionSettings, Principal};
use crate::taxii::media::{STIX_21, TAXII_21};
use crate::taxii::resources::{self, non_empty};

/// Lists the API roots in which the caller may see a collection, as absolute URLs: TAXII allows relative
/// ones, but clients such as cytaxii2 request `default` as it is.
pub async fn discovery(
    state: web::Data<AppState>,
    request: HttpRequest,
    grant: Grant,
) -> Result<HttpResponse, ApiError> {
    let base = base_url(&request, &state.settings)?;
    let roots: Vec<String> = state
        .settings
        .api_roots
        .iter()
        .filter(|root| {
            root.collections
                .iter()
                .any(|c| c.access(&grant.caller).visible())
        })
        .map(|root| format!("{base}/{}/", root.path))
        .collect();
    let taxii = &state.settings.taxii;
    Ok(taxii_json(&resources::Discovery {
        title: taxii.title.clone(),
        description: taxii.description.clone(),
        contact: taxii.contact.clone(),
        default: roots.first().cloned(),
        api_roots: non_empty(roots),
    }))
}

pub async fn api_root(state: web::Data<AppState>, index: web::Data<RootIndex>) -> HttpResponse {
    let root = root(&state, &index);
    taxii_json(&resources::ApiRoot {
        title: root.title.clone(),
        description: root.description.clone(),
        versions: vec![TAXII_21.to_owned()],
        max_content_length: state.settings.max_content_length as u64,
    })
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
    grant: Grant,
) -> HttpResponse {
    let visible = root(&state, &index)
        .collections
        .iter()
        .filter(|c| c.access(&grant.caller).visible())
        .map(|c| describe(c, &grant.caller))
        .collect();
    taxii_json(&resources::Collections {
        collections: non_empty(visible),
    })
}

pub async fn collection(grant: Grant) -> HttpResponse {
    taxii_json(&describe(grant.collection(), &grant.caller))
}

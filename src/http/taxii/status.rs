//! Get Status (§4.3). A status is shown only to whoever made the request it reports on.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::super::AppState;
use super::super::error::{ApiError, shown};
use super::super::rights::{Grant, status_access};
use super::{RootIndex, root, taxii};
use crate::taxii::resources::Status;

/// A status as stored: the resource, its API root and who may see it.
#[derive(Serialize, Deserialize)]
pub struct StoredStatus {
    pub root: String,
    /// The user name, or `None` for an anonymous request.
    pub owner: Option<String>,
    pub resource: Status,
}

pub async fn get(
    state: web::Data<AppState>,
    index: web::Data<RootIndex>,
    path: web::Path<String>,
    grant: Grant,
) -> Result<HttpResponse, ApiError> {
    let not_found = || ApiError::NotFound(format!("there is no status {} for you", shown(&path)));
    let store = state.store.clone();
    let id = path.clone();
    let stored = web::block(move || store.status(&id))
        .await??
        .ok_or_else(not_found)?;
    let stored: StoredStatus = serde_json::from_slice(&stored).map_err(|e| {
        ApiError::Store(crate::store::StoreError::Malformed(format!("status: {e}")))
    })?;
    if stored.root != root(&state, &index).path {
        return Err(not_found());
    }
    status_access(&state, &grant, stored.owner.as_deref(), not_found)?;
    Ok(taxii(actix_web::http::StatusCode::OK).json(stored.resource))
}

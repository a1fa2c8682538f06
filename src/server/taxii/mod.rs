//! The TAXII 2.1 routes (§4 and §5), one scope per configured API root.

mod add;
mod discovery;
mod negotiate;
mod objects;
mod query;
mod status;

use actix_web::http::StatusCode;
use actix_web::middleware::from_fn;
use actix_web::{HttpResponse, HttpResponseBuilder, Resource, web};
use serde::Serialize;

use super::AppState;
use super::error::ApiError;
use crate::config::{Access, ApiRootSettings, CollectionSettings, Principal, Settings};
use crate::taxii::media::TAXII_21;

/// The API root a scope serves, by its position in the settings.
#[derive(Debug, Clone, Copy)]
pub struct RootIndex(usize);

/// Registers discovery and every API root.
pub fn configure(settings: &Settings, config: &mut web::ServiceConfig) {
    config.service(
        web::resource(["/taxii2/", "/taxii2"])
            .route(web::get().to(discovery::discovery))
            .default_service(web::to(method_not_allowed))
            .wrap(from_fn(negotiate::negotiate)),
    );
    for (index, root) in settings.api_roots.iter().enumerate() {
        let mut scope =
            web::scope(&format!("/{}", root.path)).app_data(web::Data::new(RootIndex(index)));
        for (path, routes) in RESOURCES {
            // TAXII paths end in `/` (§3.1); clients that leave it off (taxii2-client polls `status/{id}`
            // that way) are served too.
            let resource = web::resource([format!("{path}/"), path.to_owned()])
                .default_service(web::to(method_not_allowed));
            scope = scope.service(routes(resource));
        }
        config.service(scope.wrap(from_fn(negotiate::negotiate)));
    }
}

/// Adds the methods of one resource.
type Methods = fn(Resource) -> Resource;

/// The resources of an API root, relative to it, with their methods.
const RESOURCES: [(&str, Methods); 8] = [
    ("", |r| r.route(web::get().to(discovery::api_root))),
    ("/status/{status}", |r| r.route(web::get().to(status::get))),
    ("/collections", |r| {
        r.route(web::get().to(discovery::collections))
    }),
    ("/collections/{collection}", |r| {
        r.route(web::get().to(discovery::collection))
    }),
    ("/collections/{collection}/manifest", |r| {
        r.route(web::get().to(objects::manifest))
    }),
    ("/collections/{collection}/objects", |r| {
        r.route(web::get().to(objects::objects))
            .route(web::post().to(add::add))
    }),
    ("/collections/{collection}/objects/{object}", |r| {
        r.route(web::get().to(objects::object))
            .route(web::delete().to(objects::delete))
    }),
    ("/collections/{collection}/objects/{object}/versions", |r| {
        r.route(web::get().to(objects::versions))
    }),
];

async fn method_not_allowed(request: actix_web::HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed(request.method().to_string()))
}

fn root<'a>(state: &'a AppState, index: &RootIndex) -> &'a ApiRootSettings {
    &state.settings.api_roots[index.0]
}

/// The collection named in the path, and what the caller may do with it. A collection the caller may not
/// see answers as if it did not exist; an anonymous caller is asked to authenticate instead, when there are
/// users who could.
fn collection<'a>(
    state: &'a AppState,
    index: &RootIndex,
    name: &str,
    caller: &Principal,
) -> Result<(&'a CollectionSettings, Access), ApiError> {
    let found = root(state, index)
        .collections
        .iter()
        .find(|c| c.id == name || c.alias.as_deref() == Some(name));
    match found.map(|c| (c, c.access(caller))) {
        Some((collection, access)) if access.visible() => Ok((collection, access)),
        _ if *caller == Principal::Anonymous && !state.settings.users.is_empty() => Err(
            ApiError::Unauthorized(format!("collection {name:?} requires authentication")),
        ),
        _ => Err(ApiError::NotFound(format!(
            "this API root has no collection {name:?}"
        ))),
    }
}

fn require(allowed: bool, action: &str) -> Result<(), ApiError> {
    if allowed {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "you may not {action} this collection"
        )))
    }
}

fn taxii(status: StatusCode) -> HttpResponseBuilder {
    let mut response = HttpResponse::build(status);
    response.content_type(TAXII_21);
    response
}

fn taxii_json(body: &impl Serialize) -> HttpResponse {
    taxii(StatusCode::OK).json(body)
}

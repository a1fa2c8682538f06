//! The route table: every route of the app is an [`Endpoint`], and the app is built from the table alone,
//! so a route cannot exist without its [`Rule`]. Tests read the same table to check every route's rights.

use std::rc::Rc;
use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::{Next, from_fn};
use actix_web::{HttpRequest, HttpResponse, web};

use super::auth::Authenticator;
use super::cross_site::refuse_cross_site_changes;
use super::endpoint::Endpoint;
use super::error::{ApiError, nothing_served};
use super::rights::{ResourceRules, enforce};
use super::taxii::{RootIndex, negotiate};

/// The longest URL (path and query) answered; longer ones get 414. Long enough for a TAXII query that
/// names a few hundred ids.
pub const MAX_URL_LENGTH: usize = 8192;

/// Registers `endpoints`, one resource per path: each refuses cross-site changes (see
/// [`refuse_cross_site_changes`]) and decides rights with [`enforce`] before its handler runs, and answers
/// 405 with `Allow` to the methods it lacks.
pub fn register(
    config: &mut web::ServiceConfig,
    endpoints: Vec<Endpoint>,
    authenticator: &Arc<Authenticator>,
) {
    let mut paths: Vec<(String, Vec<Endpoint>)> = Vec::new();
    for endpoint in endpoints {
        match paths.iter_mut().find(|(path, _)| *path == endpoint.path) {
            Some((_, group)) => group.push(endpoint),
            None => paths.push((endpoint.path.clone(), vec![endpoint])),
        }
    }
    for (path, group) in paths {
        let (root, taxii) = (group[0].root, group[0].taxii);
        let allow = group
            .iter()
            .map(|e| e.method.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let mut patterns = vec![path.clone()];
        // TAXII paths end in `/` (§3.1); clients that leave it off (taxii2-client polls `status/{id}` that
        // way) are served too. The first pattern names the route in logs and metrics.
        if taxii && let Some(bare) = path.strip_suffix('/').filter(|p| !p.is_empty()) {
            patterns.push(bare.to_owned());
        }
        let mut resource =
            web::resource(patterns).default_service(web::to(move |request: HttpRequest| {
                let allow = allow.clone();
                async move {
                    Err::<HttpResponse, _>(ApiError::MethodNotAllowed {
                        method: request.method().to_string(),
                        allow,
                    })
                }
            }));
        if let Some(root) = root {
            resource = resource.app_data(web::Data::new(RootIndex(root)));
        }
        let rules = Rc::new(ResourceRules {
            methods: group.iter().map(|e| (e.method.clone(), e.rule)).collect(),
            root,
            authenticator: Arc::clone(authenticator),
        });
        for endpoint in group {
            resource = resource.route(endpoint.route());
        }
        // The outer layer runs first: a cross-site change is refused before any password is checked.
        let resource = resource
            .wrap(from_fn(move |request, next| {
                enforce(Rc::clone(&rules), request, next)
            }))
            .wrap(from_fn(refuse_cross_site_changes));
        if taxii {
            config.service(resource.wrap(from_fn(negotiate::negotiate)));
        } else {
            config.service(resource);
        }
    }
}

/// 414 for a URL longer than [`MAX_URL_LENGTH`], before anything else looks at it.
pub async fn refuse_long_urls(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let length = request
        .uri()
        .path_and_query()
        .map_or(0, |p| p.as_str().len());
    if length > MAX_URL_LENGTH {
        return Err(ApiError::UriTooLong {
            length,
            limit: MAX_URL_LENGTH,
        }
        .into());
    }
    next.call(request).await
}

/// The default service: a TAXII error resource instead of an empty 404.
pub async fn not_found(request: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(nothing_served(&request))
}

//! The TAXII 2.1 routes (§4 and §5), one scope per configured API root.

mod add;
mod discovery;
mod live;
pub mod negotiate;
mod objects;
mod query;
mod status;

use actix_web::http::{Method, StatusCode};
use actix_web::{HttpResponse, HttpResponseBuilder, Route};
use serde::Serialize;

use super::AppState;
use super::endpoint::Endpoint;
use super::rights::{Named, Right, Rule};
use crate::config::{ApiRootSettings, Settings};
use crate::taxii::media::TAXII_21;

/// The API root a route belongs to, by its position in the settings.
#[derive(Debug, Clone, Copy)]
pub struct RootIndex(pub usize);

/// One route of an API root: its path, method, rule and handler.
type Row = (String, Method, Rule, fn(Route) -> Route);

/// Discovery and the resources of every API root (§4, §5), with what each needs from its caller.
pub fn endpoints(settings: &Settings) -> Vec<Endpoint> {
    let mut endpoints = vec![
        Endpoint::new("/taxii2/", Method::GET, Rule::Listing, |r| {
            r.to(discovery::discovery)
        })
        .taxii(None),
    ];
    for (index, root) in settings.api_roots.iter().enumerate() {
        let at = |path: &str| format!("/{}{path}/", root.path);
        let collection = |right| Rule::Collection(right, Named::TaxiiPath);
        let objects = "/collections/{collection}/objects";
        let object = "/collections/{collection}/objects/{object}";
        let routes: [Row; 10] = [
            (at(""), Method::GET, Rule::RootListing, |r| {
                r.to(discovery::api_root)
            }),
            (
                at("/status/{status}"),
                Method::GET,
                Rule::StatusOwner,
                |r| r.to(status::get),
            ),
            (at("/collections"), Method::GET, Rule::RootListing, |r| {
                r.to(discovery::collections)
            }),
            (
                at("/collections/{collection}"),
                Method::GET,
                collection(Right::Read),
                |r| r.to(discovery::collection),
            ),
            (
                at("/collections/{collection}/manifest"),
                Method::GET,
                collection(Right::Read),
                |r| r.to(objects::manifest),
            ),
            (at(objects), Method::GET, collection(Right::Read), |r| {
                r.to(objects::objects)
            }),
            (at(objects), Method::POST, collection(Right::Write), |r| {
                r.to(add::add)
            }),
            (at(object), Method::GET, collection(Right::Read), |r| {
                r.to(objects::object)
            }),
            (
                at(object),
                Method::DELETE,
                collection(Right::ReadWrite),
                |r| r.to(objects::delete),
            ),
            (
                at(&format!("{object}/versions")),
                Method::GET,
                collection(Right::Read),
                |r| r.to(objects::versions),
            ),
        ];
        endpoints.extend(routes.into_iter().map(|(path, method, rule, handler)| {
            Endpoint::new(path, method, rule, handler).taxii(Some(index))
        }));
    }
    endpoints
}

fn root<'a>(state: &'a AppState, index: &RootIndex) -> &'a ApiRootSettings {
    &state.settings.api_roots[index.0]
}

fn taxii(status: StatusCode) -> HttpResponseBuilder {
    let mut response = HttpResponse::build(status);
    response.content_type(TAXII_21);
    response
}

fn taxii_json(body: &impl Serialize) -> HttpResponse {
    taxii(StatusCode::OK).json(body)
}

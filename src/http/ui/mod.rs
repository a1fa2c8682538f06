//! The operator page: server-rendered views of what the API serves, under the same rights, with no script
//! and nothing loaded from elsewhere (see [`html::CONTENT_SECURITY_POLICY`]). One file per view.

mod envelopes;
mod front;
mod html;
mod peers;
mod preview;

use actix_web::http::Method;

pub use html::CONTENT_SECURITY_POLICY;

use super::endpoint::Endpoint;
use super::rights::{Named, Right, Rule};

/// The operator page's routes. A collection's views name it as the API's own routes do, in `?collection=`.
pub fn endpoints() -> Vec<Endpoint> {
    let query = |right| Rule::Collection(right, Named::Query);
    vec![
        Endpoint::new("/", Method::GET, Rule::Listing, |r| r.to(front::page_view)),
        Endpoint::new("/ui/style.css", Method::GET, Rule::Open, |r| {
            r.to(html::style)
        }),
        Endpoint::new("/ui/icon.svg", Method::GET, Rule::Open, |r| {
            r.to(html::icon)
        }),
        Endpoint::new("/ui/envelopes", Method::GET, query(Right::Read), |r| {
            r.to(envelopes::page_view)
        }),
        Endpoint::new("/ui/peers", Method::GET, Rule::Admin, |r| {
            r.to(peers::page_view)
        }),
        Endpoint::new("/ui/preview", Method::GET, query(Right::Write), |r| {
            r.to(preview::form)
        }),
        Endpoint::new("/ui/preview", Method::POST, query(Right::Write), |r| {
            r.to(preview::preview)
        }),
    ]
}

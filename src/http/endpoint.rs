//! What a route is: one method of one path, the rule its rights are decided by, and its handler. The app is
//! built from a list of these ([`super::endpoints`]), so a route cannot exist without its rule.

use actix_web::Route;
use actix_web::http::Method;

use super::rights::Rule;

/// One method of one path, what it needs from its caller, and its handler.
#[derive(Clone)]
pub struct Endpoint {
    /// The path pattern, as actix-web writes it (`/api/collections/{collection}/objects/`).
    pub path: String,
    pub method: Method,
    pub rule: Rule,
    /// The API root, for TAXII routes within one.
    pub root: Option<usize>,
    /// TAXII routes negotiate their media types (406, 415), and answer without their final `/` too.
    pub taxii: bool,
    handler: fn(Route) -> Route,
}

impl Endpoint {
    pub fn new(
        path: impl Into<String>,
        method: Method,
        rule: Rule,
        handler: fn(Route) -> Route,
    ) -> Self {
        Self {
            path: path.into(),
            method,
            rule,
            root: None,
            taxii: false,
            handler,
        }
    }

    /// The actix-web route: the method and the handler.
    pub fn route(&self) -> Route {
        (self.handler)(actix_web::web::route().method(self.method.clone()))
    }

    /// A TAXII route, within API root `root` when it has one.
    pub fn taxii(mut self, root: Option<usize>) -> Self {
        self.taxii = true;
        self.root = root;
        self
    }
}

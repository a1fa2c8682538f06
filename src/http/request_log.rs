//! One log line per request, with who asked and from where, and the request metrics.

use std::net::IpAddr;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, web};

use super::AppState;
use super::rights::{AuthenticatedCaller, Grant};
use crate::config::{AddressBlock, Principal, client_address};

/// One log line per request, and its metrics.
pub(super) async fn log_request(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.path().to_owned();
    // Taken before the call: a refusal (such as a 401 from the rights decision) comes back as an error,
    // without the request. The route pattern, not the path: ids in paths would make one series per object.
    let route = request
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let state = request.app_data::<web::Data<AppState>>().cloned();
    let client = state
        .as_ref()
        .and_then(|state| client(request.request(), &state.settings.trusted_proxies));
    let authenticated = AuthenticatedCaller::default();
    request.extensions_mut().insert(authenticated.clone());
    let outcome = next.call(request).await;
    let elapsed = started.elapsed();
    let (status, user) = match &outcome {
        Ok(response) => (response.status(), user(response.request())),
        Err(error) => (
            error.as_response_error().status_code(),
            name(authenticated.get().as_ref()),
        ),
    };
    let status = status.as_u16();
    if let Some(state) = state {
        state.metrics.record(&route, status, elapsed);
    }
    tracing::info!(
        client = client.map_or_else(|| "-".to_owned(), |a| a.to_string()),
        user,
        %method,
        route,
        path,
        status,
        duration_us = elapsed.as_micros() as u64,
        "request"
    );
    outcome
}

/// The user the rights decision settled on, never what the caller sent as credentials; "-" for anonymous
/// callers.
fn user(request: &HttpRequest) -> String {
    name(
        request
            .extensions()
            .get::<Grant>()
            .map(|grant| &grant.caller),
    )
}

fn name(caller: Option<&Principal>) -> String {
    match caller {
        Some(Principal::User(name)) => name.clone(),
        Some(Principal::Operator) => OPERATOR.to_owned(),
        Some(Principal::Anonymous) | None => "-".to_owned(),
    }
}

/// How request logs name whoever holds the data directory's admin token; no user may be called that, since
/// user names cannot hold ':'.
const OPERATOR: &str = ":operator";

/// The client's address: the connection's peer, or whom a trusted proxy forwarded the request for.
fn client(request: &HttpRequest, trusted: &[AddressBlock]) -> Option<IpAddr> {
    let peer = request.peer_addr()?.ip();
    let forwarded: Vec<&str> = request
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|value| value.to_str().ok())
        .collect();
    Some(client_address(trusted, peer, &forwarded))
}

//! Browsers cannot be made to change anything for another site: a request that changes state and that a
//! browser says comes from elsewhere is refused with 403, before its credentials are even looked at.
//!
//! A browser attaches an operator's Basic credentials (or cookies) to any request a page of any site makes
//! to this server, form posts and `text/plain` bodies included, without asking the server first. What gives
//! such a request away is what browsers add and pages cannot forge:
//! - `Sec-Fetch-Site` (every current browser): `cross-site` and `same-site` are refused, `same-origin` and
//!   `none` (typed in, a bookmark) are allowed. It decides whenever it is present: a same-origin form post is
//!   sent with `Origin: null` by browsers that honour the page's referrer policy strictly;
//! - else `Origin` (older browsers): refused unless it is this server's own origin, `null` included (a
//!   sandboxed frame on any site sends `null`).
//!
//! Clients that send neither header (IntelMQ, curl, taxii2-client, peers) are not browsers, and are unaffected.
//! Reads are not refused: a link from elsewhere to the operator page or a collection must open.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{HeaderMap, ORIGIN};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, web};

use super::AppState;
use super::base_url::request_origin;
use super::error::{ApiError, shown};
use crate::config::AddressBlock;

const SEC_FETCH_SITE: &str = "sec-fetch-site";

/// The query parameter that names a server-kept cursor: a GET naming it moves the cursor, so it changes state.
const MOVED_CURSOR: &str = "consumer";

/// Refuses a cross-site request that changes state (see the module's documentation); every route of the app
/// passes through it (see [`super::routes::register`]).
pub async fn refuse_cross_site_changes(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if changes_state(request.request()) {
        let trusted_proxies = request
            .app_data::<web::Data<AppState>>()
            .map(|state| state.settings.trusted_proxies.as_slice())
            .unwrap_or_default();
        if let Some(reason) = cross_site(request.request(), trusted_proxies) {
            return Err(ApiError::Forbidden(format!(
                "a request from another site may not change anything here ({reason}); \
                 use the operator page of this server, or a client that is not a browser"
            ))
            .into());
        }
    }
    next.call(request).await
}

/// Whether the request can change what the server holds: any method but the safe ones, and a GET that
/// names a server-kept cursor (an IntelMQ consumer), which it moves.
fn changes_state(request: &HttpRequest) -> bool {
    let safe = [Method::GET, Method::HEAD, Method::OPTIONS].contains(request.method());
    !safe
        || serde_urlencoded::from_str::<Vec<(String, String)>>(request.query_string())
            .is_ok_and(|pairs| pairs.iter().any(|(key, _)| key == MOVED_CURSOR))
}

/// Why a browser sent this request from another site, or `None` when it did not (or no browser sent it).
fn cross_site(request: &HttpRequest, trusted_proxies: &[AddressBlock]) -> Option<String> {
    let headers = request.headers();
    if let Some(site) = header(headers, SEC_FETCH_SITE) {
        return match site.to_ascii_lowercase().as_str() {
            "same-origin" | "none" => None,
            _ => Some(format!("Sec-Fetch-Site is {}", shown(site))),
        };
    }
    let origin = header(headers, ORIGIN.as_str())?;
    let own = own_origin(request, trusted_proxies);
    let same = own
        .as_deref()
        .is_some_and(|own| normalized(origin).as_deref() == Some(own));
    (!same).then(|| {
        format!(
            "its Origin {} is not this server's {}",
            shown(origin),
            own.as_deref()
                .map_or_else(|| "(its Host is not a host[:port])".into(), shown)
        )
    })
}

/// A header's value, when it is text; a header that is not counts as one that says nothing to allow.
fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).map(|value| value.to_str().unwrap_or("?"))
}

/// The origin this request was sent to, normalized (see [`request_origin`]); none when its host is not a
/// host[:port].
fn own_origin(request: &HttpRequest, trusted_proxies: &[AddressBlock]) -> Option<String> {
    normalized(&request_origin(request, trusted_proxies).ok()?)
}

/// `scheme://host[:port]` in lower case, without the scheme's default port, as browsers write `Origin`.
fn normalized(origin: &str) -> Option<String> {
    let origin = origin.trim().to_ascii_lowercase();
    let (scheme, authority) = origin.split_once("://")?;
    if authority.is_empty() || authority.contains('/') {
        return None;
    }
    let default_port = match scheme {
        "http" => ":80",
        "https" => ":443",
        _ => "",
    };
    let authority = match authority.strip_suffix(default_port) {
        Some(host) if !default_port.is_empty() => host,
        _ => authority,
    };
    Some(format!("{scheme}://{authority}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HOST;
    use actix_web::test::TestRequest;

    fn proxies(blocks: &[&str]) -> Vec<AddressBlock> {
        blocks
            .iter()
            .map(|b| AddressBlock::try_from(b.to_string()).unwrap())
            .collect()
    }

    #[test]
    fn origins_are_compared_without_case_or_default_ports() {
        assert_eq!(
            normalized("HTTPS://Stix.Example:443").as_deref(),
            Some("https://stix.example")
        );
        assert_eq!(
            normalized("http://[::1]:80").as_deref(),
            Some("http://[::1]")
        );
        assert_eq!(
            normalized("http://stix.example:8443").as_deref(),
            Some("http://stix.example:8443")
        );
        assert_eq!(normalized("null"), None);
        assert_eq!(normalized("http://a/b"), None);
    }

    #[test]
    fn sec_fetch_site_decides_before_origin() {
        let request = |site: &str, origin: &str| {
            TestRequest::post()
                .insert_header((HOST, "stix.example:8080"))
                .insert_header((SEC_FETCH_SITE, site))
                .insert_header((ORIGIN, origin))
                .to_http_request()
        };
        // A same-origin form post of a page whose referrer policy hides its origin.
        assert_eq!(cross_site(&request("same-origin", "null"), &[]), None);
        assert_eq!(cross_site(&request("none", "null"), &[]), None);
        for site in ["cross-site", "same-site", "something-new"] {
            let own = "http://stix.example:8080";
            assert!(cross_site(&request(site, own), &[]).is_some(), "{site}");
        }
    }

    #[test]
    fn without_sec_fetch_site_the_origin_must_be_the_servers() {
        let request = |origin: &str| {
            TestRequest::post()
                .insert_header((HOST, "stix.example:8080"))
                .insert_header((ORIGIN, origin))
                .to_http_request()
        };
        assert_eq!(cross_site(&request("http://stix.example:8080"), &[]), None);
        for origin in [
            "null",
            "https://evil.example",
            "http://stix.example",
            "https://stix.example:8080",
            "http://stix.example:8080.evil.example",
        ] {
            assert!(cross_site(&request(origin), &[]).is_some(), "{origin}");
        }
        let plain = TestRequest::post()
            .insert_header((HOST, "stix.example:8080"))
            .to_http_request();
        assert_eq!(cross_site(&plain, &[]), None, "not a browser");
    }

    #[test]
    fn proxy_headers_name_the_origin_only_from_trusted_proxies() {
        let request = TestRequest::post()
            .peer_addr("192.0.2.10:50000".parse().unwrap())
            .insert_header((HOST, "127.0.0.1:8080"))
            .insert_header(("X-Forwarded-Proto", "https"))
            .insert_header(("X-Forwarded-Host", "stix.example"))
            .insert_header((ORIGIN, "https://stix.example"))
            .to_http_request();
        assert_eq!(cross_site(&request, &proxies(&["192.0.2.0/24"])), None);
        assert!(cross_site(&request, &proxies(&["198.51.100.0/24"])).is_some());
        assert!(cross_site(&request, &[]).is_some());
    }

    #[test]
    fn reads_change_nothing_but_a_named_consumer_moves() {
        let get = |uri: &str| TestRequest::get().uri(uri).to_http_request();
        assert!(!changes_state(&get("/intelmq/feed?collection=pub")));
        assert!(changes_state(&get("/intelmq/feed?consumer=x")));
        assert!(changes_state(&get(
            "/intelmq/stream?collection=pub&consumer="
        )));
        assert!(changes_state(&TestRequest::post().to_http_request()));
        assert!(changes_state(&TestRequest::delete().to_http_request()));
        assert!(!changes_state(
            &TestRequest::default()
                .method(Method::HEAD)
                .to_http_request()
        ));
    }
}

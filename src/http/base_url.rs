//! Where this server is reached: the base of the absolute URLs that answers carry (TAXII discovery, the operator
//! page), and the origin that browsers' requests are compared with (`cross_site.rs`).

use actix_web::HttpRequest;
use actix_web::http::header::HOST;

use super::error::ApiError;
use crate::config::{AddressBlock, Settings, is_host_and_port, is_trusted_proxy};

/// The URL this server's paths are appended to (`{base}/api/`): `public_url` when set, else the request's
/// origin (see [`request_origin`]).
pub fn base_url(request: &HttpRequest, settings: &Settings) -> Result<String, ApiError> {
    match &settings.public_url {
        Some(url) => Ok(url.as_str().to_owned()),
        None => request_origin(request, &settings.trusted_proxies),
    }
}

/// `scheme://host[:port]` that the request was sent to. From one of the `trusted` proxies, as its `Forwarded`
/// or `X-Forwarded-Proto` and `X-Forwarded-Host` headers say (its `Host` when it sends none); from anyone
/// else, the listener's scheme and the `Host` header, whatever proxy headers it sends, since they are the
/// client's own word. Without a `Host` (HTTP/1.0), the address the server listens on.
///
/// A host that is not a host[:port] is answered 400 (as RFC 9112 §3.2 asks of an invalid `Host`), and not
/// repeated: what a client sends there must never reach an answer's URLs or headers.
pub fn request_origin(request: &HttpRequest, trusted: &[AddressBlock]) -> Result<String, ApiError> {
    let through_proxy = request
        .peer_addr()
        .is_some_and(|peer| is_trusted_proxy(trusted, peer.ip()));
    let (scheme, host) = if through_proxy {
        let info = request.connection_info();
        (info.scheme().to_ascii_lowercase(), info.host().to_owned())
    } else {
        let config = request.app_config();
        let scheme = if config.secure() { "https" } else { "http" };
        let mut hosts = request.headers().get_all(HOST);
        let host = match (hosts.next(), hosts.next()) {
            (Some(host), None) => host.to_str().map_err(|_| bad_host())?.to_owned(),
            (Some(_), Some(_)) => {
                return Err(ApiError::BadRequest(
                    "the request has more than one Host header".into(),
                ));
            }
            (None, _) => request
                .uri()
                .authority()
                .map_or_else(|| config.local_addr().to_string(), |a| a.to_string()),
        };
        (scheme.to_owned(), host)
    };
    if scheme != "http" && scheme != "https" {
        return Err(ApiError::BadRequest(
            "the proxy's Forwarded proto or X-Forwarded-Proto is neither http nor https".into(),
        ));
    }
    if !is_host_and_port(&host) {
        return Err(bad_host());
    }
    Ok(format!("{scheme}://{host}"))
}

fn bad_host() -> ApiError {
    ApiError::BadRequest(
        "the host this request names (Host, or a trusted proxy's Forwarded or X-Forwarded-Host) is not a \
         host[:port]"
            .into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    /// The origin of `request` when the `trusted` blocks are the trusted proxies, or the 400's message.
    fn origin(request: TestRequest, trusted: &[&str]) -> Result<String, String> {
        let trusted: Vec<AddressBlock> = trusted
            .iter()
            .map(|block| AddressBlock::try_from(block.to_string()).unwrap())
            .collect();
        request_origin(&request.to_http_request(), &trusted).map_err(|e| e.to_string())
    }

    fn proxied() -> TestRequest {
        TestRequest::get()
            .peer_addr("192.0.2.10:50000".parse().unwrap())
            .insert_header((HOST, "127.0.0.1:8080"))
    }

    #[test]
    fn the_host_header_names_the_origin() {
        let request = TestRequest::get().insert_header((HOST, "stix.example:8080"));
        assert_eq!(
            origin(request, &[]).as_deref(),
            Ok("http://stix.example:8080")
        );
    }

    #[test]
    fn proxy_headers_count_only_from_trusted_proxies() {
        let forwarded = || {
            proxied()
                .insert_header(("X-Forwarded-Proto", "https"))
                .insert_header(("X-Forwarded-Host", "stix.example"))
        };
        assert_eq!(
            origin(forwarded(), &["192.0.2.0/24"]).as_deref(),
            Ok("https://stix.example")
        );
        assert_eq!(
            origin(forwarded(), &["198.51.100.0/24"]).as_deref(),
            Ok("http://127.0.0.1:8080"),
            "a client's own proxy headers are ignored"
        );
        let standard =
            proxied().insert_header(("Forwarded", "proto=https;host=\"stix.example:8443\""));
        assert_eq!(
            origin(standard, &["192.0.2.10"]).as_deref(),
            Ok("https://stix.example:8443")
        );
        assert_eq!(
            origin(proxied(), &["192.0.2.10"]).as_deref(),
            Ok("http://127.0.0.1:8080"),
            "a trusted proxy that forwards nothing: its Host"
        );
    }

    #[test]
    fn a_host_that_is_no_host_is_refused_and_not_repeated() {
        let hostile = "evil.example/\"><script>alert(1)</script>";
        let long = "a".repeat(10_000);
        for host in [hostile, "a b", "x:y:z", long.as_str()] {
            let error = origin(TestRequest::get().insert_header((HOST, host)), &[]).unwrap_err();
            assert!(error.contains("not a host[:port]"), "{error}");
            assert!(!error.contains(host), "{error}");
            let forwarded = proxied().insert_header(("X-Forwarded-Host", host));
            assert!(
                origin(forwarded, &["192.0.2.10"]).is_err(),
                "{host} from a proxy"
            );
        }
        let scheme = proxied().insert_header(("X-Forwarded-Proto", "javascript"));
        assert!(origin(scheme, &["192.0.2.10"]).is_err());
        let twice = TestRequest::get()
            .append_header((HOST, "a.example"))
            .append_header((HOST, "b.example"));
        assert!(
            origin(twice, &[])
                .unwrap_err()
                .contains("more than one Host")
        );
    }

    #[test]
    fn without_a_host_the_listening_address_stands_in() {
        let request = TestRequest::get();
        assert_eq!(origin(request, &[]).as_deref(), Ok("http://127.0.0.1:8080"));
    }
}

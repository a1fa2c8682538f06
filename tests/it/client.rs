//! The TAXII client against stub servers that misbehave on purpose: paging without `next`, a page that makes
//! no progress, transient failures, refusals, small request limits and pending statuses.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

use crate::federation::{count, envelopes, import};
use crate::helpers::{TAXII, indicator, run_cli_with_env};

/// What a stub saw of one request.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    method: String,
    path: String,
    /// The decoded query parameters.
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

type Answer = dyn Fn(&Seen, &[Seen]) -> HttpResponse + Send + Sync;

/// A TAXII server made of one function: it gets each request and those before it.
pub(crate) struct Stub {
    address: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    handle: ServerHandle,
}

impl Stub {
    pub(crate) async fn start(
        answer: impl Fn(&Seen, &[Seen]) -> HttpResponse + Send + Sync + 'static,
    ) -> Self {
        Self::start_with(None, answer).await
    }

    /// With `tls`, it serves HTTPS, and its address names `localhost`.
    async fn start_with(
        tls: Option<rustls::ServerConfig>,
        answer: impl Fn(&Seen, &[Seen]) -> HttpResponse + Send + Sync + 'static,
    ) -> Self {
        let answer: Arc<Answer> = Arc::new(answer);
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let kept = Arc::clone(&seen);
        let server = HttpServer::new(move || {
            let (answer, kept) = (Arc::clone(&answer), Arc::clone(&kept));
            App::new().default_service(web::to(move |request: HttpRequest, body: web::Bytes| {
                let (answer, kept) = (Arc::clone(&answer), Arc::clone(&kept));
                async move {
                    let seen = Seen {
                        method: request.method().to_string(),
                        path: request.path().to_owned(),
                        query: serde_urlencoded::from_str(request.query_string()).unwrap(),
                        headers: request
                            .headers()
                            .iter()
                            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
                            .collect(),
                        body: body.to_vec(),
                    };
                    let before = kept.lock().unwrap().clone();
                    kept.lock().unwrap().push(seen.clone());
                    answer(&seen, &before)
                }
            }))
        })
        .workers(1)
        .disable_signals();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (server, address) = match tls {
            Some(tls) => (
                server.listen_rustls_0_23(listener, tls).unwrap(),
                format!("https://localhost:{port}"),
            ),
            None => (
                server.listen(listener).unwrap(),
                format!("http://127.0.0.1:{port}"),
            ),
        };
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            address,
            seen,
            handle,
        }
    }

    pub(crate) fn requests(&self, method: &str, path_end: &str) -> Vec<Seen> {
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .filter(|s| s.method == method && s.path.ends_with(path_end))
            .cloned()
            .collect()
    }

    pub(crate) fn collection_url(&self) -> String {
        format!("{}/api/collections/c/", self.address)
    }

    pub(crate) async fn stop(self) {
        self.handle.stop(false).await;
    }
}

pub(crate) fn taxii(status: StatusCode, body: &Value) -> HttpResponse {
    HttpResponse::build(status)
        .content_type(TAXII)
        .body(body.to_string())
}

/// Answers the collection and API root resources; `None` for the rest.
pub(crate) fn resources(seen: &Seen, max_content_length: u64) -> Option<HttpResponse> {
    match seen.path.as_str() {
        "/api/collections/c/" => Some(taxii(
            StatusCode::OK,
            &json!({"id": "c", "title": "stub", "can_read": true, "can_write": true}),
        )),
        "/api/" => Some(taxii(
            StatusCode::OK,
            &json!({"title": "stub", "versions": [TAXII], "max_content_length": max_content_length}),
        )),
        _ => None,
    }
}

/// A page of objects with an `X-TAXII-Date-Added-Last` header.
fn page(objects: Vec<Value>, more: bool, last: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(TAXII)
        .insert_header(("X-TAXII-Date-Added-Last", last))
        .body(json!({"more": more, "objects": objects}).to_string())
}

async fn cli(args: &[&str], data: &std::path::Path) -> (bool, String) {
    cli_with_env(args, &[], data).await
}

/// Runs `stixgate` with these environment variables, off the async threads; gives whether it succeeded, and
/// its stderr.
pub(crate) async fn cli_with_env(
    args: &[&str],
    env: &[(&str, &str)],
    data: &std::path::Path,
) -> (bool, String) {
    let owned = |s: &&str| (*s).to_owned();
    let args: Vec<String> = args.iter().map(owned).collect();
    let env: Vec<(String, String)> = env.iter().map(|(k, v)| (owned(k), owned(v))).collect();
    let data = data.to_owned();
    let output = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        run_cli_with_env(&args, &data, b"", &env)
    })
    .await
    .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn more_without_next_and_unchanged_headers_is_detected_not_looped_on() {
    let stub = Stub::start(|seen, _| {
        resources(seen, 1000).unwrap_or_else(|| {
            page(
                vec![indicator(1, "2020-01-01T00:00:00.000Z")],
                true,
                "2020-01-01T00:00:00.000000Z",
            )
        })
    })
    .await;
    let data = tempfile::tempdir().unwrap();
    let (ok, stderr) = cli(&["pull", &stub.collection_url()], data.path()).await;
    assert!(!ok, "{stderr}");
    assert!(stderr.contains("makes no progress"), "{stderr}");
    assert!(
        stderr.contains("X-TAXII-Date-Added-Last is 2020-01-01T00:00:00.000000Z"),
        "{stderr}"
    );
    // The first page, then the one `added_after` its header points at, which answers the same.
    assert_eq!(stub.requests("GET", "/objects/").len(), 2);
    stub.stop().await;
}

#[tokio::test]
async fn a_next_that_answers_the_same_page_again_is_detected() {
    let stub = Stub::start(|seen, _| {
        resources(seen, 1000).unwrap_or_else(|| {
            taxii(
                StatusCode::OK,
                &json!({"more": true, "next": "again", "objects": [indicator(1, "2020-01-01T00:00:00.000Z")]}),
            )
        })
    })
    .await;
    let data = tempfile::tempdir().unwrap();
    let (ok, stderr) = cli(&["pull", &stub.collection_url()], data.path()).await;
    assert!(!ok, "{stderr}");
    assert!(
        stderr.contains("the same page as the last time"),
        "{stderr}"
    );
    // The first page, the `next` it gave, and that `next` once more, which answers the same page.
    assert_eq!(stub.requests("GET", "/objects/").len(), 3);
    stub.stop().await;
}

#[tokio::test]
async fn more_without_next_falls_back_to_added_after_copied_verbatim() {
    // Odd but valid timestamps: a client that parsed and reformatted them would send something else.
    const LAST: [&str; 3] = [
        "2020-01-01T00:00:01.5Z",
        "2020-01-01T00:00:02+00:00",
        "2020-01-01T00:00:03Z",
    ];
    let stub = Stub::start(|seen, _| {
        resources(seen, 1000).unwrap_or_else(|| {
            let at = match seen.param("added_after") {
                None => 0,
                Some(after) => LAST.iter().position(|l| *l == after).unwrap() + 1,
            };
            match at {
                0..=2 => page(
                    vec![indicator(at as u32, "2020-01-01T00:00:00.000Z")],
                    at < 2,
                    LAST[at],
                ),
                _ => taxii(StatusCode::OK, &json!({"more": false})),
            }
        })
    })
    .await;
    let data = tempfile::tempdir().unwrap();
    let url = stub.collection_url();
    let (ok, stderr) = cli(
        &["pull", &url, "--user", "alice", "--password", "pw"],
        data.path(),
    )
    .await;
    assert!(ok, "{stderr}");
    assert_eq!(count(&stderr, "objects ("), 3, "{stderr}");
    assert_eq!(count(&stderr, "new envelopes"), 3, "{stderr}");
    let pages = stub.requests("GET", "/objects/");
    let sent: Vec<Option<&str>> = pages.iter().map(|p| p.param("added_after")).collect();
    assert_eq!(sent, [None, Some(LAST[0]), Some(LAST[1])]);
    for request in &pages {
        assert_eq!(request.header("accept"), Some(TAXII));
        assert_eq!(request.header("authorization"), Some("Basic YWxpY2U6cHc="));
        assert!(
            request
                .header("user-agent")
                .unwrap()
                .starts_with("stixgate/")
        );
    }

    // A second pull starts after the last page the first one stored.
    let (ok, stderr) = cli(&["pull", &url, "--token", "t0k"], data.path()).await;
    assert!(ok, "{stderr}");
    assert_eq!(count(&stderr, "objects ("), 0, "{stderr}");
    let last = stub.requests("GET", "/objects/").pop().unwrap();
    assert_eq!(last.param("added_after"), Some(LAST[2]));
    assert_eq!(last.header("authorization"), Some("Bearer t0k"));
    stub.stop().await;
}

#[tokio::test]
async fn transient_failures_are_retried_and_retry_after_is_honoured() {
    let stub = Stub::start(|seen, before| {
        resources(seen, 1000).unwrap_or_else(|| {
            let tries = before
                .iter()
                .filter(|s| s.path.ends_with("/objects/"))
                .count();
            match tries {
                0 => HttpResponse::TooManyRequests()
                    .insert_header(("Retry-After", "1"))
                    .finish(),
                1 => HttpResponse::ServiceUnavailable().body("<html>down</html>"),
                _ => page(
                    vec![indicator(1, "2020-01-01T00:00:00.000Z")],
                    false,
                    "2020-01-01T00:00:00.000000Z",
                ),
            }
        })
    })
    .await;
    let data = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let (ok, stderr) = cli(&["pull", &stub.collection_url()], data.path()).await;
    assert!(ok, "{stderr}");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 was not waited for"
    );
    assert_eq!(count(&stderr, "objects ("), 1, "{stderr}");
    assert_eq!(stub.requests("GET", "/objects/").len(), 3);
    assert!(
        stderr.contains("503 Service Unavailable: <html>down</html>"),
        "{stderr}"
    );
    stub.stop().await;
}

#[tokio::test]
async fn a_refusal_is_reported_at_once_with_the_servers_reason() {
    let stub = Stub::start(|seen, _| {
        resources(seen, 1000).unwrap_or_else(|| {
            taxii(
                StatusCode::UNAUTHORIZED,
                &json!({"title": "Authentication required", "description": "the bearer token is not valid"}),
            )
        })
    })
    .await;
    let data = tempfile::tempdir().unwrap();
    let (ok, stderr) = cli(&["pull", &stub.collection_url()], data.path()).await;
    assert!(!ok);
    assert!(
        stderr.contains("answered 401: the bearer token is not valid"),
        "{stderr}"
    );
    assert!(stderr.contains("--token"), "{stderr}");
    assert_eq!(stub.requests("GET", "/objects/").len(), 1, "not retried");
    stub.stop().await;
}

#[tokio::test]
async fn push_fits_requests_under_max_content_length_and_waits_for_pending_statuses() {
    const LIMIT: u64 = 3000;
    let stub = Stub::start(|seen, before| {
        if let Some(resource) = resources(seen, LIMIT) {
            return resource;
        }
        let status = |state: &str, objects: &[Value]| {
            // The first object of every request is refused, to see failures reported.
            let failures: Vec<Value> = objects
                .iter()
                .take(1)
                .map(|o| json!({"id": o["id"], "version": "", "message": "no thanks"}))
                .collect();
            json!({
                "id": format!("status-{}", before.len()), "status": state,
                "total_count": objects.len(), "success_count": objects.len() - failures.len(),
                "failure_count": failures.len(), "failures": failures, "pending_count": 0
            })
        };
        if seen.method == "POST" {
            let body: Value = serde_json::from_slice(&seen.body).unwrap();
            let objects = body["objects"].as_array().unwrap().clone();
            return taxii(StatusCode::ACCEPTED, &status("pending", &objects));
        }
        // GET /api/status/status-N/: the POST it reports on was request N.
        let n: usize = seen
            .path
            .trim_end_matches('/')
            .rsplit('-')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let posted: Value = serde_json::from_slice(&before[n].body).unwrap();
        taxii(
            StatusCode::OK,
            &status("complete", posted["objects"].as_array().unwrap()),
        )
    })
    .await;
    let data = tempfile::tempdir().unwrap();
    import(data.path(), &envelopes("push", 12));
    // One object too large for any request to the stub.
    let big =
        json!({"meta": {"uuid": {"current": "big"}}, "payload": {"extra.pad": "x".repeat(4000)}});
    import(data.path(), &[big.to_string()]);

    let (ok, stderr) = cli(&["push", &stub.collection_url()], data.path()).await;
    assert!(!ok, "refused objects make the push fail: {stderr}");
    let posts = stub.requests("POST", "/objects/");
    assert!(posts.len() > 1, "{} requests", posts.len());
    let mut sent = Vec::new();
    for post in &posts {
        assert!(post.body.len() as u64 <= LIMIT, "{} bytes", post.body.len());
        assert_eq!(post.header("content-type"), Some(TAXII));
        let body: Value = serde_json::from_slice(&post.body).unwrap();
        sent.extend(
            body["objects"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["id"].clone()),
        );
    }
    let statuses = stub.requests("GET", "/");
    assert_eq!(
        statuses
            .iter()
            .filter(|s| s.path.starts_with("/api/status/"))
            .count(),
        posts.len(),
        "every pending status was polled until complete"
    );
    assert_eq!(count(&stderr, "objects sent"), sent.len(), "{stderr}");
    assert_eq!(stderr.matches("no thanks").count(), posts.len(), "{stderr}");
    assert!(stderr.contains("more than the 3000 bytes"), "{stderr}");
    let mut unique = sent.clone();
    unique.sort_by_key(Value::to_string);
    unique.dedup();
    assert_eq!(unique.len(), sent.len(), "each object sent once");

    // Everything was looked at: a second push has nothing to send.
    let (ok, stderr) = cli(&["push", &stub.collection_url()], data.path()).await;
    assert!(ok, "{stderr}");
    assert_eq!(count(&stderr, "objects sent"), 0, "{stderr}");
    stub.stop().await;
}

/// PEM files of a test CA and of a client certificate it signed, in `dir`, and a server configuration with a
/// certificate for `localhost` from the same CA that lets in only clients with such a certificate.
struct Pki {
    ca: std::path::PathBuf,
    client_cert: std::path::PathBuf,
    client_key: std::path::PathBuf,
    server: rustls::ServerConfig,
}

fn pki(dir: &std::path::Path) -> Pki {
    use rcgen::{
        BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    };
    use rustls_pki_types::PrivatePkcs8KeyDer;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let server_key = KeyPair::generate().unwrap();
    let server_cert = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&server_key, &issuer)
        .unwrap();
    let mut client_params = CertificateParams::new(vec!["peer.example".to_owned()]).unwrap();
    client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client_key = KeyPair::generate().unwrap();
    let client_cert = client_params.signed_by(&client_key, &issuer).unwrap();

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca_cert.der().clone()).unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![server_cert.der().clone()],
            PrivatePkcs8KeyDer::from(server_key.serialize_der()).into(),
        )
        .unwrap();
    let pki = Pki {
        ca: dir.join("ca.pem"),
        client_cert: dir.join("client.pem"),
        client_key: dir.join("client.key"),
        server,
    };
    std::fs::write(&pki.ca, ca_cert.pem()).unwrap();
    std::fs::write(&pki.client_cert, client_cert.pem()).unwrap();
    std::fs::write(&pki.client_key, client_key.serialize_pem()).unwrap();
    pki
}

#[tokio::test]
async fn tls_with_a_private_ca_and_a_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let stub = Stub::start_with(Some(pki.server), |seen, _| {
        resources(seen, 1000).unwrap_or_else(|| {
            page(
                vec![indicator(1, "2020-01-01T00:00:00.000Z")],
                false,
                "2020-01-01T00:00:00.000000Z",
            )
        })
    })
    .await;
    let url = stub.collection_url();
    let (ca, cert, key) = (
        pki.ca.to_str().unwrap(),
        pki.client_cert.to_str().unwrap(),
        pki.client_key.to_str().unwrap(),
    );
    let data = tempfile::tempdir().unwrap();
    let (ok, stderr) = cli(
        &["pull", &url, "--ca", ca, "--cert", cert, "--key", key],
        data.path(),
    )
    .await;
    assert!(ok, "{stderr}");
    assert_eq!(count(&stderr, "objects ("), 1, "{stderr}");

    // Without the CA the server is not trusted; without a certificate the server lets nobody in.
    for args in [
        ["--cert", cert, "--key", key].as_slice(),
        ["--ca", ca].as_slice(),
    ] {
        let mut all = vec!["pull", url.as_str(), "--retries", "0"];
        all.extend(args);
        let (ok, stderr) = cli(&all, data.path()).await;
        assert!(!ok, "{stderr}");
        assert!(stderr.contains("failed"), "{stderr}");
    }
    let (ok, stderr) = cli(&["pull", &url, "--cert", cert], data.path()).await;
    assert!(!ok);
    assert!(stderr.contains("needs its private key"), "{stderr}");
    stub.stop().await;
}

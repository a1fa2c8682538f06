//! Hostile clients that use someone else's standing (issue 22, findings 4–6): a browser made to write for
//! another site, a reader moving another reader's IntelMQ consumer, and a flood of password checks.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use stixgate::config::{Settings, UserSettings};
use stixgate::http::endpoints;
use stixgate::secret::hash_password;

use crate::helpers::{ServerProcess, TAXII, TestApp, collection, indicator, spawn_app_with};
use crate::rights::{COLLECTION, Caller, Fixture, configure, fixture, request};

/// The routes whose GET moves a cursor the server keeps, when the request names a consumer.
const CONSUMER_ROUTES: [&str; 2] = ["/intelmq/feed", "/intelmq/stream"];
const CONSUMER: &str = "collector";

/// Every route that changes state, from the app's own route table: every method but GET, and the GETs that
/// move a named consumer.
fn state_changing_routes() -> Vec<(Method, String)> {
    let mut settings = Settings::load(None).unwrap();
    configure(&mut settings, false);
    let routes: Vec<(Method, String)> = endpoints(&settings)
        .into_iter()
        .filter(|route| {
            route.method != actix_web::http::Method::GET
                || CONSUMER_ROUTES.contains(&route.path.as_str())
        })
        .map(|route| {
            let method = Method::from_bytes(route.method.as_str().as_bytes()).unwrap();
            (method, route.path)
        })
        .collect();
    for expected in [
        "/envelopes",
        "/intelmq/events",
        "/ui/preview",
        "/intelmq/feed",
    ] {
        assert!(
            routes.iter().any(|(_, path)| path == expected),
            "{expected}"
        );
    }
    assert!(routes.iter().any(|(method, _)| *method == Method::DELETE));
    routes
}

/// What `rw` (who may read and write) sends to a state-changing route, with `headers` added.
async fn change(
    app: &TestApp,
    fixture: &Fixture,
    (method, path): &(Method, String),
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = request(app, fixture, path, method, Caller::ReadWriter);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut request = request.build().unwrap();
    if CONSUMER_ROUTES.contains(&path.as_str()) {
        request
            .url_mut()
            .query_pairs_mut()
            .append_pair("consumer", CONSUMER);
    }
    app.client.execute(request).await.unwrap()
}

/// Whether `rw`'s TAXII object, posted or about to be deleted, is in the collection.
async fn object_exists(app: &TestApp, number: u32) -> bool {
    let id = indicator(number, "2020-01-01T00:00:00.000Z")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.taxii(
        Method::GET,
        &format!("/api/collections/{COLLECTION}/objects/{id}/"),
    )
    .basic_auth("rw", Some("rw-pw"))
    .send()
    .await
    .unwrap()
    .status()
    .is_success()
}

/// The IntelMQ feed as `user` reads it under a consumer name, without any browser header.
async fn consumer_read(app: &TestApp, user: Option<&str>, consumer: &str) -> String {
    let mut request = app.client.get(format!(
        "{}/intelmq/feed?collection={COLLECTION}&consumer={consumer}",
        app.address
    ));
    if let Some(user) = user {
        request = request.basic_auth(user, Some(format!("{user}-pw")));
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.unwrap()
}

#[tokio::test]
async fn browsers_from_other_sites_change_nothing_on_any_route() {
    let app = spawn_app_with(|s| configure(s, false)).await;
    let fixture = fixture(&app).await;
    let tag = Caller::ReadWriter.index();
    app.add_objects_as(
        COLLECTION,
        ("rw", "rw-pw"),
        &[indicator(tag, "2020-01-01T00:00:00.000Z")],
    )
    .await;
    let own_origin = app.address.clone();
    let other_sites: [&[(&str, &str)]; 6] = [
        &[("Sec-Fetch-Site", "cross-site")],
        &[("Sec-Fetch-Site", "same-site")],
        // Sec-Fetch-Site decides when a browser sends it, whatever Origin says.
        &[("Sec-Fetch-Site", "cross-site"), ("Origin", &own_origin)],
        // Browsers without Sec-Fetch-Site: the Origin alone.
        &[("Origin", "https://evil.example")],
        &[("Origin", "null")],
        &[("Origin", &own_origin.replace("http://", "https://"))],
    ];
    let routes = state_changing_routes();
    for route in &routes {
        for headers in other_sites {
            let response = change(&app, &fixture, route, headers).await;
            let what = format!("{} {} with {headers:?}", route.0, route.1);
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{what}");
            assert_eq!(response.headers()["content-type"], TAXII, "{what}");
            let error: Value = response.json().await.unwrap();
            let description = error["description"].as_str().unwrap();
            assert!(
                description.contains("from another site"),
                "{what}: {description}"
            );
        }
    }
    // Nothing changed: the object is still there, nothing was stored, and the consumer has not moved.
    assert!(object_exists(&app, tag).await, "the delete was refused");
    assert!(!object_exists(&app, tag + 1000).await, "nothing was added");
    let envelope = app
        .client
        .get(format!("{}/envelopes/posted-by-{tag}", app.address))
        .basic_auth("rw", Some("rw-pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        envelope.status(),
        StatusCode::NOT_FOUND,
        "no envelope was stored"
    );
    let unread = consumer_read(&app, Some("rw"), CONSUMER).await;
    assert!(
        unread.contains("\"rights\""),
        "the consumer is where it was: {unread}"
    );

    // The server's own pages (a same-origin form posts `Origin: null` under a strict referrer policy), an
    // address typed in, and browsers that only send Origin, when it is this server's.
    let own_pages: [&[(&str, &str)]; 3] = [
        &[("Sec-Fetch-Site", "same-origin"), ("Origin", "null")],
        &[("Sec-Fetch-Site", "none")],
        &[("Origin", &own_origin)],
    ];
    for route in &routes {
        // A delete can be made only once.
        let tries = if route.0 == Method::DELETE { 1 } else { 3 };
        for headers in &own_pages[..tries] {
            let response = change(&app, &fixture, route, headers).await;
            let status = response.status();
            assert!(
                status.is_success(),
                "{} {} with {headers:?}: {status}",
                route.0,
                route.1
            );
        }
    }
    assert!(
        !object_exists(&app, tag).await,
        "the same-origin delete was made"
    );

    // Reads are not refused: a link from elsewhere opens the operator page or a feed.
    for path in ["/", &format!("/intelmq/feed?collection={COLLECTION}")] {
        let response = app
            .client
            .get(format!("{}{path}", app.address))
            .basic_auth("rw", Some("rw-pw"))
            .header("Sec-Fetch-Site", "cross-site")
            .header("Origin", "https://evil.example")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_consumer_is_its_users_own_and_anonymous_callers_share_theirs() {
    let app = spawn_app_with(|s| {
        configure(s, false);
        s.api_roots[0].collections[0].anonymous_read = true;
    })
    .await;
    fixture(&app).await;
    let event = "\"rights\"";
    // The reader's collector reads the event under its consumer name.
    assert!(
        consumer_read(&app, Some("reader"), CONSUMER)
            .await
            .contains(event)
    );
    // Another reader naming the same consumer gets a cursor of its own: the first one's does not move.
    assert!(
        consumer_read(&app, Some("rw"), CONSUMER)
            .await
            .contains(event)
    );
    assert!(
        consumer_read(&app, Some("reader"), CONSUMER)
            .await
            .is_empty()
    );
    assert!(consumer_read(&app, Some("rw"), CONSUMER).await.is_empty());
    // Anonymous callers cannot be told apart: they share one namespace, apart from every user's.
    assert!(consumer_read(&app, None, CONSUMER).await.contains(event));
    assert!(consumer_read(&app, None, CONSUMER).await.is_empty());
    assert!(
        consumer_read(&app, Some("reader"), "another")
            .await
            .contains(event)
    );
    app.stop().await;
}

/// argon2's memory per check with the parameters `stixgate hash-password` uses (its default, m = 19456 KiB).
const ARGON2_MEMORY_KIB: u64 = 19_456;

/// A field of the process's `/proc/PID/status`, in KiB.
fn proc_status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.trim().strip_suffix("kB")?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in {status}"))
}

fn password_config(dir: &std::path::Path) -> std::path::PathBuf {
    let config = dir.join("stixgate.toml");
    let hash = hash_password("alice-pw");
    std::fs::write(
        &config,
        format!("[[users]]\nname = \"alice\"\npassword = \"{hash}\"\n"),
    )
    .unwrap();
    config
}

#[tokio::test]
async fn a_flood_of_wrong_passwords_holds_a_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let config = password_config(dir.path());
    let server = ServerProcess::start_configured(&dir.path().join("data"), &config);
    let pid = server.child.id();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let attempt = |n: usize| {
        client
            .get(format!("{}/taxii2/", server.address))
            .basic_auth("alice", Some(format!("wrong-{n}")))
            .header("Accept", TAXII)
            .send()
    };
    // One check first, so that what one check needs is in the baseline.
    assert_eq!(attempt(0).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let before = proc_status_kib(pid, "VmRSS");
    let answers = futures_util::future::join_all((1..=48).map(attempt)).await;
    for answer in answers {
        assert_eq!(answer.unwrap().status(), StatusCode::UNAUTHORIZED);
    }
    // The peak, not what is left: memory a check freed again was held all the same.
    let grown = proc_status_kib(pid, "VmHWM").saturating_sub(before);
    assert!(
        grown < 12 * ARGON2_MEMORY_KIB,
        "48 checks at once grew the server by {grown} KiB, more than 12 checks' memory ({} KiB each)",
        ARGON2_MEMORY_KIB
    );
    server.kill();
}

#[tokio::test]
async fn an_unknown_user_is_refused_as_slowly_as_a_wrong_password() {
    let app = spawn_app_with(|s| {
        s.users = vec![UserSettings {
            name: "alice".into(),
            password: Some(hash_password("alice-pw")),
            tokens: Vec::new(),
            admin: false,
        }];
        s.api_roots[0].collections = vec![collection(COLLECTION, &["alice"], &[], false)];
        s.intake.collection = COLLECTION.into();
    })
    .await;
    let refusal = |user: &'static str, n: usize| {
        let request = app
            .client
            .get(format!("{}/taxii2/", app.address))
            .basic_auth(user, Some(format!("wrong-{n}")))
            .header("Accept", TAXII);
        async move {
            let started = Instant::now();
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{user}");
            let error: Value = response.json().await.unwrap();
            assert_eq!(
                error["description"],
                json!("the user name or password is wrong"),
                "the same answer for {user}"
            );
            started.elapsed()
        }
    };
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    // Interleaved, so that a busy moment of the machine slows both alike.
    for n in 0..9 {
        known.push(refusal("alice", n).await);
        unknown.push(refusal("mallory", n).await);
    }
    let median = |times: &mut Vec<Duration>| {
        times.sort();
        times[times.len() / 2]
    };
    let (known, unknown) = (median(&mut known), median(&mut unknown));
    assert!(
        unknown * 2 >= known,
        "an unknown user is refused in {unknown:?}, a known user's wrong password in {known:?}"
    );
    app.stop().await;
}

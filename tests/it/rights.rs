//! Every route of the app, taken from the app's own route table, against every kind of caller: the rights
//! decision of each route is what its rule says, refused requests store nothing, and wrong methods get 405.
//! A route added without a rule does not compile; a rule added without a row here does not compile either
//! (the match on `Rule` below has no wildcard).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use stixgate::config::{Settings, UserSettings};
use stixgate::http::endpoints;
use stixgate::http::rights::{Right, Rule};
use stixgate::secret::hash_password;

use crate::helpers::{TAXII, TestApp, collection, encode_segment, indicator, spawn_app_with};

pub(crate) const COLLECTION: &str = "44444444-4444-4444-8444-444444444444";
/// A collection that only `other` may read, so that `other` has rights, but none on [`COLLECTION`].
const ELSEWHERE: &str = "55555555-5555-4555-8555-555555555555";

/// The kinds of caller, each a user of the test configuration except the first two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Caller {
    Anonymous,
    WrongPassword,
    /// A user with no right on the collection.
    Other,
    Reader,
    Writer,
    ReadWriter,
    /// An admin with no right on the collection.
    Admin,
}

const CALLERS: [Caller; 7] = [
    Caller::Anonymous,
    Caller::WrongPassword,
    Caller::Other,
    Caller::Reader,
    Caller::Writer,
    Caller::ReadWriter,
    Caller::Admin,
];

impl Caller {
    fn user(self) -> Option<&'static str> {
        match self {
            Caller::Anonymous => None,
            Caller::WrongPassword | Caller::ReadWriter => Some("rw"),
            Caller::Other => Some("other"),
            Caller::Reader => Some("reader"),
            Caller::Writer => Some("writer"),
            Caller::Admin => Some("admin"),
        }
    }

    fn password(self) -> String {
        match self {
            Caller::WrongPassword => "not-the-password".into(),
            _ => format!("{}-pw", self.user().unwrap_or_default()),
        }
    }

    fn authenticate(self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self.user() {
            Some(user) => request.basic_auth(user, Some(self.password())),
            None => request,
        }
    }

    /// A tag for what this caller posts, so that what a refused request would have stored can be looked for.
    pub(crate) fn index(self) -> u32 {
        CALLERS.iter().position(|c| *c == self).unwrap() as u32 + 100
    }
}

pub(crate) fn configure(settings: &mut Settings, metrics_public: bool) {
    let user = |name: &str, admin: bool| UserSettings {
        name: name.into(),
        password: Some(hash_password(&format!("{name}-pw"))),
        tokens: Vec::new(),
        admin,
    };
    settings.users = vec![
        user("other", false),
        user("reader", false),
        user("writer", false),
        user("rw", false),
        user("admin", true),
    ];
    settings.api_roots[0].collections = vec![
        collection(COLLECTION, &["reader", "rw"], &["writer", "rw"], false),
        collection(ELSEWHERE, &["other"], &[], false),
    ];
    settings.intake.collection = COLLECTION.into();
    settings.metrics.public = metrics_public;
}

/// What a caller should get from a route with `rule`: `None` when it is allowed, else the refusal.
fn expected(rule: Rule, caller: Caller, metrics_public: bool) -> Option<StatusCode> {
    const UNAUTHORIZED: Option<StatusCode> = Some(StatusCode::UNAUTHORIZED);
    const FORBIDDEN: Option<StatusCode> = Some(StatusCode::FORBIDDEN);
    const NOT_FOUND: Option<StatusCode> = Some(StatusCode::NOT_FOUND);
    if caller == Caller::WrongPassword && rule != Rule::Open {
        return UNAUTHORIZED;
    }
    let collection = |right: Right| {
        let (read, write) = match caller {
            Caller::Reader => (true, false),
            Caller::Writer => (false, true),
            Caller::ReadWriter => (true, true),
            _ => (false, false),
        };
        let allowed = match right {
            Right::Read => read,
            Right::Write => write,
            Right::ReadWrite => read && write,
        };
        match caller {
            _ if allowed => None,
            Caller::Anonymous => UNAUTHORIZED,
            _ if read || write => FORBIDDEN,
            _ => NOT_FOUND,
        }
    };
    let admin = || match caller {
        Caller::Admin => None,
        Caller::Anonymous => UNAUTHORIZED,
        _ => FORBIDDEN,
    };
    match rule {
        Rule::Open => None,
        // Anonymous callers see no collection here, so they are asked to authenticate; users who see none
        // get an empty listing.
        Rule::Listing => (caller == Caller::Anonymous).then_some(StatusCode::UNAUTHORIZED),
        // `other` reads a collection of the same root; the admin none.
        Rule::RootListing => match caller {
            Caller::Anonymous => UNAUTHORIZED,
            Caller::Admin => NOT_FOUND,
            _ => None,
        },
        Rule::Collection(right, _) => collection(right),
        // An envelope is looked for only where the caller may read: anywhere else, it is an unknown id.
        Rule::StoredEnvelope => match caller {
            Caller::Reader | Caller::ReadWriter => None,
            Caller::Anonymous => UNAUTHORIZED,
            _ => NOT_FOUND,
        },
        // The status was made by the read-writer's request.
        Rule::StatusOwner => match caller {
            Caller::ReadWriter => None,
            Caller::Anonymous => UNAUTHORIZED,
            _ => NOT_FOUND,
        },
        Rule::Metrics if metrics_public => None,
        Rule::Metrics | Rule::Admin => admin(),
    }
}

/// The rights table of the book's "Routes and rights" (`docs/src/reference/routes-and-rights.md`), for the one
/// API root `api` of the test configuration.
/// A route the app gains without a row here fails the suite.
fn documented_rule(method: &str, path: &str) -> Option<Rule> {
    use stixgate::http::rights::Named::{MispFeed, Query, TaxiiPath};
    let collection = "/api/collections/{collection}";
    let object = format!("{collection}/objects/{{object}}/");
    Some(match (method, path) {
        ("GET", "/healthz") => Rule::Open,
        ("GET", "/taxii2/") => Rule::Listing,
        ("GET", "/api/" | "/api/collections/") => Rule::RootListing,
        ("GET", "/api/status/{status}/") => Rule::StatusOwner,
        ("GET", _)
            if path == format!("{collection}/")
                || path == format!("{collection}/manifest/")
                || path == format!("{collection}/objects/")
                || path == object
                || path == format!("{object}versions/") =>
        {
            Rule::Collection(Right::Read, TaxiiPath)
        }
        ("POST", _) if path == format!("{collection}/objects/") => {
            Rule::Collection(Right::Write, TaxiiPath)
        }
        ("DELETE", _) if path == object => Rule::Collection(Right::ReadWrite, TaxiiPath),
        ("POST", "/envelopes" | "/intelmq/events") => Rule::Collection(Right::Write, Query),
        ("GET", "/envelopes/{id}") => Rule::StoredEnvelope,
        ("GET", "/intelmq/feed" | "/intelmq/stream") => Rule::Collection(Right::Read, Query),
        ("GET", "/misp/{feed}/{file}" | "/misp/{feed}//{file}") => {
            Rule::Collection(Right::Read, MispFeed)
        }
        ("GET", "/peers") => Rule::Admin,
        ("GET", "/metrics") => Rule::Metrics,
        ("GET", "/") => Rule::Listing,
        ("GET", "/ui/style.css" | "/ui/icon.svg") => Rule::Open,
        ("GET", "/ui/envelopes") => Rule::Collection(Right::Read, Query),
        ("GET" | "POST", "/ui/preview") => Rule::Collection(Right::Write, Query),
        ("GET", "/ui/peers") => Rule::Admin,
        _ => return None,
    })
}

/// What the test server holds before the callers try: an object, an envelope and a status, all by `rw`.
pub(crate) struct Fixture {
    envelope_id: String,
    status_id: String,
}

pub(crate) async fn fixture(app: &TestApp) -> Fixture {
    let status = app
        .client
        .post(format!(
            "{}/api/collections/{COLLECTION}/objects/",
            app.address
        ))
        .basic_auth("rw", Some("rw-pw"))
        .header("Accept", TAXII)
        .header("Content-Type", TAXII)
        .json(&json!({"objects": [indicator(1, "2020-01-01T00:00:00.000Z")]}))
        .send()
        .await
        .unwrap();
    assert_eq!(status.status(), StatusCode::ACCEPTED);
    let status: Value = status.json().await.unwrap();
    let envelope_id = "rights-fixture".to_owned();
    let stored = app
        .client
        .post(format!("{}/envelopes", app.address))
        .basic_auth("rw", Some("rw-pw"))
        .body(envelope(&envelope_id).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(stored.status(), StatusCode::OK);
    Fixture {
        envelope_id,
        status_id: status["id"].as_str().unwrap().to_owned(),
    }
}

fn envelope(id: &str) -> Value {
    json!({
        "meta": {"version": 1, "uuid": {"current": id}, "type": "event", "format": "intelmq"},
        "payload": {"source.ip": "192.0.2.7", "classification.type": "scanner", "feed.name": "rights"}
    })
}

/// The request a caller makes to one route: the path with its parameters filled in, and a body that the
/// route accepts, carrying the caller's tag.
pub(crate) fn request(
    app: &TestApp,
    fixture: &Fixture,
    path: &str,
    method: &Method,
    caller: Caller,
) -> reqwest::RequestBuilder {
    let tag = caller.index();
    let object = if *method == Method::DELETE {
        // Each caller deletes its own object, posted beforehand, so that one allowed delete does not change
        // what the next caller finds.
        indicator(tag, "2020-01-01T00:00:00.000Z")["id"]
            .as_str()
            .unwrap()
            .to_owned()
    } else {
        indicator(1, "2020-01-01T00:00:00.000Z")["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let concrete = path
        .replace("{collection}", COLLECTION)
        .replace("{object}", &object)
        .replace("{status}", &fixture.status_id)
        .replace("{id}", &encode_segment(&fixture.envelope_id))
        .replace("{feed}", COLLECTION)
        .replace("{file}", "manifest.json");
    assert!(
        !concrete.contains('{'),
        "a path parameter to fill in: {path}"
    );
    let query = if [
        "/envelopes",
        "/intelmq/events",
        "/intelmq/feed",
        "/intelmq/stream",
        "/ui/envelopes",
        "/ui/preview",
    ]
    .contains(&path)
    {
        format!("?collection={COLLECTION}")
    } else {
        String::new()
    };
    let mut request = app
        .client
        .request(method.clone(), format!("{}{concrete}{query}", app.address));
    if path.starts_with("/api/") || path.starts_with("/taxii2/") {
        request = request.header("Accept", TAXII);
    }
    if *method == Method::POST {
        request = match path {
            "/envelopes" => request.body(envelope(&format!("posted-by-{tag}")).to_string()),
            "/intelmq/events" => request.json(&json!({
                "source.ip": "192.0.2.1", "classification.type": "scanner", "feed.name": format!("posted-by-{tag}")
            })),
            // A preview stores nothing: what it was sent is looked for below like the other posts'.
            "/ui/preview" => request
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(
                    serde_urlencoded::to_string([(
                        "input",
                        envelope(&format!("previewed-by-{tag}")).to_string(),
                    )])
                    .unwrap(),
                ),
            _ => request
                .header("Content-Type", TAXII)
                .json(&json!({"objects": [indicator(tag + 1000, "2020-01-01T00:00:00.000Z")]})),
        };
    }
    caller.authenticate(request)
}

async fn check_every_route(metrics_public: bool) {
    let app = spawn_app_with(|s| configure(s, metrics_public)).await;
    let fixture = fixture(&app).await;
    // The objects the callers' deletes aim at.
    for caller in CALLERS {
        app.add_objects_as(
            COLLECTION,
            ("rw", "rw-pw"),
            &[indicator(caller.index(), "2020-01-01T00:00:00.000Z")],
        )
        .await;
    }
    let mut settings = Settings::load(None).unwrap();
    configure(&mut settings, metrics_public);
    let routes = endpoints(&settings);
    for route in &routes {
        assert_eq!(
            Some(route.rule),
            documented_rule(route.method.as_str(), &route.path),
            "{} {} has the rule the book documents",
            route.method,
            route.path
        );
        let method = Method::from_bytes(route.method.as_str().as_bytes()).unwrap();
        for caller in CALLERS {
            let response = request(&app, &fixture, &route.path, &method, caller)
                .send()
                .await
                .unwrap();
            let status = response.status();
            let www_authenticate = response.headers().contains_key("www-authenticate");
            let what = format!("{method} {} as {caller:?}: {status}", route.path);
            match expected(route.rule, caller, metrics_public) {
                // The body is not read: `/intelmq/stream` sends one until the server stops.
                None => assert!(status.is_success(), "allowed: {what}"),
                Some(refusal) => {
                    let body = response.text().await.unwrap();
                    let what = format!("{what} {body}");
                    assert_eq!(status, refusal, "{what}");
                    assert_eq!(
                        www_authenticate,
                        refusal == StatusCode::UNAUTHORIZED,
                        "WWW-Authenticate: {what}"
                    );
                    let error: Value = serde_json::from_str(&body).expect("a TAXII error body");
                    assert_eq!(error["http_status"], refusal.as_str(), "{what}");
                }
            }
        }
    }
    // Refused writes stored nothing; allowed ones stored what they sent.
    for caller in CALLERS {
        let posted = expected(
            Rule::Collection(Right::Write, stixgate::http::rights::Named::Query),
            caller,
            metrics_public,
        )
        .is_none();
        let object = indicator(caller.index() + 1000, "2020-01-01T00:00:00.000Z");
        let found = app
            .client
            .get(format!(
                "{}/api/collections/{COLLECTION}/objects/{}/",
                app.address,
                object["id"].as_str().unwrap()
            ))
            .basic_auth("rw", Some("rw-pw"))
            .header("Accept", TAXII)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(found.is_success(), posted, "TAXII object of {caller:?}");
        let stored = |prefix: &str| {
            app.client
                .get(format!(
                    "{}/envelopes/{prefix}-by-{}",
                    app.address,
                    caller.index()
                ))
                .basic_auth("rw", Some("rw-pw"))
                .send()
        };
        let envelope = stored("posted").await.unwrap().status();
        assert_eq!(envelope.is_success(), posted, "envelope of {caller:?}");
        let previewed = stored("previewed").await.unwrap().status();
        assert_eq!(previewed, StatusCode::NOT_FOUND, "preview of {caller:?}");
    }
    app.stop().await;
}

/// The first cells of the book's rights table (`docs/src/reference/routes-and-rights.md`).
fn book_rights_rows() -> Vec<String> {
    let page = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs/src/reference/routes-and-rights.md");
    let text = std::fs::read_to_string(&page).unwrap();
    text.lines()
        .filter(|line| line.starts_with("| `"))
        .map(|row| row.split('|').nth(1).unwrap_or_default().trim().to_owned())
        .collect()
}

/// How the book's rights table names a route: "`METHOD /path`" with the API root written `{root}` and the
/// collection or status `{id}`; the collection's own TAXII reads and deletes, by the method alone and a word
/// ("`GET` collection, objects, object, versions, manifest", "`DELETE` an object").
fn book_name(method: &str, path: &str) -> (String, Option<&'static str>) {
    let in_collection = path.strip_prefix("/api/collections/{collection}/");
    let word = match (method, in_collection) {
        ("GET", Some("")) => Some("collection"),
        ("GET", Some("objects/")) => Some("objects"),
        ("GET", Some("objects/{object}/")) => Some("object"),
        ("GET", Some("objects/{object}/versions/")) => Some("versions"),
        ("GET", Some("manifest/")) => Some("manifest"),
        ("DELETE", Some("objects/{object}/")) => Some("an object"),
        _ => None,
    };
    if word.is_some() {
        return (format!("`{method}`"), word);
    }
    let path = match path.strip_prefix("/api/") {
        Some(rest) => format!("/{{root}}/{rest}"),
        None => path.to_owned(),
    };
    let path = path
        .replace("{collection}", "{id}")
        .replace("{status}", "{id}");
    (format!("`{method} {path}`"), None)
}

#[test]
fn the_books_rights_table_names_every_route_and_no_other() {
    let rows = book_rights_rows();
    assert!(rows.len() > 15, "the parser finds the table: {rows:?}");
    let mut settings = Settings::load(None).unwrap();
    configure(&mut settings, false);
    let routes: Vec<(String, String)> = endpoints(&settings)
        .into_iter()
        .chain(stixgate::http::admin::endpoints())
        .map(|route| (route.method.as_str().to_owned(), route.path))
        .collect();
    for (method, path) in &routes {
        let (name, word) = book_name(method, path);
        let documented = rows.iter().any(|row| match word {
            Some(word) => {
                row.starts_with(&name)
                    && row[name.len()..].split(',').any(|item| item.trim() == word)
            }
            None => row.contains(&name),
        });
        assert!(
            documented,
            "{method} {path} has a row in the book's rights table ({name})"
        );
    }
    let names: Vec<String> = routes.iter().map(|(m, p)| book_name(m, p).0).collect();
    for row in &rows {
        for quoted in row.split('`').skip(1).step_by(2) {
            if quoted.contains(' ') {
                assert!(
                    names.contains(&format!("`{quoted}`")),
                    "the book's rights table names `{quoted}`, which is no route of the app"
                );
            }
        }
    }
}

#[tokio::test]
async fn every_route_decides_rights_by_its_rule() {
    check_every_route(false).await;
}

#[tokio::test]
async fn public_metrics_answer_everyone_with_valid_or_no_credentials() {
    check_every_route(true).await;
}

#[tokio::test]
async fn wrong_methods_get_405_with_allow_on_every_route() {
    let app = spawn_app_with(|s| configure(s, true)).await;
    let mut settings = Settings::load(None).unwrap();
    configure(&mut settings, true);
    let routes = endpoints(&settings);
    for route in &routes {
        let allowed: Vec<&str> = routes
            .iter()
            .filter(|r| r.path == route.path)
            .map(|r| r.method.as_str())
            .collect();
        let path = route.path.replace('{', "x").replace('}', "");
        let response = app
            .client
            .request(Method::PUT, format!("{}{path}", app.address))
            .header("Accept", TAXII)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{path}");
        assert_eq!(response.headers()["content-type"], TAXII, "{path}");
        assert_eq!(
            response.headers()["allow"].to_str().unwrap(),
            allowed.join(", "),
            "{path}"
        );
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["http_status"], "405", "{path}");
    }
    app.stop().await;
}

#[tokio::test]
async fn peer_urls_are_shown_without_their_credentials() {
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        config.path(),
        "[[peer]]\nurl = \"http://agent:hunter2@127.0.0.1:9/api/collections/x/\"\n\
         direction = \"pull\"\ninterval = 3600\n",
    )
    .unwrap();
    let app = spawn_app_with(|s| {
        // Through the configuration file, as an operator writes it.
        let loaded = Settings::load(Some(config.path())).unwrap();
        s.peer = loaded.peer;
        configure(s, true);
    })
    .await;
    let peers = app
        .client
        .get(format!("{}/peers", app.address))
        .basic_auth("admin", Some("admin-pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(peers.status(), StatusCode::OK);
    let text = peers.text().await.unwrap();
    assert!(text.contains("127.0.0.1:9"), "{text}");
    assert!(
        !text.contains("hunter2") && !text.contains("agent"),
        "{text}"
    );
    let metrics = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!metrics.contains("hunter2"), "{metrics}");
    app.stop().await;
}

#[tokio::test]
async fn long_urls_get_414_and_long_ids_are_cut_in_answers() {
    let app = spawn_app_with(|_| {}).await;
    let long = "a".repeat(10_000);
    let response = app
        .client
        .get(format!("{}/envelopes/{long}", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::URI_TOO_LONG);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["http_status"], "414");
    let id = "b".repeat(5_000);
    let response = app
        .client
        .get(format!("{}/envelopes/{id}", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let error: Value = response.json().await.unwrap();
    let description = error["description"].as_str().unwrap();
    assert!(description.contains(&"b".repeat(200)), "{description}");
    assert!(!description.contains(&"b".repeat(201)), "{description}");
    assert!(description.len() < 400, "{description}");
    app.stop().await;
}

#[tokio::test]
async fn the_admin_endpoint_is_for_admins_and_the_data_directory_token() {
    let app = spawn_app_with(|s| configure(s, false)).await;
    let admin_file: Value =
        serde_json::from_slice(&std::fs::read(app.data.path().join("admin.json")).unwrap())
            .unwrap();
    let (url, token) = (
        admin_file["url"].as_str().unwrap(),
        admin_file["token"].as_str().unwrap(),
    );
    for route in stixgate::http::admin::endpoints() {
        assert_eq!(route.rule, Rule::Admin, "{}", route.path);
        let method = Method::from_bytes(route.method.as_str().as_bytes()).unwrap();
        let send = |authenticate: &dyn Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder| {
            authenticate(
                app.client
                    .request(method.clone(), format!("{url}{}", route.path)),
            )
            .send()
        };
        for caller in CALLERS {
            let status = send(&|r| caller.authenticate(r)).await.unwrap().status();
            let what = format!("{} as {caller:?}: {status}", route.path);
            match expected(route.rule, caller, false) {
                // Allowed: the job endpoint then finds the empty body is no job.
                None => assert!(
                    ![401, 403, 404].contains(&status.as_u16()),
                    "allowed: {what}"
                ),
                Some(refusal) => assert_eq!(status, refusal, "{what}"),
            }
        }
        let with_token = send(&|r| r.bearer_auth(token)).await.unwrap().status();
        assert!(
            ![401, 403, 404].contains(&with_token.as_u16()),
            "{} with the token: {with_token}",
            route.path
        );
        let wrong_token = send(&|r| r.bearer_auth("0".repeat(64)))
            .await
            .unwrap()
            .status();
        assert_eq!(wrong_token, StatusCode::UNAUTHORIZED, "{}", route.path);
    }
    // The token opens the admin endpoint only, not the main server.
    let peers = app
        .client
        .get(format!("{}/peers", app.address))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(peers, StatusCode::UNAUTHORIZED);
    app.stop().await;
}

//! The operator page's HTML views: their headers, the escaping of stored values, paging, and that they show
//! each caller only what the API would.

use reqwest::StatusCode;
use serde_json::{Value, json};
use stixgate::config::UserSettings;
use stixgate::http::ui::CONTENT_SECURITY_POLICY;
use stixgate::secret::hash_password;

use crate::helpers::{COLLECTION, TestApp, collection, spawn_app, spawn_app_with};

const HOSTILE_ID: &str = "<script>alert(1)</script>";
const HOSTILE_FEED: &str = "<img src=x onerror=alert(2)>";

fn envelope(id: &str, feed: &str) -> Value {
    json!({
        "meta": {"version": 1, "uuid": {"current": id}, "type": "event", "format": "intelmq"},
        "payload": {"source.ip": "192.0.2.7", "classification.type": "scanner", "feed.name": feed}
    })
}

/// `GET path` as `user` (with password `{user}-pw`) or anonymously.
async fn get(app: &TestApp, path: &str, user: Option<&str>) -> reqwest::Response {
    let mut request = app.client.get(format!("{}{path}", app.address));
    if let Some(user) = user {
        request = request.basic_auth(user, Some(format!("{user}-pw")));
    }
    request.send().await.unwrap()
}

/// A view's status and body.
async fn view(app: &TestApp, path: &str, user: Option<&str>) -> (StatusCode, String) {
    let response = get(app, path, user).await;
    (response.status(), response.text().await.unwrap())
}

/// The rows of a view's table.
fn rows(html: &str) -> usize {
    html.matches("<tr><td").count()
}

#[tokio::test]
async fn views_are_html_under_the_csp_with_stored_values_escaped() {
    let app = spawn_app().await;
    let (status, _) = app
        .post_envelopes("", envelope(HOSTILE_ID, HOSTILE_FEED).to_string())
        .await;
    assert_eq!(status, StatusCode::OK);
    for path in [
        "/",
        &format!("/ui/envelopes?collection={COLLECTION}"),
        "/ui/preview",
    ] {
        let response = get(&app, path, None).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let headers = response.headers();
        assert_eq!(
            headers["content-type"], "text/html; charset=utf-8",
            "{path}"
        );
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert_eq!(csp, CONTENT_SECURITY_POLICY, "{path}");
        assert!(csp.contains("default-src 'none'") && csp.contains("style-src 'self'"));
        assert!(!csp.contains("unsafe"), "{csp}");
    }
    let (_, front) = view(&app, "/", None).await;
    assert!(front.contains("<dt>Envelopes</dt><dd>1</dd>"), "{front}");
    assert!(
        front.contains(&format!("/api/collections/{COLLECTION}/")),
        "{front}"
    );
    let (_, list) = view(
        &app,
        &format!("/ui/envelopes?collection={COLLECTION}"),
        None,
    )
    .await;
    assert!(
        list.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{list}"
    );
    assert!(
        list.contains("&lt;img src=x onerror=alert(2)&gt;"),
        "{list}"
    );
    assert!(
        !list.contains("<script") && !list.contains("<img"),
        "{list}"
    );
    assert!(
        list.contains("/envelopes/%3Cscript%3Ealert%281%29%3C%2Fscript%3E"),
        "{list}"
    );
    let style = get(&app, "/ui/style.css", None).await;
    assert_eq!(style.headers()["content-type"], "text/css; charset=utf-8");
    app.stop().await;
}

#[tokio::test]
async fn the_preview_shows_stix_objects_and_misp_attributes_and_stores_nothing() {
    let app = spawn_app().await;
    let input = envelope("preview-1", HOSTILE_FEED).to_string();
    let response = app
        .client
        .post(format!(
            "{}/ui/preview?collection={COLLECTION}",
            app.address
        ))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string([("input", input.as_str())]).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    assert!(html.contains("<h3>ipv4-addr--"), "{html}");
    assert!(html.contains("<h3>iep04-envelope--"), "{html}");
    assert!(
        html.contains("<td>ip-src</td><td>Network activity</td><td class=\"mono\">192.0.2.7</td>"),
        "{html}"
    );
    assert!(!html.contains("<img"), "{html}");
    let (status, _) = app.get_envelope("preview-1").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a preview stores nothing");
    let (_, front) = view(&app, "/", None).await;
    assert!(front.contains("<dt>Envelopes</dt><dd>0</dd>"), "{front}");
    let refused = app
        .client
        .post(format!("{}/ui/preview", app.address))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("input=not%20json")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::OK);
    let refused = refused.text().await.unwrap();
    assert!(refused.contains("Not an event or envelope"), "{refused}");
    app.stop().await;
}

#[tokio::test]
async fn envelopes_come_newest_first_a_page_at_a_time() {
    let app = spawn_app().await;
    let lines: Vec<String> = (0..55)
        .map(|n| envelope(&format!("paged-{n:02}"), "paging").to_string())
        .collect();
    let (status, _) = app.post_envelopes("", lines.join("\n")).await;
    assert_eq!(status, StatusCode::OK);
    let path = format!("/ui/envelopes?collection={COLLECTION}");
    let (_, first) = view(&app, &path, None).await;
    assert_eq!(rows(&first), 50);
    let newest = first.find(">paged-54<").unwrap();
    assert!(newest < first.find(">paged-53<").unwrap(), "newest first");
    assert!(!first.contains(">paged-04<"), "{first}");
    let older = first
        .split("href=\"")
        .find_map(|part| part.strip_prefix("/ui/envelopes?"))
        .and_then(|part| part.split('"').next())
        .expect("a link to older envelopes")
        .replace("&amp;", "&");
    let (_, second) = view(&app, &format!("/ui/envelopes?{older}"), None).await;
    assert_eq!(rows(&second), 5, "{second}");
    assert!(second.contains(">paged-00<") && second.contains(">paged-04<"));
    assert!(!second.contains("before="), "the last page offers no more");
    app.stop().await;
}

const OTHER: &str = "77777777-7777-4777-8777-777777777777";

#[tokio::test]
async fn callers_see_only_the_collections_they_may_read_and_peers_only_as_admins() {
    let app = spawn_app_with(|settings| {
        let user = |name: &str, admin| UserSettings {
            name: name.into(),
            password: Some(hash_password(&format!("{name}-pw"))),
            tokens: Vec::new(),
            admin,
        };
        settings.users = vec![user("alice", false), user("bob", false), user("root", true)];
        settings.api_roots[0].collections = vec![
            collection(COLLECTION, &["alice"], &["alice"], false),
            collection(OTHER, &["bob"], &[], false),
        ];
        settings.intake.collection = COLLECTION.into();
    })
    .await;
    let posted = app
        .client
        .post(format!("{}/envelopes", app.address))
        .basic_auth("alice", Some("alice-pw"))
        .body(envelope("alices-own", "secret-feed").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), StatusCode::OK);
    // A named consumer, whose cursor the peers view shows.
    let feed = app
        .client
        .get(format!(
            "{}/intelmq/feed?collection={COLLECTION}&consumer=%3Ci%3Ebot%3C%2Fi%3E",
            app.address
        ))
        .basic_auth("alice", Some("alice-pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(feed.status(), StatusCode::OK);

    let (status, bobs) = view(&app, "/", Some("bob")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(bobs.contains(OTHER) && !bobs.contains(COLLECTION), "{bobs}");
    assert!(!bobs.contains("/ui/peers"), "{bobs}");
    let list = format!("/ui/envelopes?collection={COLLECTION}");
    let (status, body) = view(&app, &list, Some("bob")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!body.contains("alices-own") && !body.contains("secret-feed"));
    assert_eq!(view(&app, &list, None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(view(&app, "/", None).await.0, StatusCode::UNAUTHORIZED);
    let (status, alices) = view(&app, &list, Some("alice")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(alices.contains(">alices-own<") && alices.contains("secret-feed"));

    assert_eq!(
        view(&app, "/ui/peers", Some("alice")).await.0,
        StatusCode::FORBIDDEN
    );
    let (status, peers) = view(&app, "/ui/peers", Some("root")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        peers.contains(&format!(
            "<td class=\"id\">&lt;i&gt;bot&lt;/i&gt;</td><td>alice</td><td class=\"id\">{COLLECTION}</td>\
             <td class=\"num\">0</td>"
        )),
        "{peers}"
    );
    let (_, roots) = view(&app, "/", Some("root")).await;
    assert!(roots.contains("href=\"/ui/peers\""), "{roots}");
    app.stop().await;
}

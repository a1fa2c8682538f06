//! Users, rights and anonymous access: who sees what, 401/403/404, the DELETE table of §5.7.

use reqwest::{Method, StatusCode};
use serde_json::Value;
use stixgate::config::{Settings, UserSettings};
use stixgate::secret::{hash_password, token_digest};

use crate::helpers::{TAXII, TestApp, collection, indicator, spawn_app_with};

const SHARED: &str = "11111111-1111-4111-8111-111111111111";
const WRITE_ONLY: &str = "22222222-2222-4222-8222-222222222222";
const PUBLIC: &str = "33333333-3333-4333-8333-333333333333";
const OBJECT: &str = "indicator--00000000-0000-4000-8000-000000000001";

fn configure(settings: &mut Settings) {
    let user = |name: &str, token: Option<&str>| UserSettings {
        name: name.into(),
        password: Some(hash_password(&format!("{name}-pw"))),
        tokens: token.map(token_digest).into_iter().collect(),
        admin: false,
    };
    settings.users = vec![
        user("alice", Some("alice-token")),
        user("bob", None),
        user("carol", None),
    ];
    settings.api_roots[0].collections = vec![
        collection(SHARED, &["alice", "bob"], &["alice"], false),
        collection(WRITE_ONLY, &[], &["bob"], false),
        collection(PUBLIC, &[], &["alice"], true),
    ];
    settings.intake.collection = PUBLIC.into();
}

async fn app() -> TestApp {
    spawn_app_with(configure).await
}

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    user: Option<&str>,
) -> (StatusCode, Value) {
    let mut request = app.taxii(method.clone(), path);
    if let Some(user) = user {
        request = request.basic_auth(user, Some(format!("{user}-pw")));
    }
    if method == Method::POST {
        request = request
            .header("Content-Type", TAXII)
            .json(&serde_json::json!({"objects": [indicator(1, "2020-01-01T00:00:00.000Z")]}));
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    assert_eq!(response.headers()["content-type"], TAXII, "{method} {path}");
    if status == StatusCode::UNAUTHORIZED {
        assert!(
            response.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .contains("Basic")
        );
    }
    let body = response.text().await.unwrap();
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

fn objects(collection: &str) -> String {
    format!("/api/collections/{collection}/objects/")
}

#[tokio::test]
async fn each_user_sees_what_it_may() {
    let app = app().await;
    let listed = |collections: &Value| -> Vec<(String, bool, bool)> {
        collections["collections"]
            .as_array()
            .map(|c| {
                c.iter()
                    .map(|c| {
                        (
                            c["id"].as_str().unwrap().to_owned(),
                            c["can_read"].as_bool().unwrap(),
                            c["can_write"].as_bool().unwrap(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let (_, anonymous) = call(&app, Method::GET, "/api/collections/", None).await;
    assert_eq!(listed(&anonymous), [(PUBLIC.into(), true, false)]);
    let (_, alice) = call(&app, Method::GET, "/api/collections/", Some("alice")).await;
    assert_eq!(
        listed(&alice),
        [(SHARED.into(), true, true), (PUBLIC.into(), true, true)]
    );
    let (_, bob) = call(&app, Method::GET, "/api/collections/", Some("bob")).await;
    assert_eq!(
        listed(&bob),
        [
            (SHARED.into(), true, false),
            (WRITE_ONLY.into(), false, true),
            (PUBLIC.into(), true, false)
        ]
    );
    let (status, discovery) = call(&app, Method::GET, "/taxii2/", None).await;
    let root_url = format!("{}/api/", app.address);
    assert_eq!(
        (status, discovery["api_roots"][0].as_str()),
        (StatusCode::OK, Some(root_url.as_str()))
    );
    app.stop().await;
}

#[tokio::test]
async fn credentials_and_rights_give_401_403_and_404() {
    let app = app().await;
    assert_eq!(
        call(&app, Method::GET, &objects(SHARED), None).await.0,
        StatusCode::UNAUTHORIZED
    );
    let wrong = app
        .taxii(Method::GET, &objects(SHARED))
        .basic_auth("alice", Some("nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        call(&app, Method::GET, &objects(SHARED), Some("carol"))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&app, Method::GET, &objects(SHARED), Some("bob"))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        call(&app, Method::POST, &objects(SHARED), Some("bob"))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        call(&app, Method::GET, &objects(WRITE_ONLY), Some("bob"))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        call(&app, Method::POST, &objects(WRITE_ONLY), Some("bob"))
            .await
            .0,
        StatusCode::ACCEPTED
    );
    // Anonymous callers may read it, not write: credentials could give the right, so they are asked for.
    assert_eq!(
        call(&app, Method::POST, &objects(PUBLIC), None).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&app, Method::GET, &objects(PUBLIC), None).await.0,
        StatusCode::OK
    );
    let (status, _) = call(&app, Method::POST, &objects(SHARED), Some("alice")).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let token = app
        .taxii(Method::GET, &objects(SHARED))
        .bearer_auth("alice-token")
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), StatusCode::OK);
    let envelope: Value = token.json().await.unwrap();
    assert_eq!(envelope["objects"][0]["id"], OBJECT);
    app.stop().await;
}

#[tokio::test]
async fn delete_follows_the_table_of_section_5_7() {
    let app = app().await;
    call(&app, Method::POST, &objects(SHARED), Some("alice")).await;
    call(&app, Method::POST, &objects(WRITE_ONLY), Some("bob")).await;
    let object = |collection: &str| format!("{}{OBJECT}/", objects(collection));
    assert_eq!(
        call(&app, Method::DELETE, &object(SHARED), Some("carol"))
            .await
            .0,
        StatusCode::NOT_FOUND,
        "neither right"
    );
    assert_eq!(
        call(&app, Method::DELETE, &object(SHARED), Some("bob"))
            .await
            .0,
        StatusCode::FORBIDDEN,
        "read only"
    );
    assert_eq!(
        call(&app, Method::DELETE, &object(WRITE_ONLY), Some("bob"))
            .await
            .0,
        StatusCode::FORBIDDEN,
        "write only"
    );
    let (status, body) = call(&app, Method::DELETE, &object(SHARED), Some("alice")).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, Value::Null),
        "200 with no body"
    );
    assert_eq!(
        call(&app, Method::GET, &object(SHARED), Some("alice"))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&app, Method::DELETE, &object(SHARED), Some("alice"))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    app.stop().await;
}

#[tokio::test]
async fn delete_honours_match_version() {
    let app = spawn_app_with(|_| {}).await;
    let object = format!("/api/collections/intelmq/objects/{OBJECT}/");
    app.add_objects(
        "intelmq",
        &[
            indicator(1, "2020-01-01T00:00:00.000Z"),
            indicator(1, "2021-01-01T00:00:00.000Z"),
            indicator(1, "2022-01-01T00:00:00.000Z"),
        ],
    )
    .await;
    let versions = |app: &TestApp| {
        let request = app.taxii(Method::GET, &format!("{object}versions/"));
        async move { request.send().await.unwrap().json::<Value>().await.unwrap()["versions"].clone() }
    };
    let delete = |query: &str| {
        app.taxii(Method::DELETE, &format!("{object}?{query}"))
            .send()
    };
    assert_eq!(
        delete("match[version]=first").await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        versions(&app).await,
        serde_json::json!(["2021-01-01T00:00:00.000Z", "2022-01-01T00:00:00.000Z"])
    );
    assert_eq!(
        delete("match[version]=2022-01-01T00:00:00Z")
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        versions(&app).await,
        serde_json::json!(["2021-01-01T00:00:00.000Z"])
    );
    assert_eq!(
        delete("match[version]=1999-01-01T00:00:00Z")
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(delete("").await.unwrap().status(), StatusCode::OK);
    assert_eq!(
        app.taxii(Method::GET, &object)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    app.stop().await;
}

#[tokio::test]
async fn statuses_are_shown_only_to_their_submitter() {
    let app = app().await;
    let (_, status) = call(&app, Method::POST, &objects(SHARED), Some("alice")).await;
    let path = format!("/api/status/{}/", status["id"].as_str().unwrap());
    assert_eq!(
        call(&app, Method::GET, &path, Some("alice")).await.0,
        StatusCode::OK
    );
    assert_eq!(
        call(&app, Method::GET, &path, Some("bob")).await.0,
        StatusCode::NOT_FOUND
    );
    app.stop().await;
}

#[test]
fn anonymous_writes_on_a_public_address_are_refused_unless_forced() {
    let mut settings = Settings::load(None).unwrap();
    settings.listen = "0.0.0.0:0".into();
    let refusal = settings.public_anonymous_write().expect("refused");
    assert!(refusal.contains("anonymous_write"), "{refusal}");
    settings.taxii.allow_public_anonymous_write = true;
    assert!(settings.public_anonymous_write().is_none());
}

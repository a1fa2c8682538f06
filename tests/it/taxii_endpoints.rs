//! Every TAXII 2.1 endpoint, its filters, and its failures as TAXII error resources.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{COLLECTION, TAXII, TestApp, indicator, spawn_app, spawn_app_with};

const OBJECTS: &str = "/api/collections/intelmq/objects/";

async fn get(app: &TestApp, path: &str) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let response = app.taxii(Method::GET, path).send().await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    assert_eq!(headers["content-type"], TAXII, "{path}");
    (status, headers, response.json().await.unwrap())
}

fn ids(envelope: &Value) -> Vec<&str> {
    envelope["objects"]
        .as_array()
        .map(|objects| objects.iter().map(|o| o["id"].as_str().unwrap()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn discovery_api_root_collections_and_collection() {
    let app = spawn_app().await;
    let (status, _, discovery) = get(&app, "/taxii2/").await;
    assert_eq!(status, StatusCode::OK);
    let root_url = format!("{}/api/", app.address);
    assert_eq!(discovery["api_roots"], json!([root_url]));
    assert_eq!(discovery["default"], root_url);
    let (_, _, root) = get(&app, "/api/").await;
    assert_eq!(root["versions"], json!([TAXII]));
    assert_eq!(root["max_content_length"], 104857600);
    let (_, _, collections) = get(&app, "/api/collections/").await;
    assert_eq!(collections["collections"][0]["id"], COLLECTION);
    assert_eq!(
        collections["collections"][0]["media_types"],
        json!(["application/stix+json;version=2.1"])
    );
    for name in [COLLECTION, "intelmq"] {
        let (status, _, collection) = get(&app, &format!("/api/collections/{name}/")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            (
                collection["can_read"].as_bool(),
                collection["can_write"].as_bool()
            ),
            (Some(true), Some(true))
        );
    }
    let (status, _, error) = get(&app, "/api/collections/nope/").await;
    assert_eq!(
        (status, error["http_status"].as_str()),
        (StatusCode::NOT_FOUND, Some("404"))
    );
    app.stop().await;
}

#[tokio::test]
async fn an_empty_collection_is_an_empty_envelope_without_date_headers() {
    let app = spawn_app().await;
    let (status, headers, envelope) = get(&app, OBJECTS).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(envelope, json!({"more": false}));
    assert!(!headers.contains_key("x-taxii-date-added-first"));
    let (_, _, manifest) = get(&app, "/api/collections/intelmq/manifest/").await;
    assert_eq!(manifest, json!({"more": false}));
    app.stop().await;
}

#[tokio::test]
async fn add_then_read_objects_manifest_object_and_versions() {
    let app = spawn_app().await;
    let status = app
        .add_objects(
            "intelmq",
            &[
                indicator(1, "2020-01-01T00:00:00.000Z"),
                indicator(2, "2020-01-01T00:00:00.000Z"),
            ],
        )
        .await;
    assert_eq!(
        (status["status"].as_str(), status["success_count"].as_u64()),
        (Some("complete"), Some(2))
    );
    app.add_objects("intelmq", &[indicator(1, "2021-06-01T00:00:00.000Z")])
        .await;

    let (_, headers, envelope) = get(&app, OBJECTS).await;
    assert_eq!(envelope["more"], false);
    assert_eq!(
        ids(&envelope),
        [
            "indicator--00000000-0000-4000-8000-000000000002",
            "indicator--00000000-0000-4000-8000-000000000001"
        ],
        "only the newest version of each object, oldest addition first"
    );
    for header in ["x-taxii-date-added-first", "x-taxii-date-added-last"] {
        let value = headers[header].to_str().unwrap();
        assert_eq!(value.len(), "2020-01-01T00:00:00.000000Z".len(), "{value}");
        assert!(value.ends_with('Z'));
    }

    let (_, _, manifest) = get(
        &app,
        "/api/collections/intelmq/manifest/?match[version]=all",
    )
    .await;
    let records = manifest["objects"].as_array().unwrap();
    assert_eq!(records.len(), 3);
    assert_eq!(records[2]["version"], "2021-06-01T00:00:00.000Z");
    assert_eq!(
        records[2]["media_type"],
        "application/stix+json;version=2.1"
    );

    let one = "/api/collections/intelmq/objects/indicator--00000000-0000-4000-8000-000000000001/";
    let (_, _, latest) = get(&app, one).await;
    assert_eq!(latest["objects"][0]["modified"], "2021-06-01T00:00:00.000Z");
    let (_, _, all) = get(&app, &format!("{one}?match[version]=all")).await;
    assert_eq!(all["objects"].as_array().unwrap().len(), 2);
    let (_, _, first) = get(&app, &format!("{one}?match[version]=first")).await;
    assert_eq!(first["objects"][0]["modified"], "2020-01-01T00:00:00.000Z");
    let (_, _, exact) = get(&app, &format!("{one}?match[version]=2020-01-01T00:00:00Z")).await;
    assert_eq!(exact["objects"][0]["modified"], "2020-01-01T00:00:00.000Z");
    let (_, headers, versions) = get(&app, &format!("{one}versions/")).await;
    assert_eq!(
        versions["versions"],
        json!(["2020-01-01T00:00:00.000Z", "2021-06-01T00:00:00.000Z"])
    );
    assert!(headers.contains_key("x-taxii-date-added-last"));

    let missing =
        "/api/collections/intelmq/objects/indicator--00000000-0000-4000-8000-000000000009/";
    assert_eq!(get(&app, missing).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        get(&app, &format!("{missing}versions/")).await.0,
        StatusCode::NOT_FOUND
    );
    app.stop().await;
}

#[tokio::test]
async fn match_filters_combine() {
    let app = spawn_app().await;
    let malware = json!({"type": "malware", "spec_version": "2.1", "id": "malware--00000000-0000-4000-8000-000000000001",
        "created": "2020-01-01T00:00:00.000Z", "modified": "2020-01-01T00:00:00.000Z", "name": "locky", "is_family": true});
    let ip = json!({"type": "ipv4-addr", "spec_version": "2.1", "id": "ipv4-addr--28bb3599-77cd-5a82-a950-b5bc3caf07c4", "value": "198.51.100.3"});
    app.add_objects(
        "intelmq",
        &[
            indicator(1, "2020-01-01T00:00:00.000Z"),
            malware,
            ip,
            indicator(2, "2020-01-01T00:00:00.000Z"),
        ],
    )
    .await;
    let count = |envelope: &Value| ids(envelope).len();
    assert_eq!(
        count(
            &get(&app, &format!("{OBJECTS}?match[type]=indicator"))
                .await
                .2
        ),
        2
    );
    assert_eq!(
        count(
            &get(&app, &format!("{OBJECTS}?match[type]=malware,ipv4-addr"))
                .await
                .2
        ),
        2
    );
    assert_eq!(
        count(&get(&app, &format!("{OBJECTS}?match[type]=tool")).await.2),
        0
    );
    let by_id = format!(
        "{OBJECTS}?match[id]=malware--00000000-0000-4000-8000-000000000001,indicator--00000000-0000-4000-8000-000000000002"
    );
    assert_eq!(count(&get(&app, &by_id).await.2), 2);
    assert_eq!(
        count(&get(&app, &format!("{by_id}&match[type]=malware")).await.2),
        1
    );
    assert_eq!(
        count(
            &get(&app, &format!("{OBJECTS}?match[spec_version]=2.1"))
                .await
                .2
        ),
        4
    );
    assert_eq!(
        count(
            &get(&app, &format!("{OBJECTS}?match[spec_version]=2.0"))
                .await
                .2
        ),
        0
    );
    let (_, _, manifest) = get(
        &app,
        "/api/collections/intelmq/manifest/?match[type]=ipv4-addr",
    )
    .await;
    assert_eq!(
        manifest["objects"][0]["version"], manifest["objects"][0]["date_added"],
        "SCOs use date_added"
    );
    app.stop().await;
}

#[tokio::test]
async fn each_kind_of_object_needs_its_common_properties_and_the_others_are_stored() {
    let app = spawn_app().await;
    let time = "2020-01-01T00:00:00.000Z";
    let id = |object_type: &str, n: u32| format!("{object_type}--00000000-0000-4000-8000-{n:012}");
    let mut no_created = indicator(1, time);
    no_created.as_object_mut().unwrap().remove("created");
    let mut no_spec_version = indicator(2, time);
    no_spec_version
        .as_object_mut()
        .unwrap()
        .remove("spec_version");
    let refused = [
        (no_created, "`created` missing"),
        (no_spec_version, "`spec_version` missing"),
        (
            json!({"type": "relationship", "spec_version": "2.1", "id": id("relationship", 3), "created": time,
                   "relationship_type": "indicates", "source_ref": id("indicator", 1), "target_ref": id("malware", 1)}),
            "`modified` missing: required for an SRO",
        ),
        (
            json!({"type": "language-content", "spec_version": "2.1", "id": id("language-content", 4), "created": time,
                   "object_ref": id("indicator", 1), "contents": {"de": {"name": "Indikator"}}}),
            "`modified` missing: required for a language-content",
        ),
        (
            json!({"type": "x-acme-widget", "spec_version": "2.1", "id": id("x-acme-widget", 5)}),
            "`created`, `modified` missing: required for a custom object",
        ),
    ];
    let stored = [
        indicator(6, time),
        json!({"type": "marking-definition", "spec_version": "2.1", "id": id("marking-definition", 7), "created": time,
               "definition_type": "statement", "definition": {"statement": "Copyright ACME"}}),
        json!({"type": "ipv4-addr", "id": "ipv4-addr--28bb3599-77cd-5a82-a950-b5bc3caf07c4", "value": "198.51.100.3"}),
    ];
    let objects: Vec<Value> = refused
        .iter()
        .map(|(o, _)| o.clone())
        .chain(stored.clone())
        .collect();
    let status = app.add_objects("intelmq", &objects).await;
    assert_eq!(
        (&status["success_count"], &status["failure_count"]),
        (&json!(3), &json!(5)),
        "{status}"
    );
    for ((object, expected), failure) in refused.iter().zip(status["failures"].as_array().unwrap())
    {
        assert_eq!(failure["id"], object["id"], "{status}");
        assert!(
            failure["message"].as_str().unwrap().contains(expected),
            "{failure}"
        );
    }
    for object in stored.iter().chain(refused.iter().map(|(o, _)| o)) {
        let path = format!("{OBJECTS}{}/", object["id"].as_str().unwrap());
        let (code, _, _) = get(&app, &path).await;
        let expected = if stored.contains(object) {
            StatusCode::OK
        } else {
            StatusCode::NOT_FOUND
        };
        assert_eq!(code, expected, "{object}");
    }
    app.stop().await;
}

#[tokio::test]
async fn an_object_sent_again_reformatted_is_a_duplicate_and_served_as_first_sent() {
    let app = spawn_app().await;
    let first = r#"{"objects":[{"type":"indicator","spec_version":"2.1","id":"indicator--00000000-0000-4000-8000-000000000001","created":"2020-01-01T00:00:00.000Z","modified":"2020-01-01T00:00:00.000Z","confidence":50,"pattern":"[ipv4-addr:value = '198.51.100.1']","pattern_type":"stix","valid_from":"2020-01-01T00:00:00Z"}]}"#;
    let again = r#"{"objects": [ {
        "pattern_type": "stix", "valid_from": "2020-01-01T00:00:00Z", "confidence": 5.0E1,
        "pattern": "[ipv4-addr:value = \u0027198.51.100.1\u0027]",
        "modified": "2020-01-01T00:00:00.000Z", "created": "2020-01-01T00:00:00.000Z",
        "id": "indicator--00000000-0000-4000-8000-000000000001", "spec_version": "2.1", "type": "indicator" } ] }"#;
    let changed = first.replace(r#""confidence":50"#, r#""confidence":51"#);
    let mut statuses = Vec::new();
    for body in [first, again, &changed] {
        let response = app
            .taxii(Method::POST, OBJECTS)
            .header("Content-Type", TAXII)
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        statuses.push(response.json::<Value>().await.unwrap());
    }
    let counts: Vec<(&Value, &Value)> = statuses
        .iter()
        .map(|s| (&s["success_count"], &s["failure_count"]))
        .collect();
    assert_eq!(
        counts,
        [
            (&json!(1), &json!(0)),
            (&json!(1), &json!(0)),
            (&json!(0), &json!(1))
        ],
        "{statuses:?}"
    );
    assert_eq!(
        statuses[1]["successes"][0]["message"],
        "already in the collection"
    );
    let response = app
        .taxii(
            Method::GET,
            &format!("{OBJECTS}indicator--00000000-0000-4000-8000-000000000001/"),
        )
        .send()
        .await
        .unwrap();
    let served = response.text().await.unwrap();
    assert!(served.contains(r#""confidence":50,"pattern""#), "{served}");
    app.stop().await;
}

#[tokio::test]
async fn partial_failures_duplicates_and_conflicts_are_reported_in_the_status() {
    let app = spawn_app().await;
    let good = indicator(1, "2020-01-01T00:00:00.000Z");
    app.add_objects("intelmq", std::slice::from_ref(&good))
        .await;
    let (_, _, before) = get(&app, "/api/collections/intelmq/manifest/").await;
    let mut changed = good.clone();
    changed["name"] = json!("changed without a new modified");
    let status = app
        .add_objects("intelmq", &[good, changed, json!({"type": "indicator", "id": "nope"}), json!({"id": "indicator--00000000-0000-4000-8000-000000000005", "type": "indicator", "spec_version": "2.1", "created": "soon", "modified": "soon"})])
        .await;
    assert_eq!(status["total_count"], 4);
    assert_eq!(status["success_count"], 1, "{status}");
    assert_eq!(status["failure_count"], 3);
    assert_eq!(status["successes"].as_array().unwrap().len(), 1);
    let messages: Vec<&str> = status["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert!(
        messages[0].contains("different object with this id and version"),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("\"nope\" is not a STIX id")),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.contains("`created`")),
        "{messages:?}"
    );
    let (_, _, after) = get(&app, "/api/collections/intelmq/manifest/").await;
    assert_eq!(
        before, after,
        "a duplicate adds no version and no date_added"
    );

    let id = status["id"].as_str().unwrap();
    for path in [format!("/api/status/{id}/"), format!("/api/status/{id}")] {
        let (code, _, stored) = get(&app, &path).await;
        assert_eq!(code, StatusCode::OK, "{path}");
        assert_eq!(stored, status);
    }
    assert_eq!(
        get(&app, "/api/status/00000000-0000-4000-8000-000000000000/")
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    app.stop().await;
}

#[tokio::test]
async fn bodies_that_are_not_envelopes() {
    let app = spawn_app().await;
    let post = |body: &'static str| {
        app.taxii(Method::POST, OBJECTS)
            .header("Content-Type", TAXII)
            .body(body)
            .send()
    };
    let cases = [
        ("{not json", StatusCode::BAD_REQUEST),
        ("[1]", StatusCode::UNPROCESSABLE_ENTITY),
        (r#"{"objects": 5}"#, StatusCode::UNPROCESSABLE_ENTITY),
    ];
    for (body, expected) in cases {
        let response = post(body).await.unwrap();
        assert_eq!(response.status(), expected, "{body}");
        assert_eq!(response.headers()["content-type"], TAXII);
    }
    let empty: Value = post("{}").await.unwrap().json().await.unwrap();
    assert_eq!(empty["total_count"], 0);
    app.stop().await;
}

#[tokio::test]
async fn content_negotiation() {
    let app = spawn_app().await;
    for accept in [
        TAXII,
        "application/taxii+json",
        "application/taxii+json; version=2.1; q=0.9",
        "APPLICATION/TAXII+JSON;VERSION=2.1",
    ] {
        let response = app
            .client
            .get(format!("{}/taxii2/", app.address))
            .header("Accept", accept)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{accept}");
        assert_eq!(response.headers()["content-type"], TAXII);
    }
    for accept in [
        "application/xml",
        "application/taxii+json;version=2.0",
        "application/json",
    ] {
        let response = app
            .client
            .get(format!("{}{OBJECTS}", app.address))
            .header("Accept", accept)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_ACCEPTABLE, "{accept}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["http_status"], "406");
    }
    for content_type in [
        "application/json",
        "application/stix+json;version=2.1",
        "application/taxii+json;version=2.0",
    ] {
        let response = app
            .taxii(Method::POST, OBJECTS)
            .header("Content-Type", content_type)
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type}"
        );
        assert_eq!(response.headers()["content-type"], TAXII);
    }
    let response = app
        .taxii(Method::POST, OBJECTS)
        .header("Content-Type", "application/taxii+json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let response = app.taxii(Method::PUT, OBJECTS).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["content-type"], TAXII);
    app.stop().await;
}

#[tokio::test]
async fn malformed_and_repeated_parameters_get_400() {
    let app = spawn_app().await;
    for query in [
        "limit=0",
        "limit=x",
        "added_after=garbage",
        "added_after=2021-01-01T00:00:00Z&added_after=2021-01-01T00:00:00Z",
        "match[type]=indicator&match[type]=malware",
        "match[version]=all,first",
        "match[id]=not-an-id",
        "next=forged",
        "match[spec_version]=x",
    ] {
        let (status, _, error) = get(&app, &format!("{OBJECTS}?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert!(error["description"].as_str().unwrap().len() > 10, "{error}");
    }
    let object =
        "/api/collections/intelmq/objects/indicator--00000000-0000-4000-8000-000000000001/";
    assert_eq!(
        get(&app, &format!("{object}?match[type]=indicator"))
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    for added_after in [
        "2021-01-01T00:00:00Z",
        "2021-01-01T00:00:00.5Z",
        "2021-01-01T01:00:00.123456789%2B01:00",
    ] {
        assert_eq!(
            get(&app, &format!("{OBJECTS}?added_after={added_after}"))
                .await
                .0,
            StatusCode::OK,
            "{added_after}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn requests_over_max_content_length_get_413() {
    let app = spawn_app_with(|s| s.max_content_length = 2000).await;
    let objects: Vec<Value> = (0..20)
        .map(|n| indicator(n, "2020-01-01T00:00:00.000Z"))
        .collect();
    let response = app
        .taxii(Method::POST, OBJECTS)
        .header("Content-Type", TAXII)
        .json(&json!({"objects": objects}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(response.headers()["content-type"], TAXII);
    let (_, _, root) = get(&app, "/api/").await;
    assert_eq!(root["max_content_length"], 2000);
    assert_eq!(get(&app, OBJECTS).await.2, json!({"more": false}));
    app.stop().await;
}

#[tokio::test]
async fn envelopes_are_served_as_carriers_holding_their_exact_text() {
    let app = spawn_app().await;
    let text = std::fs::read_to_string(
        crate::helpers::fixtures().join("intelmq/misp-origin.decided.json"),
    )
    .unwrap();
    let text = text.trim_end();
    app.post_envelopes("", text.to_owned()).await;
    let (_, _, envelope) = get(&app, &format!("{OBJECTS}?match[type]=iep04-envelope")).await;
    let carrier = &envelope["objects"][0];
    assert_eq!(
        carrier["id"],
        "iep04-envelope--7a1d3f5e-9b2c-4d6e-8f0a-1b3c5d7e9f2a"
    );
    assert_eq!(carrier["envelope"].as_str().unwrap(), text);
    assert_eq!(carrier["created"], "2024-06-02T07:15:00.000Z");
    app.stop().await;
}

#[tokio::test]
async fn posted_carriers_and_foreign_indicators_become_envelopes() {
    let app = spawn_app().await;
    let text =
        std::fs::read(crate::helpers::fixtures().join("intelmq/sinkhole.draft.json")).unwrap();
    let rules = stixgate::envelope::IntakeRules {
        minting: stixgate::envelope::Minting::Uuid4,
        bare_shape: stixgate::envelope::Shape::Draft,
    };
    let envelope = stixgate::envelope::Envelope::parse(text.trim_ascii(), &rules).unwrap();
    let tables = stixgate::mapping::Tables::embedded();
    let carrier = stixgate::mapping::map_envelope(&envelope, &tables, None).carrier;
    let foreign = json!({"type": "indicator", "spec_version": "2.1", "id": "indicator--0b5a2f1c-3d4e-4f60-8a7b-9c0d1e2f3a4b",
        "created": "2024-02-03T04:05:06.000Z", "modified": "2024-02-03T04:05:06.000Z", "pattern_type": "stix",
        "pattern": "[domain-name:value = 'c2.example.net']", "valid_from": "2024-02-03T04:05:06Z"});
    let mut broken = carrier.clone();
    broken["id"] = json!("iep04-envelope--5f0c1b2a-3d4e-4f50-8a6b-7c8d9e0f1a2b");
    broken["envelope"] = json!("{not an envelope");
    let status = app
        .add_objects("intelmq", &[carrier, foreign, broken])
        .await;
    assert_eq!(
        (
            status["success_count"].as_u64(),
            status["failure_count"].as_u64()
        ),
        (Some(2), Some(1)),
        "{status}"
    );
    assert!(
        status["failures"][0]["message"]
            .as_str()
            .unwrap()
            .contains("no valid envelope")
    );

    let (code, back) = app.get_envelope(envelope.id().as_str()).await;
    assert_eq!((code, back.as_slice()), (StatusCode::OK, text.trim_ascii()));
    let back = app
        .wait_for_envelope("indicator--0b5a2f1c-3d4e-4f60-8a7b-9c0d1e2f3a4b")
        .await;
    let made: Value = serde_json::from_slice(&back).unwrap();
    assert_eq!(made["payload"]["source.fqdn"], "c2.example.net");
    assert_eq!(made["meta"]["format"], "intelmq");
    app.stop().await;
}

#[tokio::test]
async fn in_carriers_mode_foreign_objects_give_no_envelope() {
    let app = spawn_app_with(|s| {
        s.taxii.envelopes_from_posts = stixgate::config::PostedEnvelopes::Carriers
    })
    .await;
    let status = app
        .add_objects("intelmq", &[indicator(3, "2020-01-01T00:00:00.000Z")])
        .await;
    assert_eq!(status["success_count"], 1);
    let (code, _) = app
        .get_envelope("indicator--00000000-0000-4000-8000-000000000003")
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    app.stop().await;
}

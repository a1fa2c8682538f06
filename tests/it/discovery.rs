//! TAXII discovery answers absolute URLs, on the same base as the operator page: `public_url` when set, else the
//! request's `Host`, or a trusted proxy's `Forwarded` or `X-Forwarded-Host` and `-Proto`; never what an
//! untrusted client forges, and never a `Host` that is not a host[:port].

use reqwest::StatusCode;
use serde_json::Value;
use stixgate::config::{AddressBlock, PublicUrl, Settings};

use crate::helpers::{COLLECTION, TAXII, TestApp, spawn_app, spawn_app_with};
use crate::hostile::raw_exchange;

/// Discovery's `default` and `api_roots`, and the TAXII URL the operator page offers for the collection, as
/// answered to a request with `headers`.
async fn urls(app: &TestApp, headers: &[(&str, &str)]) -> (String, Vec<String>, bool) {
    let mut discovery = app.taxii(reqwest::Method::GET, "/taxii2/");
    let mut page = app.client.get(format!("{}/", app.address));
    for (name, value) in headers {
        discovery = discovery.header(*name, *value);
        page = page.header(*name, *value);
    }
    let discovery = discovery.send().await.unwrap();
    assert_eq!(discovery.status(), StatusCode::OK);
    let discovery: Value = discovery.json().await.unwrap();
    let default = discovery["default"].as_str().unwrap().to_owned();
    let roots = discovery["api_roots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|root| root.as_str().unwrap().to_owned())
        .collect();
    let page = page.send().await.unwrap().text().await.unwrap();
    let same_base_on_the_page = page.contains(&format!("{default}collections/{COLLECTION}/"));
    (default, roots, same_base_on_the_page)
}

fn trust(proxies: &[&str]) -> impl FnOnce(&mut Settings) {
    let blocks = proxies
        .iter()
        .map(|block| AddressBlock::try_from(block.to_string()).unwrap())
        .collect();
    move |settings| settings.trusted_proxies = blocks
}

const FORGED: [&[(&str, &str)]; 2] = [
    &[("Forwarded", "host=evil.example;proto=https")],
    &[
        ("X-Forwarded-Host", "evil.example"),
        ("X-Forwarded-Proto", "https"),
    ],
];

#[tokio::test]
async fn discovery_names_the_api_root_by_the_host_the_client_asked() {
    let app = spawn_app().await;
    let own = format!("{}/api/", app.address);
    let (default, roots, on_page) = urls(&app, &[]).await;
    assert_eq!(default, own);
    assert_eq!(roots, std::slice::from_ref(&own));
    assert!(on_page, "the operator page offers {own}collections/…");
    let root = app
        .client
        .get(&default)
        .header("Accept", TAXII)
        .send()
        .await
        .unwrap();
    assert_eq!(
        root.status(),
        StatusCode::OK,
        "the default root is followed as it is"
    );
    let named = urls(&app, &[("Host", "stix.example:8080")]).await;
    assert_eq!(named.0, "http://stix.example:8080/api/");
    assert!(named.2);
    app.stop().await;
}

#[tokio::test]
async fn an_untrusted_clients_proxy_headers_are_ignored() {
    // A trusted proxy elsewhere: the test client, on 127.0.0.1, is not one.
    let app = spawn_app_with(trust(&["192.0.2.0/24"])).await;
    let own = format!("{}/api/", app.address);
    for headers in FORGED {
        let (default, roots, on_page) = urls(&app, headers).await;
        assert_eq!(default, own, "{headers:?}");
        assert_eq!(roots, std::slice::from_ref(&own), "{headers:?}");
        assert!(on_page, "{headers:?}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_trusted_proxys_headers_name_the_public_address() {
    let app = spawn_app_with(trust(&["127.0.0.1/32"])).await;
    for headers in FORGED {
        let (default, _, on_page) = urls(&app, headers).await;
        assert_eq!(default, "https://evil.example/api/", "{headers:?}");
        assert!(on_page, "{headers:?}");
    }
    let with_port = [
        ("X-Forwarded-Host", "stix.example:8443"),
        ("X-Forwarded-Proto", "https"),
    ];
    assert_eq!(
        urls(&app, &with_port).await.0,
        "https://stix.example:8443/api/"
    );
    app.stop().await;
}

#[tokio::test]
async fn public_url_names_the_api_roots_whatever_the_request_says() {
    let app = spawn_app_with(|settings| {
        trust(&["127.0.0.1/32"])(settings);
        settings.public_url =
            Some(PublicUrl::try_from("https://taxii.example.org/stix/".to_owned()).unwrap());
    })
    .await;
    for headers in [&[][..], FORGED[0], FORGED[1], &[("Host", "other.example")]] {
        let (default, roots, on_page) = urls(&app, headers).await;
        assert_eq!(
            default, "https://taxii.example.org/stix/api/",
            "{headers:?}"
        );
        assert_eq!(roots, std::slice::from_ref(&default));
        assert!(on_page, "{headers:?}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_host_that_is_no_host_is_answered_400_and_never_repeated() {
    let app = spawn_app_with(trust(&["127.0.0.1/32"])).await;
    let long = format!("{}.example", "a".repeat(4000));
    let hostile = [
        "evil.example/\"><script>alert(1)</script>",
        "evil.example:80:80",
        "evil example",
        long.as_str(),
    ];
    for host in hostile {
        for (header, path) in [
            ("Host", "/taxii2/"),
            ("Host", "/"),
            ("X-Forwarded-Host", "/taxii2/"),
        ] {
            let response = app
                .client
                .get(format!("{}{path}", app.address))
                .header("Accept", TAXII)
                .header(header, host)
                .send()
                .await
                .unwrap();
            let what = format!("{header}: {} on {path}", &host[..host.len().min(40)]);
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{what}");
            let headers = format!("{:?}", response.headers());
            let body = response.text().await.unwrap();
            assert!(body.contains("not a host[:port]"), "{what}: {body}");
            assert!(
                !body.contains(host) && !headers.contains(host),
                "{what}: {body}"
            );
        }
    }
    // HTTP/1.0 needs no Host: the address the server listens on stands in.
    let (answer, _) = raw_exchange(
        &app,
        b"GET /taxii2/ HTTP/1.0\r\nAccept: application/taxii+json;version=2.1\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.0 200"), "{answer}");
    assert!(
        answer.contains(&format!("\"default\":\"{}/api/\"", app.address)),
        "{answer}"
    );
    app.stop().await;
}

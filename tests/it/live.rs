//! stixgate's live extension of Get Objects (issue 15), with a real `stixgate serve` process on loopback.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::runtime::Runtime;

use crate::federation::collection_url;
use crate::helpers::{ServerProcess, TAXII};

/// GETs the objects of the server's collection with `query`, and gives the status, the live header and the body.
fn get_objects(
    runtime: &Runtime,
    server: &ServerProcess,
    query: &str,
) -> (StatusCode, bool, serde_json::Value) {
    let url = format!("{}objects/?{query}", collection_url(server));
    runtime.block_on(async {
        let response = reqwest::Client::new()
            .get(url)
            .header("Accept", TAXII)
            .send()
            .await
            .unwrap();
        let (status, live) = (
            response.status(),
            response.headers().contains_key("X-Stixgate-Live"),
        );
        (status, live, response.json().await.unwrap())
    })
}

#[test]
fn the_wait_is_opt_in_bounded_and_ends_when_the_server_stops() {
    let data = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(data.path());
    let runtime = Runtime::new().unwrap();
    // A standard request on an empty collection is answered as before, and announces the extension.
    let (status, live, page) = get_objects(&runtime, &server, "limit=5");
    assert_eq!((status, live), (StatusCode::OK, true));
    assert_eq!(page, serde_json::json!({"more": false}));
    let (status, _, page) = get_objects(&runtime, &server, "x-stixgate-wait=soon");
    assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
    // A wait that nothing ends answers the same empty page at its end.
    let (status, _, page) = get_objects(&runtime, &server, "x-stixgate-wait=1");
    assert_eq!(
        (status, page),
        (StatusCode::OK, serde_json::json!({"more": false}))
    );

    // A request waiting a minute is answered, not cut off, when the server stops.
    let address = server.address.clone();
    let waiting = std::thread::spawn(move || {
        let runtime = Runtime::new().unwrap();
        let started = Instant::now();
        let url = format!(
            "{address}/api/collections/{}/objects/",
            crate::helpers::COLLECTION
        );
        let answer = runtime.block_on(async {
            let response = reqwest::Client::new()
                .get(format!("{url}?x-stixgate-wait=60"))
                .header("Accept", TAXII)
                .send()
                .await?;
            response.json::<serde_json::Value>().await
        });
        (answer.map_err(|e| e.to_string()), started.elapsed())
    });
    // Time for the request to reach the server; arriving after the stop would fail the test, not pass it.
    std::thread::sleep(Duration::from_millis(500));
    assert!(server.terminate().success());
    let (answer, waited) = waiting.join().unwrap();
    println!("a waiting request ended {waited:?} after it was sent, at the server's stop");
    assert_eq!(answer, Ok(serde_json::json!({"more": false})));
}

//! IntelMQ's bots that are not plain HTTP requests: the `tcp` output into the `[intelmq.tcp]` listener, the
//! `http_stream` collector on `GET /intelmq/stream`, and `[[intelmq.push]]` into an `api` collector.

use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use futures_util::StreamExt;
use serde_json::{Value, json};
use stixgate::intelmq::{IntelmqPushSettings, IntelmqTcpSettings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

const PATIENCE: Duration = Duration::from_secs(10);

/// A flat event with sorted keys, as IntelMQ's `to_json` writes it.
fn event(ip: &str) -> Value {
    json!({
        "classification.type": "scanner",
        "feed.name": "tcp test",
        "source.ip": ip,
        "time.observation": "2024-01-02T03:04:05+00:00",
    })
}

/// What the tcp output sends by default: a 4-byte big-endian length, then the JSON.
fn frame(json: &[u8]) -> Vec<u8> {
    let mut frame = u32::try_from(json.len()).unwrap().to_be_bytes().to_vec();
    frame.extend_from_slice(json);
    frame
}

async fn send_frame(connection: &mut TcpStream, json: &[u8]) -> [u8; 2] {
    connection.write_all(&frame(json)).await.unwrap();
    let mut answer = [0; 2];
    tokio::time::timeout(PATIENCE, connection.read_exact(&mut answer))
        .await
        .expect("an answer comes")
        .unwrap();
    answer
}

async fn feed_lines(app: &TestApp) -> Vec<Value> {
    let text = app
        .client
        .get(format!("{}/intelmq/feed", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A port nobody listens on now; `Application` gives only its HTTP port back to the helpers.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

async fn app_with_tcp() -> (TestApp, String) {
    let address = format!("127.0.0.1:{}", free_port());
    let listen = address.clone();
    let app = spawn_app_with(|settings| {
        settings.intelmq.tcp = Some(IntelmqTcpSettings {
            listen,
            collection: None,
            separator: "\n".into(),
        });
    })
    .await;
    (app, address)
}

#[tokio::test]
async fn tcp_frames_are_answered_ok_once_stored_and_a_resent_frame_is_a_duplicate() {
    let (app, address) = app_with_tcp().await;
    let mut connection = TcpStream::connect(&address).await.unwrap();
    let first = serde_json::to_vec(&event("192.0.2.1")).unwrap();
    assert_eq!(&send_frame(&mut connection, &first).await, b"Ok");
    assert_eq!(
        feed_lines(&app).await,
        [event("192.0.2.1")],
        "stored before Ok"
    );
    // The bot's resend after a lost `Ok`.
    assert_eq!(&send_frame(&mut connection, &first).await, b"Ok");
    // Bad frames are refused without `Ok`, and the connection goes on.
    assert_ne!(&send_frame(&mut connection, b"{not json").await, b"Ok");
    assert_ne!(&send_frame(&mut connection, b"[1, 2]").await, b"Ok");
    let hierarchical =
        json!({"classification": {"type": "scanner"}, "source": {"ip": "192.0.2.2"}});
    let hierarchical = serde_json::to_vec(&hierarchical).unwrap();
    assert_eq!(&send_frame(&mut connection, &hierarchical).await, b"Ok");
    let stored = feed_lines(&app).await;
    assert_eq!(stored.len(), 2, "the resent frame is no second event");
    assert_eq!(
        stored[1],
        json!({"classification.type": "scanner", "source.ip": "192.0.2.2"})
    );
    // The same content hash as the restapi intake: the event is a duplicate there too.
    let answer: Value = app
        .client
        .post(format!("{}/intelmq/events", app.address))
        .body(first)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["status"], "duplicate");
    drop(connection);
    app.stop().await;
}

#[tokio::test]
async fn a_tcp_event_that_flattens_past_its_budget_is_refused_and_nothing_stored() {
    let (app, address) = app_with_tcp().await;
    let mut connection = TcpStream::connect(&address).await.unwrap();
    let amplifying = serde_json::to_vec(&crate::budgets::amplifying_payload()).unwrap();
    assert_ne!(&send_frame(&mut connection, &amplifying).await, b"Ok");
    let good = serde_json::to_vec(&event("192.0.2.3")).unwrap();
    assert_eq!(&send_frame(&mut connection, &good).await, b"Ok");
    assert_eq!(feed_lines(&app).await, [event("192.0.2.3")]);
    drop(connection);
    app.stop().await;
}

#[tokio::test]
async fn tcp_text_ending_in_the_separator_is_stored_without_answers() {
    let (app, address) = app_with_tcp().await;
    let mut connection = TcpStream::connect(&address).await.unwrap();
    let mut text = Vec::new();
    for ip in ["192.0.2.10", "192.0.2.11"] {
        text.extend(serde_json::to_vec(&event(ip)).unwrap());
        text.push(b'\n');
    }
    text.extend(b"{bad}\n\n");
    text.extend(serde_json::to_vec(&event("192.0.2.12")).unwrap());
    text.push(b'\n');
    connection.write_all(&text).await.unwrap();
    connection.shutdown().await.unwrap();
    let mut rest = Vec::new();
    connection.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty(), "nothing is answered: {rest:?}");
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut stored = feed_lines(&app).await;
    while stored.len() < 3 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        stored = feed_lines(&app).await;
    }
    let ips: Vec<_> = stored.iter().map(|e| e["source.ip"].clone()).collect();
    assert_eq!(
        ips,
        [
            json!("192.0.2.10"),
            json!("192.0.2.11"),
            json!("192.0.2.12")
        ]
    );
    app.stop().await;
}

/// Reads the stream until it has given `n` events (lines that are not empty).
async fn read_events(
    body: &mut (impl futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
    buffer: &mut Vec<u8>,
    n: usize,
) -> Vec<Value> {
    let events = |buffer: &[u8]| -> Vec<Value> {
        buffer
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect()
    };
    while events(buffer).len() < n {
        let chunk = tokio::time::timeout(PATIENCE, body.next())
            .await
            .expect("the stream goes on")
            .expect("the stream is open")
            .unwrap();
        buffer.extend_from_slice(&chunk);
    }
    events(buffer)
}

async fn post_event(app: &TestApp, ip: &str) {
    let status = app
        .client
        .post(format!("{}/intelmq/events", app.address))
        .json(&event(ip))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
}

#[tokio::test]
async fn the_stream_gives_what_is_stored_and_then_each_new_event() {
    let app = spawn_app().await;
    post_event(&app, "192.0.2.20").await;
    let response = app
        .client
        .get(format!(
            "{}/intelmq/stream?id_key=extra.stixgate_id",
            app.address
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let mut body = response.bytes_stream();
    let mut buffer = Vec::new();
    let seen = read_events(&mut body, &mut buffer, 1).await;
    assert_eq!(seen[0]["source.ip"], "192.0.2.20");
    post_event(&app, "192.0.2.21").await;
    post_event(&app, "192.0.2.22").await;
    let seen = read_events(&mut body, &mut buffer, 3).await;
    let ips: Vec<_> = seen.iter().map(|e| e["source.ip"].clone()).collect();
    assert_eq!(
        ips,
        [
            json!("192.0.2.20"),
            json!("192.0.2.21"),
            json!("192.0.2.22")
        ]
    );
    assert!(seen.iter().all(|e| e["extra.stixgate_id"].is_string()));
    // An open stream does not hold up the shutdown, and it ends.
    tokio::time::timeout(PATIENCE, app.stop())
        .await
        .expect("the server stops while a stream is open");
    let rest = tokio::time::timeout(PATIENCE, body.next()).await;
    assert!(matches!(rest, Ok(None | Some(Err(_)))), "{rest:?}");
}

#[tokio::test]
async fn a_bad_stream_query_is_refused() {
    let app = spawn_app().await;
    let status = app
        .client
        .get(format!("{}/intelmq/stream?id_key=stixgate_id", app.address))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 400);
    app.stop().await;
}

/// IntelMQ's `api` collector: takes any body at `POST /intelmq/push` and answers 200.
async fn api_collector() -> (
    String,
    mpsc::UnboundedReceiver<String>,
    actix_web::dev::ServerHandle,
) {
    let (sent, received) = mpsc::unbounded_channel();
    let server = HttpServer::new(move || {
        let sent = sent.clone();
        App::new().route(
            "/intelmq/push",
            web::post().to(move |body: String| {
                let sent = sent.clone();
                async move {
                    let _ = sent.send(body);
                    HttpResponse::Ok().finish()
                }
            }),
        )
    })
    .workers(1)
    .disable_signals();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/intelmq/push", listener.local_addr().unwrap());
    let server = server.listen(listener).unwrap().run();
    let handle = server.handle();
    tokio::spawn(server);
    (url, received, handle)
}

#[tokio::test]
async fn pushes_reach_the_api_collector_as_ndjson_once_each() {
    let (url, mut received, collector) = api_collector().await;
    let fields = tempfile::NamedTempFile::new().unwrap();
    // A receiver that knows fewer fields: `feed.name` is not among them, so it moves under extra.
    let list = json!({
        "event": {
            "classification.type": {"type": "ClassificationType"},
            "extra": {"type": "JSONDict"},
            "source.ip": {"type": "IPAddress"},
            "time.observation": {"type": "DateTime"},
        },
        "report": {"feed.name": {"type": "String"}},
    });
    std::fs::write(fields.path(), list.to_string()).unwrap();
    let push = IntelmqPushSettings {
        url,
        collection: None,
        interval: 1,
        fields: Some(fields.path().to_owned()),
    };
    let app = spawn_app_with(|settings| settings.intelmq.push = vec![push]).await;
    post_event(&app, "192.0.2.30").await;
    post_event(&app, "192.0.2.31").await;
    let mut lines = Vec::new();
    while lines.len() < 2 {
        let batch = tokio::time::timeout(PATIENCE, received.recv())
            .await
            .expect("a push comes")
            .unwrap();
        lines.extend(
            batch
                .lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap()),
        );
    }
    let ips: Vec<_> = lines.iter().map(|e| e["source.ip"].clone()).collect();
    assert_eq!(ips, [json!("192.0.2.30"), json!("192.0.2.31")]);
    assert_eq!(lines[0]["extra.feed.name"], "tcp test");
    assert!(lines[0].get("feed.name").is_none());
    post_event(&app, "192.0.2.32").await;
    let batch = tokio::time::timeout(PATIENCE, received.recv())
        .await
        .expect("the next push comes")
        .unwrap();
    let later: Vec<Value> = batch
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(later.len(), 1, "only what is new: {batch}");
    assert_eq!(later[0]["source.ip"], "192.0.2.32");
    app.stop().await;
    collector.stop(true).await;
}

/// The feed delivers an address as IntelMQ itself holds it: `Message.add` keeps a value that is valid as
/// written, so an upper-case IPv6 stays upper case; one IntelMQ must sanitise (a /128) is written as Python's
/// ipaddress writes it, in lower case. tests/intelmq checks the same against IntelMQ 3.5.0 itself.
#[tokio::test]
async fn the_feed_delivers_ipv6_addresses_as_intelmq_holds_them() {
    let app = spawn_app().await;
    for ip in ["2001:DB8::BB2B:F258", "2001:DB8::1/128"] {
        post_event(&app, ip).await;
    }
    let delivered: Vec<Value> = feed_lines(&app)
        .await
        .into_iter()
        .map(|event| event["source.ip"].clone())
        .collect();
    assert_eq!(
        delivered,
        [json!("2001:DB8::BB2B:F258"), json!("2001:db8::1")]
    );
    app.stop().await;
}

//! The logs an operator ships: JSON lines from the real binary, with who asked, from where, and what came of
//! it, and never a credential.

use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use stixgate::secret::{hash_password, token_digest};

use crate::helpers::{COLLECTION, ServerProcess, TAXII, indicator};

const PASSWORD: &str = "correct horse battery staple";
const TOKEN: &str = "a-bearer-token-that-must-never-be-logged";

/// A configuration with JSON logs, one user with a password and a token, and `extra` after it.
fn json_config(dir: &Path, extra: &str) -> std::path::PathBuf {
    let config = dir.join("stixgate.toml");
    let text = format!(
        "log_format = \"json\"\n{extra}\n\
         [[users]]\nname = \"alice\"\npassword = \"{}\"\ntokens = [\"{}\"]\n\
         [[api_roots]]\npath = \"api\"\ntitle = \"t\"\n\
         [[api_roots.collections]]\nid = \"{COLLECTION}\"\nalias = \"intelmq\"\ntitle = \"c\"\n\
         read = [\"alice\"]\nwrite = [\"alice\"]\nanonymous_read = false\nanonymous_write = false\n",
        hash_password(PASSWORD),
        token_digest(TOKEN),
    );
    std::fs::write(&config, text).unwrap();
    config
}

/// Every line of the log as JSON: a line that is not JSON fails the test.
fn json_lines(server: &ServerProcess) -> Vec<Value> {
    server
        .log_lines()
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect()
}

/// The request lines, in order, once `count` of them are there.
fn request_lines(server: &ServerProcess, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let lines: Vec<Value> = json_lines(server)
            .into_iter()
            .filter(|line| line["message"] == "request")
            .collect();
        if lines.len() >= count || Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A client whose connections come from `source`, a loopback address.
fn client_from(source: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(source.parse::<IpAddr>().unwrap())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

#[tokio::test]
async fn json_request_lines_name_the_client_the_user_and_the_route_and_no_credential() {
    let dir = tempfile::tempdir().unwrap();
    // Only 127.0.0.2 is a proxy: what 127.0.0.1 says it forwards for is not believed.
    let config = json_config(dir.path(), "trusted_proxies = [\"127.0.0.2/32\"]");
    let server = ServerProcess::start_configured(&dir.path().join("data"), &config);
    let port = server.port();
    let direct = client_from("127.0.0.1");
    let proxy = client_from("127.0.0.2");
    let objects = format!("http://127.0.0.1:{port}/api/collections/{COLLECTION}/objects/");
    let basic = direct
        .get(format!("http://127.0.0.1:{port}/taxii2/"))
        .header("Accept", TAXII)
        .header("X-Forwarded-For", "198.51.100.1")
        .basic_auth("alice", Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 200);
    let bearer = proxy
        .post(&objects)
        .header("Accept", TAXII)
        .header("Content-Type", TAXII)
        .header("X-Forwarded-For", "6.6.6.6, 192.0.2.7")
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({"objects": [indicator(1, "2020-01-01T00:00:00.000Z")]}))
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), 202);
    // A trusted proxy's own request, without the header: the proxy is the client.
    let anonymous = proxy
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 200);
    let wrong = direct
        .get(&objects)
        .header("Accept", TAXII)
        .basic_auth("alice", Some("not-the-password"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    // Known, but not an admin: the refusal names who was refused.
    let refused = direct
        .get(format!("http://127.0.0.1:{port}/peers"))
        .basic_auth("alice", Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let lines = request_lines(&server, 5);
    assert_eq!(lines.len(), 5, "{lines:#?}");
    let expected = [
        ("127.0.0.1", "alice", "GET", "/taxii2/", 200),
        (
            "192.0.2.7",
            "alice",
            "POST",
            "/api/collections/{collection}/objects/",
            202,
        ),
        ("127.0.0.2", "-", "GET", "/healthz", 200),
        (
            "127.0.0.1",
            "-",
            "GET",
            "/api/collections/{collection}/objects/",
            401,
        ),
        ("127.0.0.1", "alice", "GET", "/peers", 403),
    ];
    for (line, (client, user, method, route, status)) in lines.iter().zip(expected) {
        assert_eq!(line["level"], "INFO", "{line}");
        assert_eq!(line["client"], client, "{line}");
        assert_eq!(line["user"], user, "{line}");
        assert_eq!(line["method"], method, "{line}");
        assert_eq!(line["route"], route, "{line}");
        assert_eq!(line["status"], status, "{line}");
        assert!(line["duration_us"].as_u64().is_some(), "{line}");
    }
    assert!(server.terminate().success());
    let log = server_log_text(&lines);
    for secret in [PASSWORD, "not-the-password", TOKEN, "YWxpY2U6"] {
        assert!(!log.contains(secret), "{secret} is in the log");
    }
}

fn server_log_text(lines: &[Value]) -> String {
    lines
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn a_peer_run_logs_one_summary_line_with_its_counts_and_the_url_without_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let remote_config = json_config(dir.path(), "");
    let remote = ServerProcess::start_configured(&dir.path().join("remote"), &remote_config);
    let objects = format!("{}/api/collections/{COLLECTION}/objects/", remote.address);
    let posted = reqwest::Client::new()
        .post(&objects)
        .header("Accept", TAXII)
        .header("Content-Type", TAXII)
        .basic_auth("alice", Some(PASSWORD))
        .json(&serde_json::json!({"objects": [
            indicator(1, "2020-01-01T00:00:00.000Z"),
            indicator(2, "2020-01-01T00:00:00.000Z"),
        ]}))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 202);
    let url = format!(
        "http://alice:{}@127.0.0.1:{}/api/collections/{COLLECTION}/",
        PASSWORD.replace(' ', "%20"),
        remote.port()
    );
    let local_config = dir.path().join("local.toml");
    std::fs::write(
        &local_config,
        format!(
            "log_format = \"json\"\n[[peer]]\nname = \"remote\"\nurl = \"{url}\"\ndirection = \"pull\"\n\
             interval = 3600\n"
        ),
    )
    .unwrap();
    let local = ServerProcess::start_configured(&dir.path().join("local"), &local_config);
    let deadline = Instant::now() + Duration::from_secs(60);
    while local.log_count("peer run finished") == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let lines = json_lines(&local);
    local.kill();
    remote.kill();
    let find = |message: &str| {
        lines
            .iter()
            .find(|line| line["message"] == message)
            .unwrap_or_else(|| panic!("no {message:?} line in {lines:#?}"))
    };
    let pull = find("pull finished");
    assert_eq!(pull["job"], "pull");
    assert_eq!(
        pull["url"],
        format!(
            "http://127.0.0.1:{}/api/collections/{COLLECTION}/",
            url.rsplit_once(':').unwrap().1.split('/').next().unwrap()
        )
    );
    assert_eq!(pull["objects"], 2, "{pull}");
    assert_eq!(pull["new"], 2, "{pull}");
    assert_eq!(pull["failures"], 0, "{pull}");
    assert!(pull["seconds"].as_f64().is_some(), "{pull}");
    let run = find("peer run finished");
    assert_eq!(run["peer"], "remote");
    assert_eq!(run["objects_pulled"], 2, "{run}");
    assert_eq!(run["level"], "INFO");
    let text = server_log_text(&lines);
    assert!(
        !text.contains(PASSWORD) && !text.contains("correct%20horse"),
        "{text}"
    );
}

#[tokio::test]
async fn the_admin_endpoints_requests_are_logged_with_the_operator_as_user() {
    let dir = tempfile::tempdir().unwrap();
    let config = json_config(dir.path(), "");
    let data = dir.path().join("data");
    let server = ServerProcess::start_configured(&data, &config);
    let admin: Value =
        serde_json::from_slice(&std::fs::read(data.join("admin.json")).unwrap()).unwrap();
    let token = admin["token"].as_str().unwrap();
    let answer = reqwest::Client::new()
        .post(format!("{}/admin/jobs", admin["url"].as_str().unwrap()))
        .bearer_auth(token)
        .body("not a job")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
    let lines = request_lines(&server, 1);
    server.kill();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["route"], "/admin/jobs");
    assert_eq!(lines[0]["user"], ":operator");
    assert_eq!(lines[0]["status"], 400);
    assert!(!server_log_text(&lines).contains(token));
}

/// On sled one process owns the store: the start log says that every job runs here, without leases (which only
/// PostgreSQL has), and names the second port it listens on as the admin endpoint, the one `admin.json` names.
#[test]
fn a_sled_start_logs_its_jobs_without_leases_and_names_the_admin_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = ServerProcess::start(&data);
    let deadline = Instant::now() + Duration::from_secs(30);
    // The upkeep jobs of every sled server: pruning statuses and compacting texts.
    while server.log_count("the job runs here") < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let admin: Value =
        serde_json::from_slice(&std::fs::read(data.join("admin.json")).unwrap()).unwrap();
    let lines = server.log_lines();
    server.kill();
    let log = lines.join("\n");
    for job in ["prune-statuses", "compact-texts"] {
        assert!(
            lines
                .iter()
                .any(|line| line.contains("the job runs here") && line.contains(job)),
            "{job}: {log}"
        );
    }
    assert!(
        log.contains("every background job runs in this process"),
        "{log}"
    );
    assert!(!log.to_lowercase().contains("lease"), "{log}");
    let admin_url = admin["url"].as_str().unwrap();
    assert!(
        lines.iter().any(|line| line.contains(&format!(
            "the admin endpoint listens on {admin_url}, on loopback only"
        ))),
        "{log}"
    );
}

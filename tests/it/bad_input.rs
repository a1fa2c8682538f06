//! Every kind of bad record gets a clear message naming the field, stores nothing, and does not stop the good
//! records of the same batch.

use reqwest::StatusCode;

use crate::helpers::{run_cli, spawn_app};

/// (record, the id it would have, what the message must say)
fn bad_records() -> Vec<(String, Option<&'static str>, &'static str)> {
    vec![
        (r#"{"meta": {"uuid": "bad-json"}, "payload": {"#.into(), None, "invalid JSON"),
        (
            r#"{"meta": {"uuid": "bad-dup"}, "payload": {"source.ip": "192.0.2.1", "source.ip": "192.0.2.2"}}"#.into(),
            Some("bad-dup"),
            r#"duplicate key "source.ip" in `payload`"#,
        ),
        (r#"{"meta": {"uuid": {"parent": "p"}}, "payload": {}}"#.into(), None, "field `meta.uuid.current` is missing"),
        (r#"{"meta": {"uuid": ""}, "payload": {}}"#.into(), None, "field `meta.uuid` is empty"),
        (r#"{"meta": {"uuid": "bad-nopayload"}}"#.into(), Some("bad-nopayload"), "field `payload` is missing"),
        (r#"{"meta": {"uuid": "bad-payload"}, "payload": "x"}"#.into(), Some("bad-payload"), "field `payload` must be a JSON object"),
        (
            r#"{"format": "intelmq", "meta": {"uuid": "bad-key"}, "payload": {"Source-IP": "192.0.2.1"}}"#.into(),
            Some("bad-key"),
            r#"payload key "Source-IP" breaks IntelMQ's key grammar"#,
        ),
        (r#"{"meta": {"uuid": "bad-raw"}, "payload": {"raw": "%%%"}}"#.into(), Some("bad-raw"), "field `raw` is not valid base64"),
        (
            format!(r#"{{"meta": {{"uuid": "{}"}}, "payload": {{}}}}"#, "L".repeat(300)),
            None,
            "field `meta.uuid` is 300 characters long; at most 256 are allowed",
        ),
        (r#"{"Bad.Key": 1}"#.into(), None, r#"payload key "Bad.Key""#),
        (
            r#"{"type": "indicator", "name": "x", "source": "192.0.2.1"}"#.into(),
            None,
            r#"no IntelMQ field: "type", "name", "source""#,
        ),
        (r#"["not", "an", "object"]"#.into(), None, "the record is not a JSON object"),
    ]
}

const GOOD: &str = r#"{"meta": {"uuid": "good-1"}, "payload": {"source.ip": "192.0.2.9"}}"#;

#[tokio::test]
async fn over_http_each_bad_record_is_named_and_the_good_one_is_stored() {
    let app = spawn_app().await;
    for (bad, id, expected) in bad_records() {
        let (status, answer) = app.post_envelopes("", format!("{GOOD}\n{bad}\n")).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        let records = answer["records"].as_array().unwrap();
        assert_eq!(
            records[0]["status"],
            if answer["stored"] == 1 {
                "stored"
            } else {
                "duplicate"
            }
        );
        assert_eq!(records[1]["status"], "error", "{bad}");
        assert_eq!(records[1]["line"], 2);
        let message = records[1]["message"].as_str().unwrap();
        assert!(
            message.contains(expected),
            "{bad}\n  gave {message}\n  want {expected}"
        );
        if let Some(id) = id {
            assert_eq!(
                app.get_envelope(id).await.0,
                StatusCode::NOT_FOUND,
                "{id} was stored"
            );
        }
        let (status, answer) = app.post_envelopes("", bad.clone()).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "only bad records: {answer}"
        );
    }
    app.stop().await;
}

#[test]
fn import_reports_file_and_line_exits_non_zero_and_keeps_the_good_records() {
    let data = tempfile::tempdir().unwrap();
    let mut input = format!("{GOOD}\n");
    for (bad, _, _) in bad_records() {
        input.push_str(&bad);
        input.push('\n');
    }
    let output = run_cli(&["import", "-"], data.path(), input.as_bytes());
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    for (line, (_, _, expected)) in bad_records().into_iter().enumerate() {
        let located = format!("-:line {}: ", line + 2);
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with(&located) && l.contains(expected)),
            "missing {located}{expected} in\n{stderr}"
        );
    }
    assert!(
        stderr.contains(&format!(
            "1 stored, 0 duplicates, {} errors",
            bad_records().len()
        )),
        "{stderr}"
    );
    let exported = run_cli(&["export"], data.path(), b"");
    assert_eq!(
        String::from_utf8(exported.stdout).unwrap(),
        format!("{GOOD}\n")
    );
}

//! `stixgate import`, `export` and `serve` as a user runs them.

use serde_json::{Map, Value};

use crate::helpers::{BINARY, ServerProcess, fixtures, run_cli};

fn fixture_files(kind: &str) -> Vec<String> {
    ["sinkhole", "misp-origin", "n6-blacklist"]
        .iter()
        .map(|name| {
            fixtures()
                .join(format!("intelmq/{name}.{kind}.json"))
                .display()
                .to_string()
        })
        .collect()
}

fn import_files(data: &std::path::Path, files: &[String]) -> std::process::Output {
    let mut args = vec!["import"];
    args.extend(files.iter().map(String::as_str));
    run_cli(&args, data, b"")
}

#[test]
fn import_then_export_gives_back_byte_identical_envelopes() {
    let data = tempfile::tempdir().unwrap();
    let mut files = fixture_files("draft");
    files.extend(fixture_files("decided"));
    let output = import_files(data.path(), &files);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("6 stored, 0 duplicates, 0 errors"));
    let expected: String = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    let exported = run_cli(&["export"], data.path(), b"");
    assert!(exported.status.success());
    assert_eq!(String::from_utf8(exported.stdout).unwrap(), expected);
    let again = import_files(data.path(), &files);
    assert!(String::from_utf8_lossy(&again.stderr).contains("0 stored, 6 duplicates, 0 errors"));
}

#[test]
fn export_without_meta_writes_events_as_intelmqs_file_output() {
    let data = tempfile::tempdir().unwrap();
    let files = fixture_files("event");
    assert!(import_files(data.path(), &files).status.success());
    let plain =
        String::from_utf8(run_cli(&["export", "--without-meta"], data.path(), b"").stdout).unwrap();
    let typed = String::from_utf8(
        run_cli(
            &["export", "--without-meta", "--with-type"],
            data.path(),
            b"",
        )
        .stdout,
    )
    .unwrap();
    for ((file, plain), typed) in files.iter().zip(plain.lines()).zip(typed.lines()) {
        let mut original: Map<String, Value> =
            serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        let with_type: Map<String, Value> = serde_json::from_str(typed).unwrap();
        assert_eq!(with_type, original);
        assert!(
            typed.starts_with(r#"{"__type": "Event", "classification."#),
            "{typed}"
        );
        original.remove("__type");
        let without: Map<String, Value> = serde_json::from_str(plain).unwrap();
        assert_eq!(without, original);
        let keys: Vec<&String> = without.keys().collect();
        assert!(keys.is_sorted(), "{plain}");
        assert!(
            plain.contains("\"extra.non_ascii\": \"ççãã") || !file.contains("sinkhole"),
            "{plain}"
        );
    }
}

#[test]
fn import_refuses_clearly_while_a_server_holds_the_data() {
    let data = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(data.path());
    let output = import_files(data.path(), &fixture_files("draft"));
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("in use by another process"), "{stderr}");
    assert!(stderr.contains("POST /envelopes"), "{stderr}");
    server.kill();
}

#[test]
fn sigterm_drains_and_flushes_before_exit() {
    let data = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(data.path());
    let envelope = r#"{"meta": {"uuid": "term-1"}, "payload": {"source.ip": "192.0.2.3"}}"#;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let status = runtime.block_on(async {
        reqwest::Client::new()
            .post(format!("{}/envelopes", server.address))
            .body(envelope)
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status, 200);
    assert!(server.terminate().success());
    let exported = run_cli(&["export"], data.path(), b"");
    assert_eq!(
        String::from_utf8(exported.stdout).unwrap(),
        format!("{envelope}\n")
    );
}

#[test]
fn the_default_configuration_is_printed_and_is_what_serve_runs_on() {
    let output = std::process::Command::new(BINARY)
        .args(["serve", "--print-default-config"])
        .output()
        .unwrap();
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        stixgate::config::DEFAULT_CONFIG
    );
}

#[test]
fn a_bad_configuration_file_is_named_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("stixgate.toml");
    std::fs::write(&config, "listen = 8080\n").unwrap();
    let output = std::process::Command::new(BINARY)
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("listen"), "{stderr}");
}

#[test]
fn a_password_or_token_may_start_with_a_dash() {
    let data = tempfile::tempdir().unwrap();
    let refused = "http://127.0.0.1:9/api/collections/x/";
    for flag in ["--password", "--token"] {
        let mut args = vec![
            "pull",
            "--retries",
            "0",
            flag,
            "-starts-with-a-dash",
            refused,
        ];
        if flag == "--password" {
            args.splice(1..1, ["--user", "peer"]);
        }
        let output = run_cli(&args, data.path(), b"");
        let stderr = String::from_utf8_lossy(&output.stderr);
        // The value was taken: the pull got as far as the (closed) port.
        assert!(!stderr.contains("unexpected argument"), "{flag}: {stderr}");
        assert!(stderr.contains("127.0.0.1:9"), "{flag}: {stderr}");
    }
}

#[test]
fn export_while_a_server_runs_says_what_to_do_instead() {
    let data = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(data.path());
    let output = run_cli(&["export"], data.path(), b"");
    server.kill();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("in use by another process"), "{stderr}");
    for instead in ["GET /intelmq/feed", "stop it first", "`stixgate backup`"] {
        assert!(stderr.contains(instead), "{instead}: {stderr}");
    }
}

/// `map` and `unmap` open no store, so they offer no `--data`; `unmap` reads no configuration either.
#[test]
fn map_and_unmap_offer_only_the_options_they_use() {
    let help = |command: &str| {
        let output = std::process::Command::new(BINARY)
            .args([command, "--help"])
            .output()
            .unwrap();
        assert!(output.status.success());
        String::from_utf8(output.stdout).unwrap()
    };
    let (map, unmap) = (help("map"), help("unmap"));
    assert!(map.contains("--config"), "{map}");
    assert!(!map.contains("--data"), "{map}");
    assert!(
        !unmap.contains("--data") && !unmap.contains("--config"),
        "{unmap}"
    );
    let refused = std::process::Command::new(BINARY)
        .args(["map", "--data", "somewhere", "-"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    for command in ["backup", "restore"] {
        let text = help(command);
        assert!(text.contains("PostgreSQL database"), "{command}: {text}");
    }
}

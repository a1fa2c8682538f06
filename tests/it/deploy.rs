//! The deployment files: contrib/stixgate.service (and the Debian package's unit and configuration in
//! contrib/debian/), the Dockerfile and contrib/nginx.conf, each checked by reading it and, where the tool
//! exists, by the tool that reads it for real.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{BINARY, ServerProcess, TAXII};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Whether `tool` can be run.
fn exists(tool: &str) -> bool {
    Command::new(tool)
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A systemd unit's settings, in order: (section, key, value).
fn unit_settings(text: &str) -> Vec<(String, String, String)> {
    let mut section = String::new();
    let mut settings = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_owned();
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("not a setting: {line}"));
        settings.push((
            section.clone(),
            key.trim().to_owned(),
            value.trim().to_owned(),
        ));
    }
    settings
}

#[test]
fn the_systemd_unit_runs_serve_sandboxed_and_stops_it_gracefully() {
    let text = read("contrib/stixgate.service");
    let settings = unit_settings(&text);
    let values = |section: &str, key: &str| -> Vec<&str> {
        settings
            .iter()
            .filter(|(s, k, _)| s == section && k == key)
            .map(|(_, _, v)| v.as_str())
            .collect()
    };
    let service = |key: &str| values("Service", key);
    let exec = "/usr/local/bin/stixgate serve --config /etc/stixgate/stixgate.toml --data /var/lib/stixgate";
    assert_eq!(service("ExecStart"), [exec]);
    for (key, value) in [
        ("DynamicUser", "yes"),
        ("StateDirectory", "stixgate"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("NoNewPrivileges", "yes"),
        ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
        ("CapabilityBoundingSet", ""),
        ("MemoryDenyWriteExecute", "yes"),
        ("LockPersonality", "yes"),
        ("KillSignal", "SIGTERM"),
    ] {
        assert_eq!(service(key), [value], "{key}");
    }
    assert!(service("SystemCallFilter").contains(&"@system-service"));
    let stop: u64 = service("TimeoutStopSec")[0].parse().unwrap();
    assert!(stop > 40, "longer than serve's 40-second drain: {stop}");
    assert_eq!(values("Install", "WantedBy"), ["multi-user.target"]);

    // The flags of ExecStart are the binary's: it accepts them (and prints instead of serving).
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("stixgate.toml");
    std::fs::write(&config, "").unwrap();
    let args: Vec<String> = exec
        .split_whitespace()
        .skip(1)
        .map(|arg| match arg {
            "/etc/stixgate/stixgate.toml" => config.display().to_string(),
            "/var/lib/stixgate" => dir.path().join("data").display().to_string(),
            other => other.to_owned(),
        })
        .collect();
    let accepted = Command::new(BINARY)
        .args(&args)
        .arg("--print-default-config")
        .output()
        .unwrap();
    assert!(accepted.status.success(), "{:?}", accepted);

    systemd_accepts(&text, "/usr/local/bin/stixgate");
}

/// `systemd-analyze verify` finds nothing to complain about in the unit `text` (its binary, `installed`, replaced
/// by the one under test), and systemd's score of its sandbox is at most 2.0; where systemd-analyze exists.
fn systemd_accepts(text: &str, installed: &str) {
    if !exists("systemd-analyze") {
        println!(
            "systemd-analyze is missing: the unit was checked by reading it only, not by systemd"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let unit = dir.path().join("stixgate.service");
    assert!(text.contains(installed), "the unit runs {installed}");
    std::fs::write(&unit, text.replace(installed, BINARY)).unwrap();
    let verify = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&unit)
        .output()
        .unwrap();
    let complaints = String::from_utf8_lossy(&verify.stderr);
    assert!(
        verify.status.success() && complaints.trim().is_empty(),
        "{complaints}"
    );
    // systemd's own score of the sandbox, 0 (best) to 100: fails above 20.
    let security = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--threshold=20"])
        .arg(&unit)
        .output()
        .unwrap();
    assert!(
        security.status.success(),
        "{}",
        String::from_utf8_lossy(&security.stdout)
    );
}

/// The configuration that `check-config` (the command) accepts and prints.
fn effective_configuration(check_config: &mut Command) -> toml::Value {
    let checked = check_config.output().unwrap();
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    toml::from_str(&String::from_utf8(checked.stdout).unwrap()).unwrap()
}

/// The settings of a unit in which the keys named in `except` are left out.
fn settings_but(text: &str, except: &[&str]) -> Vec<(String, String, String)> {
    let mut settings = unit_settings(text);
    settings.retain(|(_, key, _)| !except.contains(&key.as_str()));
    settings
}

#[test]
fn the_debian_package_s_unit_is_contrib_s_unit_run_as_the_package_s_user_on_its_configuration() {
    let packaged = read("contrib/debian/stixgate.service");
    let settings = unit_settings(&packaged);
    let service = |key: &str| -> Vec<&str> {
        settings
            .iter()
            .filter(|(s, k, _)| s == "Service" && k == key)
            .map(|(_, _, v)| v.as_str())
            .collect()
    };
    assert_eq!(
        service("ExecStart"),
        ["/usr/bin/stixgate serve --config /etc/stixgate/stixgate.toml"]
    );
    assert_eq!(service("User"), ["stixgate"]);
    assert_eq!(service("Group"), ["stixgate"]);
    assert!(
        service("DynamicUser").is_empty(),
        "the package makes its user"
    );
    // Everything else, the sandbox first, is contrib/stixgate.service's: a change to one is made to both.
    let own = ["ExecStart", "User", "Group", "DynamicUser"];
    assert_eq!(
        settings_but(&packaged, &own),
        settings_but(&read("contrib/stixgate.service"), &own)
    );

    // The packaged configuration, which ExecStart names: valid, on loopback, with the data where the unit's
    // StateDirectory is, and the embedded default's collection.
    let effective = effective_configuration(
        Command::new(BINARY)
            .args(["check-config", "--config"])
            .arg(repo("contrib/debian/stixgate.toml"))
            .env_remove("STIXGATE_CONFIG"),
    );
    assert_eq!(effective["listen"].as_str(), Some("127.0.0.1:8080"));
    assert_eq!(
        effective["data"].as_str(),
        Some(format!("/var/lib/{}", service("StateDirectory")[0]).as_str())
    );
    let collection = &effective["api_roots"][0]["collections"][0];
    assert_eq!(collection["alias"].as_str(), Some("intelmq"));

    systemd_accepts(&packaged, "/usr/bin/stixgate");
}

/// The Dockerfile's instructions, stage by stage: (instruction, arguments), comments and line breaks gone.
fn dockerfile_stages(text: &str) -> Vec<Vec<(String, String)>> {
    let mut joined = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(part) => current.push_str(part),
            None => {
                current.push_str(trimmed);
                joined.push(std::mem::take(&mut current));
            }
        }
    }
    let mut stages: Vec<Vec<(String, String)>> = Vec::new();
    for instruction in joined.iter().filter(|i| !i.is_empty()) {
        let (name, arguments) = instruction.split_once(' ').unwrap_or((instruction, ""));
        let entry = (name.to_uppercase(), arguments.trim().to_owned());
        if entry.0 == "FROM" {
            stages.push(Vec::new());
        }
        stages.last_mut().expect("FROM comes first").push(entry);
    }
    stages
}

#[test]
fn the_dockerfile_builds_locked_and_runs_as_a_user_on_a_volume_with_a_health_check() {
    if exists("hadolint") {
        let lint = Command::new("hadolint")
            .args(["--no-color", "--config"])
            .arg(repo(".hadolint.yaml"))
            .arg(repo("Dockerfile"))
            .output()
            .unwrap();
        assert!(
            lint.status.success(),
            "{}",
            String::from_utf8_lossy(&lint.stdout)
        );
    } else {
        println!("hadolint is missing: the Dockerfile was checked by reading it only, not linted");
    }
    let stages = dockerfile_stages(&read("Dockerfile"));
    assert_eq!(stages.len(), 2, "a build stage and a runtime stage");
    let find = |stage: &[(String, String)], name: &str| -> Vec<String> {
        stage
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, a)| a.clone())
            .collect()
    };
    let (builder, runtime) = (&stages[0], &stages[1]);
    let from = &find(builder, "FROM")[0];
    assert!(
        from.starts_with("rust:") && from.ends_with(" AS builder"),
        "{from}"
    );
    assert!(
        find(builder, "RUN")
            .iter()
            .any(|r| r.contains("cargo build --release --locked")),
        "{builder:?}"
    );
    let ignored = read(".dockerignore");
    for copy in find(builder, "COPY") {
        let sources: Vec<&str> = copy.split_whitespace().collect();
        for source in &sources[..sources.len() - 1] {
            assert!(repo(source).exists(), "COPY {source}: no such file");
            assert!(
                !ignored.lines().any(|l| l == *source),
                "{source} is in .dockerignore"
            );
        }
    }
    let base = &find(runtime, "FROM")[0];
    assert!(
        base.starts_with("debian:") && base.ends_with("-slim"),
        "{base}"
    );
    assert!(
        find(runtime, "COPY")
            .iter()
            .any(|c| c.starts_with("--from=builder ") && c.ends_with(" /usr/local/bin/stixgate"))
    );
    let user = find(runtime, "USER");
    assert_eq!(user.len(), 1);
    let uid = user[0].split(':').next().unwrap();
    assert!(
        uid.parse::<u32>().is_ok_and(|uid| uid > 0),
        "a non-root uid: {user:?}"
    );
    assert_eq!(find(runtime, "VOLUME"), ["/var/lib/stixgate"]);
    assert_eq!(find(runtime, "EXPOSE"), ["8080"]);
    let environment: Vec<(String, String)> = find(runtime, "ENV")
        .iter()
        .flat_map(|e| e.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .map(|pair| {
            let (key, value) = pair.split_once('=').expect("ENV KEY=VALUE");
            (key.to_owned(), value.to_owned())
        })
        .collect();
    let set = |key: &str| {
        environment
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(set("STIXGATE_LISTEN"), Some("0.0.0.0:8080"));
    assert_eq!(set("STIXGATE_METRICS__PUBLIC"), Some("false"));
    assert_eq!(set("STIXGATE_DATA"), Some("/var/lib/stixgate"));

    // The image's environment, with a configuration that sets users and rights, is one serve accepts: each
    // variable names a real key.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("stixgate.toml");
    std::fs::write(
        &config,
        "[[api_roots]]\npath = \"api\"\ntitle = \"t\"\n[[api_roots.collections]]\n\
         id = \"6e1f0c3a-2b7d-4f8e-9a5c-1d2e3f4a5b6c\"\nalias = \"intelmq\"\ntitle = \"c\"\n",
    )
    .unwrap();
    let effective = effective_configuration(
        Command::new(BINARY)
            .arg("check-config")
            .envs(
                environment
                    .iter()
                    .filter(|(k, _)| k != "STIXGATE_CONFIG")
                    .cloned(),
            )
            .env("STIXGATE_CONFIG", &config),
    );
    assert_eq!(effective["listen"].as_str(), Some("0.0.0.0:8080"));
    assert_eq!(effective["metrics"]["public"].as_bool(), Some(false));

    // The health check, run as the image would, against a real server: it passes, then fails once the
    // server is gone.
    let healthcheck = find(runtime, "HEALTHCHECK");
    let command = healthcheck[0]
        .split_once("CMD ")
        .expect("HEALTHCHECK ... CMD")
        .1;
    let command: Vec<String> = serde_json::from_str(command).expect("CMD in exec form");
    let server = ServerProcess::start(&dir.path().join("data"));
    let check = |port: u16| {
        let command: Vec<String> = command
            .iter()
            .map(|a| a.replace("127.0.0.1/8080", &format!("127.0.0.1/{port}")))
            .collect();
        Command::new(&command[0])
            .args(&command[1..])
            .status()
            .unwrap()
            .success()
    };
    let port = server.port();
    assert!(
        check(port),
        "the health check fails against a healthy server"
    );
    server.kill();
    assert!(!check(port), "the health check passes without a server");
}

/// Replaces `from` in `text`, which must hold it: an example that changed shape fails the test.
fn swap(text: String, from: &str, to: &str) -> String {
    assert!(
        text.contains(from),
        "contrib/nginx.conf no longer has {from:?}"
    );
    text.replace(from, to)
}

#[tokio::test]
async fn nginx_terminates_tls_in_front_of_stixgate_and_the_logs_name_the_client_it_forwards_for() {
    assert!(
        exists("nginx"),
        "nginx is not installed; scripts/test installs it (apt-get install nginx-light)"
    );
    let dir = tempfile::tempdir().unwrap();
    let at = |name: &str| dir.path().join(name).display().to_string();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    std::fs::write(at("tls.crt"), certified.cert.pem()).unwrap();
    std::fs::write(at("tls.key"), certified.signing_key.serialize_pem()).unwrap();
    let config = dir.path().join("stixgate.toml");
    std::fs::write(
        &config,
        "log_format = \"json\"\ntrusted_proxies = [\"127.0.0.1/32\"]\n",
    )
    .unwrap();
    let stixgate = ServerProcess::start_configured(&dir.path().join("data"), &config);
    let (http, https) = (free_port(), free_port());
    let mut site = read("contrib/nginx.conf");
    site = swap(
        site,
        "server 127.0.0.1:8080;",
        &format!("server 127.0.0.1:{};", stixgate.port()),
    );
    site = swap(site, "listen 80;", &format!("listen 127.0.0.1:{http};"));
    site = swap(
        site,
        "listen 443 ssl;",
        &format!("listen 127.0.0.1:{https} ssl;"),
    );
    site = swap(site, "listen [::]:80;", "");
    site = swap(site, "listen [::]:443 ssl;", "");
    site = swap(site, "/etc/nginx/tls/taxii.example.org.crt", &at("tls.crt"));
    site = swap(site, "/etc/nginx/tls/taxii.example.org.key", &at("tls.key"));
    std::fs::write(at("stixgate.conf"), site).unwrap();
    std::fs::write(
        at("nginx.conf"),
        format!(
            "pid {pid};\nerror_log {log};\ndaemon off;\nevents {{ worker_connections 64; }}\n\
             http {{\n access_log off;\n client_body_temp_path {body};\n proxy_temp_path {proxy};\n\
             include {site};\n}}\n",
            pid = at("nginx.pid"),
            log = at("error.log"),
            body = at("body"),
            proxy = at("proxy"),
            site = at("stixgate.conf"),
        ),
    )
    .unwrap();
    let nginx = |extra: &[&str]| {
        let mut command = Command::new("nginx");
        command.args([
            "-p",
            &at(""),
            "-c",
            &at("nginx.conf"),
            "-e",
            &at("error.log"),
        ]);
        command.args(extra);
        command
    };
    let tested = nginx(&["-t"]).output().unwrap();
    assert!(
        tested.status.success(),
        "nginx -t: {}",
        String::from_utf8_lossy(&tested.stderr)
    );
    let mut running = nginx(&[])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", https)).is_err() {
        assert!(Instant::now() < deadline, "nginx did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(certified.cert.pem().as_bytes()).unwrap()])
        .resolve("localhost", ([127, 0, 0, 1], https).into())
        .local_address("127.0.0.3".parse::<std::net::IpAddr>().unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let plain = client
        .get(format!("http://127.0.0.1:{http}/taxii2/"))
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 301, "plain HTTP is sent to HTTPS");
    let answer = client
        .get(format!("https://localhost:{https}/taxii2/"))
        .header("Accept", TAXII)
        .header("X-Forwarded-For", "6.6.6.6")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let lines: Vec<Value> = loop {
        let lines: Vec<Value> = stixgate
            .log_lines()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|l| l["message"] == "request")
            .collect();
        if !lines.is_empty() || Instant::now() > deadline {
            break lines;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // SIGTERM, not SIGKILL: the master stops its workers before it exits.
    let stopped = Command::new("kill")
        .args(["-TERM", &running.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    running.wait().unwrap();
    stixgate.kill();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["route"], "/taxii2/");
    assert_eq!(
        lines[0]["client"], "127.0.0.3",
        "the client nginx forwarded for, not the forged address: {}",
        lines[0]
    );
}

//! `stixgate check-config`, and the embedded default against the configuration table of the book's reference
//! (`docs/src/reference/configuration.md`).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

use stixgate::config::{DEFAULT_CONFIG, REDACTED};
use stixgate::secret::{hash_password, token_digest};

use crate::helpers::{BINARY, COLLECTION, run_cli_with_env};

fn check_config(dir: &Path, text: &str) -> Output {
    check_config_with_env(dir, text, &[])
}

/// `check-config` on `text`, written to `stixgate.toml` in `dir`, with these environment variables set.
fn check_config_with_env(dir: &Path, text: &str, env: &[(&str, &str)]) -> Output {
    let config = dir.join("stixgate.toml");
    std::fs::write(&config, text).unwrap();
    Command::new(BINARY)
        .args(["check-config", "--config"])
        .arg(&config)
        .env_remove("STIXGATE_CONFIG")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_valid_configuration_is_printed_whole_with_its_secrets_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let hash = hash_password("the user's password");
    let digest = token_digest("the user's token");
    let text = format!(
        "trusted_proxies = [\"127.0.0.1/32\"]\n\
         [[users]]\nname = \"alice\"\npassword = \"{hash}\"\ntokens = [\"{digest}\"]\n\
         [[peer]]\nname = \"b\"\nurl = \"https://bob:peer-password@b.example/api/collections/{COLLECTION}/\"\n\
         direction = \"pull\"\ninterval = 60\n\
         [[peer]]\nname = \"c\"\nurl = \"https://c.example/api/collections/{COLLECTION}/\"\n\
         direction = \"push\"\ninterval = 60\ntoken = \"peer-token\"\n\
         [store]\nengine = \"postgres\"\nurl = \"postgres://gate:db-password@db.example/stixgate\"\n"
    );
    let output = check_config(dir.path(), &text);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains("valid"), "{}", stderr(&output));
    let printed = String::from_utf8(output.stdout).unwrap();
    for secret in [
        hash.as_str(),
        &digest,
        "peer-password",
        "peer-token",
        "db-password",
    ] {
        assert!(!printed.contains(secret), "{secret} in\n{printed}");
    }
    let value: toml::Value = toml::from_str(&printed).unwrap();
    assert_eq!(value["users"][0]["password"].as_str(), Some(REDACTED));
    assert_eq!(value["users"][0]["tokens"][0].as_str(), Some(REDACTED));
    assert_eq!(
        value["peer"][0]["url"].as_str(),
        Some(format!("https://bob:<redacted>@b.example/api/collections/{COLLECTION}/").as_str())
    );
    assert_eq!(value["peer"][1]["token"].as_str(), Some(REDACTED));
    assert_eq!(
        value["store"]["url"].as_str(),
        Some("postgres://gate:<redacted>@db.example/stixgate")
    );
    assert_eq!(value["trusted_proxies"][0].as_str(), Some("127.0.0.1/32"));
    assert_eq!(
        value["taxii"]["max_page_size"].as_integer(),
        Some(10000),
        "the defaults a file leaves out are shown too"
    );
}

#[test]
fn what_serve_would_refuse_exits_non_zero_and_names_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert = dir.path().join("cert.pem");
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    let missing = dir.path().join("missing.pem");
    let collection = |read: &str| {
        format!(
            "[[api_roots]]\npath = \"api\"\ntitle = \"t\"\n[[api_roots.collections]]\nid = \"{COLLECTION}\"\n\
             alias = \"intelmq\"\ntitle = \"c\"\nread = [{read}]\n"
        )
    };
    let cases = [
        (
            format!("[tls]\ncert = {missing:?}\nkey = {missing:?}\n"),
            format!("reading the certificate {}", missing.display()),
        ),
        (
            format!("[tls]\ncert = {cert:?}\nkey = {missing:?}\n"),
            format!("reading the private key {}", missing.display()),
        ),
        (
            collection("\"mallory\""),
            "names the unknown user \"mallory\"".to_owned(),
        ),
        (
            "listen = \"0.0.0.0:8080\"\n".to_owned(),
            "refusing to listen on 0.0.0.0:8080 with anonymous writes".to_owned(),
        ),
        (
            "trusted_proxies = [\"10.0.0.0/40\"]\n".to_owned(),
            "\"10.0.0.0/40\" is not an address".to_owned(),
        ),
        (
            "log_format = \"xml\"\n".to_owned(),
            "`log_format` must be one of \"text\", \"json\", not \"xml\"".to_owned(),
        ),
        (
            "[store]\nengine = \"postgres\"\n".to_owned(),
            "store.engine = \"postgres\" needs store.url".to_owned(),
        ),
        (
            "[store]\nengine = \"postgres\"\nurl = \"postgres://a:hunter2@db/x\"\nsslmode = \"verify-full\"\n"
                .to_owned(),
            "sslmode = \"verify-full\" needs store.ca".to_owned(),
        ),
        (
            "colour = \"red\"\n".to_owned(),
            "unknown key `colour`; the keys here are `listen`, `data`".to_owned(),
        ),
        (
            "[[users]]\nname = \"alice\"\npassword = \"hunter2\"\n".to_owned(),
            "not an argon2 hash".to_owned(),
        ),
        (
            "[[users]]\nname = \"alice\"\ntokens = [\"hunter2\"]\n".to_owned(),
            "token 1 of user \"alice\" is not a SHA-256 in hex".to_owned(),
        ),
        (
            "[[users]]\nname = \"nobody\"\nadmin = true\n".to_owned(),
            "user \"nobody\" has neither a password nor a token".to_owned(),
        ),
    ];
    for (text, expected) in cases {
        let output = check_config(dir.path(), &text);
        assert!(!output.status.success(), "{text}");
        assert!(
            stderr(&output).contains(&expected),
            "{text}: {}",
            stderr(&output)
        );
        assert!(
            output.stdout.is_empty(),
            "{text}: nothing printed when refused"
        );
        assert!(!stderr(&output).contains("hunter2"), "{}", stderr(&output));
    }
}

/// A mistake is said where it is written (the file's line and column, or the environment variable), with the
/// key as TOML writes it, in an operator's words, and with the nearest valid key; `serve` says the same.
#[test]
fn mistakes_are_said_where_they_are_written_in_an_operators_words_and_serve_says_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("stixgate.toml");
    let file = config.display().to_string();
    let typo = format!(
        "[taxii]\ntitle = \"mine\"\n\n[[api_roots]]\npath = \"api\"\ntitle = \"t\"\n\
         [[api_roots.collections]]\nid = \"{COLLECTION}\"\nalias = \"intelmq\"\ntitle = \"c\"\n  anonymus_read = true\n"
    );
    let peer = "[[peer]]\nurl = \"https://b.example/api/collections/x/\"\ndirection = \"pull\"\ninterval = 0\n";
    let none: &[(&str, &str)] = &[];
    let cases = [
        (
            typo.as_str(),
            none,
            format!(
                "{file}:11:3: unknown key `api_roots[0].collections[0].anonymus_read`; did you mean \
                 `anonymous_read`?"
            ),
        ),
        (
            "[taxii]\nmax_page_size = \"ten\"\n",
            none,
            format!("{file}:2:17: `taxii.max_page_size` must be a whole number (0 or more), not \"ten\""),
        ),
        (
            "[metrics]\npublic = 1\n",
            none,
            format!("{file}:2:10: `metrics.public` must be true or false, not 1"),
        ),
        (
            "[intake]\nmint = \"uuid5\"\n",
            none,
            format!(
                "{file}:2:8: `intake.mint` must be one of \"uuid4\", \"cycat\", \"hash\", not \"uuid5\"; \
                 did you mean \"uuid4\"?"
            ),
        ),
        (
            "[taxii]\ntitle = \"mine\"\n",
            &[("STIXGATE_TAXII__MAX_PAGE_SIZE", "-1")],
            "environment variable STIXGATE_TAXII__MAX_PAGE_SIZE: `taxii.max_page_size` must be a whole \
             number (0 or more), not -1"
                .to_owned(),
        ),
        (
            peer,
            none,
            format!(
                "{file}:4:12: peer \"https://b.example/api/collections/x/\": interval must be at least 1 \
                 (seconds)"
            ),
        ),
    ];
    for (text, env, expected) in cases {
        let checked = check_config_with_env(dir.path(), text, env);
        assert!(!checked.status.success(), "{text}");
        assert_eq!(
            stderr(&checked),
            format!("stixgate: configuration: {expected}\n"),
            "{text}"
        );
        let served = run_cli_with_env(
            &["serve", "--listen", "127.0.0.1:0", "--config", &file],
            &dir.path().join("data"),
            b"",
            env,
        );
        assert!(!served.status.success(), "{text}");
        assert_eq!(
            stderr(&served),
            stderr(&checked),
            "serve says what check-config says"
        );
    }
}

#[test]
fn a_list_in_a_file_replaces_the_defaults_list_and_a_table_is_merged_key_by_key() {
    let dir = tempfile::tempdir().unwrap();
    let collections = |value: &toml::Value| -> Vec<String> {
        value["api_roots"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|root| root["collections"].as_array().unwrap())
            .map(|c| c["alias"].as_str().unwrap().to_owned())
            .collect()
    };
    let merged = check_config(dir.path(), "[taxii]\ntitle = \"mine\"\n");
    assert!(merged.status.success(), "{}", stderr(&merged));
    let value: toml::Value = toml::from_str(&String::from_utf8(merged.stdout).unwrap()).unwrap();
    assert_eq!(value["taxii"]["title"].as_str(), Some("mine"));
    assert_eq!(value["taxii"]["max_page_size"].as_integer(), Some(10000));
    assert_eq!(collections(&value), ["intelmq"]);
    let root = "[[api_roots]]\npath = \"api\"\ntitle = \"t\"\n[[api_roots.collections]]\n\
                id = \"0b7f9a52-4e1c-4d3a-8f6e-2a9c1b5d7e30\"\nalias = \"extra\"\ntitle = \"x\"\n";
    let replaced = check_config(dir.path(), root);
    assert!(!replaced.status.success());
    assert!(
        stderr(&replaced).contains("an [[api_roots]] list in a file replaces the default's"),
        "{}",
        stderr(&replaced)
    );
    let fixed = check_config(
        dir.path(),
        &format!("[intake]\ncollection = \"extra\"\n{root}"),
    );
    assert!(fixed.status.success(), "{}", stderr(&fixed));
    let value: toml::Value = toml::from_str(&String::from_utf8(fixed.stdout).unwrap()).unwrap();
    assert_eq!(
        collections(&value),
        ["extra"],
        "the default collection is gone"
    );
}

/// The keys of the embedded default: those it sets, and those its commented examples show (`#   key = ...`
/// under a commented `[table]` or `[[list]]`). A list of tables counts by its entries' keys.
fn default_keys() -> BTreeSet<String> {
    let header = |text: &str| {
        let text = text.trim();
        (text.starts_with('[') && text.ends_with(']'))
            .then(|| text.trim_matches(|c| c == '[' || c == ']').to_owned())
    };
    let key = |text: &str| {
        let (key, _) = text.trim().split_once(" = ")?;
        key.bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'_')
            .then(|| key.to_owned())
    };
    let join = |table: &str, key: String| {
        if table.is_empty() {
            key
        } else {
            format!("{table}.{key}")
        }
    };
    let mut keys = BTreeSet::new();
    let (mut table, mut example) = (String::new(), String::new());
    for line in DEFAULT_CONFIG.lines() {
        match line.strip_prefix('#') {
            Some(comment) => {
                if let Some(name) = header(comment) {
                    example = name;
                } else if comment.starts_with("  ") {
                    // An example's key, or the continuation of an example's comment.
                    if let Some(key) = key(comment) {
                        keys.insert(join(&example, key));
                    }
                } else {
                    // Prose ends an example.
                    example.clone_from(&table);
                }
            }
            None => {
                if let Some(name) = header(line) {
                    table = name;
                    example.clone_from(&table);
                } else if let Some(key) = key(line) {
                    keys.insert(join(&table, key));
                }
            }
        }
    }
    let lists: Vec<String> = keys
        .iter()
        .filter(|k| keys.iter().any(|other| other.starts_with(&format!("{k}."))))
        .cloned()
        .collect();
    keys.retain(|k| !lists.contains(k));
    keys
}

/// The keys of the book's configuration table: the first column's, and for a `[table]` or `[[list]]` row, the
/// keys its last column names.
fn documented_keys() -> BTreeSet<String> {
    let page = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/src/reference/configuration.md");
    let section = std::fs::read_to_string(&page).unwrap();
    assert!(
        section.starts_with("# Configuration\n"),
        "{} is the Configuration page",
        page.display()
    );
    let quoted = |cell: &str| -> Vec<String> {
        cell.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect()
    };
    let mut keys = BTreeSet::new();
    for row in section.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = row.split('|').collect();
        let (first, meaning) = (cells[1], cells[cells.len() - 2]);
        for name in quoted(first) {
            if name.starts_with('[') {
                let table = name.trim_matches(|c| c == '[' || c == ']');
                for key in quoted(meaning) {
                    if key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                        keys.insert(format!("{table}.{key}"));
                    }
                }
            } else {
                keys.insert(name);
            }
        }
    }
    keys
}

#[test]
fn the_books_configuration_table_and_the_embedded_default_name_the_same_keys() {
    let (default, documented) = (default_keys(), documented_keys());
    assert!(default.len() > 40, "the parser finds the keys: {default:?}");
    let undocumented: Vec<_> = default.difference(&documented).collect();
    let not_in_default: Vec<_> = documented.difference(&default).collect();
    assert!(
        undocumented.is_empty() && not_in_default.is_empty(),
        "in the default but not in the book's table: {undocumented:?}\n\
         in the book's table but not in the default: {not_in_default:?}"
    );
}

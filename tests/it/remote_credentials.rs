//! The remote server's credentials for `pull` and `push`, kept off the command line: `--password-file` and
//! `--token-file` (first line), `STIXGATE_PASSWORD` and `STIXGATE_TOKEN`; given twice or from a missing file,
//! they are refused before anything is sent.

use actix_web::http::StatusCode;
use serde_json::json;

use crate::client::{Stub, cli_with_env as cli, resources, taxii};

/// The credential arguments of one pull, the environment it runs in, and what is expected of it.
type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], String);

/// A TAXII server with one collection, empty.
async fn empty_collection() -> Stub {
    Stub::start(|seen, _| {
        resources(seen, 1000)
            .unwrap_or_else(|| taxii(StatusCode::OK, &json!({"more": false, "objects": []})))
    })
    .await
}

#[tokio::test]
async fn pull_reads_the_password_and_token_from_a_file_or_the_environment() {
    let stub = empty_collection().await;
    let url = stub.collection_url();
    let data = tempfile::tempdir().unwrap();
    let secrets = tempfile::tempdir().unwrap();
    let password_file = secrets.path().join("password");
    // A random password may start with `-`; the line break an editor adds is not part of it.
    std::fs::write(&password_file, "-pw from a file\n").unwrap();
    let token_file = secrets.path().join("token");
    std::fs::write(&token_file, "t0k-file\r\nignored second line\n").unwrap();
    let (password_file, token_file) = (
        password_file.to_str().unwrap(),
        token_file.to_str().unwrap(),
    );
    let basic = |credentials: &str| {
        use base64::Engine as _;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(credentials)
        )
    };
    let cases: [Case; 5] = [
        (
            &["--user", "alice", "--password-file", password_file],
            &[],
            basic("alice:-pw from a file"),
        ),
        (
            &["--user", "alice"],
            &[("STIXGATE_PASSWORD", "pw from the environment")],
            basic("alice:pw from the environment"),
        ),
        (
            &["--user", "alice", "--password", "pw"],
            &[],
            basic("alice:pw"),
        ),
        (&["--token-file", token_file], &[], "Bearer t0k-file".into()),
        (
            &[],
            &[("STIXGATE_TOKEN", "t0k-env")],
            "Bearer t0k-env".into(),
        ),
    ];
    for (credentials, env, expected) in cases {
        let mut args = vec!["pull", url.as_str()];
        args.extend_from_slice(credentials);
        let (ok, stderr) = cli(&args, env, data.path()).await;
        assert!(ok, "{args:?}: {stderr}");
        let sent = stub.requests("GET", "/objects/").pop().unwrap();
        assert_eq!(
            sent.header("authorization"),
            Some(expected.as_str()),
            "{args:?}"
        );
    }
    stub.stop().await;
}

#[tokio::test]
async fn a_password_or_token_given_twice_or_from_a_missing_file_is_refused_before_sending() {
    let stub = empty_collection().await;
    let url = stub.collection_url();
    let data = tempfile::tempdir().unwrap();
    let secrets = tempfile::tempdir().unwrap();
    let file = secrets.path().join("secret");
    std::fs::write(&file, "s3cret\n").unwrap();
    let empty = secrets.path().join("empty");
    std::fs::write(&empty, "\n").unwrap();
    let missing = secrets.path().join("missing");
    let (file, empty, missing) = (
        file.to_str().unwrap(),
        empty.to_str().unwrap(),
        missing.to_str().unwrap(),
    );
    let cases: [Case; 6] = [
        (
            &["--user", "a", "--password", "pw", "--password-file", file],
            &[],
            "the password is given twice, in --password-file and in --password or $STIXGATE_PASSWORD"
                .into(),
        ),
        (
            &["--user", "a", "--password-file", file],
            &[("STIXGATE_PASSWORD", "pw")],
            "the password is given twice".into(),
        ),
        (
            &["--token-file", file],
            &[("STIXGATE_TOKEN", "t")],
            "the token is given twice, in --token-file and in --token or $STIXGATE_TOKEN".into(),
        ),
        (
            &["--user", "a", "--password-file", missing],
            &[],
            format!("reading the password file {missing}"),
        ),
        (
            &["--token-file", missing],
            &[],
            format!("reading the token file {missing}"),
        ),
        (
            &["--user", "a", "--password-file", empty],
            &[],
            format!("the password file {empty} has no password on its first line"),
        ),
    ];
    for (credentials, env, expected) in cases {
        let mut args = vec!["pull", url.as_str()];
        args.extend_from_slice(credentials);
        let (ok, stderr) = cli(&args, env, data.path()).await;
        assert!(!ok, "{args:?} succeeded");
        assert!(stderr.contains(&expected), "{args:?}: {stderr}");
    }
    assert!(stub.requests("GET", "").is_empty(), "something was sent");
    stub.stop().await;
}

//! What a hostile client tried (issue 22's low findings), each refused or bounded.

use std::os::unix::fs::PermissionsExt;

use reqwest::{Method, StatusCode};

use crate::helpers::{run_cli, spawn_app};

/// A backup holds the cursor secret and TLP:AMBER data: only its owner may read the file, even where a
/// file of the same name was there before.
#[test]
fn a_backup_file_is_readable_by_its_owner_only() {
    let data = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let path = out.path().join("stixgate.backup");
    let stale = out.path().join("stixgate.backup.partial");
    std::fs::write(&stale, b"left by a backup that broke off").unwrap();
    std::fs::set_permissions(&stale, std::fs::Permissions::from_mode(0o644)).unwrap();
    let output = run_cli(&["backup", path.to_str().unwrap()], data.path(), b"");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
}

/// An `Authorization` value without a scheme is most likely a bare token or password: the 401 repeats none
/// of it.
#[tokio::test]
async fn a_refused_authorization_header_is_not_repeated() {
    let app = spawn_app().await;
    let secret = "s3cr3t".repeat(3_000);
    for value in [secret.clone(), format!("{secret} more"), format!("Digest {secret}")] {
        let response = app
            .taxii(Method::GET, "/taxii2/")
            .header("Authorization", &value)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let body = response.text().await.unwrap();
        assert!(!body.contains("s3cr3t"), "{body}");
        assert!(body.contains("neither Basic nor Bearer"), "{body}");
    }
    app.stop().await;
}

//! A start that fails says why, naming the address or the data directory, and leaves nothing behind.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::helpers::{run_cli, run_cli_with_env};

fn stderr_of(args: &[&str], data: &Path) -> String {
    let output = run_cli(args, data, b"");
    assert!(!output.status.success(), "{args:?} succeeded");
    String::from_utf8(output.stderr).unwrap()
}

#[test]
fn a_failed_bind_names_the_address_and_leaves_no_data_directory() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let parent = tempfile::tempdir().unwrap();
    let data = parent.path().join("fresh");
    let stderr = stderr_of(&["serve", "--listen", &address], &data);
    assert!(
        stderr.contains(&format!("cannot listen on {address}")),
        "{stderr}"
    );
    assert!(
        !data.exists(),
        "the failed start created {}",
        data.display()
    );
}

/// `serve` and `import` both say which directory and why. Root writes through permissions (as in CI), so
/// there the read-only case is left to the store's unit test, which builds the error itself, and said so.
#[test]
fn a_data_directory_that_cannot_be_made_is_named_with_the_cause() {
    let parent = tempfile::tempdir().unwrap();
    let file = parent.path().join("a-file");
    std::fs::write(&file, b"").unwrap();
    let read_only = parent.path().join("read-only");
    std::fs::create_dir(&read_only).unwrap();
    std::fs::set_permissions(&read_only, std::fs::Permissions::from_mode(0o555)).unwrap();
    let mut cases = vec![(
        file.join("data"),
        "a part of the path is a file, not a directory; change --data",
    )];
    if std::fs::create_dir(read_only.join("probe")).is_ok() {
        eprintln!(
            "permissions do not bite for this user: the read-only case is left to the unit test"
        );
    } else {
        cases.push((
            read_only.join("data"),
            "permission denied; run as the directory's owner or change --data",
        ));
    }
    for (data, cause) in cases {
        for args in [&["serve", "--listen", "127.0.0.1:0"][..], &["import", "-"]] {
            let stderr = stderr_of(args, &data);
            let expected = format!(
                "stixgate: cannot write to the data directory {}: {cause}",
                data.display()
            );
            assert!(stderr.contains(&expected), "{args:?}: {stderr}");
        }
    }
}

/// On PostgreSQL the data directory holds only the admin endpoint's file: a start refused by the database
/// leaves no directory (nor the parents it would have made) behind, as on sled.
#[test]
fn a_start_the_database_refuses_leaves_no_data_directory() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "postgres://stixgate@{}/stixgate",
        closed.local_addr().unwrap()
    );
    drop(closed);
    let parent = tempfile::tempdir().unwrap();
    let data = parent.path().join("fresh").join("data");
    let output = run_cli_with_env(
        &["serve", "--listen", "127.0.0.1:0"],
        &data,
        b"",
        &[
            ("STIXGATE_STORE__ENGINE", "postgres"),
            ("STIXGATE_STORE__URL", &url),
            ("STIXGATE_STORE__SSLMODE", "disable"),
        ],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot connect to the PostgreSQL database"),
        "{stderr}"
    );
    assert!(
        !parent.path().join("fresh").exists(),
        "the failed start created {}",
        data.display()
    );
}

//! `stixgate hash-password` from a pipe.

use argon2::password_hash::PasswordHash;
use argon2::{Argon2, PasswordVerifier};

use std::io::Write;
use std::process::{Command, Output, Stdio};

use crate::helpers::BINARY;

fn hash_password(stdin: &[u8]) -> Output {
    let mut child = Command::new(BINARY)
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn hash_password_hashes_the_one_line_it_reads_from_a_pipe() {
    let output = hash_password(b"correct horse\nsecond line\n");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let hash = String::from_utf8(output.stdout).unwrap();
    let hash = PasswordHash::new(hash.trim_end()).unwrap();
    assert!(
        Argon2::default()
            .verify_password(b"correct horse", &hash)
            .is_ok()
    );
    assert!(
        Argon2::default()
            .verify_password(b"correct horse\n", &hash)
            .is_err()
    );
    let empty = hash_password(b"\n");
    assert!(!empty.status.success());
    assert!(String::from_utf8_lossy(&empty.stderr).contains("empty"));
}

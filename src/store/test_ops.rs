//! Writes that the store's tests of every engine make: an envelope with a given id and payload, put into a
//! collection.

use super::{DuplicatePolicy, WriteOp};
use crate::envelope::{Envelope, IntakeRules, Minting, Shape};

/// An envelope with the id `id` and the payload `body` (JSON text).
pub(super) fn envelope(id: &str, body: &str) -> Envelope {
    let text = format!(r#"{{"meta":{{"uuid":{{"current":"{id}"}}}},"payload":{body}}}"#);
    let rules = IntakeRules {
        minting: Minting::Uuid4,
        bare_shape: Shape::Draft,
    };
    Envelope::parse(text.as_bytes(), &rules).unwrap()
}

/// Puts the envelope `id` with the payload `body` into `collection`.
pub(super) fn put_in(collection: &str, id: &str, body: &str, policy: DuplicatePolicy) -> WriteOp {
    WriteOp::PutEnvelope {
        envelope: envelope(id, body),
        collection: collection.into(),
        policy,
        objects: Vec::new(),
    }
}

/// A tmpfs mounted on a temporary directory, unmounted when dropped (also when the test fails): a real full disk.
/// Mounting takes root, as CI has; anywhere else the test fails, saying so.
pub(in crate::store) struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    pub fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            mounted.status.success(),
            "this test mounts a tmpfs and must run as root, as CI does: {}",
            String::from_utf8_lossy(&mounted.stderr)
        );
        Self(dir)
    }

    pub fn path(&self) -> &std::path::Path {
        self.0.path()
    }

    /// Fills the tmpfs to the last byte with the file `name`, and returns its path.
    pub fn fill(&self, name: &str) -> std::path::PathBuf {
        use std::io::Write;
        let path = self.path().join(name);
        let mut file = std::fs::File::create(&path).unwrap();
        for block in [64 * 1024, 1] {
            while file.write_all(&vec![1; block]).is_ok() {}
        }
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.0.path())
            .status();
    }
}

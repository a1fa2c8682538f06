//! Envelope identifiers: the exact original string of `meta.uuid.current` / `meta.uuid`.

use std::fmt;

use uuid::Uuid;

/// Longest id accepted, in characters. IEP04 leaves the format open; this bound keeps keys small.
pub const MAX_ID_CHARS: usize = 256;

/// An envelope id, validated but otherwise kept exactly as received: everything is keyed by this string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EnvelopeId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("is empty")]
    Empty,
    #[error("is {0} characters long; at most {MAX_ID_CHARS} are allowed")]
    TooLong(usize),
    #[error("contains a control character")]
    ControlCharacter,
}

impl EnvelopeId {
    /// Accepts any non-empty string of at most [`MAX_ID_CHARS`] characters without control characters:
    /// an RFC 4122 UUID, a CyCat id `publisher:project:UUID`, or an opaque id such as `cert_at:aaaa-bbbb`.
    pub fn parse(raw: impl Into<String>) -> Result<Self, IdError> {
        let raw = raw.into();
        if raw.is_empty() {
            return Err(IdError::Empty);
        }
        let chars = raw.chars().count();
        if chars > MAX_ID_CHARS {
            return Err(IdError::TooLong(chars));
        }
        // Control characters would make ids unprintable in logs and would break the NUL-terminated store keys.
        if raw.chars().any(char::is_control) {
            return Err(IdError::ControlCharacter);
        }
        Ok(Self(raw))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id as an RFC 4122 UUID of version 1 to 5, when it is written as one.
    pub fn as_rfc4122_uuid(&self) -> Option<Uuid> {
        let uuid = Uuid::try_parse(&self.0).ok()?;
        let rfc4122 = uuid.get_variant() == uuid::Variant::RFC4122;
        (rfc4122 && (1..=5).contains(&uuid.get_version_num())).then_some(uuid)
    }
}

impl fmt::Display for EnvelopeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_uuids_cycat_and_opaque_ids_verbatim() {
        for raw in [
            "72ddb00c-2d0a-4eea-b7ac-ae122b8e6c3b",
            "cert-at:intelmq:72ddb00c-2d0a-4eea-b7ac-ae122b8e6c3b",
            "cert_at:aaaa-bbbb-cccc-dddd",
            "CESNET-RT#2235",
        ] {
            assert_eq!(EnvelopeId::parse(raw).unwrap().as_str(), raw);
        }
    }

    #[test]
    fn rejects_empty_long_and_control_ids() {
        assert_eq!(EnvelopeId::parse(""), Err(IdError::Empty));
        assert_eq!(
            EnvelopeId::parse("x".repeat(257)),
            Err(IdError::TooLong(257))
        );
        assert!(EnvelopeId::parse("é".repeat(256)).is_ok());
        assert_eq!(EnvelopeId::parse("a\u{0}b"), Err(IdError::ControlCharacter));
    }

    #[test]
    fn only_versions_one_to_five_count_as_rfc4122() {
        let v4 = EnvelopeId::parse("72ddb00c-2d0a-4eea-b7ac-ae122b8e6c3b").unwrap();
        assert!(v4.as_rfc4122_uuid().is_some());
        let v7 = EnvelopeId::parse("01890a5d-ac96-774b-bcce-b302099a8057").unwrap();
        assert!(v7.as_rfc4122_uuid().is_none());
        let cycat =
            EnvelopeId::parse("cert-at:intelmq:72ddb00c-2d0a-4eea-b7ac-ae122b8e6c3b").unwrap();
        assert!(cycat.as_rfc4122_uuid().is_none());
    }
}

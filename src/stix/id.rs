//! STIX identifiers, `object-type--UUID` (STIX 2.1 §2.9).

use std::fmt;

use crate::quote::shown;

/// A STIX id whose type part is a valid type name and whose UUID part is an RFC 4122 UUID.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StixId(String);

impl StixId {
    pub fn parse(text: &str) -> Result<Self, String> {
        let (object_type, uuid) = text
            .split_once("--")
            .ok_or_else(|| format!("{} is not a STIX id of the form type--UUID", shown(text)))?;
        if !is_valid_type(object_type) {
            return Err(format!(
                "{} does not start with a valid STIX type name",
                shown(text)
            ));
        }
        let parsed = uuid::Uuid::try_parse(uuid)
            .map_err(|_| format!("{} does not end in a UUID", shown(text)))?;
        if parsed.get_variant() != uuid::Variant::RFC4122 || uuid.len() != 36 {
            return Err(format!("{} does not end in an RFC 4122 UUID", shown(text)));
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn object_type(&self) -> &str {
        self.0.split_once("--").map_or("", |(t, _)| t)
    }
}

impl fmt::Display for StixId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// STIX 2.1 §7.3.2 / §3.1: 3 to 250 characters of `a-z`, `0-9` and `-`, without `--`.
pub fn is_valid_type(name: &str) -> bool {
    (3..=250).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.contains("--")
        && !name.starts_with('-')
        && !name.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_spec_ids_and_refuses_malformed_ones() {
        let id = StixId::parse("indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f").unwrap();
        assert_eq!(id.object_type(), "indicator");
        for bad in [
            "indicator",
            "indicator--",
            "Indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
            "in--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
            "indicator--8e2e2d2b17d44cbf938f98ee46b3cd3f",
            "x--y--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
            "indicator--8e2e2d2b-17d4-4cbf-138f-98ee46b3cd3f",
        ] {
            assert!(StixId::parse(bad).is_err(), "{bad}");
        }
    }
}

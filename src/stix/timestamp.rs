//! Timestamps: read leniently where TAXII clients send them, strictly where STIX defines them, and always
//! written with exactly six fractional digits and `Z` (TAXII 2.1 §2).

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};

/// An instant with microsecond precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} is not an RFC 3339 timestamp such as 2024-05-18T11:36:08.000000Z", crate::quote::shown(.0))]
pub struct TimestampError(pub String);

impl Timestamp {
    pub fn from_micros(micros: i64) -> Self {
        Self(micros)
    }

    pub fn micros(self) -> i64 {
        self.0
    }

    pub fn now() -> Self {
        Self(Utc::now().timestamp_micros())
    }

    /// RFC 3339 with 0 to 9 fractional digits and any offset, as TAXII clients send in `added_after` and
    /// `match[version]` (taxii2-client drops trailing zeros; others send offsets). Digits past microseconds
    /// are cut.
    pub fn parse_lenient(text: &str) -> Result<Self, TimestampError> {
        let error = || TimestampError(text.to_owned());
        let fraction_digits = text.split_once('.').map_or(0, |(_, rest)| {
            rest.bytes().take_while(u8::is_ascii_digit).count()
        });
        if fraction_digits > 9 {
            return Err(error());
        }
        let parsed = DateTime::parse_from_rfc3339(text).map_err(|_| error())?;
        Ok(Self(parsed.with_timezone(&Utc).timestamp_micros()))
    }

    /// A STIX timestamp (STIX 2.1 §2.16): RFC 3339 in UTC, ending in `Z`.
    pub fn parse_stix(text: &str) -> Result<Self, TimestampError> {
        if !text.ends_with('Z') || text.as_bytes().get(10).is_none_or(|&b| b != b'T') {
            return Err(TimestampError(text.to_owned()));
        }
        Self::parse_lenient(text)
    }

    fn datetime(self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.0).unwrap_or_default()
    }

    /// `YYYY-MM-DDTHH:MM:SS.ssssssZ`, the TAXII form.
    pub fn to_taxii(self) -> String {
        self.datetime().to_rfc3339_opts(SecondsFormat::Micros, true)
    }

    /// `YYYY-MM-DDTHH:MM:SS.sssZ`, the STIX best-practice form of `created` and `modified`.
    pub fn to_stix_millis(self) -> String {
        self.datetime().to_rfc3339_opts(SecondsFormat::Millis, true)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_taxii())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_leniently_and_writes_six_digits() {
        let expected = "2021-01-01T00:00:00.500000Z";
        for text in [
            "2021-01-01T00:00:00.5Z",
            "2021-01-01T00:00:00.500Z",
            "2021-01-01T00:00:00.500000000Z",
            "2021-01-01T01:00:00.5+01:00",
            "2021-01-01t00:00:00.5z",
        ] {
            assert_eq!(
                Timestamp::parse_lenient(text).unwrap().to_taxii(),
                expected,
                "{text}"
            );
        }
        assert_eq!(
            Timestamp::parse_lenient("2021-01-01T00:00:00Z")
                .unwrap()
                .to_taxii(),
            "2021-01-01T00:00:00.000000Z"
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for text in [
            "",
            "yesterday",
            "2021-13-01T00:00:00Z",
            "2021-01-01",
            "2021-01-01T00:00:00.1234567890Z",
            "2021-01-01T00:00:00.Z",
        ] {
            assert!(Timestamp::parse_lenient(text).is_err(), "{text}");
        }
    }

    #[test]
    fn stix_timestamps_must_be_utc_with_z() {
        assert!(Timestamp::parse_stix("2021-01-01T00:00:00.000Z").is_ok());
        assert!(Timestamp::parse_stix("2021-01-01T00:00:00.000+00:00").is_err());
        assert_eq!(
            Timestamp::parse_stix("2021-01-01T00:00:00.123456Z")
                .unwrap()
                .to_stix_millis(),
            "2021-01-01T00:00:00.123Z"
        );
    }
}

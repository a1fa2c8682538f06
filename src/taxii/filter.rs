//! Query parameters (TAXII 2.1 §3.4): parsed strictly, so that a malformed or repeated parameter is an
//! error that names it, never a silent guess.

use std::collections::HashSet;

use crate::quote::{cut, shown};
use crate::stix::{StixId, Timestamp, is_valid_type};

/// The parameters an endpoint takes (TAXII 2.1 §3.4.1's table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// Get Objects and Get Manifest: everything.
    Listing,
    /// Get an Object.
    Object,
    /// Delete an Object.
    Delete,
    /// Get Object Versions.
    Versions,
}

/// `match[version]`: which versions of each object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionFilter {
    pub all: bool,
    pub first: bool,
    pub last: bool,
    pub exact: Vec<Timestamp>,
}

impl VersionFilter {
    /// What Get Objects, Get Manifest and Get an Object use when `match[version]` is absent.
    pub fn last() -> Self {
        Self {
            last: true,
            ..Self::default()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filters {
    pub added_after: Option<Timestamp>,
    pub limit: Option<usize>,
    pub next: Option<String>,
    pub ids: Option<Vec<StixId>>,
    pub types: Option<Vec<String>>,
    /// `None` when absent: listings then take [`VersionFilter::last`], Delete takes every version.
    pub versions: Option<VersionFilter>,
    pub spec_versions: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("the query string is not valid URL encoding: {0}")]
    Encoding(String),
    #[error("parameter `{}` appears more than once", cut(.0))]
    Repeated(String),
    #[error("parameter `{0}` is not taken by this endpoint")]
    NotHere(String),
    #[error("parameter `{name}`: {problem}")]
    Malformed { name: String, problem: String },
}

impl Filters {
    /// Parses a raw query string for `endpoint`. Unknown `match[...]` fields are ignored (TAXII 2.1 §3.4.1
    /// lets servers ignore fields they do not understand), and so are parameters TAXII does not define.
    pub fn parse(query: &str, endpoint: Endpoint) -> Result<Self, FilterError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
            .map_err(|e| FilterError::Encoding(cut(&e.to_string())))?;
        let mut seen = HashSet::new();
        let mut filters = Filters {
            added_after: None,
            limit: None,
            next: None,
            ids: None,
            types: None,
            versions: None,
            spec_versions: None,
        };
        for (name, value) in pairs {
            if !seen.insert(name.clone()) {
                return Err(FilterError::Repeated(name));
            }
            let malformed = |problem: String| FilterError::Malformed {
                name: name.clone(),
                problem,
            };
            let allowed = match name.as_str() {
                "added_after" | "limit" | "next" => endpoint != Endpoint::Delete,
                "match[id]" | "match[type]" => endpoint == Endpoint::Listing,
                "match[version]" => endpoint != Endpoint::Versions,
                "match[spec_version]" => true,
                _ => continue,
            };
            if !allowed {
                return Err(FilterError::NotHere(name));
            }
            match name.as_str() {
                "added_after" => {
                    filters.added_after = Some(
                        Timestamp::parse_lenient(&value).map_err(|e| malformed(e.to_string()))?,
                    );
                }
                "limit" => {
                    let limit =
                        value
                            .parse::<usize>()
                            .ok()
                            .filter(|&l| l > 0)
                            .ok_or_else(|| {
                                malformed(format!("{} is not a positive integer", shown(&value)))
                            })?;
                    filters.limit = Some(limit);
                }
                "next" if value.is_empty() => return Err(malformed("is empty".into())),
                "next" => filters.next = Some(value),
                "match[id]" => {
                    let ids = list(&value).map_err(malformed)?;
                    filters.ids = Some(
                        ids.into_iter()
                            .map(StixId::parse)
                            .collect::<Result<_, _>>()
                            .map_err(malformed)?,
                    );
                }
                "match[type]" => {
                    let types = list(&value).map_err(malformed)?;
                    if let Some(bad) = types.iter().find(|t| !is_valid_type(t)) {
                        return Err(malformed(format!("{} is not a STIX type name", shown(bad))));
                    }
                    filters.types = Some(types.into_iter().map(str::to_owned).collect());
                }
                "match[version]" => filters.versions = Some(versions(&value).map_err(malformed)?),
                "match[spec_version]" => {
                    let versions = list(&value).map_err(malformed)?;
                    if let Some(bad) = versions.iter().find(|v| !is_spec_version(v)) {
                        return Err(malformed(format!(
                            "{} is not a version such as 2.1",
                            shown(bad)
                        )));
                    }
                    filters.spec_versions = Some(versions.into_iter().map(str::to_owned).collect());
                }
                _ => unreachable!("only known names get this far"),
            }
        }
        Ok(filters)
    }

    /// Whether objects of STIX 2.1, the only version stored, pass `match[spec_version]`.
    pub fn wants_stix_21(&self) -> bool {
        self.spec_versions
            .as_ref()
            .is_none_or(|v| v.iter().any(|v| v == "2.1"))
    }
}

/// A comma-separated list without empty items or repeats.
fn list(value: &str) -> Result<Vec<&str>, String> {
    let items: Vec<&str> = value.split(',').collect();
    if items.iter().any(|i| i.is_empty()) {
        return Err(format!("{} has an empty item", shown(value)));
    }
    let mut seen = HashSet::new();
    if let Some(repeated) = items.iter().find(|i| !seen.insert(**i)) {
        return Err(format!("{} is listed twice", shown(repeated)));
    }
    Ok(items)
}

fn versions(value: &str) -> Result<VersionFilter, String> {
    let mut filter = VersionFilter::default();
    let items = list(value)?;
    for item in &items {
        match *item {
            "all" if items.len() > 1 => {
                return Err("`all` cannot be combined with other values".into());
            }
            "all" => filter.all = true,
            "first" => filter.first = true,
            "last" => filter.last = true,
            timestamp => filter
                .exact
                .push(Timestamp::parse_lenient(timestamp).map_err(|e| e.to_string())?),
        }
    }
    Ok(filter)
}

fn is_spec_version(text: &str) -> bool {
    text.split_once('.').is_some_and(|(major, minor)| {
        [major, minor]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str) -> Result<Filters, FilterError> {
        Filters::parse(query, Endpoint::Listing)
    }

    #[test]
    fn reads_every_filter() {
        let f = parse("added_after=2021-01-01T00:00:00Z&limit=5&next=abc&match[id]=indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f&match[type]=indicator,malware&match[version]=first,2020-01-01T00:00:00.5Z&match[spec_version]=2.0,2.1&match[foo]=bar&other=1").unwrap();
        assert_eq!(f.limit, Some(5));
        assert_eq!(f.next.as_deref(), Some("abc"));
        assert_eq!(f.types.unwrap(), ["indicator", "malware"]);
        let versions = f.versions.unwrap();
        assert!(versions.first && !versions.last && versions.exact.len() == 1);
        assert!(f.spec_versions.is_some());
        assert_eq!(parse("").unwrap().versions, None);
    }

    #[test]
    fn malformed_and_repeated_parameters_are_named() {
        let cases = [
            ("limit=0", "`limit`"),
            ("limit=-3", "`limit`"),
            ("limit=ten", "`limit`"),
            ("added_after=yesterday", "`added_after`"),
            (
                "match[type]=indicator&match[type]=malware",
                "`match[type]` appears more than once",
            ),
            ("limit=1&limit=2", "appears more than once"),
            ("match[version]=all,last", "cannot be combined"),
            ("match[version]=last,last", "listed twice"),
            ("match[version]=soon", "`match[version]`"),
            ("match[id]=nope", "`match[id]`"),
            ("match[type]=Indicator", "not a STIX type name"),
            ("match[type]=indicator,", "empty item"),
            ("match[spec_version]=two", "not a version"),
            ("next=", "`next`"),
        ];
        for (query, expected) in cases {
            let error = parse(query).unwrap_err().to_string();
            assert!(error.contains(expected), "{query}: {error}");
        }
    }

    #[test]
    fn endpoints_take_only_their_parameters() {
        assert!(Filters::parse("match[version]=all", Endpoint::Delete).is_ok());
        assert_eq!(
            Filters::parse("limit=1", Endpoint::Delete).unwrap_err(),
            FilterError::NotHere("limit".into())
        );
        assert!(Filters::parse("match[type]=indicator", Endpoint::Object).is_err());
        assert!(Filters::parse("match[version]=all", Endpoint::Versions).is_err());
        assert!(
            Filters::parse(
                "added_after=2021-01-01T00:00:00Z&match[spec_version]=2.1",
                Endpoint::Versions
            )
            .is_ok()
        );
    }
}

//! Content negotiation (TAXII 2.1 §1.6.8): `application/taxii+json`, with `version=2.1` or no version.

/// The media type of every TAXII 2.1 response.
pub const TAXII_21: &str = "application/taxii+json;version=2.1";
/// The media type of STIX 2.1 content, as listed in collections and manifests.
pub const STIX_21: &str = "application/stix+json;version=2.1";

/// Whether an `Accept` header lets us answer with TAXII 2.1. A missing header accepts anything (RFC 9110
/// §12.5.1), and so do `*/*` and `application/*` ranges, which generic clients send; a range with `q=0` is a
/// refusal.
pub fn accepts_taxii(accept: Option<&str>) -> bool {
    let Some(accept) = accept else { return true };
    accept.split(',').any(|range| {
        let mut parts = range.split(';').map(str::trim);
        let essence = parts.next().unwrap_or_default().to_ascii_lowercase();
        let params: Vec<(String, String)> = parts.filter_map(param).collect();
        let refused = params
            .iter()
            .any(|(k, v)| k == "q" && v.parse::<f32>().is_ok_and(|q| q <= 0.0));
        let matches = match essence.as_str() {
            "application/taxii+json" => version_is_21(&params),
            "*/*" | "application/*" => true,
            _ => false,
        };
        matches && !refused
    })
}

/// Whether a request's `Content-Type` is TAXII 2.1 (parameters such as `charset` are allowed).
pub fn is_taxii_content_type(content_type: &str) -> bool {
    let mut parts = content_type.split(';').map(str::trim);
    let essence = parts.next().unwrap_or_default();
    let params: Vec<(String, String)> = parts.filter_map(param).collect();
    essence.eq_ignore_ascii_case("application/taxii+json") && version_is_21(&params)
}

fn version_is_21(params: &[(String, String)]) -> bool {
    params.iter().all(|(k, v)| k != "version" || v == "2.1")
}

fn param(text: &str) -> Option<(String, String)> {
    let (key, value) = text.split_once('=')?;
    Some((
        key.trim().to_ascii_lowercase(),
        value.trim().trim_matches('"').to_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_headers() {
        for accepted in [
            "application/taxii+json;version=2.1",
            "application/taxii+json",
            "Application/TAXII+JSON ; version=2.1",
            "application/xml, application/taxii+json;version=2.1;q=0.5",
            "application/taxii+json;version=2.1,application/stix+json;version=2.1",
            "*/*",
        ] {
            assert!(accepts_taxii(Some(accepted)), "{accepted}");
        }
        assert!(accepts_taxii(None));
        for refused in [
            "application/xml",
            "application/taxii+json;version=2.0",
            "application/json",
            "application/taxii+json;q=0",
            "",
        ] {
            assert!(!accepts_taxii(Some(refused)), "{refused}");
        }
    }

    #[test]
    fn content_types() {
        assert!(is_taxii_content_type("application/taxii+json;version=2.1"));
        assert!(is_taxii_content_type("application/taxii+json"));
        assert!(is_taxii_content_type(
            "application/taxii+json; version=2.1; charset=utf-8"
        ));
        assert!(!is_taxii_content_type("application/json"));
        assert!(!is_taxii_content_type("application/taxii+json;version=2.0"));
        assert!(!is_taxii_content_type("application/stix+json;version=2.1"));
    }
}

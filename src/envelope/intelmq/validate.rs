//! IntelMQ's harmonization types: whether a value is valid, and how IntelMQ would sanitise one that is not
//! (`Message.add(..., sanitize=True)`). Delivery uses this so that no value makes a receiving bot raise
//! `InvalidValue`: what IntelMQ would fix is fixed, what it would refuse is left out.

use std::net::IpAddr;

use base64::Engine;
use serde_json::{Number, Value};

use super::fields::FieldSpec;
use crate::stix::Timestamp;

/// ClassificationTaxonomy's values (RSIT).
const TAXONOMIES: [&str; 11] = [
    "abusive-content",
    "availability",
    "fraud",
    "information-content-security",
    "information-gathering",
    "intrusion-attempts",
    "intrusions",
    "malicious-code",
    "other",
    "test",
    "vulnerable",
];

/// ClassificationType's values in IntelMQ 3.5.
const TYPES: [&str; 44] = [
    "application-compromise",
    "blacklist",
    "brute-force",
    "burglary",
    "c2-server",
    "copyright",
    "data-leak",
    "data-loss",
    "ddos",
    "ddos-amplifier",
    "dga-domain",
    "dos",
    "exploit",
    "harmful-speech",
    "ids-alert",
    "infected-system",
    "information-disclosure",
    "malware",
    "malware-configuration",
    "malware-distribution",
    "masquerade",
    "misconfiguration",
    "other",
    "outage",
    "phishing",
    "potentially-unwanted-accessible",
    "privileged-account-compromise",
    "proxy",
    "sabotage",
    "scanner",
    "sniffing",
    "social-engineering",
    "spam",
    "system-compromise",
    "test",
    "tor",
    "unauthorised-information-access",
    "unauthorised-information-modification",
    "unauthorized-use-of-resources",
    "undetermined",
    "unprivileged-account-compromise",
    "violence",
    "vulnerable-system",
    "weak-crypto",
];

/// The old ClassificationType names IntelMQ still renames.
const LEGACY_TYPES: [(&str, &str); 20] = [
    ("botnet drone", "infected-system"),
    ("ids alert", "ids-alert"),
    ("c&c", "c2-server"),
    ("c2server", "c2-server"),
    ("infected system", "infected-system"),
    ("malware configuration", "malware-configuration"),
    ("vulnerable client", "vulnerable-system"),
    ("vulnerable service", "vulnerable-system"),
    ("leak", "data-leak"),
    ("ransomware", "infected-system"),
    ("unknown", "undetermined"),
    ("dga domain", "dga-domain"),
    ("unauthorized-login", "system-compromise"),
    ("unauthorized-command", "system-compromise"),
    ("compromised", "system-compromise"),
    ("defacement", "unauthorised-information-modification"),
    ("backdoor", "system-compromise"),
    ("dropzone", "other"),
    (
        "unauthorised-information-access",
        "unauthorised-information-access",
    ),
    ("vulnerable-system", "vulnerable-system"),
];

const REGISTRIES: [&str; 5] = ["AFRINIC", "APNIC", "ARIN", "LACNIC", "RIPE"];
const TLPS: [&str; 4] = ["WHITE", "GREEN", "AMBER", "RED"];

/// Why a payload, flattened (see [`super::flatten_within`]), is not what IntelMQ stores as it is: the first
/// value it would refuse or rewrite, with the field named. Keys it does not know are not values to check
/// (delivery moves them under `extra.`).
pub fn check_values(
    flat: &serde_json::Map<String, Value>,
    fields: &super::FieldList,
    report: bool,
) -> Result<(), String> {
    for (key, value) in flat {
        let spec = if report {
            fields.report.get(key)
        } else {
            fields.event.get(key)
        };
        let Some(spec) = spec else { continue };
        match sanitize(spec, value) {
            Ok(stored) if stored == *value => {}
            Ok(stored) => {
                return Err(format!(
                    "field `{key}` = {value} is not in IntelMQ's form: IntelMQ would store {stored}"
                ));
            }
            Err(reason) => return Err(format!("field `{key}` = {value}: {reason}")),
        }
    }
    Ok(())
}

/// The value as IntelMQ would keep it, or why IntelMQ would refuse it.
pub fn sanitize(spec: &FieldSpec, value: &Value) -> Result<Value, String> {
    let sanitized = by_type(&spec.field_type, value)?;
    let text = match &sanitized {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if let Some(length) = spec.length
        && text.chars().count() > length
    {
        return Err(format!("longer than {length} characters"));
    }
    for (pattern, case_insensitive) in [(&spec.regex, false), (&spec.iregex, true)] {
        if let Some(pattern) = pattern {
            let regex = regex::RegexBuilder::new(pattern)
                .case_insensitive(case_insensitive)
                .build()
                .map_err(|e| format!("the field's pattern does not compile: {e}"))?;
            if !regex.is_match(&text) {
                return Err(format!("does not match {pattern}"));
            }
        }
    }
    Ok(sanitized)
}

fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "True" } else { "False" }.to_owned()),
        _ => None,
    }
}

fn by_type(field_type: &str, value: &Value) -> Result<Value, String> {
    let text = || {
        text_of(value)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| "not a non-empty text".to_owned())
    };
    let string = |s: String| Ok(Value::String(s));
    match field_type {
        "String" => text().and_then(string),
        "LowercaseString" => text().map(|t| t.to_lowercase()).and_then(string),
        "UppercaseString" => text().map(|t| t.to_uppercase()).and_then(string),
        "Integer" => integer(value, i64::MIN as f64, i64::MAX as f64),
        "ASN" => {
            let stripped = text()?.trim_start_matches(['A', 'S', 'a', 's']).to_owned();
            integer(&Value::String(stripped), 1.0, 4_294_967_295.0)
        }
        "Float" | "Accuracy" => {
            let number = match value {
                Value::Number(n) => n.as_f64(),
                Value::Bool(true) if field_type == "Accuracy" => Some(100.0),
                _ => text()?.parse::<f64>().ok(),
            }
            .filter(|n| n.is_finite())
            .ok_or("not a number")?;
            if field_type == "Accuracy" && !(0.0..=100.0).contains(&number) {
                return Err("not between 0 and 100".into());
            }
            match value {
                Value::Number(_) => Ok(value.clone()),
                _ => Number::from_f64(number)
                    .map(Value::Number)
                    .ok_or_else(|| "not a number".into()),
            }
        }
        "Boolean" => match value {
            Value::Bool(_) => Ok(value.clone()),
            _ => match text()?.to_lowercase().as_str() {
                "true" | "1" => Ok(Value::Bool(true)),
                "false" | "0" => Ok(Value::Bool(false)),
                _ => Err("not a boolean".into()),
            },
        },
        "IPAddress" => {
            // `Message.add` tries a value unsanitised first and keeps it as written when IPAddress.is_valid
            // takes it: an IPv6 address in upper case (`2001:DB8::BB2B:F258`) stays so. Only a value that
            // needs sanitising is rewritten, as Python's ipaddress writes it (lower case, compressed).
            let intelmq_address = |ip: &IpAddr| *ip != IpAddr::from([0, 0, 0, 0]);
            if let Value::String(raw) = value
                && raw.parse::<IpAddr>().is_ok_and(|ip| intelmq_address(&ip))
            {
                return Ok(value.clone());
            }
            let raw = text()?;
            let raw = raw
                .strip_suffix("/32")
                .or_else(|| raw.strip_suffix("/128"))
                .unwrap_or(&raw);
            match raw.parse::<IpAddr>() {
                Ok(ip) if intelmq_address(&ip) => string(ip.to_string()),
                _ => Err("not an IP address".into()),
            }
        }
        "IPNetwork" => {
            // Kept as written when IPNetwork.is_valid takes it (no host bits set); else sanitised as IntelMQ
            // does (`strict=False`): host bits cleared, written as Python writes a network.
            let raw = text()?;
            let (address, length) = raw.split_once('/').unwrap_or((&raw, ""));
            let ip = address
                .parse::<IpAddr>()
                .map_err(|_| "not an IP network".to_owned())?;
            let most = if ip.is_ipv4() { 32 } else { 128 };
            let length = if length.is_empty() {
                most
            } else {
                length
                    .parse::<u8>()
                    .ok()
                    .filter(|l| *l <= most)
                    .ok_or("not an IP network")?
            };
            let network = network_address(ip, length);
            if network == ip && matches!(value, Value::String(s) if *s == raw) {
                Ok(value.clone())
            } else {
                string(format!("{network}/{length}"))
            }
        }
        "FQDN" => {
            let name = text()?.trim_end_matches('.').to_lowercase();
            let valid = !name.is_empty()
                && name.is_ascii()
                && !name.contains(':')
                && !name.contains('/')
                && name.parse::<IpAddr>().is_err();
            if valid {
                string(name)
            } else {
                Err("not a host name".into())
            }
        }
        "URL" => {
            let raw = text()?;
            let raw = match raw.split_once("://") {
                Some(("hxxp", rest)) => format!("http://{rest}"),
                Some(("hxxps", rest)) => format!("https://{rest}"),
                _ => raw,
            };
            let netloc = raw
                .split_once("://")
                .map(|(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or(""));
            if netloc.is_some_and(|n| !n.is_empty()) {
                string(raw)
            } else {
                Err("not a URL with a host".into())
            }
        }
        "DateTime" => {
            let time = Timestamp::parse_lenient(&text()?).map_err(|e| e.to_string())?;
            string(intelmq_time(time))
        }
        "ClassificationTaxonomy" => vocabulary(&text()?.to_lowercase(), &TAXONOMIES, &[]),
        "ClassificationType" => vocabulary(&text()?.to_lowercase(), &TYPES, &LEGACY_TYPES),
        "TLP" => {
            let level = text()?.to_uppercase();
            let level = level
                .strip_prefix("TLP:")
                .unwrap_or(&level)
                .trim()
                .to_owned();
            vocabulary(&level, &TLPS, &[("YELLOW", "AMBER")])
        }
        "Registry" => vocabulary(
            &text()?.to_uppercase(),
            &REGISTRIES,
            &[("RIPE-NCC", "RIPE")],
        ),
        "Base64" => {
            let raw = text()?;
            let valid = base64::engine::general_purpose::STANDARD
                .decode(&raw)
                .is_ok();
            if valid {
                string(raw)
            } else {
                Err("not base64".into())
            }
        }
        "JSON" => match value {
            Value::String(s) if serde_json::from_str::<Value>(s).is_ok() => Ok(value.clone()),
            Value::String(_) => Err("not JSON text".into()),
            other => string(other.to_string()),
        },
        // `extra` is delivered as its `extra.*` keys, which take any JSON value.
        "JSONDict" => Ok(value.clone()),
        other => Err(format!("of the unknown type {other}")),
    }
}

fn integer(value: &Value, least: f64, most: f64) -> Result<Value, String> {
    let number = match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|n| n.fract() == 0.0 && (least..=most).contains(n))
    .ok_or("not an integer in range")?;
    Ok(Value::Number(Number::from(number as i64)))
}

fn vocabulary(value: &str, allowed: &[&str], renamed: &[(&str, &str)]) -> Result<Value, String> {
    let value = renamed
        .iter()
        .find(|(old, _)| *old == value)
        .map_or(value, |(_, new)| new);
    if allowed.contains(&value) {
        Ok(Value::String(value.to_owned()))
    } else {
        Err(format!("not one of {allowed:?}"))
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00`, as Python's isoformat writes UTC times (no fraction when zero).
fn intelmq_time(time: Timestamp) -> String {
    let taxii = time.to_taxii();
    let (seconds, fraction) = taxii
        .trim_end_matches('Z')
        .split_once('.')
        .unwrap_or((&taxii, ""));
    if fraction.trim_end_matches('0').is_empty() {
        format!("{seconds}+00:00")
    } else {
        format!("{seconds}.{fraction}+00:00")
    }
}

/// The first address of the network of `length` bits that holds `address`: its host bits cleared.
pub fn network_address(address: IpAddr, length: u8) -> IpAddr {
    match address {
        IpAddr::V4(v4) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(length)).unwrap_or(0);
            IpAddr::from((u32::from(v4) & mask).to_be_bytes())
        }
        IpAddr::V6(v6) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(length)).unwrap_or(0);
            IpAddr::from((u128::from(v6) & mask).to_be_bytes())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::intelmq::FieldList;
    use serde_json::json;

    fn fix(key: &str, value: Value) -> Result<Value, String> {
        sanitize(&FieldList::intelmq_35().event[key], &value)
    }

    #[test]
    fn valid_values_stay_as_they_are() {
        for (key, value) in [
            ("source.ip", json!("192.0.2.1")),
            ("source.port", json!(80)),
            ("time.source", json!("2024-05-18T11:36:08+00:00")),
            ("classification.type", json!("c2-server")),
            ("tlp", json!("AMBER")),
            ("feed.accuracy", json!(100.0)),
            ("source.fqdn", json!("example.com")),
            ("malware.name", json!("locky")),
            // IntelMQ keeps a valid address as written: an upper-case IPv6 is not lowercased, nor an
            // uncompressed one compressed (IPAddress.is_valid takes them, so Message.add keeps them).
            ("source.ip", json!("2001:DB8::BB2B:F258")),
            (
                "destination.ip",
                json!("2001:0db8:0000:0000:0000:0000:0000:0001"),
            ),
            ("source.ip", json!("::")),
            ("source.network", json!("192.0.2.0/24")),
            ("source.network", json!("2001:DB8::/32")),
            ("destination.network", json!("192.0.2.7")),
        ] {
            assert_eq!(fix(key, value.clone()).unwrap(), value, "{key}");
        }
    }

    #[test]
    fn intelmqs_sanitising_is_applied() {
        assert_eq!(
            fix("time.source", json!("2015-11-17T12:17:27.043452Z")).unwrap(),
            "2015-11-17T12:17:27.043452+00:00"
        );
        assert_eq!(
            fix("time.source", json!("2015-11-17T13:17:27+01:00")).unwrap(),
            "2015-11-17T12:17:27+00:00"
        );
        assert_eq!(
            fix("classification.type", json!("unknown")).unwrap(),
            "undetermined"
        );
        assert_eq!(
            fix("classification.type", json!("C&C")).unwrap(),
            "c2-server"
        );
        assert_eq!(fix("tlp", json!("tlp:yellow")).unwrap(), "AMBER");
        assert_eq!(fix("source.port", json!("80")).unwrap(), json!(80));
        assert_eq!(fix("source.asn", json!("AS64512")).unwrap(), json!(64512));
        assert_eq!(
            fix("source.url", json!("hxxp://bad.example/x")).unwrap(),
            "http://bad.example/x"
        );
        assert_eq!(
            fix("source.fqdn", json!("Example.COM.")).unwrap(),
            "example.com"
        );
        assert_eq!(fix("source.ip", json!("10.0.0.1/32")).unwrap(), "10.0.0.1");
        // Sanitising writes an address as Python's ipaddress does: lower case.
        assert_eq!(
            fix("source.ip", json!("2001:DB8::BB2B:F258/128")).unwrap(),
            "2001:db8::bb2b:f258"
        );
        assert_eq!(
            fix("source.ip", json!(" 2001:DB8::1 ")).unwrap(),
            "2001:db8::1"
        );
        assert_eq!(fix("malware.name", json!("Locky")).unwrap(), "locky");
        // IPNetwork clears host bits, and writes the network as Python does.
        assert_eq!(
            fix("source.network", json!("192.0.2.7/24")).unwrap(),
            "192.0.2.0/24"
        );
        assert_eq!(
            fix("source.network", json!("2001:DB8::7/32")).unwrap(),
            "2001:db8::/32"
        );
    }

    #[test]
    fn strict_checks_name_the_field() {
        let fields = FieldList::intelmq_35();
        let payload = |v: Value| v.as_object().unwrap().clone();
        assert!(
            check_values(
                &payload(json!({"source.ip": "192.0.2.1", "notify": 1})),
                &fields,
                false
            )
            .is_ok()
        );
        let refused =
            check_values(&payload(json!({"source.ip": "999.1.1.1"})), &fields, false).unwrap_err();
        assert_eq!(
            refused,
            "field `source.ip` = \"999.1.1.1\": not an IP address"
        );
        let rewritten = check_values(
            &payload(json!({"time.source": "2024-01-01T00:00:00Z"})),
            &fields,
            false,
        )
        .unwrap_err();
        assert!(
            rewritten.contains("IntelMQ would store \"2024-01-01T00:00:00+00:00\""),
            "{rewritten}"
        );
    }

    #[test]
    fn what_intelmq_refuses_is_refused_with_a_reason() {
        for (key, value) in [
            ("source.ip", json!("999.0.0.1")),
            ("source.ip", json!("0.0.0.0")),
            ("source.ip", json!("0.0.0.0/32")),
            ("source.ip", json!("192.0.2.0/24")),
            ("source.network", json!("192.0.2.0/33")),
            ("source.port", json!(123456)),
            ("classification.type", json!("xyz")),
            ("classification.taxonomy", json!("Spam")),
            ("tlp", json!("PURPLE")),
            ("source.url", json!("not a url")),
            ("time.source", json!("yesterday")),
            ("source.asn", json!(0)),
            ("severity", json!("catastrophic")),
            ("source.geolocation.cc", json!("AUT")),
        ] {
            assert!(fix(key, value.clone()).is_err(), "{key} = {value}");
        }
    }
}

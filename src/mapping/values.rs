//! Checks that keep invalid STIX out of the standard objects: a value that fails them is left out, with a
//! warning, and stays in the carrier.

use std::net::IpAddr;

use crate::envelope::intelmq::validate::network_address;

/// An IP address as STIX writes it, or `None` for forms the STIX schemas refuse (IPv4-mapped IPv6).
pub fn ip(text: &str) -> Option<IpAddr> {
    match text.trim().parse::<IpAddr>().ok()? {
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() || v6.to_string().contains('.') => None,
        ip => Some(ip),
    }
}

/// An IP network in CIDR notation as STIX writes it in an `ipv4-addr` / `ipv6-addr` value: host bits cleared,
/// as IntelMQ's IPNetwork sanitiser clears them, and always with a prefix length, so that it never reads as a
/// single address (which maps back to `*.ip`, not `*.network`). `None` for what is no network, or a form the
/// STIX schemas refuse (IPv4-mapped IPv6).
pub fn network(text: &str) -> Option<String> {
    let text = text.trim();
    let (address, length) = text.split_once('/').unwrap_or((text, ""));
    let address = ip(address)?;
    let most: u8 = if address.is_ipv4() { 32 } else { 128 };
    let length = if length.is_empty() {
        most
    } else {
        length.parse::<u8>().ok().filter(|l| *l <= most)?
    };
    Some(format!("{}/{length}", network_address(address, length)))
}

/// Whether an `ipv4-addr` / `ipv6-addr` value is a network (CIDR notation), not a single address.
pub fn is_network(value: &str) -> bool {
    value.contains('/')
}

/// A host name of ASCII letters, digits and hyphens (IDNA's A-labels included), not an IP address.
pub fn domain(text: &str) -> Option<String> {
    let name = text.trim().trim_end_matches('.').to_ascii_lowercase();
    let label_ok = |label: &str| {
        (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    let valid = name.len() <= 253
        && name.contains('.')
        && name.split('.').all(label_ok)
        && name.parse::<IpAddr>().is_err();
    valid.then_some(name)
}

/// An absolute RFC 3986 URL with a host, in ASCII.
pub fn url(text: &str) -> Option<String> {
    let (scheme, rest) = text.split_once("://")?;
    let scheme_ok = scheme
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+.-".contains(&b));
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+,;=%".contains(&b);
    let escapes_ok = text.match_indices('%').all(|(i, _)| {
        text.get(i + 1..i + 3)
            .is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
    });
    (scheme_ok && !host.is_empty() && text.bytes().all(allowed) && escapes_ok)
        .then(|| text.to_owned())
}

/// An e-mail address: a local part, one `@`, a valid domain.
pub fn email(text: &str) -> Option<String> {
    let (local, host) = text.trim().split_once('@')?;
    let local_ok = !local.is_empty() && local.bytes().all(|b| b.is_ascii_graphic() && b != b'@');
    (local_ok && domain(host).is_some()).then(|| text.trim().to_owned())
}

/// Hex of the length the algorithm has.
pub fn hash(algorithm: &str, text: &str) -> Option<String> {
    let length = match algorithm {
        "MD5" => 32,
        "SHA-1" => 40,
        "SHA-256" => 64,
        "SHA-512" => 128,
        _ => return None,
    };
    let hex = text.trim();
    (hex.len() == length && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| hex.to_ascii_lowercase())
}

/// `CVE-YYYY-NNNN...`, upper-cased.
pub fn cve(text: &str) -> Option<String> {
    let upper = text.trim().to_ascii_uppercase();
    let mut parts = upper.split('-');
    let ok = parts.next() == Some("CVE")
        && parts
            .next()
            .is_some_and(|year| year.len() == 4 && year.bytes().all(|b| b.is_ascii_digit()))
        && parts
            .next()
            .is_some_and(|n| n.len() >= 4 && n.bytes().all(|b| b.is_ascii_digit()))
        && parts.next().is_none();
    ok.then_some(upper)
}

/// An ISO 3166-1 alpha-2 country code, upper-cased.
pub fn country(text: &str) -> Option<String> {
    let code = text.trim().to_ascii_uppercase();
    (code.len() == 2 && COUNTRIES.split(' ').any(|c| c == code)).then_some(code)
}

/// Transport protocols STIX validators accept in `network-traffic.protocols` without a warning.
pub fn transport(text: &str) -> Option<String> {
    let name = text.trim().to_ascii_lowercase();
    ["tcp", "udp", "sctp", "dccp"]
        .contains(&name.as_str())
        .then_some(name)
}

/// The officially assigned ISO 3166-1 alpha-2 codes.
const COUNTRIES: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS \
BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK \
FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM \
JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS \
MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW \
SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM \
US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_values_pass_and_bad_ones_do_not() {
        assert_eq!(ip("198.51.100.7").unwrap().to_string(), "198.51.100.7");
        assert!(ip("2001:db8::1").is_some());
        assert!(ip("::ffff:192.0.2.1").is_none() && ip("10.0.0.0/8").is_none());
        // Networks always carry their length, host bits cleared as IntelMQ's sanitiser clears them.
        assert_eq!(network("10.0.0.0/8").as_deref(), Some("10.0.0.0/8"));
        assert_eq!(network("192.0.2.77/24").as_deref(), Some("192.0.2.0/24"));
        assert_eq!(network("192.0.2.77").as_deref(), Some("192.0.2.77/32"));
        assert_eq!(network("0.0.0.0/0").as_deref(), Some("0.0.0.0/0"));
        assert_eq!(network("2001:DB8:1::/32").as_deref(), Some("2001:db8::/32"));
        assert_eq!(
            network("2001:db8::1/128").as_deref(),
            Some("2001:db8::1/128")
        );
        assert!(network("10.0.0.0/33").is_none() && network("10.0.0.0/x").is_none());
        assert!(network("::ffff:192.0.2.0/120").is_none() && network("example.com/8").is_none());
        assert_eq!(domain("Example.COM.").as_deref(), Some("example.com"));
        assert!(
            domain("_dmarc.example.com").is_none()
                && domain("bücher.de").is_none()
                && domain("192.0.2.1").is_none()
        );
        assert!(domain("xn--bcher-kva.de").is_some());
        assert!(url("http://downloads.example.com/a%20b?x=1#f").is_some());
        assert!(
            url("http://exa mple.com/").is_none()
                && url("example.com/x").is_none()
                && url("http://x/%zz").is_none()
        );
        assert!(
            email("abuse@example.org").is_some()
                && email("no-at").is_none()
                && email("a@b@c.org").is_none()
        );
        assert_eq!(
            hash("MD5", "0E2D5B8F9A4C7E3B1D6F8A2C4E6B8D0F").as_deref(),
            Some("0e2d5b8f9a4c7e3b1d6f8a2c4e6b8d0f")
        );
        assert!(hash("SHA-256", "abc").is_none());
        assert_eq!(cve("cve-2023-38408").as_deref(), Some("CVE-2023-38408"));
        assert!(cve("CVE-23-1").is_none());
        assert_eq!(country("at").as_deref(), Some("AT"));
        assert!(country("XX").is_none());
        assert_eq!(transport("TCP").as_deref(), Some("tcp"));
        assert!(transport("icmp").is_none());
    }
}

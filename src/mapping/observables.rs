//! What a payload holds, read through the tables' `[fields]` and checked: the STIX objects and the MISP
//! attributes are both made from it.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde_json::{Map, Value};

use super::tables::{Kind, Side, Tables};
use super::values;
use crate::stix::Timestamp;

/// What the payload gives, once checked.
#[derive(Debug, Default)]
pub struct Observables {
    pub ips: Vec<(Side, IpAddr)>,
    /// IP networks (CIDR), host bits cleared.
    pub networks: Vec<(Side, String)>,
    pub domains: Vec<(Side, String)>,
    pub urls: Vec<String>,
    pub emails: Vec<(Side, String)>,
    pub asns: Vec<(Side, u64)>,
    pub ports: BTreeMap<Side, u64>,
    pub transport: Option<String>,
    pub hashes: BTreeMap<String, String>,
    pub malware: Option<String>,
    pub cves: Vec<String>,
    pub countries: Vec<(Side, String)>,
    pub provider: Option<String>,
}

impl Observables {
    /// Reads the payload through the tables; values that would make invalid STIX become warnings.
    pub fn read(payload: &Map<String, Value>, tables: &Tables, warnings: &mut Vec<String>) -> Self {
        let mut found = Self::default();
        for (field, rule) in &tables.fields {
            let Some(value) = payload.get(field) else {
                continue;
            };
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => String::new(),
            };
            let side = rule.side.unwrap_or(Side::Src);
            let mut refuse = |what: &str| {
                warnings.push(format!(
                    "{field}: {value} is not {what}; left out of the standard objects"
                ))
            };
            match rule.kind {
                Kind::Ip => match values::ip(&text) {
                    Some(ip) => found.ips.push((side, ip)),
                    None => refuse("an IP address STIX accepts"),
                },
                Kind::Network => match values::network(&text) {
                    Some(network) => found.networks.push((side, network)),
                    None => refuse("an IP network STIX accepts"),
                },
                Kind::Domain => match values::domain(&text) {
                    Some(domain) => found.domains.push((side, domain)),
                    None => refuse("a valid IDNA host name"),
                },
                Kind::Url => match values::url(&text) {
                    Some(url) => found.urls.push(url),
                    None => refuse("an RFC 3986 URL"),
                },
                // Accounts are often user names, not addresses: only addresses are mapped, without a warning.
                Kind::Email => found
                    .emails
                    .extend(values::email(&text).map(|email| (side, email))),
                Kind::Asn | Kind::Port => {
                    let (range, what) = if rule.kind == Kind::Asn {
                        (1..=4_294_967_295, "an AS number")
                    } else {
                        (0..=65_535, "a port")
                    };
                    match text.parse::<u64>().ok().filter(|n| range.contains(n)) {
                        Some(n) if rule.kind == Kind::Asn => found.asns.push((side, n)),
                        Some(n) => {
                            found.ports.insert(side, n);
                        }
                        None => refuse(what),
                    }
                }
                Kind::Transport => match values::transport(&text) {
                    Some(transport) => found.transport = Some(transport),
                    None => {
                        refuse("a transport protocol STIX validators accept (tcp, udp, sctp, dccp)")
                    }
                },
                Kind::Hash => {
                    let algorithm = rule.algorithm.clone().unwrap_or_default();
                    match values::hash(&algorithm, &text) {
                        Some(hash) => {
                            found.hashes.insert(algorithm, hash);
                        }
                        None => refuse(&format!("a {algorithm} hash")),
                    }
                }
                Kind::Malware if !text.trim().is_empty() => {
                    found.malware = Some(text.trim().to_ascii_lowercase())
                }
                Kind::Cve => {
                    for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
                        match values::cve(part) {
                            Some(cve) => found.cves.push(cve),
                            // Identifiers are mostly not CVEs ("zeus", "open-redis"): only broken CVE ids warn.
                            None if part.to_ascii_lowercase().starts_with("cve-") => {
                                refuse("a CVE id")
                            }
                            None => {}
                        }
                    }
                }
                Kind::Country => match values::country(&text) {
                    Some(country) => found.countries.push((side, country)),
                    None => refuse("an ISO 3166-1 alpha-2 country code"),
                },
                Kind::Provider if !text.trim().is_empty() => {
                    found.provider = Some(text.trim().to_owned())
                }
                // Markings are read once per envelope, for the carrier too.
                Kind::Malware | Kind::Provider | Kind::Tlp => {}
            }
        }
        found
    }

    /// The address of each side: its IPs, or else its networks, which then stand for it (a feed of
    /// netblocks). Beside an IP, a network is enrichment (the routed prefix) and is left to the carrier.
    pub fn addresses(&self) -> Vec<Address> {
        let ips = self.ips.iter().map(|(side, ip)| Address {
            side: *side,
            value: ip.to_string(),
            ipv4: ip.is_ipv4(),
        });
        let networks = self
            .networks
            .iter()
            .filter(|(side, _)| !self.ips.iter().any(|(s, _)| s == side))
            .map(|(side, network)| Address {
                side: *side,
                value: network.clone(),
                ipv4: !network.contains(':'),
            });
        ips.chain(networks).collect()
    }
}

/// The address of one side as STIX writes it: a single IP, or a network in CIDR notation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub side: Side,
    pub value: String,
    pub ipv4: bool,
}

impl Address {
    pub fn object_type(&self) -> &'static str {
        if self.ipv4 { "ipv4-addr" } else { "ipv6-addr" }
    }
}

/// When the event was observed: `time.source`, else `time.observation`.
pub fn observed_time(payload: &Map<String, Value>) -> Option<Timestamp> {
    ["time.source", "time.observation"]
        .iter()
        .filter_map(|key| payload.get(*key)?.as_str())
        .find_map(|text| Timestamp::parse_lenient(text).ok())
}

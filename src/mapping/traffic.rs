//! `network-traffic` from an IntelMQ event's ports and transport, between the addresses of its two sides.

use serde_json::{Map, Value, json};

use super::ids::sco;
use super::observables::{Address, Observables};
use super::tables::Side;

/// `network-traffic` between the source and destination addresses, when there are ports or a transport. One
/// port alone, or a transport alone, is kept: STIX 2.1 makes both ports optional, and an open service (host,
/// port, transport) is what most scan feeds report. STIX requires `src_ref` or `dst_ref`, so with no address
/// on either side there is no network-traffic: its values stay in the carrier, with a warning.
pub(super) fn network_traffic(
    found: &Observables,
    ip_ids: &[(Side, String, Address)],
    warnings: &mut Vec<String>,
) -> Option<Value> {
    if found.ports.is_empty() && found.transport.is_none() {
        return None;
    }
    let on = |side: Side| ip_ids.iter().find(|(s, _, _)| *s == side);
    let (src, dst) = (on(Side::Src), on(Side::Dst));
    let Some((_, _, first)) = src.or(dst) else {
        let mut values: Vec<String> = found
            .ports
            .iter()
            .map(|(side, port)| match side {
                Side::Src => format!("source port {port}"),
                Side::Dst => format!("destination port {port}"),
            })
            .collect();
        values.extend(found.transport.iter().map(|t| format!("transport {t}")));
        warnings.push(format!(
            "{}: no source or destination address to make a network-traffic of; left out of the standard objects",
            values.join(", ")
        ));
        return None;
    };
    let mut protocols = vec![if first.ipv4 { "ipv4" } else { "ipv6" }.to_owned()];
    protocols.extend(found.transport.clone());
    let mut contributing = Map::new();
    for (name, reference) in [("src_ref", src), ("dst_ref", dst)] {
        if let Some((_, id, _)) = reference {
            contributing.insert(name.into(), json!(id));
        }
    }
    for (name, side) in [("src_port", Side::Src), ("dst_port", Side::Dst)] {
        if let Some(port) = found.ports.get(&side) {
            contributing.insert(name.into(), json!(port));
        }
    }
    contributing.insert("protocols".into(), json!(protocols));
    Some(sco("network-traffic", Value::Object(contributing)))
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;
    use crate::mapping::ids::id_of;

    /// The network-traffic of these observables, as `standard_objects` calls it, with the warnings.
    fn traffic(found: &Observables) -> (Option<Value>, Vec<String>) {
        let ip_ids: Vec<(Side, String, Address)> = found
            .addresses()
            .into_iter()
            .map(|a| {
                let object = sco(a.object_type(), json!({"value": a.value}));
                (a.side, id_of(&object), a)
            })
            .collect();
        let mut warnings = Vec::new();
        (network_traffic(found, &ip_ids, &mut warnings), warnings)
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn address_id(value: &str) -> Value {
        let object_type = if value.contains(':') {
            "ipv6-addr"
        } else {
            "ipv4-addr"
        };
        json!(id_of(&sco(object_type, json!({"value": value}))))
    }

    /// The three shapes real feeds give: an open service (host, its port, transport), an attacker and the
    /// port it attacked, and a transport with no port. Each keeps what it has and gains nothing.
    #[test]
    fn a_lone_port_or_a_transport_alone_is_kept() {
        let service = Observables {
            ips: vec![(Side::Src, ip("2001:db8::bb2b:f258"))],
            ports: [(Side::Src, 23)].into(),
            transport: Some("tcp".into()),
            ..Default::default()
        };
        let (object, warnings) = traffic(&service);
        let object = object.expect("a network-traffic");
        assert_eq!(object["src_ref"], address_id("2001:db8::bb2b:f258"));
        assert_eq!(object["src_port"], 23);
        assert_eq!(object["protocols"], json!(["ipv6", "tcp"]));
        assert!(object.get("dst_ref").is_none() && object.get("dst_port").is_none());
        assert!(warnings.is_empty());

        // The attacked port is the destination's, though only the source's address is known.
        let attack = Observables {
            ips: vec![(Side::Src, ip("203.0.113.45"))],
            ports: [(Side::Dst, 23)].into(),
            ..Default::default()
        };
        let object = traffic(&attack).0.expect("a network-traffic");
        assert_eq!(object["src_ref"], address_id("203.0.113.45"));
        assert_eq!(object["dst_port"], 23);
        assert_eq!(object["protocols"], json!(["ipv4"]));
        assert!(object.get("src_port").is_none() && object.get("dst_ref").is_none());

        let transport = Observables {
            ips: vec![(Side::Src, ip("198.51.100.200"))],
            transport: Some("udp".into()),
            ..Default::default()
        };
        let object = traffic(&transport).0.expect("a network-traffic");
        assert_eq!(object["protocols"], json!(["ipv4", "udp"]));
        assert!(object.get("src_port").is_none() && object.get("dst_port").is_none());
    }

    /// STIX requires src_ref or dst_ref: with no address there is no network-traffic, and the warning names
    /// what stays in the carrier only.
    #[test]
    fn no_address_gives_no_network_traffic_and_a_warning() {
        let found = Observables {
            domains: vec![(Side::Src, "bad.example.net".into())],
            ports: [(Side::Dst, 8080)].into(),
            transport: Some("tcp".into()),
            ..Default::default()
        };
        let (object, warnings) = traffic(&found);
        assert_eq!(object, None);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("destination port 8080") && warnings[0].contains("transport tcp"),
            "{warnings:?}"
        );
        // Nothing to say, nothing said.
        assert_eq!(traffic(&Observables::default()), (None, vec![]));
    }

    /// A network stands for the address of its side when that side has none (a netblock feed); beside an
    /// address it is the routed prefix, and the address is what the traffic is between.
    #[test]
    fn a_network_stands_for_a_missing_address_only() {
        let netblock = Observables {
            networks: vec![(Side::Dst, "192.0.2.0/24".into())],
            ports: [(Side::Dst, 443)].into(),
            ..Default::default()
        };
        let object = traffic(&netblock).0.expect("a network-traffic");
        assert_eq!(object["dst_ref"], address_id("192.0.2.0/24"));
        assert_eq!(object["protocols"], json!(["ipv4"]));

        let enriched = Observables {
            ips: vec![(Side::Dst, ip("192.0.2.7"))],
            ..netblock
        };
        let object = traffic(&enriched).0.expect("a network-traffic");
        assert_eq!(object["dst_ref"], address_id("192.0.2.7"));
        assert_eq!(
            enriched.addresses().len(),
            1,
            "the prefix beside an address is not an observable"
        );
    }
}

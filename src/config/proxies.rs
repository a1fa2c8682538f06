//! `trusted_proxies`: the reverse proxies whose `X-Forwarded-For` header names the client, and whose
//! `Forwarded`, `X-Forwarded-Host` and `X-Forwarded-Proto` name the address the operator page shows.

use std::net::{IpAddr, SocketAddr};

use serde::Deserialize;

/// An address block such as `192.0.2.0/24` or `2001:db8::/32`; a bare address is a block of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct AddressBlock {
    network: IpAddr,
    prefix: u8,
}

impl TryFrom<String> for AddressBlock {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let invalid =
            || format!("{text:?} is not an address or an address block such as 10.0.0.0/8");
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text.as_str(), None),
        };
        let network: IpAddr = address.trim().parse().map_err(|_| invalid())?;
        let longest = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(prefix) => prefix.trim().parse().map_err(|_| invalid())?,
            None => longest,
        };
        if prefix > longest {
            return Err(invalid());
        }
        Ok(Self {
            network: network.to_canonical(),
            prefix,
        })
    }
}

impl AddressBlock {
    pub fn contains(&self, address: IpAddr) -> bool {
        match (self.network, address.to_canonical()) {
            (IpAddr::V4(network), IpAddr::V4(address)) => same_prefix(
                u32::from(network).into(),
                u32::from(address).into(),
                self.prefix,
                32,
            ),
            (IpAddr::V6(network), IpAddr::V6(address)) => {
                same_prefix(network.into(), address.into(), self.prefix, 128)
            }
            _ => false,
        }
    }
}

/// Whether two addresses of `bits` bits agree in their first `prefix` bits.
fn same_prefix(network: u128, address: u128, prefix: u8, bits: u32) -> bool {
    let ignored = bits - u32::from(prefix);
    // A shift by the whole width would overflow: a /0 block holds every address.
    ignored == bits || (network ^ address) >> ignored == 0
}

/// The client of a request that came from `peer`. When `peer` is a trusted proxy, the `X-Forwarded-For` entries
/// (`forwarded_for`, the header's values in order) are read from the right, the end the proxies append to: the
/// first address that is not a trusted proxy is the client, since whatever stands left of it came from the
/// client itself and may be forged. From anyone else, the header is ignored.
pub fn client_address(trusted: &[AddressBlock], peer: IpAddr, forwarded_for: &[&str]) -> IpAddr {
    let is_trusted = |address| is_trusted_proxy(trusted, address);
    let mut client = peer.to_canonical();
    let entries: Vec<&str> = forwarded_for
        .iter()
        .flat_map(|value| value.split(','))
        .collect();
    for entry in entries.into_iter().rev() {
        if !is_trusted(client) {
            break;
        }
        // An entry that is no address ends the chain: the last proxy that gave one is all that is known.
        let Some(address) = parse_entry(entry) else {
            break;
        };
        client = address;
    }
    client
}

/// Whether `peer` is one of the `trusted` proxies: only then are the proxy headers it sends believed.
pub fn is_trusted_proxy(trusted: &[AddressBlock], peer: IpAddr) -> bool {
    trusted.iter().any(|block| block.contains(peer))
}

/// An `X-Forwarded-For` entry: an address, possibly with a port.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|a| a.ip()))
        .ok()
        .map(|a| a.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocks(list: &[&str]) -> Vec<AddressBlock> {
        list.iter()
            .map(|b| AddressBlock::try_from(b.to_string()).unwrap())
            .collect()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn blocks_hold_their_addresses_only() {
        let [lan, host, v6, all] = [
            blocks(&["10.0.0.0/8"]),
            blocks(&["127.0.0.1"]),
            blocks(&["2001:db8::/32"]),
            blocks(&["0.0.0.0/0"]),
        ]
        .map(|b| b[0]);
        assert!(lan.contains(ip("10.200.1.2")));
        assert!(!lan.contains(ip("11.0.0.1")));
        assert!(host.contains(ip("127.0.0.1")) && !host.contains(ip("127.0.0.2")));
        assert!(host.contains(ip("::ffff:127.0.0.1")), "IPv4-mapped");
        assert!(v6.contains(ip("2001:db8:1::5")) && !v6.contains(ip("2001:db9::1")));
        assert!(all.contains(ip("192.0.2.1")) && !all.contains(ip("::1")));
        for bad in ["10.0.0.0/33", "10.0.0/8", "example.org", "::/129"] {
            assert!(AddressBlock::try_from(bad.to_string()).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_right_most_untrusted_address_is_the_client() {
        let trusted = blocks(&["127.0.0.1/32", "10.0.0.0/8"]);
        let proxy = ip("127.0.0.1");
        let client = |header: &[&str]| client_address(&trusted, proxy, header).to_string();
        assert_eq!(client(&["192.0.2.7"]), "192.0.2.7");
        assert_eq!(
            client(&["6.6.6.6, 192.0.2.7, 10.1.1.1"]),
            "192.0.2.7",
            "a forged left part is passed over"
        );
        assert_eq!(
            client(&["6.6.6.6", "192.0.2.7:5555"]),
            "192.0.2.7",
            "several headers, a port"
        );
        assert_eq!(
            client(&["10.0.0.2, 10.0.0.3"]),
            "10.0.0.2",
            "only proxies: the farthest"
        );
        assert_eq!(
            client(&["192.0.2.7, garbage"]),
            "127.0.0.1",
            "no address: the peer"
        );
        assert_eq!(client(&[]), "127.0.0.1");
        let stranger = client_address(&trusted, ip("192.0.2.99"), &["192.0.2.7"]);
        assert_eq!(
            stranger.to_string(),
            "192.0.2.99",
            "ignored from an untrusted peer"
        );
    }
}

//! Who a client is: the TCP peer, unless that peer is a trusted reverse proxy
//! (`FEEDGATE_TRUSTED_PROXIES`), in which case the right-most address in `X-Forwarded-For` that
//! is not itself a trusted proxy, and the scheme its `X-Forwarded-Proto` names.
//!
//! Right-most, not left-most: every proxy appends the address it received the request from,
//! so everything left of the last trusted hop was written by the client and can be anything.
//! Headers from an untrusted peer are ignored entirely (a client cannot claim to be someone
//! else by sending them).

use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};

/// The reverse proxies whose forwarding headers are believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

/// An entry of `FEEDGATE_TRUSTED_PROXIES` that is neither an IP address nor a CIDR block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an IP address or a CIDR block (e.g. 10.0.0.5 or 10.0.0.0/8)")]
pub struct BadProxy(pub String);

impl TrustedProxies {
    /// Parses a comma list of IP addresses and CIDR blocks; blank entries are ignored.
    pub fn parse(list: &str) -> Result<Self, BadProxy> {
        let mut nets = Vec::new();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let net = match item.parse::<IpNet>() {
                Ok(n) => n.trunc(),
                Err(_) => item
                    .parse::<IpAddr>()
                    .map(IpNet::from)
                    .map_err(|_| BadProxy(item.to_string()))?,
            };
            nets.push(net);
        }
        Ok(Self(nets))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `ip` is one of the trusted proxies (an IPv4-mapped IPv6 address counts as its
    /// IPv4 address, as dual-stack sockets report IPv4 peers that way).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }
}

/// The client's address. `forwarded_for` are the `X-Forwarded-For` header values in the order
/// they appear; they count only when `peer` is trusted. Walking from the right, trusted hops
/// are skipped and the first untrusted address is the client. A malformed entry ends the walk
/// at the trusted hop to its right (nothing further left can be believed); a chain of trusted
/// hops only yields the left-most of them.
pub fn client_ip<'a>(
    peer: IpAddr,
    forwarded_for: impl DoubleEndedIterator<Item = &'a str>,
    trusted: &TrustedProxies,
) -> IpAddr {
    let peer = peer.to_canonical();
    if !trusted.contains(peer) {
        return peer;
    }
    let mut client = peer;
    for value in forwarded_for.rev() {
        for entry in value.rsplit(',').map(str::trim).filter(|s| !s.is_empty()) {
            let Some(ip) = parse_hop(entry) else {
                return client;
            };
            client = ip;
            if !trusted.contains(ip) {
                return ip;
            }
        }
    }
    client
}

/// Whether the client reached the (trusted) proxy over HTTPS: the right-most
/// `X-Forwarded-Proto` value, believed only from a trusted peer; `None` when there is no
/// believable answer (then the connection's own scheme applies).
pub fn forwarded_https(
    peer: IpAddr,
    forwarded_proto: Option<&str>,
    trusted: &TrustedProxies,
) -> Option<bool> {
    if !trusted.contains(peer) {
        return None;
    }
    let last = forwarded_proto?.rsplit(',').next()?.trim();
    if last.eq_ignore_ascii_case("https") {
        Some(true)
    } else if last.eq_ignore_ascii_case("http") {
        Some(false)
    } else {
        None
    }
}

/// One `X-Forwarded-For` hop: an address, with or without a port (`1.2.3.4:5678`,
/// `[::1]:80`), as proxies differ.
fn parse_hop(entry: &str) -> Option<IpAddr> {
    let ip = entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))?;
    Some(ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn proxies(s: &str) -> TrustedProxies {
        TrustedProxies::parse(s).unwrap()
    }

    #[test]
    fn parses_addresses_and_blocks_and_refuses_junk() {
        let t = proxies(" 10.0.0.0/8, 192.168.1.7 ,,::1, fd00::/8");
        assert!(t.contains(ip("10.2.3.4")));
        assert!(t.contains(ip("192.168.1.7")));
        assert!(!t.contains(ip("192.168.1.8")));
        assert!(t.contains(ip("::1")));
        assert!(t.contains(ip("fd12::1")));
        assert!(t.contains(ip("::ffff:10.9.9.9")), "v4-mapped peers count");
        assert!(proxies("").is_empty());
        assert_eq!(
            TrustedProxies::parse("10.0.0.1, nope"),
            Err(BadProxy("nope".into()))
        );
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let t = proxies("10.0.0.1");
        let got = client_ip(ip("203.0.113.9"), ["1.1.1.1"].into_iter(), &t);
        assert_eq!(got, ip("203.0.113.9"));
        assert_eq!(forwarded_https(ip("203.0.113.9"), Some("https"), &t), None);
        let none = TrustedProxies::default();
        assert_eq!(
            client_ip(ip("10.0.0.1"), ["1.1.1.1"].into_iter(), &none),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn behind_proxies_the_right_most_untrusted_hop_is_the_client() {
        let t = proxies("10.0.0.0/8");
        // The client forged the first entry; the edge proxy appended the real address.
        let xff = ["6.6.6.6, 198.51.100.7", "10.1.1.1"];
        assert_eq!(
            client_ip(ip("10.0.0.2"), xff.into_iter(), &t),
            ip("198.51.100.7")
        );
        assert_eq!(
            client_ip(ip("10.0.0.2"), ["198.51.100.7:4431"].into_iter(), &t),
            ip("198.51.100.7")
        );
        assert_eq!(
            client_ip(ip("10.0.0.2"), ["[2001:db8::5]:80"].into_iter(), &t),
            ip("2001:db8::5")
        );
        // No header: the proxy itself.
        assert_eq!(
            client_ip(ip("10.0.0.2"), std::iter::empty(), &t),
            ip("10.0.0.2")
        );
        // Only trusted hops: the left-most of them.
        assert_eq!(
            client_ip(ip("10.0.0.2"), ["10.0.0.9, 10.0.0.3"].into_iter(), &t),
            ip("10.0.0.9")
        );
        // Junk stops the walk at the trusted hop to its right.
        assert_eq!(
            client_ip(
                ip("10.0.0.2"),
                ["1.2.3.4, garbage, 10.0.0.3"].into_iter(),
                &t
            ),
            ip("10.0.0.3")
        );
    }

    #[test]
    fn forwarded_proto_is_believed_only_from_a_trusted_peer() {
        let t = proxies("10.0.0.0/8");
        assert_eq!(
            forwarded_https(ip("10.0.0.2"), Some("https"), &t),
            Some(true)
        );
        assert_eq!(
            forwarded_https(ip("10.0.0.2"), Some("https, http"), &t),
            Some(false),
            "the nearest proxy's word counts"
        );
        assert_eq!(forwarded_https(ip("10.0.0.2"), Some("gopher"), &t), None);
        assert_eq!(forwarded_https(ip("10.0.0.2"), None, &t), None);
    }
}

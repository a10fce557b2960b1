//! The client's IP address: the socket's peer, or — only through proxies named in `TRUST_PROXY`
//! ([`TrustedProxies`]) — the address those proxies report in `X-Forwarded-For`.
//!
//! `X-Forwarded-For` is walked right to left (each proxy appends the address it received the
//! request from): trusted hops are skipped and the first untrusted address is the client. An
//! entry that is not an IP address stops the walk at the last trusted hop, so a client can never
//! choose its own address by sending garbage. With no `TRUST_PROXY`, the header is ignored.

use std::net::IpAddr;

use axum::http::HeaderMap;

use crate::proxies::{canonical, TrustedProxies};

/// One `X-Forwarded-For` entry as an address: `1.2.3.4`, `2001:db8::1`, and the forms some
/// proxies use with a port (`1.2.3.4:5678`, `[2001:db8::1]:5678`). `None` for anything else.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| {
            entry
                .parse::<std::net::SocketAddr>()
                .ok()
                .map(|addr| addr.ip())
        })
        .map(canonical)
}

/// The client address of a request that arrived from `peer` (the socket's remote address).
///
/// When `peer` is a trusted proxy, the `X-Forwarded-For` entries (every such header, in order)
/// are walked from the right: trusted hops are skipped, the first untrusted address is returned;
/// a malformed entry, or running out of entries, returns the last trusted hop.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    let peer = canonical(peer);
    if trusted.is_empty() || !trusted.contains(peer) {
        return peer;
    }
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .collect();
    let mut last_trusted = peer;
    for entry in entries.iter().rev() {
        match parse_entry(entry) {
            Some(ip) if trusted.contains(ip) => last_trusted = ip,
            Some(ip) => return ip,
            None => return last_trusted,
        }
    }
    last_trusted
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn untrusted_peer_ignores_the_header() {
        let trusted = TrustedProxies::parse("10.0.0.1").unwrap();
        let headers = xff(&["203.0.113.9"]);
        assert_eq!(
            client_ip(ip("198.51.100.7"), &headers, &trusted),
            ip("198.51.100.7")
        );
        assert_eq!(
            client_ip(ip("198.51.100.7"), &headers, &TrustedProxies::default()),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn walks_right_to_left_through_trusted_hops() {
        let trusted = TrustedProxies::parse("10.0.0.0/8").unwrap();
        // Client spoofs a first entry; the real client is the first untrusted from the right.
        let headers = xff(&["1.1.1.1, 203.0.113.9", "10.0.0.2"]);
        assert_eq!(
            client_ip(ip("10.0.0.1"), &headers, &trusted),
            ip("203.0.113.9")
        );
        let with_ports = xff(&["[2001:db8::7]:4711, 10.0.0.3:80"]);
        assert_eq!(
            client_ip(ip("10.0.0.1"), &with_ports, &trusted),
            ip("2001:db8::7")
        );
    }

    #[test]
    fn garbage_stops_at_the_last_trusted_hop() {
        let trusted = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let headers = xff(&["203.0.113.9, not-an-ip, 10.0.0.5"]);
        assert_eq!(
            client_ip(ip("10.0.0.1"), &headers, &trusted),
            ip("10.0.0.5")
        );
        let empty_entry = xff(&["203.0.113.9,"]);
        assert_eq!(
            client_ip(ip("10.0.0.1"), &empty_entry, &trusted),
            ip("10.0.0.1")
        );
        // Every hop trusted, or no header: the leftmost trusted hop / the peer.
        assert_eq!(
            client_ip(ip("10.0.0.1"), &xff(&["10.9.9.9"]), &trusted),
            ip("10.9.9.9")
        );
        assert_eq!(
            client_ip(ip("10.0.0.1"), &HeaderMap::new(), &trusted),
            ip("10.0.0.1")
        );
    }
}

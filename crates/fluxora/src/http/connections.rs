//! Caps on open client connections (`docs/operations.md`, "Connections"): at most
//! `HTTP_MAX_CONNECTIONS` in total and `HTTP_MAX_CONNECTIONS_PER_IP` from one peer address.
//!
//! The per-IP key is the socket's peer address (IPv6 peers by their /64, which one subscriber
//! usually holds whole), not the client IP a request names through `X-Forwarded-For`
//! ([`crate::http::client_ip`]): a cap is decided at accept, before any request exists. Peers in
//! `TRUST_PROXY` are exempt from the per-IP cap (a load balancer carries many clients on its
//! connections) and count against the total only.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};

use crate::proxies::{canonical, TrustedProxies};
use crate::telemetry::refusals::Reason;

/// The open-connection counts and their caps. Shared by the accept loop; each admitted
/// connection holds a [`ConnectionPermit`] that gives its place back when dropped.
#[derive(Debug)]
pub struct ConnectionLimits {
    max_total: usize,
    max_per_ip: usize,
    exempt: TrustedProxies,
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    by_ip: HashMap<IpAddr, usize>,
}

/// An admitted connection's place in the counts; dropping it frees the place.
#[derive(Debug)]
pub struct ConnectionPermit {
    limits: Arc<ConnectionLimits>,
    /// The per-IP key counted, `None` for an exempt peer.
    ip: Option<IpAddr>,
}

/// The key a peer is counted under: IPv4 as is, IPv6 by its /64.
pub fn peer_key(peer: IpAddr) -> IpAddr {
    match canonical(peer) {
        IpAddr::V6(v6) => {
            let masked = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(masked))
        }
        v4 => v4,
    }
}

impl ConnectionLimits {
    /// Caps of `max_total` open connections and `max_per_ip` per peer (both at least 1; see
    /// [`crate::config::HttpConfig`]); peers in `exempt` are not capped per IP.
    pub fn new(max_total: usize, max_per_ip: usize, exempt: TrustedProxies) -> Arc<Self> {
        Arc::new(Self {
            max_total,
            max_per_ip,
            exempt,
            open: Mutex::new(Open::default()),
        })
    }

    /// Admits a connection from `peer`, or says which cap it is over
    /// ([`Reason::ConnectionCapTotal`] or [`Reason::ConnectionCapPerIp`]).
    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> Result<ConnectionPermit, Reason> {
        let key = (!self.exempt.contains(canonical(peer))).then(|| peer_key(peer));
        let Ok(mut open) = self.open.lock() else {
            return Err(Reason::ConnectionCapTotal);
        };
        if open.total >= self.max_total {
            return Err(Reason::ConnectionCapTotal);
        }
        if let Some(key) = key {
            let count = open.by_ip.entry(key).or_insert(0);
            if *count >= self.max_per_ip {
                return Err(Reason::ConnectionCapPerIp);
            }
            *count += 1;
        }
        open.total += 1;
        crate::telemetry::metrics::record_open_connections(open.total);
        Ok(ConnectionPermit {
            limits: self.clone(),
            ip: key,
        })
    }

    /// Open connections in total.
    pub fn open(&self) -> usize {
        self.open.lock().map_or(0, |open| open.total)
    }

    fn release(&self, ip: Option<IpAddr>) {
        let Ok(mut open) = self.open.lock() else {
            return;
        };
        open.total = open.total.saturating_sub(1);
        if let Some(ip) = ip {
            if let Some(count) = open.by_ip.get_mut(&ip) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    open.by_ip.remove(&ip);
                }
            }
        }
        crate::telemetry::metrics::record_open_connections(open.total);
    }
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        self.limits.release(self.ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    #[test]
    fn per_ip_and_total_caps_and_release() {
        let limits = ConnectionLimits::new(3, 2, TrustedProxies::default());
        let a1 = limits.admit(ip("192.0.2.1"));
        let a2 = limits.admit(ip("192.0.2.1"));
        assert!(a1.is_ok() && a2.is_ok());
        assert_eq!(
            limits.admit(ip("192.0.2.1")).err(),
            Some(Reason::ConnectionCapPerIp)
        );
        let b1 = limits.admit(ip("192.0.2.2"));
        assert!(b1.is_ok());
        assert_eq!(
            limits.admit(ip("192.0.2.3")).err(),
            Some(Reason::ConnectionCapTotal)
        );
        drop(a1);
        assert_eq!(limits.open(), 2);
        assert!(limits.admit(ip("192.0.2.1")).is_ok());
    }

    #[test]
    fn ipv6_peers_share_their_64_and_proxies_are_exempt_per_ip() {
        let limits = ConnectionLimits::new(10, 1, TrustedProxies::default());
        let _first = limits.admit(ip("2001:db8::1"));
        assert_eq!(
            limits.admit(ip("2001:db8::2")).err(),
            Some(Reason::ConnectionCapPerIp)
        );
        let proxies = TrustedProxies::parse("10.0.0.0/8").unwrap_or_default();
        let limits = ConnectionLimits::new(10, 1, proxies);
        let permits: Vec<_> = (0..5).map(|_| limits.admit(ip("10.1.2.3"))).collect();
        assert!(permits.iter().all(Result::is_ok));
        assert_eq!(limits.open(), 5);
    }
}

//! The proxies whose `X-Forwarded-For` the service believes (`TRUST_PROXY`; `docs/operations.md`,
//! "Client IP and `TRUST_PROXY`"): the value type, its parsing, and the IP canonicalisation every
//! comparison uses.
//!
//! A leaf, read by [`crate::config`] and applied by [`crate::http::client_ip`].

use std::net::IpAddr;

use ipnet::IpNet;

/// An invalid `TRUST_PROXY` entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not an IP address or CIDR block (e.g. 10.0.0.1, 10.0.0.0/8, ::1, fd00::/8)")]
pub struct TrustProxyError(pub String);

/// The proxies whose `X-Forwarded-For` entries are believed (`TRUST_PROXY`): IP addresses and
/// CIDR blocks, IPv4 or IPv6. Empty: nothing is trusted, the peer address is the client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses a comma-separated list of IP addresses and CIDR blocks; blank entries are ignored.
    ///
    /// Errors: [`TrustProxyError`] naming the first entry that is neither.
    pub fn parse(raw: &str) -> Result<Self, TrustProxyError> {
        let mut nets = Vec::new();
        for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let net = match entry.parse::<IpNet>() {
                Ok(net) => net.trunc(),
                Err(_) => match entry.parse::<IpAddr>() {
                    Ok(ip) => IpNet::from(canonical(ip)),
                    Err(_) => {
                        return Err(TrustProxyError(entry.chars().take(64).collect()));
                    }
                },
            };
            nets.push(net);
        }
        Ok(Self(nets))
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `ip` is one of the trusted proxies.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:1.2.3.4`) as the IPv4 address it is; others unchanged.
pub fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_addresses_and_blocks() {
        let trusted = TrustedProxies::parse(" 127.0.0.1, 10.0.0.0/8 ,fd00::/8,,::1").unwrap();
        assert!(trusted.contains(ip("127.0.0.1")));
        assert!(trusted.contains(ip("10.20.30.40")));
        assert!(trusted.contains(ip("fd12::1")));
        assert!(trusted.contains(ip("::1")));
        assert!(trusted.contains(ip("::ffff:10.1.1.1")), "mapped IPv4");
        assert!(!trusted.contains(ip("11.0.0.1")));
        assert!(!trusted.contains(ip("127.0.0.2")));
        assert_eq!(
            TrustedProxies::parse("10.0.0.1,proxy.internal").unwrap_err(),
            TrustProxyError("proxy.internal".into())
        );
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
        assert!(TrustedProxies::parse("").unwrap().is_empty());
    }
}

//! SSRF guard for webhook endpoint URLs, with its development allow-list
//! (`WEBHOOK_SSRF_ALLOWLIST`; the rules are summarised in `docs/webhooks.md`).
//!
//! A leaf: it imports no other module of this crate, so [`crate::config`] can hold an
//! [`SsrfPolicy`] and [`crate::webhooks`] can apply it.
//!
//! Webhook URLs are chosen by API users, and the dispatcher POSTs to them from inside our
//! network, so a URL must never reach loopback, private, link-local (cloud metadata at
//! `169.254.169.254`), CGNAT, multicast or otherwise non-public addresses. Two layers:
//!
//! 1. [`SsrfPolicy::check_url`] — the URL itself: absolute `https` (`http` only for allow-listed
//!    hosts), no `user:password@`, and an IP-literal host (in any spelling the URL standard
//!    accepts: `127.1`, `0x7f000001`, `[::ffff:127.0.0.1]`) must pass [`is_forbidden`]. The
//!    names `localhost` and `*.localhost` are refused here too (they are loopback by
//!    definition, RFC 6761).
//! 2. [`GuardedResolver`] — the DNS resolver of the delivery client
//!    ([`SsrfPolicy::client_builder`]): every address a name resolves to is checked, forbidden
//!    ones are dropped, and if none remain the request fails with
//!    [`SsrfError::ResolvedAddressForbidden`] before any connection. reqwest connects only to
//!    the addresses the resolver returned, so the address checked is the address used: DNS
//!    rebinding (a public answer at creation, a private one at delivery) cannot slip through.
//!
//! At creation and update the name is also resolved once ([`SsrfPolicy::check_resolved`]), so a
//! name that points only at forbidden addresses is refused up front with the address named,
//! instead of being accepted and then failing every delivery. That check is a courtesy; layer 2
//! is the guarantee.
//!
//! IP-literal URLs never reach a resolver, so layer 1 is the only check for them: the
//! dispatcher calls [`SsrfPolicy::check_url`] when an endpoint is created or updated **and again
//! before every delivery attempt** (the policy may have changed since), and sends to the URL it
//! returns. The client follows no redirects (a `Location` could point anywhere) and uses no
//! proxy (a proxy would resolve names itself, past the guard).
//!
//! `WEBHOOK_SSRF_ALLOWLIST` (comma-separated host names or IPs, for development and tests, e.g.
//! `127.0.0.1,localhost`) exempts exactly those hosts from the https rule and the address rules.

use std::error::Error as StdError;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

/// How long creating or updating an endpoint waits for its host name to resolve
/// ([`SsrfPolicy::check_resolved`]): 2 s.
pub const CREATION_LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);

/// Longest webhook URL accepted, in bytes: 2048.
pub const MAX_URL_LEN: usize = 2048;

/// The SSRF rules, with the development allow-list (`WEBHOOK_SSRF_ALLOWLIST`).
///
/// The default (empty allow-list) is the production policy: https only, public addresses only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SsrfPolicy {
    /// Hosts exempt from the https rule and from the forbidden-address rules: host names (exact
    /// match, ASCII case-insensitive, no wildcard; `localhost` does not cover `a.localhost`) or
    /// IP addresses (compared as addresses, so `::1`, `[::1]` and `0:0:0:0:0:0:0:1` are the
    /// same). An allow-listed IP is also accepted when a (non-allow-listed) name resolves to it.
    /// Entries that are neither are ignored when matching; [`SsrfPolicy::parse_allowlist`]
    /// refuses them up front.
    pub allowlist: Vec<String>,
}

impl SsrfPolicy {
    /// A policy with this allow-list, taken as given (entries that are neither a host name nor
    /// an IP never match; validate with [`SsrfPolicy::parse_allowlist`] to refuse them at boot).
    pub fn new(allowlist: Vec<String>) -> Self {
        Self { allowlist }
    }

    /// Parses `WEBHOOK_SSRF_ALLOWLIST`: comma-separated host names or IP addresses (IPv6 with or
    /// without brackets), whitespace around items and empty items ignored, so an empty value is
    /// the production policy. Entries are stored canonically (lower-case ASCII names, IDNs in
    /// punycode, IPs in standard notation).
    ///
    /// # Errors
    ///
    /// [`AllowlistError`] for the first item that is not a bare host or IP (a scheme, port, path
    /// or invalid character), naming it.
    pub fn parse_allowlist(value: &str) -> Result<Self, AllowlistError> {
        let mut allowlist = Vec::new();
        for (index, raw) in value.split(',').enumerate() {
            let item = raw.trim();
            if item.is_empty() {
                continue;
            }
            match AllowEntry::parse(item) {
                Some(entry) => allowlist.push(entry.to_string()),
                None => {
                    return Err(AllowlistError {
                        position: index + 1,
                        item: item.to_owned(),
                    })
                }
            }
        }
        Ok(Self { allowlist })
    }

    /// Whether `host` (a host name, or an IP with or without brackets) is on the allow-list.
    pub fn is_allowlisted(&self, host: &str) -> bool {
        match AllowEntry::parse(host) {
            Some(AllowEntry::Ip(ip)) => self.allows_ip(ip),
            Some(AllowEntry::Name(name)) => self.allows_name(&name),
            None => false,
        }
    }

    /// Checks a webhook endpoint URL and returns it parsed and normalised (store and send to
    /// `url.as_str()`). Call it when an endpoint is created or updated and before every delivery.
    ///
    /// Rules, checked in this order:
    /// 1. at most [`MAX_URL_LEN`] bytes, and an absolute URL (`URL_INVALID`);
    /// 2. scheme `http` or `https` (`URL_SCHEME_UNSUPPORTED`);
    /// 3. no user name or password (`CREDENTIALS_IN_URL`);
    /// 4. unless the host is allow-listed: an IP-literal host must not be [`is_forbidden`], and
    ///    the host must not be `localhost` / `*.localhost` (`ADDRESS_FORBIDDEN`);
    /// 5. `https`, unless the host is allow-listed (`HTTPS_REQUIRED`).
    ///
    /// Any port, path, query and fragment are fine. Host names are not resolved here (that
    /// happens at connection time, in [`GuardedResolver`]).
    ///
    /// # Errors
    ///
    /// The [`SsrfError`] of the first rule broken; [`SsrfError::code`] is its stable code.
    pub fn check_url(&self, raw: &str) -> Result<Url, SsrfError> {
        if raw.trim().is_empty() {
            return Err(SsrfError::UrlInvalid {
                reason: "it is empty".to_owned(),
            });
        }
        if raw.len() > MAX_URL_LEN {
            return Err(SsrfError::UrlInvalid {
                reason: format!("it is longer than {MAX_URL_LEN} bytes"),
            });
        }
        let url = Url::parse(raw).map_err(|err| SsrfError::UrlInvalid {
            reason: match err {
                url::ParseError::RelativeUrlWithoutBase => {
                    "it is relative; an absolute https://host/path URL is required".to_owned()
                }
                other => other.to_string(),
            },
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(SsrfError::SchemeUnsupported {
                scheme: url.scheme().to_owned(),
            });
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(SsrfError::CredentialsInUrl);
        }
        let (host_text, allowlisted) = match url.host() {
            None => {
                return Err(SsrfError::UrlInvalid {
                    reason: "it has no host".to_owned(),
                })
            }
            Some(Host::Domain(name)) => {
                let allowlisted = self.allows_name(name);
                if !allowlisted && is_localhost_name(name) {
                    return Err(SsrfError::AddressForbidden {
                        host: name.to_owned(),
                        reason: "loopback (the name localhost)",
                    });
                }
                (name.to_owned(), allowlisted)
            }
            Some(Host::Ipv4(ip)) => self.check_literal(IpAddr::V4(ip))?,
            Some(Host::Ipv6(ip)) => self.check_literal(IpAddr::V6(ip))?,
        };
        if url.scheme() != "https" && !allowlisted {
            return Err(SsrfError::HttpsRequired { host: host_text });
        }
        Ok(url)
    }

    /// Keeps the resolved addresses of `host` that may be contacted: all of them when `host` is
    /// allow-listed; otherwise those that are not [`is_forbidden`] or are themselves
    /// allow-listed IPs. Order is preserved. Used by [`GuardedResolver`].
    ///
    /// # Errors
    ///
    /// [`SsrfError::ResolvedAddressForbidden`] (naming the first dropped address and why) when
    /// addresses were given and every one was dropped. An empty input gives an empty output.
    pub fn filter_resolved(
        &self,
        host: &str,
        addrs: impl IntoIterator<Item = SocketAddr>,
    ) -> Result<Vec<SocketAddr>, SsrfError> {
        if self.is_allowlisted(host) {
            return Ok(addrs.into_iter().collect());
        }
        let mut kept = Vec::new();
        let mut first_dropped = None;
        for addr in addrs {
            match is_forbidden(addr.ip()) {
                Some(reason) if !self.allows_ip(addr.ip()) => {
                    first_dropped.get_or_insert((addr.ip(), reason));
                }
                _ => kept.push(addr),
            }
        }
        match first_dropped {
            Some((ip, reason)) if kept.is_empty() => Err(SsrfError::ResolvedAddressForbidden {
                host: host.to_owned(),
                ip,
                reason,
            }),
            _ => Ok(kept),
        }
    }

    /// The creation-time look at a checked URL's host name (see the module docs): resolves it
    /// (at most [`CREATION_LOOKUP_TIMEOUT`]) and refuses it when every address it resolves to is
    /// forbidden. IP literals, allow-listed hosts, and names that do not resolve (yet) or time
    /// out pass: the name may be published later, and every delivery resolves it again through
    /// [`GuardedResolver`].
    ///
    /// # Errors
    ///
    /// [`SsrfError::ResolvedAddressForbidden`] naming the first forbidden address and why.
    pub async fn check_resolved(&self, url: &Url) -> Result<(), SsrfError> {
        let Some(Host::Domain(name)) = url.host() else {
            return Ok(());
        };
        if self.is_allowlisted(name) {
            return Ok(());
        }
        let lookup =
            tokio::time::timeout(CREATION_LOOKUP_TIMEOUT, tokio::net::lookup_host((name, 0))).await;
        match lookup {
            Ok(Ok(addrs)) => self.filter_resolved(name, addrs).map(drop),
            Ok(Err(_)) | Err(_) => Ok(()),
        }
    }

    /// A [`GuardedResolver`] enforcing this policy.
    pub fn resolver(&self) -> GuardedResolver {
        GuardedResolver::new(self.clone())
    }

    /// A `reqwest` client builder for deliveries: DNS through [`GuardedResolver`], redirects
    /// not followed (`redirect::Policy::none()`: a 3xx is returned as is, and [`classify`]
    /// fails it), the whole-request `timeout` (the dispatcher passes
    /// its `DELIVERY_TIMEOUT`, 10 s), and no proxy (neither configured
    /// nor from `HTTP(S)_PROXY`). The caller may add more settings and `build()`s it.
    ///
    /// The resolver does not see IP-literal URLs: call [`SsrfPolicy::check_url`] before every
    /// request.
    ///
    /// [`classify`]: crate::webhooks::policy::classify
    pub fn client_builder(&self, timeout: Duration) -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .dns_resolver(Arc::new(self.resolver()))
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .no_proxy()
    }

    /// Rule 4 for an IP-literal host: `(host text, allow-listed)` or the refusal.
    fn check_literal(&self, ip: IpAddr) -> Result<(String, bool), SsrfError> {
        if self.allows_ip(ip) {
            return Ok((ip.to_string(), true));
        }
        match is_forbidden(ip) {
            Some(reason) => Err(SsrfError::AddressForbidden {
                host: ip.to_string(),
                reason,
            }),
            None => Ok((ip.to_string(), false)),
        }
    }

    fn entries(&self) -> impl Iterator<Item = AllowEntry> + '_ {
        self.allowlist
            .iter()
            .filter_map(|entry| AllowEntry::parse(entry))
    }

    fn allows_ip(&self, ip: IpAddr) -> bool {
        self.entries()
            .any(|entry| matches!(entry, AllowEntry::Ip(allowed) if allowed == ip))
    }

    fn allows_name(&self, name: &str) -> bool {
        self.entries().any(
            |entry| matches!(entry, AllowEntry::Name(allowed) if allowed.eq_ignore_ascii_case(name)),
        )
    }
}

/// One allow-list entry, canonical.
#[derive(Debug, Clone, PartialEq, Eq)]
enum AllowEntry {
    Ip(IpAddr),
    Name(String),
}

impl AllowEntry {
    /// A bare IP (IPv6 with or without brackets) or a host name as the URL standard parses it;
    /// `None` for anything else (ports, schemes, paths, spaces).
    fn parse(raw: &str) -> Option<Self> {
        let item = raw.trim();
        if item.is_empty() {
            return None;
        }
        let unbracketed = item
            .strip_prefix('[')
            .and_then(|rest| rest.strip_suffix(']'))
            .unwrap_or(item);
        if let Ok(ip) = unbracketed.parse::<IpAddr>() {
            return Some(AllowEntry::Ip(ip));
        }
        match Host::parse(item).ok()? {
            Host::Domain(name) => Some(AllowEntry::Name(name.to_ascii_lowercase())),
            Host::Ipv4(ip) => Some(AllowEntry::Ip(IpAddr::V4(ip))),
            Host::Ipv6(ip) => Some(AllowEntry::Ip(IpAddr::V6(ip))),
        }
    }
}

impl std::fmt::Display for AllowEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AllowEntry::Ip(ip) => write!(f, "{ip}"),
            AllowEntry::Name(name) => f.write_str(name),
        }
    }
}

/// `localhost`, `localhost.`, `*.localhost`, `*.localhost.` (RFC 6761: always loopback).
fn is_localhost_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// Why an address may not be the target of a webhook, or `None` if it may (a public unicast
/// address). The reason is a short human-readable label with the range, e.g.
/// `"private (10.0.0.0/8)"`, used in [`SsrfError`] messages.
///
/// IPv4: unspecified `0.0.0.0`, broadcast `255.255.255.255`, "this network" `0/8`, private
/// `10/8` `172.16/12` `192.168/16`, CGNAT `100.64/10`, loopback `127/8`, link-local
/// `169.254/16`, IETF protocol assignments `192.0.0/24`, documentation `192.0.2/24`
/// `198.51.100/24` `203.0.113/24`, 6to4 relay anycast `192.88.99/24`, benchmarking `198.18/15`,
/// multicast `224/4`, reserved `240/4`.
///
/// IPv6: unspecified `::`, loopback `::1`, IPv4-mapped `::ffff:0:0/96` (refused outright,
/// whatever the embedded IPv4), IPv4-compatible `::/96`, IPv4-translated `::ffff:0:0:0/96`,
/// NAT64 `64:ff9b::/96` and `64:ff9b:1::/48`, discard-only `100::/64`, Teredo `2001::/32`,
/// benchmarking `2001:2::/48`, IETF protocol assignments `2001::/23`, documentation
/// `2001:db8::/32` and `3fff::/20`, 6to4 `2002::/16`, SRv6 SIDs `5f00::/16`, unique local
/// `fc00::/7`, link-local `fe80::/10`, site-local `fec0::/10`, multicast `ff00::/8`, and
/// anything else outside global unicast `2000::/3`. The tunnelling ranges (6to4, Teredo,
/// NAT64, mapped, compatible, translated) are refused whole because they can embed a private
/// IPv4 address.
///
/// Allow-listed hosts and IPs bypass this check (see [`SsrfPolicy`]).
pub fn is_forbidden(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(ip) => forbidden_v4(ip),
        IpAddr::V6(ip) => forbidden_v6(ip),
    }
}

/// IPv4 ranges, most specific first: (network, prefix length, reason).
const FORBIDDEN_V4: &[([u8; 4], u32, &str)] = &[
    ([0, 0, 0, 0], 32, "unspecified (0.0.0.0)"),
    ([255, 255, 255, 255], 32, "broadcast (255.255.255.255)"),
    ([0, 0, 0, 0], 8, "\"this network\" (0.0.0.0/8)"),
    ([10, 0, 0, 0], 8, "private (10.0.0.0/8)"),
    ([100, 64, 0, 0], 10, "carrier-grade NAT (100.64.0.0/10)"),
    ([127, 0, 0, 0], 8, "loopback (127.0.0.0/8)"),
    ([169, 254, 0, 0], 16, "link-local (169.254.0.0/16)"),
    ([172, 16, 0, 0], 12, "private (172.16.0.0/12)"),
    (
        [192, 0, 0, 0],
        24,
        "IETF protocol assignments (192.0.0.0/24)",
    ),
    ([192, 0, 2, 0], 24, "documentation (192.0.2.0/24)"),
    ([192, 88, 99, 0], 24, "6to4 relay anycast (192.88.99.0/24)"),
    ([192, 168, 0, 0], 16, "private (192.168.0.0/16)"),
    ([198, 18, 0, 0], 15, "benchmarking (198.18.0.0/15)"),
    ([198, 51, 100, 0], 24, "documentation (198.51.100.0/24)"),
    ([203, 0, 113, 0], 24, "documentation (203.0.113.0/24)"),
    ([224, 0, 0, 0], 4, "multicast (224.0.0.0/4)"),
    ([240, 0, 0, 0], 4, "reserved (240.0.0.0/4)"),
];

/// IPv6 ranges, most specific first: (network, prefix length, reason).
const FORBIDDEN_V6: &[([u16; 8], u32, &str)] = &[
    ([0, 0, 0, 0, 0, 0, 0, 0], 128, "unspecified (::)"),
    ([0, 0, 0, 0, 0, 0, 0, 1], 128, "loopback (::1)"),
    (
        [0, 0, 0, 0, 0, 0xffff, 0, 0],
        96,
        "IPv4-mapped IPv6 (::ffff:0:0/96)",
    ),
    ([0, 0, 0, 0, 0, 0, 0, 0], 96, "IPv4-compatible IPv6 (::/96)"),
    (
        [0, 0, 0, 0, 0xffff, 0, 0, 0],
        96,
        "IPv4-translated IPv6 (::ffff:0:0:0/96)",
    ),
    ([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96, "NAT64 (64:ff9b::/96)"),
    (
        [0x64, 0xff9b, 1, 0, 0, 0, 0, 0],
        48,
        "local-use NAT64 (64:ff9b:1::/48)",
    ),
    ([0x100, 0, 0, 0, 0, 0, 0, 0], 64, "discard-only (100::/64)"),
    ([0x2001, 0, 0, 0, 0, 0, 0, 0], 32, "Teredo (2001::/32)"),
    (
        [0x2001, 2, 0, 0, 0, 0, 0, 0],
        48,
        "benchmarking (2001:2::/48)",
    ),
    (
        [0x2001, 0, 0, 0, 0, 0, 0, 0],
        23,
        "IETF protocol assignments (2001::/23)",
    ),
    (
        [0x2001, 0xdb8, 0, 0, 0, 0, 0, 0],
        32,
        "documentation (2001:db8::/32)",
    ),
    ([0x2002, 0, 0, 0, 0, 0, 0, 0], 16, "6to4 (2002::/16)"),
    (
        [0x3fff, 0, 0, 0, 0, 0, 0, 0],
        20,
        "documentation (3fff::/20)",
    ),
    ([0x5f00, 0, 0, 0, 0, 0, 0, 0], 16, "SRv6 SIDs (5f00::/16)"),
    ([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7, "unique local (fc00::/7)"),
    ([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10, "link-local (fe80::/10)"),
    ([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10, "site-local (fec0::/10)"),
    ([0xff00, 0, 0, 0, 0, 0, 0, 0], 8, "multicast (ff00::/8)"),
];

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let bits = u32::from(ip);
    FORBIDDEN_V4
        .iter()
        .find(|(net, len, _)| {
            let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
            bits & mask == u32::from_be_bytes(*net) & mask
        })
        .map(|(_, _, reason)| *reason)
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let bits = u128::from(ip);
    let listed = FORBIDDEN_V6
        .iter()
        .find(|(net, len, _)| {
            let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
            bits & mask == u128::from(Ipv6Addr::from(*net)) & mask
        })
        .map(|(_, _, reason)| *reason);
    // Global unicast is 2000::/3; everything else is reserved or special.
    listed
        .or_else(|| (bits >> 125 != 0b001).then_some("reserved (outside global unicast 2000::/3)"))
}

/// The DNS resolver of the delivery client: resolves with the system resolver
/// (`tokio::net::lookup_host`) and returns only the addresses [`SsrfPolicy::filter_resolved`]
/// keeps, so reqwest connects only to checked addresses.
///
/// Errors (surfacing as a `reqwest` connect error whose source chain holds them): a lookup
/// failure or no address at all → `std::io::Error` (retryable); every address forbidden →
/// [`SsrfError::ResolvedAddressForbidden`] (find it with [`SsrfError::find_in`]; the delivery
/// fails without retry).
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    policy: Arc<SsrfPolicy>,
}

impl GuardedResolver {
    /// A resolver enforcing `policy`.
    pub fn new(policy: SsrfPolicy) -> Self {
        Self {
            policy: Arc::new(policy),
        }
    }

    /// The policy it enforces.
    pub fn policy(&self) -> &SsrfPolicy {
        &self.policy
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = Arc::clone(&self.policy);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if resolved.is_empty() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("{host} resolved to no address"),
                )
                .into());
            }
            let kept = policy.filter_resolved(&host, resolved)?;
            Ok(Box::new(kept.into_iter()) as Addrs)
        })
    }
}

/// A webhook URL or address refused by the SSRF guard. [`SsrfError::code`] is a stable
/// SCREAMING_SNAKE code for API error details; the message names the rule and is safe to show
/// (it never repeats credentials, paths or queries from the URL).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SsrfError {
    /// `URL_INVALID`: empty, too long, relative or unparseable.
    #[error("webhook URL is invalid: {reason}")]
    UrlInvalid {
        /// What is wrong, e.g. "it is relative; …", "empty host".
        reason: String,
    },
    /// `URL_SCHEME_UNSUPPORTED`: a scheme other than http/https (`ftp:`, `file:`, `javascript:`).
    #[error(
        "webhook URL scheme {scheme:?} is not allowed; use https (http only for hosts in WEBHOOK_SSRF_ALLOWLIST)"
    )]
    SchemeUnsupported {
        /// The scheme, lower-case.
        scheme: String,
    },
    /// `HTTPS_REQUIRED`: `http` to a host that is not allow-listed.
    #[error(
        "webhook URL must use https; plain http is allowed only for hosts in WEBHOOK_SSRF_ALLOWLIST, and {host} is not one"
    )]
    HttpsRequired {
        /// The URL's host.
        host: String,
    },
    /// `CREDENTIALS_IN_URL`: a user name or password in the URL.
    #[error(
        "webhook URL must not contain credentials (user:password@host); deliveries are authenticated by their signature"
    )]
    CredentialsInUrl,
    /// `ADDRESS_FORBIDDEN`: the URL's host is a forbidden IP literal ([`is_forbidden`]) or a
    /// `localhost` name.
    #[error(
        "webhook URL host {host} is not allowed: {reason} addresses cannot receive webhooks; use a public address"
    )]
    AddressForbidden {
        /// The URL's host (an IP in standard notation, or the name).
        host: String,
        /// Which rule, e.g. "private (10.0.0.0/8)".
        reason: &'static str,
    },
    /// `ADDRESS_FORBIDDEN`: every address the host name resolved to (at creation or at delivery)
    /// was forbidden.
    #[error(
        "webhook host {host} resolves only to forbidden addresses (first: {ip}, {reason}); webhooks may only target public addresses"
    )]
    ResolvedAddressForbidden {
        /// The host name.
        host: String,
        /// The first address dropped.
        ip: IpAddr,
        /// Why it was dropped.
        reason: &'static str,
    },
}

impl SsrfError {
    /// The stable code: `URL_INVALID`, `URL_SCHEME_UNSUPPORTED`, `HTTPS_REQUIRED`,
    /// `CREDENTIALS_IN_URL` or `ADDRESS_FORBIDDEN` (both address variants).
    pub fn code(&self) -> &'static str {
        match self {
            SsrfError::UrlInvalid { .. } => "URL_INVALID",
            SsrfError::SchemeUnsupported { .. } => "URL_SCHEME_UNSUPPORTED",
            SsrfError::HttpsRequired { .. } => "HTTPS_REQUIRED",
            SsrfError::CredentialsInUrl => "CREDENTIALS_IN_URL",
            SsrfError::AddressForbidden { .. } | SsrfError::ResolvedAddressForbidden { .. } => {
                "ADDRESS_FORBIDDEN"
            }
        }
    }

    /// The guard's refusal inside an error's source chain (e.g. a `reqwest::Error` from a client
    /// built with [`SsrfPolicy::client_builder`]), if there is one.
    pub fn find_in<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a SsrfError> {
        let mut current = Some(err);
        while let Some(err) = current {
            if let Some(ssrf) = err.downcast_ref::<SsrfError>() {
                return Some(ssrf);
            }
            current = err.source();
        }
        None
    }
}

/// `WEBHOOK_SSRF_ALLOWLIST` has an item that is not a bare host name or IP address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "WEBHOOK_SSRF_ALLOWLIST item {position} ({item:?}) is not a host name or IP address; list bare hosts without scheme, port or path, e.g. 127.0.0.1,localhost,::1"
)]
pub struct AllowlistError {
    /// 1-based position of the item.
    pub position: usize,
    /// The item, trimmed.
    pub item: String,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn policy(allowlist: &[&str]) -> SsrfPolicy {
        SsrfPolicy {
            allowlist: allowlist.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    fn code(result: Result<Url, SsrfError>) -> &'static str {
        result.unwrap_err().code()
    }

    // ---- addresses ----

    #[test]
    fn forbidden_ipv4_ranges() {
        let cases = [
            ("0.0.0.0", "unspecified"),
            ("0.1.2.3", "this network"),
            ("10.0.0.1", "private (10.0.0.0/8)"),
            ("10.255.255.255", "private (10.0.0.0/8)"),
            ("100.64.0.1", "carrier-grade NAT"),
            ("100.127.255.254", "carrier-grade NAT"),
            ("127.0.0.1", "loopback"),
            ("127.255.0.9", "loopback"),
            ("169.254.169.254", "link-local"),
            ("172.16.0.1", "private (172.16.0.0/12)"),
            ("172.31.255.255", "private (172.16.0.0/12)"),
            ("192.0.0.8", "IETF protocol assignments"),
            ("192.0.2.1", "documentation"),
            ("192.88.99.1", "6to4 relay"),
            ("192.168.1.1", "private (192.168.0.0/16)"),
            ("198.18.0.1", "benchmarking"),
            ("198.19.255.255", "benchmarking"),
            ("198.51.100.7", "documentation"),
            ("203.0.113.9", "documentation"),
            ("224.0.0.1", "multicast"),
            ("239.255.255.250", "multicast"),
            ("240.0.0.1", "reserved"),
            ("255.255.255.254", "reserved"),
            ("255.255.255.255", "broadcast"),
        ];
        for (addr, reason) in cases {
            let got = is_forbidden(ip(addr));
            assert!(
                got.is_some_and(|r| r.contains(reason)),
                "{addr}: {got:?}, expected {reason}"
            );
        }
    }

    #[test]
    fn forbidden_ipv6_ranges() {
        let cases = [
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("::ffff:127.0.0.1", "IPv4-mapped"),
            ("::ffff:10.0.0.1", "IPv4-mapped"),
            ("::ffff:93.184.216.34", "IPv4-mapped"), // refused outright, even public
            ("::127.0.0.1", "IPv4-compatible"),
            ("::8.8.8.8", "IPv4-compatible"),
            ("::ffff:0:10.0.0.1", "IPv4-translated"),
            ("64:ff9b::a00:1", "NAT64"),
            ("64:ff9b::7f00:1", "NAT64"),
            ("64:ff9b:1::1", "NAT64"),
            ("100::1", "discard-only"),
            ("2001::1", "Teredo"),
            ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
            ("2001:2::1", "benchmarking"),
            ("2001:10::1", "IETF protocol assignments"),
            ("2001:db8::1", "documentation"),
            ("2002:7f00:1::1", "6to4"),
            ("2002:a00:1::", "6to4"),
            ("3fff::1", "documentation"),
            ("5f00::1", "SRv6"),
            ("fc00::1", "unique local"),
            ("fd12:3456::1", "unique local"),
            ("fe80::1", "link-local"),
            ("febf::1", "link-local"),
            ("fec0::1", "site-local"),
            ("ff02::1", "multicast"),
            ("ff0e::1", "multicast"),
            ("1::1", "reserved"),
            ("4000::1", "reserved"),
            ("e000::1", "reserved"),
        ];
        for (addr, reason) in cases {
            let got = is_forbidden(ip(addr));
            assert!(
                got.is_some_and(|r| r.contains(reason)),
                "{addr}: {got:?}, expected {reason}"
            );
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for addr in [
            "93.184.216.34",
            "8.8.8.8",
            "1.1.1.1",
            "100.63.255.255", // just below CGNAT
            "100.128.0.0",    // just above CGNAT
            "172.15.255.255",
            "172.32.0.0",
            "169.253.255.255",
            "192.169.0.1",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "11.0.0.1",
            "126.255.255.255",
            "128.0.0.1",
            "2606:4700:4700::1111",
            "2001:4860:4860::8888",
            "2a00:1450:4001::1",
            "2001:200::1", // just above 2001::/23
            "2003::1",
        ] {
            assert_eq!(is_forbidden(ip(addr)), None, "{addr}");
        }
    }

    // ---- URLs ----

    #[test]
    fn https_public_urls_are_accepted_and_normalised() {
        let policy = SsrfPolicy::default();
        let url = policy
            .check_url("HTTPS://Hooks.Example.COM:8443/fluxora?x=1#frag")
            .unwrap();
        assert_eq!(
            url.as_str(),
            "https://hooks.example.com:8443/fluxora?x=1#frag"
        );
        assert!(policy.check_url("https://93.184.216.34/hook").is_ok());
        assert!(policy.check_url("https://[2606:4700:4700::1111]/").is_ok());
        assert!(policy.check_url("https://example.com").is_ok());
    }

    #[test]
    fn plain_http_needs_the_allowlist() {
        let err = SsrfPolicy::default()
            .check_url("http://hooks.example.com/x")
            .unwrap_err();
        assert_eq!(err.code(), "HTTPS_REQUIRED");
        assert!(err.to_string().contains("https"), "{err}");
        assert!(err.to_string().contains("hooks.example.com"), "{err}");
        let dev = policy(&["127.0.0.1", "LocalHost", "hooks.example.com"]);
        assert_eq!(
            dev.check_url("http://127.0.0.1:8080/hook")
                .unwrap()
                .as_str(),
            "http://127.0.0.1:8080/hook"
        );
        assert!(dev.check_url("http://localhost:3000/").is_ok());
        assert!(dev.check_url("http://HOOKS.example.com/").is_ok());
        assert!(dev.check_url("https://127.0.0.1/").is_ok());
        // Exact match only: not subdomains, not other addresses.
        assert_eq!(
            code(dev.check_url("http://a.hooks.example.com/")),
            "HTTPS_REQUIRED"
        );
        assert_eq!(
            code(dev.check_url("http://127.0.0.2/")),
            "ADDRESS_FORBIDDEN"
        );
    }

    #[test]
    fn forbidden_ip_literals_are_refused_in_any_spelling() {
        let policy = SsrfPolicy::default();
        for raw in [
            "https://127.0.0.1/",
            "https://127.1/",
            "https://0x7f000001/",
            "https://2130706433/",
            "https://0177.0.0.1/",
            "https://10.0.0.1:8443/x",
            "https://169.254.169.254/latest/meta-data/",
            "https://100.64.0.1/",
            "https://0.0.0.0/",
            "https://[::1]/",
            "https://[::]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[::ffff:7f00:1]/",
            "https://[::ffff:10.0.0.1]/",
            "https://[fe80::1]/",
            "https://[fc00::1]/",
            "https://224.0.0.1/",
            "https://255.255.255.255/",
            "https://localhost/",
            "https://LOCALHOST./",
            "https://api.localhost/",
            "http://127.0.0.1:8080/", // address rule reported before the https rule
        ] {
            let err = policy.check_url(raw).unwrap_err();
            assert_eq!(err.code(), "ADDRESS_FORBIDDEN", "{raw}: {err}");
        }
        let err = policy.check_url("https://10.1.2.3/").unwrap_err();
        assert_eq!(
            err,
            SsrfError::AddressForbidden {
                host: "10.1.2.3".into(),
                reason: "private (10.0.0.0/8)"
            }
        );
        assert!(err.to_string().contains("private (10.0.0.0/8)"), "{err}");
    }

    #[test]
    fn allowlisted_ips_match_in_any_spelling() {
        let dev = policy(&["::1", "127.0.0.1"]);
        assert!(dev.check_url("http://[::1]:9000/").is_ok());
        assert!(dev.check_url("http://[0:0:0:0:0:0:0:1]/").is_ok());
        assert!(dev.check_url("http://127.1/").is_ok());
        assert!(dev.is_allowlisted("[::1]"));
        assert!(dev.is_allowlisted("127.0.0.1"));
        assert!(!dev.is_allowlisted("localhost"));
        let bracketed = policy(&["[::1]"]);
        assert!(bracketed.check_url("http://[::1]/").is_ok());
    }

    #[test]
    fn credentials_are_refused_without_echoing_them() {
        let policy = policy(&["127.0.0.1"]);
        for raw in [
            "https://user:hunter2@example.com/",
            "https://user@example.com/",
            "https://:hunter2@example.com/",
            "http://user:hunter2@127.0.0.1:8080/",
        ] {
            let err = policy.check_url(raw).unwrap_err();
            assert_eq!(err.code(), "CREDENTIALS_IN_URL", "{raw}");
            assert!(!err.to_string().contains("hunter2"));
        }
    }

    #[test]
    fn non_http_schemes_are_refused() {
        let policy = SsrfPolicy::default();
        for (raw, scheme) in [
            ("ftp://example.com/x", "ftp"),
            ("file:///etc/passwd", "file"),
            ("javascript:alert(1)", "javascript"),
            ("mailto:ops@example.com", "mailto"),
            ("ws://example.com/", "ws"),
            ("gopher://127.0.0.1:6379/_INFO", "gopher"),
        ] {
            assert_eq!(
                policy.check_url(raw),
                Err(SsrfError::SchemeUnsupported {
                    scheme: scheme.into()
                }),
                "{raw}"
            );
        }
    }

    #[test]
    fn invalid_urls_are_refused() {
        let policy = SsrfPolicy::default();
        for raw in [
            "",
            "   ",
            "/hooks",
            "example.com/hook",
            "hooks",
            "https://",
            "https://exa mple.com/",
            "https://[::1/",
            "https://example.com:99999/",
        ] {
            let err = policy.check_url(raw).unwrap_err();
            assert_eq!(err.code(), "URL_INVALID", "{raw:?}: {err}");
            assert!(
                err.to_string().starts_with("webhook URL is invalid"),
                "{err}"
            );
        }
        let relative = policy.check_url("/hooks").unwrap_err().to_string();
        assert!(relative.contains("relative"), "{relative}");
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert_eq!(code(policy.check_url(&long)), "URL_INVALID");
    }

    #[test]
    fn allowlist_parsing() {
        let parsed =
            SsrfPolicy::parse_allowlist(" 127.0.0.1, LocalHost ,,[::1],Bücher.example,").unwrap();
        assert_eq!(
            parsed.allowlist,
            vec!["127.0.0.1", "localhost", "::1", "xn--bcher-kva.example"]
        );
        assert_eq!(
            SsrfPolicy::parse_allowlist("").unwrap(),
            SsrfPolicy::default()
        );
        assert_eq!(
            SsrfPolicy::parse_allowlist(" , ").unwrap(),
            SsrfPolicy::default()
        );
        for (value, position, item) in [
            ("localhost:8080", 1, "localhost:8080"),
            ("127.0.0.1,http://localhost", 2, "http://localhost"),
            ("a b", 1, "a b"),
            ("example.com/x", 1, "example.com/x"),
        ] {
            let err = SsrfPolicy::parse_allowlist(value).unwrap_err();
            assert_eq!(
                err,
                AllowlistError {
                    position,
                    item: item.into()
                },
                "{value}"
            );
            assert!(err.to_string().contains("WEBHOOK_SSRF_ALLOWLIST"));
        }
    }

    #[test]
    fn error_codes_are_stable() {
        let cases = [
            (SsrfError::UrlInvalid { reason: "x".into() }, "URL_INVALID"),
            (
                SsrfError::SchemeUnsupported {
                    scheme: "ftp".into(),
                },
                "URL_SCHEME_UNSUPPORTED",
            ),
            (
                SsrfError::HttpsRequired { host: "h".into() },
                "HTTPS_REQUIRED",
            ),
            (SsrfError::CredentialsInUrl, "CREDENTIALS_IN_URL"),
            (
                SsrfError::AddressForbidden {
                    host: "h".into(),
                    reason: "r",
                },
                "ADDRESS_FORBIDDEN",
            ),
            (
                SsrfError::ResolvedAddressForbidden {
                    host: "h".into(),
                    ip: ip("10.0.0.1"),
                    reason: "r",
                },
                "ADDRESS_FORBIDDEN",
            ),
        ];
        for (err, expected) in cases {
            assert_eq!(err.code(), expected);
        }
    }

    // ---- resolution ----

    #[test]
    fn filter_keeps_only_permitted_addresses() {
        let addrs = |list: &[&str]| -> Vec<SocketAddr> {
            list.iter().map(|a| SocketAddr::new(ip(a), 0)).collect()
        };
        let strict = SsrfPolicy::default();
        // Mixed answer (a rebinding attempt): only the public address survives.
        assert_eq!(
            strict
                .filter_resolved(
                    "rebind.example",
                    addrs(&["10.0.0.1", "93.184.216.34", "::1"])
                )
                .unwrap(),
            addrs(&["93.184.216.34"])
        );
        assert_eq!(
            strict.filter_resolved("rebind.example", addrs(&["169.254.169.254", "fd00::1"])),
            Err(SsrfError::ResolvedAddressForbidden {
                host: "rebind.example".into(),
                ip: ip("169.254.169.254"),
                reason: "link-local (169.254.0.0/16)",
            })
        );
        assert_eq!(
            strict.filter_resolved("x.example", Vec::new()).unwrap(),
            Vec::new()
        );
        // Allow-listed name: everything kept.
        let dev = policy(&["dev.internal"]);
        assert_eq!(
            dev.filter_resolved("DEV.internal", addrs(&["10.0.0.1", "::1"]))
                .unwrap(),
            addrs(&["10.0.0.1", "::1"])
        );
        // Allow-listed IP: kept whatever name led to it, others still dropped.
        let ip_only = policy(&["127.0.0.1"]);
        assert_eq!(
            ip_only
                .filter_resolved("other.example", addrs(&["127.0.0.1", "10.0.0.1"]))
                .unwrap(),
            addrs(&["127.0.0.1"])
        );
    }

    async fn resolve(resolver: &GuardedResolver, host: &str) -> Result<Vec<SocketAddr>, String> {
        match resolver.resolve(host.parse::<Name>().unwrap()).await {
            Ok(addrs) => Ok(addrs.collect()),
            Err(err) => Err(SsrfError::find_in(&*err)
                .map(|e| e.code().to_owned())
                .unwrap_or_else(|| format!("other: {err}"))),
        }
    }

    #[tokio::test]
    async fn resolver_refuses_localhost_unless_allowlisted() {
        let strict = SsrfPolicy::default().resolver();
        assert_eq!(
            resolve(&strict, "localhost").await,
            Err("ADDRESS_FORBIDDEN".to_owned())
        );
        let err = strict
            .resolve("localhost".parse::<Name>().unwrap())
            .await
            .err()
            .unwrap();
        assert!(matches!(
            err.downcast_ref::<SsrfError>(),
            Some(SsrfError::ResolvedAddressForbidden { host, reason, .. })
                if host == "localhost" && reason.starts_with("loopback")
        ));

        let dev = policy(&["localhost"]).resolver();
        let addrs = resolve(&dev, "localhost").await.unwrap();
        assert!(
            addrs.contains(&SocketAddr::new(ip("127.0.0.1"), 0)),
            "{addrs:?}"
        );
        assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");

        // Allow-listing the address (not the name) also lets localhost through to it.
        let by_ip = policy(&["127.0.0.1"]).resolver();
        assert_eq!(
            resolve(&by_ip, "localhost").await.unwrap(),
            vec![SocketAddr::new(ip("127.0.0.1"), 0)]
        );
        assert_eq!(by_ip.policy(), &policy(&["127.0.0.1"]));
    }

    #[tokio::test]
    async fn resolver_lookup_failure_is_not_an_ssrf_refusal() {
        let strict = SsrfPolicy::default().resolver();
        // `.invalid` never resolves (RFC 6761); no external network is needed to fail.
        let result = resolve(&strict, "does-not-exist.invalid").await;
        assert!(
            matches!(&result, Err(e) if e.starts_with("other")),
            "{result:?}"
        );
    }

    /// A one-shot HTTP server on 127.0.0.1 answering `response` to the first connection.
    async fn serve_once(response: &'static str) -> (u16, tokio::task::JoinHandle<bool>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let accepted =
                tokio::time::timeout(Duration::from_millis(500), listener.accept()).await;
            let Ok(Ok((mut socket, _))) = accepted else {
                return false;
            };
            let mut buf = [0u8; 4096];
            let _ = socket.read(&mut buf).await;
            socket.write_all(response.as_bytes()).await.unwrap();
            socket.shutdown().await.unwrap();
            true
        });
        (port, task)
    }

    #[tokio::test]
    async fn client_connects_only_to_checked_addresses() {
        let (port, server) = serve_once("HTTP/1.1 204 No Content\r\n\r\n").await;
        let client = SsrfPolicy::default()
            .client_builder(Duration::from_secs(5))
            .build()
            .unwrap();
        let err = client
            .post(format!("http://localhost:{port}/hook"))
            .send()
            .await
            .unwrap_err();
        let refusal = SsrfError::find_in(&err).expect("the guard's refusal in the chain");
        assert_eq!(refusal.code(), "ADDRESS_FORBIDDEN");
        assert!(!server.await.unwrap(), "no connection may reach the server");
    }

    #[tokio::test]
    async fn client_reaches_allowlisted_host_and_does_not_follow_redirects() {
        let (port, server) = serve_once(
            "HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/latest\r\nContent-Length: 0\r\n\r\n",
        )
        .await;
        let dev = policy(&["localhost"]);
        let url = dev
            .check_url(&format!("http://localhost:{port}/hook"))
            .unwrap();
        let client = dev.client_builder(Duration::from_secs(5)).build().unwrap();
        let response = client.post(url).body("{}").send().await.unwrap();
        assert_eq!(response.status().as_u16(), 302);
        assert!(server.await.unwrap());
    }
}

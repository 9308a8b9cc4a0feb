//! The client IP behind proxies: which headers to believe, in which order,
//! and which entry of a forwarding chain is the client.
//!
//! By default only the TCP peer address counts (django-axes' default
//! `REMOTE_ADDR`), so a client cannot choose its address with a header.
//! Behind a reverse proxy, name the header it sets and say how many proxies
//! (or which ones) to trust:
//!
//! ```
//! use axes::AxesConfig;
//! let config = AxesConfig::from_toml_str(r#"
//!     ipware_meta_precedence_order = ["X-Forwarded-For", "REMOTE_ADDR"]
//!     ipware_proxy_trusted_ips = ["10.0.0.0/8"]
//! "#).unwrap();
//! let proxies = config.proxies();
//! let mut headers = http::HeaderMap::new();
//! headers.insert("x-forwarded-for", "203.0.113.9, 10.0.0.7".parse().unwrap());
//! let peer = "10.0.0.1".parse().unwrap();
//! assert_eq!(proxies.client_ip(&headers, peer), "203.0.113.9".parse::<std::net::IpAddr>().unwrap());
//! // The same header from an untrusted peer is ignored.
//! let stranger = "198.51.100.1".parse().unwrap();
//! assert_eq!(proxies.client_ip(&headers, stranger), stranger);
//! ```

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use http::HeaderMap;
use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::rank::{rank, Rank};

/// Which end of a forwarding chain the client is read from when neither a
/// proxy count nor trusted proxies are configured (`AXES_IPWARE_PROXY_ORDER`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProxyOrder {
    /// The first entry (the original client, as proxies append).
    #[default]
    LeftMost,
    /// The last entry (the address the nearest proxy saw).
    RightMost,
}

/// An entry of `ip_whitelist` / `ip_blacklist`: an address (`"10.0.0.1"`)
/// or a CIDR network (`"10.0.0.0/8"`).
///
/// ```
/// use axes::identity::IpMatcher;
/// let net: IpMatcher = "10.0.0.0/8".parse().unwrap();
/// assert!(net.contains("10.1.2.3".parse().unwrap()));
/// let one: IpMatcher = "10.0.0.1".parse().unwrap();
/// assert!(!one.contains("10.0.0.10".parse().unwrap()));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpMatcher(IpNet);

impl IpMatcher {
    /// Whether `ip` is this address or inside this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.contains(&ip.to_canonical())
    }
}

impl FromStr for IpMatcher {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if let Ok(net) = s.parse::<IpNet>() {
            return Ok(Self(net.trunc()));
        }
        s.parse::<IpAddr>()
            .map(|ip| Self(IpNet::from(ip.to_canonical())))
            .map_err(|_| format!("`{s}` is neither an IP address nor a CIDR network"))
    }
}

impl fmt::Display for IpMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.prefix_len() == self.0.max_prefix_len() {
            write!(f, "{}", self.0.addr())
        } else {
            write!(f, "{}", self.0)
        }
    }
}

impl<'de> Deserialize<'de> for IpMatcher {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        raw.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for IpMatcher {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Where the client address is looked for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    /// The TCP peer (`REMOTE_ADDR`).
    Peer,
    /// A header holding a comma-separated chain (`X-Forwarded-For`, `X-Real-IP`, …).
    Chain(http::HeaderName),
    /// RFC 7239 `Forwarded`, read for its `for=` parameters.
    Forwarded,
}

impl Source {
    /// Reads a precedence entry in Django's spelling (`HTTP_X_FORWARDED_FOR`,
    /// `REMOTE_ADDR`) or as a header name (`X-Forwarded-For`).
    fn parse(name: &str) -> Result<Self, String> {
        let trimmed = name.trim();
        let upper = trimmed.to_ascii_uppercase().replace('-', "_");
        if upper == "REMOTE_ADDR" {
            return Ok(Self::Peer);
        }
        let header = upper.strip_prefix("HTTP_").unwrap_or(&upper);
        let header = header.replace('_', "-").to_ascii_lowercase();
        if header == "forwarded" {
            return Ok(Self::Forwarded);
        }
        http::HeaderName::from_bytes(header.as_bytes())
            .map(Self::Chain)
            .map_err(|_| format!("`{trimmed}` is not a header name"))
    }
}

/// Validates an `ipware_meta_precedence_order` entry.
pub(crate) fn validate_source(name: &str) -> Result<(), String> {
    Source::parse(name).map(|_| ())
}

/// How to find the client address of a request: the `ipware_*` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyConfig {
    sources: Vec<Source>,
    proxy_count: Option<u32>,
    order: ProxyOrder,
    trusted: Vec<IpMatcher>,
}

impl ProxyConfig {
    /// Where to look, in precedence order (`REMOTE_ADDR`, a header in
    /// Django's spelling or as a header name; names that are neither are
    /// skipped), how many proxies to count from the right, which end of a
    /// chain otherwise, and which proxies to believe.
    pub fn new<S: AsRef<str>>(
        precedence: impl IntoIterator<Item = S>,
        proxy_count: Option<u32>,
        order: ProxyOrder,
        trusted: Vec<IpMatcher>,
    ) -> Self {
        Self {
            sources: precedence
                .into_iter()
                .filter_map(|name| Source::parse(name.as_ref()).ok())
                .collect(),
            proxy_count,
            order,
            trusted,
        }
    }

    /// The client address, else the TCP peer — never "no address".
    ///
    /// With trusted proxies or a proxy count, from the first source in
    /// precedence order that is present (a header that is absent passes on
    /// to the next source). A header that is present decides, even when it
    /// is partly malformed: handing the decision to the next source would
    /// let a client that spoils one header choose its address with another.
    ///
    /// Without them, every header is the client's own word, and it is read
    /// as django-ipware reads it: a header with an entry that is not an
    /// address is malformed as a whole and passes on to the next source; in
    /// a chain, the first public address is the client, else the best
    /// ranked one (private, link-local, loopback; the earliest on ties);
    /// and a later source's public address beats an earlier one's private.
    pub fn client_ip(&self, headers: &HeaderMap, peer: IpAddr) -> IpAddr {
        let peer = peer.to_canonical();
        if self.trusted.is_empty() && self.proxy_count.is_none() {
            return self.best_believed(headers, peer);
        }
        for source in &self.sources {
            let chain = match source {
                Source::Peer => return peer,
                Source::Chain(name) => chain_hops(headers, name),
                Source::Forwarded => forwarded_hops(headers),
            };
            if let Some(chain) = chain {
                return self.pick_from_chain(&chain, peer);
            }
        }
        peer
    }

    /// The client without proxy settings (see [`client_ip`](Self::client_ip)).
    fn best_believed(&self, headers: &HeaderMap, peer: IpAddr) -> IpAddr {
        let mut best: Option<(Rank, IpAddr)> = None;
        for source in &self.sources {
            let mut chain = match source {
                Source::Peer => vec![peer],
                Source::Chain(name) => match strict_chain(headers, name, |entry| entry) {
                    Some(chain) => chain,
                    None => continue,
                },
                Source::Forwarded => {
                    match strict_chain(headers, &http::header::FORWARDED, forwarded_for) {
                        Some(chain) => chain,
                        None => continue,
                    }
                }
            };
            if self.order == ProxyOrder::RightMost {
                chain.reverse();
            }
            for ip in chain {
                let rank = rank(ip);
                if rank == Rank::Public {
                    return ip;
                }
                if rank > best.map_or(Rank::Rejected, |(rank, _)| rank) {
                    best = Some((rank, ip));
                }
            }
        }
        best.map_or(peer, |(_, ip)| ip)
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|m| m.contains(ip))
    }

    /// Picks the client out of a chain that is present. Only the entries
    /// the configuration reads are looked at: a malformed entry further
    /// left (a client can prepend anything) changes nothing. When the
    /// entry where the client should be is hidden (`for=_hidden`,
    /// `unknown`) or malformed, the address of the hop that reported it
    /// (the entry right of it, or the TCP peer) stands in for it.
    fn pick_from_chain(&self, chain: &[Hop], peer: IpAddr) -> IpAddr {
        // The hop right of `index` (the one that wrote entry `index`).
        let reporter = |index: usize| {
            chain[index + 1..]
                .iter()
                .find_map(|hop| hop.addr())
                .unwrap_or(peer)
        };
        if !self.trusted.is_empty() {
            if !self.is_trusted(peer) {
                // Not from a proxy of ours: no header is believed.
                return peer;
            }
            // Walk from the nearest hop outwards past trusted proxies.
            for (index, hop) in chain.iter().enumerate().rev() {
                match hop {
                    Hop::Addr(ip) if self.is_trusted(*ip) => continue,
                    Hop::Addr(ip) => return *ip,
                    Hop::Unknown => return reporter(index),
                }
            }
            // Every hop is a trusted proxy: the farthest one is the client.
            return chain.iter().find_map(Hop::addr).unwrap_or(peer);
        }
        if let Some(count) = self.proxy_count {
            let Some(index) = chain.len().checked_sub(1 + count as usize) else {
                // Shorter than the proxies it must have passed: not theirs.
                return peer;
            };
            return chain[index].addr().unwrap_or_else(|| reporter(index));
        }
        match self.order {
            ProxyOrder::LeftMost => chain.iter().find_map(Hop::addr).unwrap_or(peer),
            ProxyOrder::RightMost => match chain.last() {
                Some(hop) => hop.addr().unwrap_or(peer),
                None => peer,
            },
        }
    }
}

/// One entry of a forwarding chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hop {
    /// An address.
    Addr(IpAddr),
    /// Present but not an address: malformed, `unknown`, or obfuscated
    /// (RFC 7239 `for=_hidden`).
    Unknown,
}

impl Hop {
    fn parse(entry: &str) -> Self {
        parse_entry(entry).map_or(Self::Unknown, Self::Addr)
    }

    fn addr(&self) -> Option<IpAddr> {
        match self {
            Self::Addr(ip) => Some(*ip),
            Self::Unknown => None,
        }
    }
}

/// The entries of every `name` header, in order (each header line's
/// comma-separated entries; a line that is not text is one unknown hop);
/// `None` when the header is absent.
fn chain_hops(headers: &HeaderMap, name: &http::HeaderName) -> Option<Vec<Hop>> {
    let mut hops = Vec::new();
    let mut present = false;
    for value in headers.get_all(name) {
        present = true;
        match value.to_str() {
            Ok(text) => hops.extend(
                text.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(Hop::parse),
            ),
            Err(_) => hops.push(Hop::Unknown),
        }
    }
    (present && !hops.is_empty()).then_some(hops)
}

/// The addresses of every `name` header, in order, each entry read by
/// `entry` first; `None` when the header is absent, blank, or malformed —
/// an entry that is empty or not an address (as django-ipware's strict
/// reading: a malformed header is not believed at all).
fn strict_chain(
    headers: &HeaderMap,
    name: &http::HeaderName,
    entry: impl Fn(&str) -> &str,
) -> Option<Vec<IpAddr>> {
    let mut chain = Vec::new();
    for value in headers.get_all(name) {
        let text = value.to_str().ok()?;
        if text.trim().is_empty() {
            continue;
        }
        for part in text.split(',') {
            chain.push(parse_entry(entry(part.trim()))?);
        }
    }
    (!chain.is_empty()).then_some(chain)
}

/// The `for=` value of one `Forwarded` element (empty without one).
fn forwarded_for(element: &str) -> &str {
    element
        .split(';')
        .find_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            key.trim().eq_ignore_ascii_case("for").then(|| value.trim())
        })
        .unwrap_or("")
}

/// The `for=` node of every `Forwarded` element, in order (an element
/// without one is an unknown hop); `None` when the header is absent.
fn forwarded_hops(headers: &HeaderMap) -> Option<Vec<Hop>> {
    let mut hops = Vec::new();
    let mut present = false;
    for value in headers.get_all(http::header::FORWARDED) {
        present = true;
        let Ok(text) = value.to_str() else {
            hops.push(Hop::Unknown);
            continue;
        };
        for element in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let node = element.split(';').find_map(|pair| {
                let (key, value) = pair.split_once('=')?;
                key.trim()
                    .eq_ignore_ascii_case("for")
                    .then(|| value.trim().trim_matches('"'))
            });
            hops.push(node.map_or(Hop::Unknown, Hop::parse));
        }
    }
    (present && !hops.is_empty()).then_some(hops)
}

/// An address as proxies write it: bare, with a port, or bracketed IPv6.
/// `unknown` and obfuscated identifiers (`_hidden`) are not addresses.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim().trim_matches('"');
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(addr) = entry.parse::<SocketAddr>() {
        return Some(addr.ip().to_canonical());
    }
    let (inside, rest) = entry.strip_prefix('[')?.split_once(']')?;
    let port_ok = rest.is_empty()
        || rest
            .strip_prefix(':')
            .is_some_and(|port| port.bytes().all(|b| b.is_ascii_digit()));
    port_ok
        .then(|| inside.parse::<IpAddr>().ok())
        .flatten()
        .map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn proxies(toml: &str) -> ProxyConfig {
        crate::AxesConfig::from_toml_str(toml).unwrap().proxies()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    const XFF_FIRST: &str =
        r#"ipware_meta_precedence_order = ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"]"#;

    #[test]
    fn headers_are_ignored_by_default() {
        let p = proxies("");
        let h = headers(&[
            ("x-forwarded-for", "203.0.113.1"),
            ("x-real-ip", "203.0.113.2"),
        ]);
        assert_eq!(p.client_ip(&h, ip("192.0.2.1")), ip("192.0.2.1"));
    }

    #[test]
    fn django_and_header_spellings_are_equivalent() {
        for order in ["HTTP_X_FORWARDED_FOR", "X-Forwarded-For", "x_forwarded_for"] {
            let p = proxies(&format!("ipware_meta_precedence_order = [\"{order}\"]"));
            let h = headers(&[("x-forwarded-for", "203.0.113.1")]);
            assert_eq!(
                p.client_ip(&h, ip("192.0.2.1")),
                ip("203.0.113.1"),
                "{order}"
            );
        }
    }

    #[test]
    fn order_picks_an_end_of_the_chain() {
        let h = headers(&[(
            "x-forwarded-for",
            "203.0.113.1, 198.51.100.2:8080, [2001:db8::1]:443",
        )]);
        assert_eq!(
            proxies(XFF_FIRST).client_ip(&h, ip("192.0.2.1")),
            ip("203.0.113.1")
        );
        let right = proxies(&format!("{XFF_FIRST}\nipware_proxy_order = \"right-most\""));
        assert_eq!(right.client_ip(&h, ip("192.0.2.1")), ip("2001:db8::1"));
    }

    #[test]
    fn proxy_count_counts_from_the_right_whatever_the_length() {
        let p = proxies(&format!("{XFF_FIRST}\nipware_proxy_count = 1"));
        let peer = ip("192.0.2.1");
        let chain = |v: &str| headers(&[("x-forwarded-for", v)]);
        assert_eq!(
            p.client_ip(&chain("203.0.113.1, 10.0.0.1"), peer),
            ip("203.0.113.1")
        );
        // A client prepending fake entries does not move the pick.
        assert_eq!(
            p.client_ip(&chain("6.6.6.6, 7.7.7.7, 203.0.113.1, 10.0.0.1"), peer),
            ip("203.0.113.1")
        );
        // Too short a chain gives no address: the peer is used.
        assert_eq!(p.client_ip(&chain("203.0.113.1"), peer), peer);
    }

    #[test]
    fn trusted_proxies_are_believed_only_as_the_peer() {
        let p = proxies(&format!(
            "{XFF_FIRST}\nipware_proxy_trusted_ips = [\"10.0.0.0/8\"]"
        ));
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 203.0.113.1, 10.0.0.9")]);
        assert_eq!(p.client_ip(&h, ip("10.0.0.1")), ip("203.0.113.1"));
        assert_eq!(p.client_ip(&h, ip("198.51.100.7")), ip("198.51.100.7"));
        let only_proxies = headers(&[("x-forwarded-for", "10.0.0.3, 10.0.0.9")]);
        assert_eq!(p.client_ip(&only_proxies, ip("10.0.0.1")), ip("10.0.0.3"));
    }

    #[test]
    fn malformed_headers_give_no_address() {
        let p = proxies(XFF_FIRST);
        let peer = ip("192.0.2.1");
        for bad in ["", "not-an-ip", "999.1.1.1", ",,,", "unknown", "[1.2.3.4]x"] {
            let h = headers(&[("x-forwarded-for", bad)]);
            assert_eq!(p.client_ip(&h, peer), peer, "{bad:?}");
        }
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            http::HeaderValue::from_bytes(b"\xff1.2.3.4").unwrap(),
        );
        assert_eq!(p.client_ip(&h, peer), peer);
        // Without proxy settings, as django-ipware: one entry that is not an
        // address spoils the whole header, and the next source decides.
        for spoiled in [
            "garbage, 203.0.113.1",
            "203.0.113.1, , 198.51.100.2",
            "203.0.113.1,",
        ] {
            let h = headers(&[("x-forwarded-for", spoiled)]);
            assert_eq!(p.client_ip(&h, peer), peer, "{spoiled:?}");
        }
    }

    #[test]
    fn without_proxy_settings_the_first_public_address_wins() {
        let p = proxies(XFF_FIRST);
        let peer = ip("127.0.0.2");
        let h = headers(&[("x-forwarded-for", "10.0.0.1, 177.139.233.139")]);
        assert_eq!(p.client_ip(&h, peer), ip("177.139.233.139"));
        let h = headers(&[("x-forwarded-for", "10.0.0.1, 198.51.100.2")]);
        assert_eq!(
            p.client_ip(&h, peer),
            ip("10.0.0.1"),
            "the earliest private"
        );
        let h = headers(&[("x-forwarded-for", "127.0.0.9, 169.254.0.1")]);
        assert_eq!(
            p.client_ip(&h, peer),
            ip("169.254.0.1"),
            "link-local over loopback"
        );
        let h = headers(&[("x-forwarded-for", "0.0.0.0, 224.0.0.1")]);
        assert_eq!(p.client_ip(&h, peer), peer, "never a rejected address");
        // A later source's public address beats an earlier one's private.
        let p = proxies(r#"ipware_meta_precedence_order = ["X-Forwarded-For", "X-Real-IP"]"#);
        let h = headers(&[
            ("x-forwarded-for", "10.0.0.1"),
            ("x-real-ip", "177.139.233.139"),
        ]);
        assert_eq!(p.client_ip(&h, peer), ip("177.139.233.139"));
    }

    #[test]
    fn a_spoiled_header_does_not_hand_the_choice_to_the_next_one() {
        // The proxy (10.0.0.1) appends the address it saw to whatever the
        // client sent; the client also sends an X-Real-IP of its choosing.
        let p = proxies(
            r#"ipware_meta_precedence_order = ["X-Forwarded-For", "X-Real-IP", "REMOTE_ADDR"]
               ipware_proxy_trusted_ips = ["10.0.0.0/8"]"#,
        );
        let proxy = ip("10.0.0.1");
        for forged in ["garbage", "\"", "999.9.9.9", "[::1", "6.6.6.6, x"] {
            let h = headers(&[
                ("x-forwarded-for", &format!("{forged}, 203.0.113.9")),
                ("x-real-ip", "6.6.6.6"),
            ]);
            assert_eq!(p.client_ip(&h, proxy), ip("203.0.113.9"), "{forged:?}");
        }
        // Repeated header lines form one chain; a spoiled line on the left
        // is left alone.
        let mut h = headers(&[("x-real-ip", "6.6.6.6")]);
        h.append(
            "x-forwarded-for",
            http::HeaderValue::from_bytes(b"\xffx").unwrap(),
        );
        h.append("x-forwarded-for", "203.0.113.9".parse().unwrap());
        assert_eq!(p.client_ip(&h, proxy), ip("203.0.113.9"));

        let counted = proxies(
            r#"ipware_meta_precedence_order = ["X-Forwarded-For", "X-Real-IP", "REMOTE_ADDR"]
               ipware_proxy_count = 1"#,
        );
        let h = headers(&[
            (
                "x-forwarded-for",
                "6.6.6.6, not-an-ip, 203.0.113.9, 10.0.0.2",
            ),
            ("x-real-ip", "6.6.6.6"),
        ]);
        assert_eq!(counted.client_ip(&h, proxy), ip("203.0.113.9"));
    }

    #[test]
    fn a_hidden_client_is_counted_by_the_hop_that_reported_it() {
        let p = proxies(
            r#"ipware_meta_precedence_order = ["Forwarded", "X-Real-IP"]
               ipware_proxy_trusted_ips = ["10.0.0.0/8"]"#,
        );
        let proxy = ip("10.0.0.1");
        for hidden in ["for=_hidden", "for=unknown", "for=\"_x9\"", "proto=https"] {
            let h = headers(&[
                ("forwarded", &format!("for=6.6.6.6, {hidden}, for=10.0.0.5")),
                ("x-real-ip", "6.6.6.6"),
            ]);
            assert_eq!(p.client_ip(&h, proxy), ip("10.0.0.5"), "{hidden}");
        }
        let h = headers(&[("forwarded", "for=_hidden"), ("x-real-ip", "6.6.6.6")]);
        assert_eq!(p.client_ip(&h, proxy), proxy);
        let counted = proxies(
            r#"ipware_meta_precedence_order = ["Forwarded"]
               ipware_proxy_count = 1"#,
        );
        let h = headers(&[("forwarded", "for=_hidden, for=198.51.100.4")]);
        assert_eq!(counted.client_ip(&h, proxy), ip("198.51.100.4"));
    }

    #[test]
    fn repeated_headers_form_one_chain() {
        let p = proxies(&format!("{XFF_FIRST}\nipware_proxy_order = \"right-most\""));
        let h = headers(&[
            ("x-forwarded-for", "203.0.113.1"),
            ("x-forwarded-for", "198.51.100.2"),
        ]);
        assert_eq!(p.client_ip(&h, ip("192.0.2.1")), ip("198.51.100.2"));
    }

    #[test]
    fn forwarded_header_for_parameters() {
        let p = proxies(r#"ipware_meta_precedence_order = ["Forwarded"]"#);
        let h = headers(&[(
            "forwarded",
            r#"for="[2001:db8:cafe::17]:4711";proto=https, for=198.51.100.2"#,
        )]);
        assert_eq!(p.client_ip(&h, ip("192.0.2.1")), ip("2001:db8:cafe::17"));
        let hidden = headers(&[("forwarded", "for=_hidden")]);
        assert_eq!(p.client_ip(&hidden, ip("192.0.2.1")), ip("192.0.2.1"));
    }

    #[test]
    fn precedence_falls_through_to_later_sources() {
        let p = proxies(
            r#"ipware_meta_precedence_order = ["X-Real-IP", "X-Forwarded-For", "REMOTE_ADDR"]"#,
        );
        let h = headers(&[("x-forwarded-for", "203.0.113.5")]);
        assert_eq!(p.client_ip(&h, ip("192.0.2.1")), ip("203.0.113.5"));
        assert_eq!(
            p.client_ip(&HeaderMap::new(), ip("::ffff:192.0.2.1")),
            ip("192.0.2.1")
        );
    }
}

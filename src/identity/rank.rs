//! [`rank`]: how likely an address is to be a real client's, as
//! django-ipware ranks the candidates of a chain it has no proxy settings
//! for: a public address first, then a private one, a link-local one, a
//! loopback one; never an unspecified, multicast, broadcast or reserved one.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The rank of a client address candidate; higher is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Rank {
    /// Never a client: unspecified, `0.0.0.0/8`, multicast, broadcast,
    /// reserved.
    Rejected,
    Loopback,
    LinkLocal,
    /// RFC 1918, shared address space (`100.64.0.0/10`), documentation
    /// and benchmarking ranges, unique local IPv6, …
    Private,
    /// Publicly routable.
    Public,
}

/// The rank of `ip` (an IPv4-mapped IPv6 address as the IPv4 one), by the
/// special-purpose ranges Python's `ipaddress` knows (3.12).
pub(crate) fn rank(ip: IpAddr) -> Rank {
    match ip.to_canonical() {
        IpAddr::V4(v4) => rank_v4(v4),
        IpAddr::V6(v6) => rank_v6(v6),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], bits: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

fn rank_v4(ip: Ipv4Addr) -> Rank {
    if ip.is_unspecified() || ip.is_multicast() || in_v4(ip, [0, 0, 0, 0], 8) {
        return Rank::Rejected;
    }
    if ip.is_loopback() {
        return Rank::Loopback;
    }
    if in_v4(ip, [240, 0, 0, 0], 4) {
        return Rank::Rejected; // reserved, the broadcast address included
    }
    const NOT_PUBLIC: [([u8; 4], u32); 12] = [
        ([10, 0, 0, 0], 8),
        ([100, 64, 0, 0], 10),
        ([169, 254, 0, 0], 16),
        ([172, 16, 0, 0], 12),
        ([192, 0, 0, 0], 29),
        ([192, 0, 0, 170], 31),
        ([192, 0, 2, 0], 24),
        ([192, 168, 0, 0], 16),
        ([198, 18, 0, 0], 15),
        ([198, 51, 100, 0], 24),
        ([203, 0, 113, 0], 24),
        ([255, 255, 255, 255], 32),
    ];
    if !NOT_PUBLIC.iter().any(|(net, bits)| in_v4(ip, *net, *bits)) {
        return Rank::Public;
    }
    if ip.is_link_local() {
        Rank::LinkLocal
    } else {
        Rank::Private
    }
}

fn in_v6(ip: Ipv6Addr, net: u128, bits: u32) -> bool {
    let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
    u128::from(ip) & mask == net & mask
}

fn rank_v6(ip: Ipv6Addr) -> Rank {
    if ip.is_unspecified() || ip.is_multicast() {
        return Rank::Rejected;
    }
    if ip.is_loopback() {
        return Rank::Loopback;
    }
    if in_v6(ip, 0x0064_ff9b_0001 << 80, 48) {
        return Rank::Private; // local-use NAT64
    }
    // Outside global unicast, unique local, link- and site-local: reserved.
    let allocated =
        in_v6(ip, 0x2 << 124, 3) || in_v6(ip, 0xfc << 120, 7) || in_v6(ip, 0xfe8 << 116, 9);
    if !allocated {
        return Rank::Rejected;
    }
    const NOT_PUBLIC: [(u128, u32); 7] = [
        (0x0100 << 112, 64),
        (0x2001 << 112, 23),
        (0x2001_0db8 << 96, 32),
        (0x2001_0010 << 96, 28),
        (0x2002 << 112, 16),
        (0xfc << 120, 7),
        (0xfe8 << 116, 9), // link- and site-local
    ];
    if !NOT_PUBLIC.iter().any(|(net, bits)| in_v6(ip, *net, *bits)) {
        return Rank::Public;
    }
    if in_v6(ip, 0xfe8 << 116, 10) {
        Rank::LinkLocal
    } else {
        Rank::Private
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_follow_the_special_purpose_ranges() {
        let cases = [
            ("177.139.233.139", Rank::Public),
            ("203.0.114.5", Rank::Public),
            ("10.0.0.1", Rank::Private),
            ("100.64.1.1", Rank::Private),
            ("198.51.100.7", Rank::Private),
            ("169.254.1.1", Rank::LinkLocal),
            ("127.0.0.2", Rank::Loopback),
            ("0.1.2.3", Rank::Rejected),
            ("224.0.0.1", Rank::Rejected),
            ("255.255.255.255", Rank::Rejected),
            ("240.0.0.1", Rank::Rejected),
            ("2606:4700::1111", Rank::Public),
            ("2001:db8::1", Rank::Private),
            ("2002::1", Rank::Private),
            ("fd00::1", Rank::Private),
            ("fe80::1", Rank::LinkLocal),
            ("fec0::1", Rank::Private),
            ("::1", Rank::Loopback),
            ("::", Rank::Rejected),
            ("ff02::1", Rank::Rejected),
            ("4000::1", Rank::Rejected),
            ("::ffff:177.139.233.139", Rank::Public),
        ];
        for (ip, expected) in cases {
            assert_eq!(rank(ip.parse().unwrap()), expected, "{ip}");
        }
    }
}

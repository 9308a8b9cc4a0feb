//! How a client is counted: usernames normalised and IPv6 addresses grouped
//! by prefix, so trivial variants of one identity share one count.

use std::net::{IpAddr, Ipv6Addr};

use serde::{Deserialize, Serialize};

/// How usernames are normalised before counting (`username_normalization`).
///
/// The default, `Trim`, strips the white space around a username, as form
/// libraries do before a handler sees it (Django's `CharField` strips), so
/// that `" alice "` is counted as the `alice` the handler verifies.
///
/// ```
/// use axes::identity::UsernameNormalization::*;
/// assert_eq!(None.apply(" Alice "), " Alice ");
/// assert_eq!(Trim.apply(" Alice\t"), "Alice");
/// assert_eq!(Casefold.apply(" Alice "), "alice");
/// assert_eq!(NfkcCasefold.apply("ＡＬＩＣＥ"), "alice");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UsernameNormalization {
    /// Usernames are compared exactly, white space included.
    None,
    /// Surrounding white space trimmed (Unicode `White_Space`, as Python's
    /// `str.strip` that Django's forms apply); case kept.
    #[default]
    Trim,
    /// Surrounding white space trimmed, then Unicode case folding.
    Casefold,
    /// Trimmed, then NFKC (full-width and other compatibility forms become
    /// their plain letters), then case folding.
    NfkcCasefold,
}

impl UsernameNormalization {
    /// Whether the normalization strips surrounding white space.
    pub fn trims(self) -> bool {
        self != Self::None
    }

    /// The username as counted.
    pub fn apply(self, username: &str) -> String {
        self.apply_cow(username).into_owned()
    }

    /// The username as counted, borrowed when normalising leaves it as it
    /// is (the common case of `Trim`).
    pub(crate) fn apply_cow(self, username: &str) -> std::borrow::Cow<'_, str> {
        use std::borrow::Cow;
        match self {
            Self::None => Cow::Borrowed(username),
            Self::Trim => Cow::Borrowed(username.trim()),
            normalization => Cow::Owned(normalization.fold(username)),
        }
    }

    fn fold(self, username: &str) -> String {
        match self {
            Self::None => username.to_owned(),
            Self::Trim => username.trim().to_owned(),
            Self::Casefold => caseless::default_case_fold_str(username.trim()),
            Self::NfkcCasefold => {
                use unicode_normalization::UnicodeNormalization;
                let composed: String = username.trim().nfkc().collect();
                // Folding can leave text that is no longer NFKC; compose again.
                caseless::default_case_fold_str(&composed).nfkc().collect()
            }
        }
    }
}

/// `ip` with an IPv6 address cut to its first `prefix` bits (IPv4 and
/// IPv4-mapped addresses are left whole).
///
/// ```
/// let ip = "2001:db8:1:2:aaaa:bbbb:cccc:dddd".parse().unwrap();
/// assert_eq!(axes::identity::ipv6_prefix(ip, 64).to_string(), "2001:db8:1:2::");
/// ```
pub fn ipv6_prefix(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let prefix = u32::from(prefix.min(128));
            let mask = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - prefix)
            };
            IpAddr::V6(Ipv6Addr::from(bits & mask))
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_of_one_username_fold_together() {
        let n = UsernameNormalization::NfkcCasefold;
        for variant in ["alice", "ALICE", " Alice\t", "ａｌｉｃｅ", "ＡＬＩＣＥ"] {
            assert_eq!(n.apply(variant), "alice", "{variant:?}");
        }
        assert_eq!(UsernameNormalization::Casefold.apply("Straße"), "strasse");
        assert_ne!(UsernameNormalization::Casefold.apply("ａｌｉｃｅ"), "alice");
    }

    #[test]
    fn ipv4_and_mapped_addresses_are_not_masked() {
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(ipv6_prefix(v4, 64), v4);
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(ipv6_prefix(mapped, 64), v4);
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(ipv6_prefix(v6, 128), v6);
        assert_eq!(ipv6_prefix(v6, 0).to_string(), "::");
    }
}

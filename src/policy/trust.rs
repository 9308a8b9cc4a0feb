//! Trusted devices (`device_cookie`): after a successful login the layer
//! sets a signed cookie that vouches for the device having logged in as
//! that username; within `trusted_client_window` it lets the device through
//! a username-only lockout, wherever it connects from.
//!
//! A cookie holds up to [`MAX_TOKENS`] tokens, newest first, each
//! `<issued ms>.<HMAC-SHA256 hex>` over the username and the issue time, so
//! a token names no username, cannot be forged without the engine's secret,
//! and vouches for one username only.

use std::time::{Duration, SystemTime};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::clock::{from_millis, to_millis};
use crate::secret::Secret;

/// How many usernames one device cookie vouches for at most.
pub const MAX_TOKENS: usize = 5;

impl Secret {
    /// A token vouching for `username`, issued at `now`.
    fn token(&self, username: &str, now: SystemTime) -> Option<String> {
        let issued = to_millis(now);
        let tag = self.device_mac(username, issued)?.finalize().into_bytes();
        Some(format!("{issued}.{}", crate::hex::encode(&tag)))
    }

    /// Whether `token` vouches for `username`.
    fn verifies(&self, token: &Token<'_>, username: &str) -> bool {
        // An HMAC-SHA256 tag: 32 bytes.
        let Some(tag) = Some(token.tag)
            .filter(|tag| tag.len() == 64)
            .and_then(crate::hex::decode)
        else {
            return false;
        };
        self.device_mac(username, token.issued_ms)
            .is_some_and(|mac| mac.verify_slice(&tag).is_ok())
    }

    fn device_mac(&self, username: &str, issued_ms: i64) -> Option<Hmac<Sha256>> {
        let issued = issued_ms.to_string();
        self.mac("axes-device", &[username.as_bytes(), issued.as_bytes()])
    }
}

/// One token of a cookie value.
struct Token<'a> {
    issued_ms: i64,
    tag: &'a str,
    text: &'a str,
}

impl Token<'_> {
    fn issued(&self) -> SystemTime {
        from_millis(self.issued_ms)
    }
}

fn tokens(value: &str) -> impl Iterator<Item = Token<'_>> {
    value.split('~').take(MAX_TOKENS).filter_map(|text| {
        let (issued, tag) = text.split_once('.')?;
        // Only well-formed tokens are read, or carried into a renewed cookie.
        if tag.len() != 64 || !tag.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        Some(Token {
            issued_ms: issued.parse().ok()?,
            tag,
            text,
        })
    })
}

/// Whether the cookie `value` holds a token for `username` issued within
/// `window` before `now`.
pub(crate) fn vouches(
    secret: &Secret,
    value: &str,
    username: &str,
    now: SystemTime,
    window: Duration,
) -> bool {
    tokens(value).any(|token| {
        let issued = token.issued();
        issued <= now && issued + window >= now && secret.verifies(&token, username)
    })
}

/// The cookie value after `username` logged in at `now`: a new token for
/// it first, then the still-valid tokens of other usernames from
/// `previous`, at most [`MAX_TOKENS`] in all.
pub(crate) fn renewed(
    secret: &Secret,
    previous: Option<&str>,
    username: &str,
    now: SystemTime,
    window: Duration,
) -> Option<String> {
    let mut value = secret.token(username, now)?;
    let others = previous.into_iter().flat_map(tokens).filter(|token| {
        let issued = token.issued();
        issued <= now && issued + window >= now && !secret.verifies(token, username)
    });
    for token in others.take(MAX_TOKENS - 1) {
        value.push('~');
        value.push_str(token.text);
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::cookie;
    use http::HeaderMap;

    const DAY: Duration = Duration::from_secs(24 * 3600);

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
    }

    #[test]
    fn a_token_vouches_for_its_username_within_the_window_only() {
        let secret = Secret::new(b"k".repeat(32));
        let value = renewed(&secret, None, "alice", at(0), DAY).unwrap();
        assert!(vouches(&secret, &value, "alice", at(10), DAY));
        assert!(!vouches(&secret, &value, "bob", at(10), DAY));
        assert!(!vouches(
            &secret,
            &value,
            "alice",
            at(DAY.as_secs() + 1),
            DAY
        ));
        let other = Secret::new(b"x".repeat(32));
        assert!(
            !vouches(&other, &value, "alice", at(10), DAY),
            "another key"
        );
    }

    #[test]
    fn tampered_and_malformed_values_vouch_for_nobody() {
        let secret = Secret::new(b"k".repeat(32));
        let value = renewed(&secret, None, "alice", at(0), DAY).unwrap();
        let (issued, tag) = value.split_once('.').unwrap();
        let later = format!("{}.{tag}", issued.parse::<i64>().unwrap() + 1000);
        for bad in [
            later.as_str(),
            "",
            "~~~",
            "1.zz",
            "x.y",
            &value[..value.len() - 1],
        ] {
            assert!(!vouches(&secret, bad, "alice", at(10), DAY), "{bad:?}");
        }
    }

    #[test]
    fn renewal_keeps_other_usernames_and_replaces_the_own() {
        let secret = Secret::new(b"k".repeat(32));
        let mut value = renewed(&secret, None, "alice", at(0), DAY).unwrap();
        value = renewed(&secret, Some(&value), "bob", at(1), DAY).unwrap();
        value = renewed(&secret, Some(&value), "alice", at(2), DAY).unwrap();
        assert_eq!(value.split('~').count(), 2);
        assert!(vouches(&secret, &value, "alice", at(3), DAY));
        assert!(vouches(&secret, &value, "bob", at(3), DAY));
        for i in 0..10 {
            value = renewed(&secret, Some(&value), &format!("user{i}"), at(4 + i), DAY).unwrap();
        }
        assert_eq!(value.split('~').count(), MAX_TOKENS);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_cookie_values_never_panic_and_vouch_for_nobody(value in ".{0,300}", username in ".{0,40}") {
            let secret = Secret::new(b"k".repeat(32));
            proptest::prop_assert!(!vouches(&secret, &value, &username, at(0), DAY));
            let renewed = renewed(&secret, Some(&value), &username, at(0), DAY).unwrap();
            proptest::prop_assert!(vouches(&secret, &renewed, &username, at(1), DAY));
            proptest::prop_assert!(renewed.split('~').count() <= MAX_TOKENS);
            proptest::prop_assert!(renewed.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'~' || b == b'-'));
        }
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.append("cookie", "a=1; axes_device=xyz".parse().unwrap());
        headers.append("cookie", "b=2".parse().unwrap());
        assert_eq!(cookie(&headers, "axes_device"), Some("xyz"));
        assert_eq!(cookie(&headers, "b"), Some("2"));
        assert_eq!(cookie(&headers, "missing"), None);
    }
}

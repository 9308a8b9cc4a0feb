//! [`Secret`]: the engine's key. It signs trusted-device cookies and draws
//! each lockout's jitter, so app servers given the same secret agree on
//! both.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The engine's key (see [`AxesBuilder::secret`](crate::AxesBuilder::secret)).
#[derive(Clone)]
pub(crate) struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    /// A secret of the given bytes.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// 32 random bytes from the operating system.
    pub fn random() -> Self {
        let mut bytes = vec![0; 32];
        if let Err(error) = getrandom::fill(&mut bytes) {
            // An empty key signs nothing: no device is trusted, no lockout
            // is jittered.
            tracing::error!(target: "axes", %error, "no randomness for the engine's secret; device cookies and jitter are off");
            bytes.clear();
        }
        Self(bytes)
    }

    /// HMAC-SHA256 of `parts` (NUL-separated) under the label `purpose`, so
    /// that a value made for one purpose never serves another; `None`
    /// without a key.
    pub fn mac(&self, purpose: &str, parts: &[&[u8]]) -> Option<Hmac<Sha256>> {
        if self.0.is_empty() {
            return None;
        }
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).ok()?;
        mac.update(purpose.as_bytes());
        for part in parts {
            mac.update(b"\0");
            mac.update(part);
        }
        Some(mac)
    }

    /// The HMAC of `parts` under `purpose`, in hex; `None` without a key.
    pub fn sign(&self, purpose: &str, parts: &[&[u8]]) -> Option<String> {
        let tag = self.mac(purpose, parts)?.finalize().into_bytes();
        Some(crate::hex::encode(&tag))
    }

    /// Whether `tag` (hex) is the HMAC of `parts` under `purpose`, compared
    /// in constant time; never without a key.
    pub fn verify(&self, purpose: &str, parts: &[&[u8]], tag: &str) -> bool {
        let (Some(mac), Some(tag)) = (self.mac(purpose, parts), crate::hex::decode(tag)) else {
            return false;
        };
        mac.verify_slice(&tag).is_ok()
    }
}

/// `count` random bytes from the operating system, in hex.
pub(crate) fn random_hex(count: usize) -> Option<String> {
    let mut bytes = vec![0; count];
    getrandom::fill(&mut bytes).ok()?;
    Some(crate::hex::encode(&bytes))
}

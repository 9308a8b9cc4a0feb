//! Self-service unlock (OWASP's "unlock through a channel only the owner
//! controls", Devise's unlock links): a sealed, expiring, single-use token
//! the application e-mails to a username's owner, and its redemption, which
//! lifts that username's lockouts and none of the IP's.
//!
//! A token is `ChaCha20-Poly1305` sealed under a key derived from the
//! engine's secret: it carries the username, when it was issued and until
//! when it holds, readable and forgeable by no one without the secret. The
//! store keeps until when the latest token of each username holds (a reset
//! of the username deletes it, revoking the token) and which tokens were
//! redeemed, so app servers sharing a store and a secret honour each
//! other's tokens, once. Both are counters dated at the token's expiry, so
//! no purge of expired failures removes them before it.

use std::net::{IpAddr, Ipv4Addr};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hmac::Mac as _;

use super::error::AxesError;
use super::events::AxesEvent;
use super::state::Engine;
use crate::clock::{from_millis, to_millis};
use crate::identity::{ClientInfo, LockoutKey};
use crate::secret::Secret;
use crate::store::{AttemptFilter, FailureRecord, Window};

/// The version byte every token starts with, and the data it is bound to.
const VERSION: u8 = 1;
const BOUND_TO: &[u8] = b"axes unlock token v1";
const NONCE_BYTES: usize = 12;
/// The longest token read: a longer one is refused unread.
const MAX_TOKEN_CHARS: usize = 4096;

/// Why an unlock token was not redeemed, or not issued.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use axes::{Axes, AxesConfig, MemoryStore, UnlockError};
/// let axes = Axes::new(AxesConfig::default(), MemoryStore::new());
/// let refused = axes.redeem_unlock("not-a-token").await.unwrap_err();
/// assert!(matches!(refused, UnlockError::Invalid));
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UnlockError {
    /// Not a token this engine's secret sealed: malformed, altered, or
    /// sealed under another secret.
    #[error("the unlock token is not valid")]
    Invalid,
    /// Past its `unlock_token_lifetime`.
    #[error("the unlock token has expired")]
    Expired,
    /// Redeemed already.
    #[error("the unlock token was used already")]
    Used,
    /// A reset of the username, or a newer token, came after it.
    #[error("the unlock token was revoked by a reset or a newer token")]
    Revoked,
    /// The engine has no secret to seal tokens with.
    #[error("the engine has no secret to seal unlock tokens with")]
    NoSecret,
    /// The store failed, or the username was refused.
    #[error(transparent)]
    Axes(#[from] AxesError),
}

/// What a token says once opened.
struct Sealed {
    nonce: [u8; NONCE_BYTES],
    issued_ms: i64,
    expires_ms: i64,
    username: String,
}

impl Engine {
    /// A token that lifts `username`'s lockouts once (see
    /// [`Axes::unlock_token`](crate::Axes::unlock_token)).
    pub(crate) async fn unlock_token(&self, username: &str) -> Result<String, UnlockError> {
        let username = self.unlock_username(username)?;
        let key = token_key(self.secret()).ok_or(UnlockError::NoSecret)?;
        let lifetime = self.config().unlock_token_lifetime;
        let now = self.now();
        // The store remembers until when the latest token holds, dated then.
        let marker = [LockoutKey::unlock_token(&username)];
        let window = Window::fixed(lifetime);
        let holder = bookkeeping_client(&username);
        let record = FailureRecord::new(&marker, &holder, now + lifetime, &window)
            .counters_only()
            .locking(1, Some(lifetime));
        let expires = self
            .timed_store()
            .record_failure(record)
            .await
            .map_err(AxesError::from)?
            .first()
            .map_or(now + lifetime, |counter| counter.last_failure);
        let mut nonce = [0; NONCE_BYTES];
        getrandom::fill(&mut nonce).map_err(|_| UnlockError::NoSecret)?;
        let sealed = Sealed {
            nonce,
            issued_ms: to_millis(now),
            expires_ms: to_millis(expires),
            username,
        };
        Ok(seal(&key, &sealed))
    }

    /// Redeems a token from [`unlock_token`](Self::unlock_token) (see
    /// [`Axes::redeem_unlock`](crate::Axes::redeem_unlock)).
    pub(crate) async fn redeem_unlock(&self, token: &str) -> Result<String, UnlockError> {
        let redeemed = self.redeem(token).await;
        #[cfg(feature = "metrics")]
        crate::metrics::unlock(match &redeemed {
            Ok(_) => "redeemed",
            Err(UnlockError::Invalid) => "invalid",
            Err(UnlockError::Expired) => "expired",
            Err(UnlockError::Used) => "used",
            Err(UnlockError::Revoked) => "revoked",
            Err(_) => "error",
        });
        redeemed
    }

    /// The steps of [`redeem_unlock`](Self::redeem_unlock).
    async fn redeem(&self, token: &str) -> Result<String, UnlockError> {
        let key = token_key(self.secret()).ok_or(UnlockError::Invalid)?;
        let sealed = open(&key, token).ok_or(UnlockError::Invalid)?;
        let now = self.now();
        if to_millis(now) > sealed.expires_ms {
            return Err(UnlockError::Expired);
        }
        let store = self.timed_store();
        let marker = LockoutKey::unlock_token(&sealed.username);
        let latest = store
            .counters(std::slice::from_ref(&marker))
            .await
            .map_err(AxesError::from)?;
        let current = latest
            .first()
            .and_then(Option::as_ref)
            .is_some_and(|latest| to_millis(latest.last_failure) == sealed.expires_ms);
        if !current {
            return Err(UnlockError::Revoked);
        }
        // Once: the first redemption finds the counter new.
        let lifetime = self.config().unlock_token_lifetime;
        let redeemed = [LockoutKey::redeemed_token(&crate::hex::encode(
            &sealed.nonce,
        ))];
        let window = Window::fixed(lifetime);
        let holder = bookkeeping_client(&sealed.username);
        let expires = from_millis(sealed.expires_ms);
        let record = FailureRecord::new(&redeemed, &holder, expires, &window)
            .counters_only()
            .locking(1, Some(lifetime));
        let uses = store
            .record_failure(record)
            .await
            .map_err(AxesError::from)?
            .first()
            .map_or(1, |counter| counter.failures);
        if uses > 1 {
            return Err(UnlockError::Used);
        }
        self.lift_username(&sealed.username).await?;
        store
            .delete_counters(&[marker])
            .await
            .map_err(AxesError::from)?;
        self.announce_reset().await;
        tracing::info!(target: "axes", username = %self.logged_name(Some(&sealed.username)), "username unlocked by its owner's token");
        self.emit(|| AxesEvent::Unlocked {
            username: sealed.username.clone(),
            at: now,
        });
        Ok(sealed.username)
    }

    /// Lifts `username`'s lockouts, as a redeemed token does, without one
    /// (see [`Axes::unlock`](crate::Axes::unlock)); revokes its tokens.
    pub(crate) async fn unlock(&self, username: &str) -> Result<u64, AxesError> {
        let username = self.unlock_username(username)?;
        let lifted = self.lift_username(&username).await?;
        self.timed_store()
            .delete_counters(&[LockoutKey::unlock_token(&username)])
            .await?;
        self.announce_reset().await;
        tracing::info!(target: "axes", username = %self.logged_name(Some(&username)), lifted, "username unlocked");
        self.emit(|| AxesEvent::Unlocked {
            username: username.clone(),
            at: self.now(),
        });
        Ok(lifted)
    }

    /// `username` as counted, refused when empty.
    fn unlock_username(&self, username: &str) -> Result<String, AxesError> {
        let filter = AttemptFilter::Username(username.to_owned());
        filter.validate()?;
        match self.counted_filter(filter) {
            AttemptFilter::Username(username) => Ok(username),
            _ => unreachable!("a username filter stays one"),
        }
    }

    /// Lifts the lockouts of `username`'s keys: the username's own and
    /// every combination with it, never an IP's or a user agent's alone.
    async fn lift_username(&self, username: &str) -> Result<u64, AxesError> {
        let filter = AttemptFilter::Username(username.to_owned());
        self.reset_counted(&filter, has_username, has_username)
            .await
    }
}

/// Whether a key names a username: what an unlock forgets and takes a
/// record's failures off.
fn has_username(key: &LockoutKey) -> bool {
    key.username().is_some()
}

/// The client a bookkeeping write is made for (no attempt record is kept).
fn bookkeeping_client(username: &str) -> ClientInfo {
    ClientInfo::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED)).with_username(username)
}

/// The sealing key: derived from the engine's secret, for this purpose only.
fn token_key(secret: &Secret) -> Option<Key> {
    let derived = secret.mac("axes unlock token key", &[])?.finalize();
    Key::try_from(derived.into_bytes().as_slice()).ok()
}

fn seal(key: &Key, sealed: &Sealed) -> String {
    let mut plain = Vec::with_capacity(16 + sealed.username.len());
    plain.extend_from_slice(&sealed.issued_ms.to_be_bytes());
    plain.extend_from_slice(&sealed.expires_ms.to_be_bytes());
    plain.extend_from_slice(sealed.username.as_bytes());
    let cipher = ChaCha20Poly1305::new(key);
    let payload = Payload {
        msg: &plain,
        aad: BOUND_TO,
    };
    let nonce = Nonce::from(sealed.nonce);
    let Ok(ciphertext) = cipher.encrypt(&nonce, payload) else {
        unreachable!("sealing a message of bounded length cannot fail")
    };
    let mut token = Vec::with_capacity(1 + NONCE_BYTES + ciphertext.len());
    token.push(VERSION);
    token.extend_from_slice(&sealed.nonce);
    token.extend_from_slice(&ciphertext);
    URL_SAFE_NO_PAD.encode(token)
}

fn open(key: &Key, token: &str) -> Option<Sealed> {
    let token = token.trim();
    if token.len() > MAX_TOKEN_CHARS {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
    let (&version, rest) = bytes.split_first()?;
    if version != VERSION || rest.len() < NONCE_BYTES {
        return None;
    }
    let (nonce, ciphertext) = rest.split_at(NONCE_BYTES);
    let cipher = ChaCha20Poly1305::new(key);
    let payload = Payload {
        msg: ciphertext,
        aad: BOUND_TO,
    };
    let plain = cipher
        .decrypt(&Nonce::try_from(nonce).ok()?, payload)
        .ok()?;
    if plain.len() < 16 {
        return None;
    }
    let (times, username) = plain.split_at(16);
    Some(Sealed {
        nonce: nonce.try_into().ok()?,
        issued_ms: i64::from_be_bytes(times[..8].try_into().ok()?),
        expires_ms: i64::from_be_bytes(times[8..].try_into().ok()?),
        username: String::from_utf8(username.to_vec()).ok()?,
    })
}

//! Step one of every attempt, made once: the attempt as the engine counts
//! it ([`Prepared`]) — how the lists treat it, its counted form (the
//! username callable's answer, normalised; an IPv6 prefix), the rules the
//! per-attempt callables set for it, its lockout keys — and the typed set
//! of keys one check reads ([`ReadKeys`]).

use std::borrow::Cow;
use std::time::Duration;

use http::header;

use super::state::Engine;
use crate::config::AxesConfig;
use crate::identity::{ipv6_prefix, ClientInfo, Credentials, LockoutKey, LoginAttempt};
use crate::identity::{RequestInfo, UsernameNormalization, UNKNOWN};
use crate::policy::{self, challenge, detectors, escalation, Listing, Lockout, Rules};
use crate::store::{AttemptFilter, FilterError};

/// How many failure times a sliding counter keeps at least when the failure
/// limit is a per-request callable.
const SLIDING_KEEP_WITH_LIMIT_CALLABLE: usize = 64;

/// An attempt as the engine counts it: what the callables said of it, once.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    pub listing: Listing,
    /// The client as counted.
    pub client: ClientInfo,
    /// What the failure-limit and cool-off callables said.
    limit: Option<u32>,
    cooloff: Option<Option<Duration>>,
    /// Its lockout keys, by the configured groups or the callable's.
    pub keys: Vec<LockoutKey>,
}

impl Prepared {
    /// The rules in force for it: `config` with what the callables said.
    pub fn rules<'c>(&self, config: &'c AxesConfig) -> Rules<'c> {
        let mut rules = Rules::of(config);
        if let Some(limit) = self.limit {
            rules.failure_limit = limit;
            // Clients with other limits may share a key: keep enough
            // failure times for theirs too.
            rules.keep = rules
                .keep
                .max(limit as usize)
                .max(SLIDING_KEEP_WITH_LIMIT_CALLABLE);
        }
        if let Some(cooloff) = self.cooloff {
            rules.cooloff = cooloff;
        }
        rules
    }

    /// Whether it is counted, with keys to count it under.
    pub fn counted(&self) -> bool {
        self.listing == Listing::Counted && !self.keys.is_empty()
    }
}

/// The keys one check reads, in one round trip: the client's lockout keys,
/// then its detectors' keys, then its lockout histories', then (with
/// `challenge_after`) the challenges its keys passed.
pub(crate) struct ReadKeys {
    pub all: Vec<LockoutKey>,
    keys: usize,
    detectors: usize,
    histories: usize,
}

impl ReadKeys {
    /// What a check of `prepared` reads (nothing for a listed client).
    pub fn of(config: &AxesConfig, prepared: &Prepared) -> Self {
        if !prepared.counted() {
            return Self {
                all: Vec::new(),
                keys: 0,
                detectors: 0,
                histories: 0,
            };
        }
        let keys = &prepared.keys;
        let detectors = detectors::keys(config, keys, &prepared.client);
        let histories = escalation::history_keys(config, keys);
        let passes = challenge::pass_keys(config, keys);
        Self {
            keys: keys.len(),
            detectors: detectors.len(),
            histories: histories.len(),
            all: [keys.as_slice(), &detectors, &histories, &passes].concat(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.all.is_empty()
    }

    /// Where the detectors' keys end (and the histories' begin).
    pub fn detectors_end(&self) -> usize {
        self.keys + self.detectors
    }

    /// The detectors' keys.
    pub fn detectors(&self) -> &[LockoutKey] {
        &self.all[self.keys..self.detectors_end()]
    }

    /// Where the lockout histories' keys end (and the passes' begin).
    pub fn histories_end(&self) -> usize {
        self.detectors_end() + self.histories
    }

    /// The lockout histories' keys.
    pub fn histories(&self) -> &[LockoutKey] {
        &self.all[self.detectors_end()..self.histories_end()]
    }
}

impl Engine {
    /// `attempt` as the engine counts it: every per-attempt callable runs
    /// here, once.
    pub(crate) fn prepare(&self, attempt: &LoginAttempt<'_>) -> Prepared {
        let config = self.config();
        let listing = self.listing(attempt);
        let client = self.counted(attempt.client());
        let counted = attempt.for_client(&client);
        let hooks = self.hooks();
        let limit = hooks
            .failure_limit
            .as_ref()
            .filter(|_| config.lockout_tiers.is_empty())
            .map(|limit| limit(&counted).max(1));
        let cooloff = hooks
            .cooloff
            .as_ref()
            .map(|cooloff| cooloff(&counted).filter(|d| !d.is_zero()));
        let groups = hooks
            .lockout_parameters
            .as_ref()
            .map(|parameters| parameters(&counted))
            .filter(|groups| {
                if groups.is_empty() {
                    tracing::warn!(target: "axes", "the lockout_parameters callable returned no group; using the configured ones");
                }
                !groups.is_empty()
            });
        let keys = policy::lockout_keys(
            groups.as_deref().unwrap_or(&config.lockout_parameters),
            &client,
        );
        Prepared {
            listing,
            client,
            limit,
            cooloff,
            keys,
        }
    }

    /// How the lists and the whitelist callable treat `attempt`.
    fn listing(&self, attempt: &LoginAttempt<'_>) -> Listing {
        let config = self.config();
        if !config.enabled {
            return Listing::Whitelisted;
        }
        match policy::listing(config, attempt.client()) {
            Listing::Counted => match &self.hooks().whitelist {
                Some(whitelisted) if whitelisted(attempt) => Listing::Whitelisted,
                _ => Listing::Counted,
            },
            listed => listed,
        }
    }

    /// The client as counted: an IPv6 address cut to `ipv6_prefix_length`,
    /// the username normalised by `username_normalization`.
    pub(crate) fn counted(&self, client: &ClientInfo) -> ClientInfo {
        let config = self.config();
        let mut counted = client.clone();
        if let Some(prefix) = config.ipv6_prefix_length {
            counted.set_ip_address(ipv6_prefix(client.ip_address(), prefix));
        }
        let Some(username) = client.username() else {
            return counted;
        };
        let normalized = match config.username_normalization {
            UsernameNormalization::None => Cow::Borrowed(username),
            normalization => normalization.apply_cow(username),
        };
        let named = self.private_name(normalized);
        if named != username {
            counted.set_username(Some(named.into_owned()));
        }
        counted
    }

    /// `attempt` as the events tell of it: as counted, but with
    /// `private_usernames` under the username it was given (by the
    /// request, or the handler), never its pseudonym.
    pub(crate) fn told<'p>(
        &self,
        attempt: &LoginAttempt<'_>,
        prepared: &'p Prepared,
    ) -> Cow<'p, ClientInfo> {
        let counted = &prepared.client;
        if !self.config().private_usernames || counted.username().is_none() {
            return Cow::Borrowed(counted);
        }
        let mut told = counted.clone();
        told.set_username(attempt.client().username().map(str::to_owned));
        Cow::Owned(told)
    }

    /// `lockout` as the client and the events are told of it: with
    /// `private_usernames`, naming the username `given` (as the request gave
    /// it, or the handler named it), never its pseudonym.
    pub(crate) fn told_lockout(&self, mut lockout: Lockout, given: Option<&str>) -> Lockout {
        if self.config().private_usernames && lockout.username.is_some() {
            lockout.username = given.map(str::to_owned);
        }
        lockout
    }

    /// With `private_usernames`, when `filter` names a username: the
    /// pseudonym it is kept as, and the name given, so that a listing
    /// shows the name where it was given.
    pub(crate) fn given_name(&self, filter: &AttemptFilter) -> Option<(String, String)> {
        if !self.config().private_usernames {
            return None;
        }
        let given = filter.username()?;
        let kept = self.counted_filter(AttemptFilter::Username(given.to_owned()));
        Some((kept.username()?.to_owned(), given.to_owned()))
    }

    /// `username` as kept: with `private_usernames`, its pseudonym — `~`
    /// and 32 hex digits of a keyed hash under the engine's secret (a
    /// pseudonym is kept as it is, so that counting twice changes nothing).
    pub(crate) fn private_name<'a>(&self, username: Cow<'a, str>) -> Cow<'a, str> {
        if !self.config().private_usernames || is_pseudonym(&username) {
            return username;
        }
        let Some(mac) = self
            .secret()
            .mac("axes private username", &[username.as_bytes()])
        else {
            return username;
        };
        let digest = hmac::Mac::finalize(mac).into_bytes();
        Cow::Owned(format!("~{}", crate::hex::encode(&digest[..16])))
    }

    /// `filter` checked for a reset or a listing, in the terms records are
    /// kept in: refused when it names an empty username, one of only white
    /// space, or — when usernames are counted trimmed — one with white
    /// space around it, which names no counted username (so ` alice` never
    /// resets `alice`).
    pub(crate) fn checked_filter(
        &self,
        filter: AttemptFilter,
    ) -> Result<AttemptFilter, FilterError> {
        filter.validate()?;
        if let Some(username) = filter.username() {
            if self.config().username_normalization.trims() && username.trim() != username {
                return Err(FilterError::PaddedUsername(username.to_owned()));
            }
        }
        Ok(self.counted_filter(filter))
    }

    /// A filter in the terms records are kept in (see [`Self::counted`]).
    pub(crate) fn counted_filter(&self, filter: AttemptFilter) -> AttemptFilter {
        let config = self.config();
        let ip = |ip| match config.ipv6_prefix_length {
            Some(prefix) => ipv6_prefix(ip, prefix),
            None => ip,
        };
        let user = |u: String| {
            let normalized = match config.username_normalization {
                UsernameNormalization::None => u,
                normalization => normalization.apply(&u),
            };
            self.private_name(Cow::Owned(normalized)).into_owned()
        };
        match filter {
            AttemptFilter::All => AttemptFilter::All,
            AttemptFilter::Ip(a) => AttemptFilter::Ip(ip(a)),
            AttemptFilter::Username(u) => AttemptFilter::Username(user(u)),
            AttemptFilter::IpAndUsername(a, u) => AttemptFilter::IpAndUsername(ip(a), user(u)),
            AttemptFilter::IpOrUsername(a, u) => AttemptFilter::IpOrUsername(ip(a), user(u)),
        }
    }

    /// The client of `request`: its IP by the client IP callable, else
    /// the `ipware_*` resolution; its user agent, path, `Accept` and
    /// method; the username its body field `username_form_field` gives
    /// (the last one of a repeated field, as Django's `QueryDict.get`).
    pub(crate) fn client_of(&self, request: &RequestInfo) -> ClientInfo {
        let headers = request.headers();
        let ip = self
            .hooks()
            .client_ip
            .as_ref()
            .and_then(|callable| callable(request))
            .unwrap_or_else(|| self.proxies.client_ip(headers, request.peer().ip()));
        let text = |name| {
            headers.get(name).map_or(Cow::Borrowed(UNKNOWN), |v| {
                String::from_utf8_lossy(v.as_bytes())
            })
        };
        let mut client = ClientInfo::new(ip)
            .with_method(request.method().clone())
            .with_path(request.uri().path())
            .with_user_agent(text(header::USER_AGENT))
            .with_http_accept(text(header::ACCEPT));
        let username = request.field(&self.config().username_form_field);
        client.set_username(username.map(str::to_owned));
        client
    }

    /// The client of `attempt` with the username counted for it: the
    /// username callable's answer if one is set, else the credentials'
    /// username, else the one already on the client (read from the body).
    pub(crate) fn with_username(&self, attempt: &LoginAttempt<'_>) -> ClientInfo {
        let mut client = attempt.client().clone();
        if let Some(callable) = &self.hooks().username {
            client.set_username(callable(attempt));
        } else if let Some(username) = attempt.credentials().and_then(Credentials::username) {
            client.set_username(Some(username.to_owned()));
        }
        client
    }
}

/// With `private_usernames`, a listing shows the name where it was given:
/// `username`, when it is the pseudonym of the name searched for, becomes
/// that name (`given`: the pseudonym, and the name, from
/// [`Engine::given_name`]).
pub(crate) fn show_given(given: Option<&(String, String)>, username: Option<&mut String>) {
    if let (Some((kept, name)), Some(username)) = (given, username) {
        if username == kept {
            username.clone_from(name);
        }
    }
}

/// Whether `username` is a pseudonym `private_usernames` made.
fn is_pseudonym(username: &str) -> bool {
    username.len() == 33
        && username.starts_with('~')
        && username[1..]
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

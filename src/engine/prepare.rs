//! Step one of every attempt: the attempt as the engine counts it
//! ([`Prepared`]) — how the lists treat it, its counted form (normalised
//! username, IPv6 prefix), the rules in force for it (the callables
//! applied), its lockout keys — and the typed set of keys one check reads
//! ([`ReadKeys`]).

use std::borrow::Cow;

use super::Axes;
use crate::identity::{ipv6_prefix, ClientInfo, LockoutKey, LoginAttempt, RequestInfo};
use crate::identity::{Credentials, UsernameNormalization};
use crate::policy::{self, challenge, detectors, escalation, Listing, Rules};
use crate::store::{AttemptFilter, FilterError};

/// How many failure times a sliding counter keeps at least when the failure
/// limit is a per-request callable.
const SLIDING_KEEP_WITH_LIMIT_CALLABLE: usize = 64;

/// An attempt as the engine counts it.
pub(crate) struct Prepared<'a, 'c> {
    pub listing: Listing,
    /// The client as counted.
    pub client: Cow<'c, ClientInfo>,
    /// The request it came in, when the layer saw one.
    pub request: Option<&'c RequestInfo>,
    pub rules: Rules<'a>,
    pub keys: Vec<LockoutKey>,
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
    pub fn of(axes: &Axes, prepared: &Prepared<'_, '_>) -> Self {
        if prepared.listing != Listing::Counted || prepared.keys.is_empty() {
            return Self {
                all: Vec::new(),
                keys: 0,
                detectors: 0,
                histories: 0,
            };
        }
        let config = axes.config();
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

impl Axes {
    /// `attempt` as the engine counts it.
    pub(crate) fn prepare<'c>(&self, attempt: &LoginAttempt<'c>) -> Prepared<'_, 'c> {
        let listing = self.listing(attempt);
        let counted = self.counted(attempt.client());
        let rules = self.rules(&attempt.for_client(&counted));
        let keys = policy::lockout_keys(&rules.groups, &counted);
        Prepared {
            listing,
            client: counted,
            request: attempt.request(),
            rules,
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

    /// The rules in force for `attempt`: the configuration with the
    /// per-attempt callables applied.
    fn rules(&self, attempt: &LoginAttempt<'_>) -> Rules<'_> {
        let mut rules = Rules::of(self.config());
        let hooks = self.hooks();
        if let Some(failure_limit) = &hooks.failure_limit {
            if rules.tiers.is_empty() {
                rules.failure_limit = failure_limit(attempt).max(1);
                // Clients with other limits may share a key: keep enough
                // failure times for theirs too.
                rules.keep = rules
                    .keep
                    .max(rules.failure_limit as usize)
                    .max(SLIDING_KEEP_WITH_LIMIT_CALLABLE);
            }
        }
        if let Some(cooloff) = &hooks.cooloff {
            rules.cooloff = cooloff(attempt).filter(|d| !d.is_zero());
        }
        if let Some(parameters) = &hooks.lockout_parameters {
            let groups = parameters(attempt);
            if groups.is_empty() {
                tracing::warn!(target: "axes", "the lockout_parameters callable returned no group; using the configured ones");
            } else {
                rules.groups = Cow::Owned(groups);
            }
        }
        rules
    }

    /// The client as counted: an IPv6 address cut to `ipv6_prefix_length`,
    /// the username normalised by `username_normalization`.
    pub(crate) fn counted<'c>(&self, client: &'c ClientInfo) -> Cow<'c, ClientInfo> {
        let config = self.config();
        let ip = config
            .ipv6_prefix_length
            .map(|prefix| ipv6_prefix(client.ip_address(), prefix))
            .filter(|ip| *ip != client.ip_address());
        let username = match (config.username_normalization, client.username()) {
            (UsernameNormalization::None, _) | (_, None) => None,
            (normalization, Some(username)) => {
                let normalized = normalization.apply_cow(username);
                (normalized != username).then(|| normalized.into_owned())
            }
        };
        if ip.is_none() && username.is_none() {
            return Cow::Borrowed(client);
        }
        let mut counted = client.clone();
        if let Some(ip) = ip {
            counted.set_ip_address(ip);
        }
        if let Some(username) = username {
            counted.set_username(Some(username));
        }
        Cow::Owned(counted)
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
        let user = |u: String| match config.username_normalization {
            UsernameNormalization::None => u,
            normalization => normalization.apply(&u),
        };
        match filter {
            AttemptFilter::All => AttemptFilter::All,
            AttemptFilter::Ip(a) => AttemptFilter::Ip(ip(a)),
            AttemptFilter::Username(u) => AttemptFilter::Username(user(u)),
            AttemptFilter::IpAndUsername(a, u) => AttemptFilter::IpAndUsername(ip(a), user(u)),
            AttemptFilter::IpOrUsername(a, u) => AttemptFilter::IpOrUsername(ip(a), user(u)),
        }
    }

    /// The client IP of `request` by the client IP callable, if one is set
    /// and answers.
    pub(crate) fn client_ip(&self, request: &RequestInfo) -> Option<std::net::IpAddr> {
        self.hooks()
            .client_ip
            .as_ref()
            .and_then(|callable| callable(request))
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

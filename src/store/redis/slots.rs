//! Attempts in flight on Redis: one field per slot in the key's in-flight
//! hash, owned by an app server under a lease key it renews while it holds
//! slots; an admission takes and counts them in one script, and a slot
//! given back under a key another server waits on is published.

use std::time::Duration;

use ::redis::ScriptInvocation;
use async_trait::async_trait;

use super::scripts::{ADMIT, RECORD_SUCCESS, RELEASE, SWEEP, WAIT_FOR};
use super::{backend, ms, part, RedisStore};
use crate::identity::LockoutKey;
use crate::policy::Counter;
use crate::store::codec::{decode_times, from_millis, to_millis};
use crate::store::error::StoreError;
use crate::store::notice::tag_hex;
use crate::store::records::AccessLog;
use crate::store::slots::{Admitted, SharedSlots, SlotRequest, Slots};

impl RedisStore {
    /// Adds the keys and arguments of `slots` given back, as the scripts'
    /// `release_slots` reads them, after `call`'s own.
    pub(super) fn release_args(&self, call: &mut ScriptInvocation<'_>, slots: Option<Slots<'_>>) {
        let (owner, slots) = slots.map_or(("", &[][..]), |s| (s.owner, s.slots));
        call.key(self.key("inflight", "all"));
        for slot in slots {
            call.key(self.in_flight_key(&slot.key));
        }
        call.arg(owner)
            .arg(self.channel())
            .arg(self.key("w", ""))
            .arg(slots.len());
        for slot in slots {
            call.arg(slot.id).arg(tag_hex(slot.key.wake_tag()));
        }
    }
}

#[async_trait]
impl SharedSlots for RedisStore {
    async fn admit(
        &self,
        read: &[LockoutKey],
        request: SlotRequest<'_>,
    ) -> Result<Admitted, StoreError> {
        let mut call = ADMIT.prepare_invoke();
        for key in read {
            call.key(self.counter_key(key));
        }
        for key in request.count {
            call.key(self.in_flight_key(key));
        }
        call.key(self.key("lease", request.owner))
            .key(self.key("inflight", "all"));
        call.arg(read.len())
            .arg(request.count.len())
            .arg(request.owner)
            .arg(ms(request.lease).max(1))
            .arg(self.key("lease", ""))
            .arg(self.key("w", ""))
            .arg(request.take.len());
        for slot in request.take {
            let index = request
                .count
                .iter()
                .position(|key| *key == slot.key)
                .ok_or_else(|| {
                    StoreError::InvalidData("a slot taken under a key not counted".into())
                })?;
            call.arg(index + 1).arg(slot.id);
        }
        for key in request.count {
            call.arg(tag_hex(key.wake_tag()));
        }
        let values: Vec<::redis::Value> = call
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(backend)?;
        let text = |value: &::redis::Value| -> Result<Option<String>, StoreError> {
            match value {
                ::redis::Value::Nil => Ok(None),
                other => ::redis::from_redis_value_ref(other)
                    .map(Some)
                    .map_err(|e| StoreError::InvalidData(e.to_string())),
            }
        };
        if values.len() != 3 * read.len() + 2 * request.count.len() {
            return Err(StoreError::InvalidData("a short admission reply".into()));
        }
        let mut counters = Vec::with_capacity(read.len());
        for chunk in values.chunks(3).take(read.len()) {
            let [f, l, r] = chunk else {
                return Err(StoreError::InvalidData("a short admission reply".into()));
            };
            counters.push(match (text(f)?, text(l)?) {
                (Some(f), Some(l)) => Some(
                    Counter::new(f.parse().unwrap_or(0), from_millis(l.parse().unwrap_or(0)))
                        .with_recent(decode_times(text(r)?.as_deref().unwrap_or(""))?),
                ),
                _ => None,
            });
        }
        let number = |v: &::redis::Value| ::redis::from_redis_value_ref::<u64>(v).unwrap_or(0);
        let (holders, waited) = values[3 * read.len()..]
            .chunks(2)
            .map(|pair| (number(&pair[0]), number(&pair[1]) == 1))
            .unzip();
        Ok(Admitted::new(counters, holders, waited))
    }

    async fn release(&self, slots: Slots<'_>) -> Result<(), StoreError> {
        if slots.is_empty() {
            return Ok(());
        }
        let mut call = RELEASE.prepare_invoke();
        self.release_args(&mut call, Some(slots));
        call.invoke_async::<i64>(&mut self.connection.clone())
            .await
            .map_err(backend)
            .map(drop)
    }

    async fn record_success(
        &self,
        slots: Slots<'_>,
        login: Option<&AccessLog>,
    ) -> Result<(), StoreError> {
        self.record_login_releasing(login, Some(slots)).await
    }

    async fn renew(&self, owner: &str, lease: Duration) -> Result<(), StoreError> {
        ::redis::cmd("SET")
            .arg(self.key("lease", owner))
            .arg("1")
            .arg("PX")
            .arg(ms(lease).max(1))
            .query_async::<()>(&mut self.connection.clone())
            .await
            .map_err(backend)
    }

    async fn sweep(&self, owner: &str, keep: &[u64], upto: u64) -> Result<u64, StoreError> {
        let mut call = SWEEP.prepare_invoke();
        call.key(self.key("inflight", "all")).arg(owner).arg(upto);
        for id in keep {
            call.arg(id);
        }
        call.invoke_async(&mut self.connection.clone())
            .await
            .map_err(backend)
    }

    async fn wait_for(
        &self,
        owner: &str,
        keys: &[LockoutKey],
        ttl: Duration,
    ) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        let mut call = WAIT_FOR.prepare_invoke();
        for key in keys {
            call.key(self.key("w", &tag_hex(key.wake_tag())));
        }
        call.arg(owner).arg(ms(ttl).max(1)).arg(self.channel());
        for key in keys {
            call.arg(tag_hex(key.wake_tag()));
        }
        call.invoke_async::<i64>(&mut self.connection.clone())
            .await
            .map_err(backend)
            .map(drop)
    }
}

impl RedisStore {
    /// A success: its access log entry, if any, and `release` given back,
    /// in one script.
    pub(super) async fn record_login_releasing(
        &self,
        entry: Option<&AccessLog>,
        release: Option<Slots<'_>>,
    ) -> Result<(), StoreError> {
        let release = release.filter(|slots| !slots.is_empty());
        if entry.is_none() && release.is_none() {
            return Ok(());
        }
        let mut call = RECORD_SUCCESS.prepare_invoke();
        let (username, ip, user_agent) = entry.map_or(("", None, ""), |e| {
            (e.username.as_str(), e.ip_address, e.user_agent.as_str())
        });
        let (trust_key, trust_field) = self.trust_field(username, ip, user_agent);
        let open =
            entry.map(|e| self.key("open", &format!("{}:{}", part(&e.username), e.session_hash)));
        call.key(self.key("log", "id"))
            .key(self.key("logs", "all"))
            .key(open.unwrap_or_default())
            .key(&trust_key);
        let fields: Vec<(&str, String)> = match entry {
            Some(e) => {
                let mut fields = vec![
                    ("username", e.username.clone()),
                    (
                        "ip",
                        e.ip_address.map(|ip| ip.to_string()).unwrap_or_default(),
                    ),
                    ("ua", e.user_agent.clone()),
                    ("path", e.path_info.clone()),
                    ("accept", e.http_accept.clone()),
                    ("session", e.session_hash.clone()),
                    ("time", to_millis(e.attempt_time).to_string()),
                ];
                if let Some(logout) = e.logout_time {
                    fields.push(("logout", to_millis(logout).to_string()));
                }
                fields
            }
            None => Vec::new(),
        };
        call.arg(self.key("log", ""))
            .arg(entry.map_or(0, |e| to_millis(e.attempt_time)))
            .arg(&trust_field)
            .arg(if entry.is_some() { "1" } else { "0" })
            .arg(if entry.is_some_and(|e| e.logout_time.is_some()) {
                "1"
            } else {
                "0"
            })
            .arg(fields.len());
        for (name, value) in &fields {
            call.arg(*name).arg(value);
        }
        self.release_args(&mut call, release);
        call.invoke_async::<i64>(&mut self.connection.clone())
            .await
            .map_err(backend)
            .map(drop)
    }
}

//! Attempts in flight on Redis: one field per slot in the key's in-flight
//! hash, owned by an app server under a lease key it renews while it holds
//! slots; an admission takes and counts them in one script.

use std::time::Duration;

use ::redis::aio::ConnectionManager;
use ::redis::Script;
use async_trait::async_trait;

use super::scripts::{ADMIT, RECORD_SUCCESS};
use super::{backend, ms, part, RedisStore};
use crate::identity::LockoutKey;
use crate::store::codec::{decode_times, from_millis, to_millis};
use crate::store::lease::Renew;
use crate::store::{AccessLog, Admitted, Counter, SlotRequest, Slots, StoreError};

impl RedisStore {
    fn renewer(&self) -> RedisLeases {
        RedisLeases {
            connection: self.connection.clone(),
            lease_prefix: self.key("lease", ""),
        }
    }

    pub(super) async fn admit_slots(
        &self,
        read: &[LockoutKey],
        slots: Option<SlotRequest<'_>>,
    ) -> Result<Admitted, StoreError> {
        let script = Script::new(ADMIT);
        let mut call = script.prepare_invoke();
        for key in read {
            call.key(self.counter_key(key));
        }
        let hold = slots.map_or(&[][..], |request| request.slots.keys);
        for key in hold {
            call.key(self.in_flight_key(key));
        }
        call.key(self.key("lease", self.leases.instance()))
            .key(self.key("inflight", "all"));
        call.arg(read.len())
            .arg(hold.len())
            .arg(self.leases.instance())
            .arg(
                slots
                    .map(|r| self.slot_field(r.slots.id))
                    .unwrap_or_default(),
            )
            .arg(if slots.is_some_and(|r| r.take) {
                "1"
            } else {
                "0"
            })
            .arg(slots.map_or(0, |r| ms(r.lease).max(1)))
            .arg(self.key("lease", ""));
        let values: Vec<::redis::Value> = call
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(backend)?;
        if let Some(request) = slots.filter(|r| r.take && !hold.is_empty()) {
            self.leases
                .taken(request.slots.id, request.lease, &self.renewer());
        }
        let text = |value: &::redis::Value| -> Result<Option<String>, StoreError> {
            match value {
                ::redis::Value::Nil => Ok(None),
                other => ::redis::from_redis_value_ref(other)
                    .map(Some)
                    .map_err(|e| StoreError::InvalidData(e.to_string())),
            }
        };
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
        let holders = slots.map(|_| {
            values[3 * read.len()..]
                .iter()
                .map(|v| ::redis::from_redis_value_ref::<u64>(v).unwrap_or(0))
                .collect()
        });
        Ok(Admitted::new(counters, holders))
    }

    pub(super) async fn release_slots(&self, slots: Slots<'_>) -> Result<(), StoreError> {
        let keys: Vec<String> = slots.keys.iter().map(|k| self.in_flight_key(k)).collect();
        self.leases.given_back(slots.id);
        let renewer = self.renewer();
        if let Err(error) = renewer
            .release(self.leases.instance(), &keys, slots.id)
            .await
        {
            self.leases.retry_later(keys, slots.id);
            return Err(error);
        }
        Ok(())
    }

    pub(super) async fn record_login_releasing(
        &self,
        entry: Option<&AccessLog>,
        release: Option<Slots<'_>>,
    ) -> Result<(), StoreError> {
        let release_keys: Vec<String> = release
            .map(|slots| slots.keys.iter().map(|k| self.in_flight_key(k)).collect())
            .unwrap_or_default();
        if entry.is_none() && release_keys.is_empty() {
            return Ok(());
        }
        let script = Script::new(RECORD_SUCCESS);
        let mut call = script.prepare_invoke();
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
        for key in &release_keys {
            call.key(key);
        }
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
            .arg(release.map(|s| self.slot_field(s.id)).unwrap_or_default())
            .arg(fields.len());
        for (name, value) in &fields {
            call.arg(*name).arg(value);
        }
        let result = call.invoke_async::<i64>(&mut self.connection.clone()).await;
        result.map_err(backend)?;
        if let Some(slots) = release {
            self.leases.given_back(slots.id);
        }
        Ok(())
    }
}

/// Renews this store's lease and retries its releases.
#[derive(Clone)]
struct RedisLeases {
    connection: ConnectionManager,
    lease_prefix: String,
}

#[async_trait]
impl Renew for RedisLeases {
    async fn renew(&self, instance: &str, lease: Duration) -> Result<(), StoreError> {
        let key = format!("{}{instance}", self.lease_prefix);
        ::redis::cmd("SET")
            .arg(key)
            .arg("1")
            .arg("PX")
            .arg(ms(lease).max(1))
            .query_async::<()>(&mut self.connection.clone())
            .await
            .map_err(backend)
    }

    async fn release(&self, instance: &str, keys: &[String], slot: u64) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        let field = format!("{instance}:{slot}");
        let mut pipe = ::redis::pipe();
        for key in keys {
            pipe.hdel(key, &field).ignore();
        }
        pipe.query_async::<()>(&mut self.connection.clone())
            .await
            .map_err(backend)
    }
}

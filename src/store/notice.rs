//! What shared stores tell each other's app servers: [`Notifications`],
//! one store's [`StoreEvent`]s from the listener behind them, and the
//! payloads the listeners read.
//!
//! A payload is `r` (counters were reset or deleted), `f <tag> <tag>…`
//! (slots were given back under the keys with those
//! [`wake tags`](crate::LockoutKey::wake_tag), in hex) or
//! `w <owner> <tag> <tag>…` (an app server waits for a slot under them).

use std::future::Future;

use tokio::sync::{broadcast, oneshot};

use super::slots::StoreEvent;

/// How many events a slow subscriber may fall behind.
const CAPACITY: usize = 1024;

/// The events of one store, and the listener behind them: it stops when
/// this is dropped.
#[derive(Debug)]
pub(crate) struct Notifications {
    sender: broadcast::Sender<StoreEvent>,
    _stop: oneshot::Sender<()>,
}

impl Notifications {
    /// Runs `listener` (given the sender of the events, and a receiver that
    /// resolves when the store is dropped) in the background.
    pub fn start<L, F>(listener: L) -> Self
    where
        L: FnOnce(broadcast::Sender<StoreEvent>, oneshot::Receiver<()>) -> F,
        F: Future<Output = ()> + Send + 'static,
    {
        let (sender, _) = broadcast::channel(CAPACITY);
        let (stop, stopped) = oneshot::channel();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(listener(sender.clone(), stopped));
        }
        Self {
            sender,
            _stop: stop,
        }
    }

    /// A new receiver of the events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<StoreEvent> {
        self.sender.subscribe()
    }

    /// Tells this store instance's own subscribers at once (the others
    /// hear the server's notification).
    pub fn send(&self, event: StoreEvent) {
        let _ = self.sender.send(event);
    }
}

/// The payload that says counters were reset.
pub(crate) const RESET: &str = "r";

/// The event a payload names.
pub(crate) fn parse(payload: &str) -> Option<StoreEvent> {
    let mut words = payload.split(' ');
    let tags = |words: std::str::Split<'_, char>| -> Vec<u64> {
        words
            .filter_map(|tag| u64::from_str_radix(tag, 16).ok())
            .collect()
    };
    match words.next()? {
        RESET => Some(StoreEvent::Reset),
        "f" => Some(StoreEvent::SlotsFreed(tags(words))),
        "w" => {
            let owner = words.next()?.to_owned();
            Some(StoreEvent::Waiting {
                owner,
                tags: tags(words),
            })
        }
        _ => None,
    }
}

/// A wake tag as payloads write it.
pub(crate) fn tag_hex(tag: u64) -> String {
    format!("{tag:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_name_their_events() {
        assert_eq!(parse("r"), Some(StoreEvent::Reset));
        assert_eq!(
            parse(&format!("f {} 0123456789abcdef", tag_hex(0xff))),
            Some(StoreEvent::SlotsFreed(vec![0xff, 0x0123_4567_89ab_cdef]))
        );
        assert_eq!(
            parse("w 0a1b 00000000000000ff"),
            Some(StoreEvent::Waiting {
                owner: "0a1b".into(),
                tags: vec![0xff]
            })
        );
        assert_eq!(parse("w"), None);
        assert_eq!(parse("x"), None);
        assert_eq!(parse(""), None);
    }
}

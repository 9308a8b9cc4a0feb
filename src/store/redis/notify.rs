//! The Redis store's subscription: one pub/sub connection per store on the
//! channel `<prefix>events`, its messages turned into [`StoreEvent`]s.
//!
//! A pub/sub connection that breaks ends its stream; one that hangs is
//! found by a `PING` every [`PING_EVERY`]. Either way the subscription is
//! made again (trying every [`RETRY`]) and says [`StoreEvent::Missed`]:
//! whatever was published meanwhile is lost, so waiters try again and
//! cached lockouts are forgotten.

use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{broadcast, oneshot};

use crate::store::notice::{parse, Notifications};
use crate::store::slots::StoreEvent;

/// How long the subscription waits between tries to subscribe again.
const RETRY: Duration = Duration::from_millis(250);

/// How often a quiet subscription is pinged.
const PING_EVERY: Duration = Duration::from_secs(5);

/// How long a ping may take before the connection counts as broken.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// Subscribes to `channel` of `client`'s server.
pub(super) fn subscribe(client: ::redis::Client, channel: String) -> Notifications {
    Notifications::start(move |sender, stopped| run(client, channel, sender, stopped))
}

/// The subscription's loop, until `stopped`.
async fn run(
    client: ::redis::Client,
    channel: String,
    sender: broadcast::Sender<StoreEvent>,
    mut stopped: oneshot::Receiver<()>,
) {
    let mut first = true;
    loop {
        let connect = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, ::redis::RedisError>(pubsub)
        };
        let pubsub = tokio::select! {
            _ = &mut stopped => return,
            connected = connect => connected,
        };
        let pubsub = match pubsub {
            Ok(pubsub) => pubsub,
            Err(error) => {
                tracing::debug!(target: "axes", %error, "subscribing to Redis notifications failed; trying again");
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        if !first {
            // Whatever was published while nobody listened is lost.
            let _ = sender.send(StoreEvent::Missed);
        }
        first = false;
        let (mut sink, mut messages) = pubsub.split();
        loop {
            let message = tokio::select! {
                _ = &mut stopped => return,
                message = tokio::time::timeout(PING_EVERY, messages.next()) => message,
            };
            match message {
                Ok(Some(message)) => {
                    let payload: String = message.get_payload().unwrap_or_default();
                    if let Some(event) = parse(&payload) {
                        let _ = sender.send(event);
                    }
                }
                Ok(None) => break,
                Err(_quiet) => {
                    let ping = tokio::time::timeout(PING_TIMEOUT, sink.ping::<String>()).await;
                    if !matches!(ping, Ok(Ok(_))) {
                        break;
                    }
                }
            }
        }
        tracing::debug!(target: "axes", "the Redis notification connection broke; subscribing again");
        let _ = sender.send(StoreEvent::Missed);
        tokio::time::sleep(RETRY).await;
    }
}

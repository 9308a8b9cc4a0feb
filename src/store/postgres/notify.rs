//! The PostgreSQL store's listener: one `LISTEN` connection per store on
//! the channel of its schema (`axes_channel()`, migration `0008`), its
//! notifications turned into [`StoreEvent`]s.
//!
//! When the connection breaks, the listener connects again (trying every
//! [`RETRY`]) and says [`StoreEvent::Missed`]: whatever was notified
//! meanwhile is lost, so waiters try again and cached lockouts are
//! forgotten.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use tokio::sync::{broadcast, oneshot};

use crate::store::notice::{parse, Notifications};
use crate::store::slots::StoreEvent;

/// How long the listener waits between tries to connect again.
const RETRY: Duration = Duration::from_millis(250);

/// Listens with a connection of its own, opened with `options`.
pub(super) fn listen(options: PgConnectOptions) -> Notifications {
    Notifications::start(move |sender, stopped| run(options, sender, stopped))
}

/// The listener's loop, until `stopped`.
async fn run(
    options: PgConnectOptions,
    sender: broadcast::Sender<StoreEvent>,
    mut stopped: oneshot::Receiver<()>,
) {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(1))
        .connect_lazy_with(options);
    let mut listener: Option<PgListener> = None;
    loop {
        let Some(active) = listener.as_mut() else {
            let connect = async {
                let mut fresh = PgListener::connect_with(&pool).await?;
                let channel: String = sqlx::query_scalar("SELECT axes_channel()")
                    .fetch_one(&mut fresh)
                    .await?;
                fresh.listen(&channel).await?;
                Ok::<_, sqlx::Error>(fresh)
            };
            tokio::select! {
                _ = &mut stopped => return,
                connected = connect => match connected {
                    Ok(fresh) => {
                        listener = Some(fresh);
                        // Whatever happened while nobody listened is lost.
                        let _ = sender.send(StoreEvent::Missed);
                    }
                    Err(error) => {
                        tracing::debug!(target: "axes", %error, "listening for PostgreSQL notifications failed; trying again");
                        tokio::time::sleep(RETRY).await;
                    }
                },
            }
            continue;
        };
        let received = tokio::select! {
            _ = &mut stopped => return,
            received = active.try_recv() => received,
        };
        match received {
            Ok(Some(notification)) => {
                if let Some(event) = parse(notification.payload()) {
                    let _ = sender.send(event);
                }
            }
            // The connection broke and was made again.
            Ok(None) => {
                let _ = sender.send(StoreEvent::Missed);
            }
            Err(error) => {
                tracing::debug!(target: "axes", %error, "the PostgreSQL notification connection failed");
                let _ = sender.send(StoreEvent::Missed);
                listener = None;
                tokio::time::sleep(RETRY).await;
            }
        }
    }
}

//! [`within`]: a future bounded by a timeout whose timer starts only if the
//! future does not finish when first polled — most calls of an in-process
//! store, and most reads of a body already received, pay for no timer.

use std::future::Future;
use std::pin::{pin, Pin};
use std::task::Poll;
use std::time::Duration;

use tokio::time::Sleep;

/// `future`'s output, or `None` when it takes longer than `timeout`.
pub(crate) async fn within<T>(timeout: Duration, future: impl Future<Output = T>) -> Option<T> {
    let mut future = pin!(future);
    let mut timer: Option<Pin<Box<Sleep>>> = None;
    std::future::poll_fn(|cx| {
        if let Poll::Ready(output) = future.as_mut().poll(cx) {
            return Poll::Ready(Some(output));
        }
        let timer = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        timer.as_mut().poll(cx).map(|()| None)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_ready_future_needs_no_timer_and_a_slow_one_times_out() {
        assert_eq!(within(Duration::ZERO, async { 7 }).await, Some(7));
        let slow = tokio::time::sleep(Duration::from_secs(10));
        assert_eq!(within(Duration::from_secs(1), slow).await, None);
        let quick = async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            8
        };
        assert_eq!(within(Duration::from_secs(1), quick).await, Some(8));
    }
}

//! Group commit for the PostgreSQL store: the calls of concurrent attempts
//! sent together.
//!
//! A call queues its request. While fewer than [`RUNNERS`] batches are out,
//! it starts one: a task that sends whatever is queued (at most
//! [`MAX_BATCH`]) in one statement, answers each request, and goes on until
//! the queue is empty. Alone, a request is sent at once; under load, the
//! attempts that arrive while a batch is out share the next one's round
//! trip and commit, which costs the database a fraction of one each.
//!
//! A batch runs in a task of its own, so a caller that is dropped cancels
//! nobody else's request: the slots its admission takes are swept as any
//! dropped call's are.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures_util::future::BoxFuture;
use tokio::sync::oneshot;

use crate::store::error::StoreError;

/// How many batches of one kind may be out at once: two keep the database
/// busy while one commits. More make smaller batches: in the benchmark, a
/// failing flood ran at 3.7-4.1k req/s with two, 2.7-2.8k with four or
/// eight.
const RUNNERS: usize = 2;

/// The most requests one statement carries.
const MAX_BATCH: usize = 64;

/// Sends a batch: one answer per request, in order.
type SendBatch<Q, A> =
    dyn Fn(Vec<Q>) -> BoxFuture<'static, Result<Vec<A>, StoreError>> + Sync + Send;

/// Requests of type `Q` answered by an `A` each, sent in batches.
pub(super) struct Batcher<Q, A> {
    inner: Arc<Inner<Q, A>>,
}

struct Inner<Q, A> {
    queue: Mutex<Queue<Q, A>>,
    abandoned: Abandoned,
    send: Box<SendBatch<Q, A>>,
}

/// What becomes of a request whose caller was dropped before its batch
/// went out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Abandoned {
    /// It is sent all the same: a failure still counts, a slot is still
    /// given back.
    Sent,
    /// It is not sent: an admission nobody waits for would only take slots
    /// for the sweep to delete.
    Skipped,
}

struct Queue<Q, A> {
    waiting: Vec<(Q, oneshot::Sender<Result<A, StoreError>>)>,
    /// Batches out.
    running: usize,
}

impl<Q, A> Batcher<Q, A>
where
    Q: Send + 'static,
    A: Send + 'static,
{
    /// A batcher sending its batches with `send`, and the requests of
    /// callers already gone as `abandoned` says.
    pub(super) fn new(
        abandoned: Abandoned,
        send: impl Fn(Vec<Q>) -> BoxFuture<'static, Result<Vec<A>, StoreError>> + Sync + Send + 'static,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                queue: Mutex::new(Queue {
                    waiting: Vec::new(),
                    running: 0,
                }),
                abandoned,
                send: Box::new(send),
            }),
        }
    }

    /// Sends `request` in the next batch; its answer.
    pub(super) async fn call(&self, request: Q) -> Result<A, StoreError> {
        let (answer, answered) = oneshot::channel();
        let start = {
            let mut queue = self.inner.lock();
            queue.waiting.push((request, answer));
            let start = queue.running < RUNNERS;
            queue.running += usize::from(start);
            start
        };
        if start {
            let runner = Runner {
                inner: Arc::clone(&self.inner),
                counted: true,
            };
            tokio::spawn(runner.run());
        }
        answered.await.unwrap_or_else(|_| {
            Err(StoreError::backend(std::io::Error::other(
                "the batch carrying this call was cancelled",
            )))
        })
    }
}

impl<Q, A> Inner<Q, A> {
    fn lock(&self) -> MutexGuard<'_, Queue<Q, A>> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<Q, A> Clone for Batcher<Q, A> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<Q, A> std::fmt::Debug for Batcher<Q, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let queue = self.inner.lock();
        f.debug_struct("Batcher")
            .field("waiting", &queue.waiting.len())
            .field("running", &queue.running)
            .finish()
    }
}

/// One batch out: counted in [`Queue::running`] until it finds the queue
/// empty (under the lock a caller queues under, so no request is left
/// without a batch), or until it ends otherwise (a panic, its runtime
/// shutting down).
struct Runner<Q, A> {
    inner: Arc<Inner<Q, A>>,
    counted: bool,
}

impl<Q, A> Runner<Q, A> {
    async fn run(mut self) {
        loop {
            let batch: Vec<_> = {
                let mut queue = self.inner.lock();
                let take = queue.waiting.len().min(MAX_BATCH);
                if take == 0 {
                    queue.running -= 1;
                    self.counted = false;
                    return;
                }
                queue.waiting.drain(..take).collect()
            };
            let batch: Vec<_> = match self.inner.abandoned {
                Abandoned::Sent => batch,
                Abandoned::Skipped => batch
                    .into_iter()
                    .filter(|(_, answer)| !answer.is_closed())
                    .collect(),
            };
            if batch.is_empty() {
                continue;
            }
            let (requests, answers): (Vec<Q>, Vec<_>) = batch.into_iter().unzip();
            let count = requests.len();
            match (self.inner.send)(requests).await {
                Ok(results) if results.len() == count => {
                    for (answer, result) in answers.into_iter().zip(results) {
                        let _ = answer.send(Ok(result));
                    }
                }
                Ok(results) => {
                    let error = StoreError::InvalidData(format!(
                        "a batch of {count} calls got {} answers",
                        results.len()
                    ));
                    answer_all(answers, &error);
                }
                Err(error) => answer_all(answers, &error),
            }
        }
    }
}

impl<Q, A> Drop for Runner<Q, A> {
    fn drop(&mut self) {
        if self.counted {
            self.inner.lock().running -= 1;
        }
    }
}

/// Answers every request of a batch that failed with `error`.
fn answer_all<A>(answers: Vec<oneshot::Sender<Result<A, StoreError>>>, error: &StoreError) {
    for answer in answers {
        let _ = answer.send(Err(duplicate(error)));
    }
}

/// `error` again, for one more of the callers a failed batch answers: the
/// variant and the message, with the source's message in place of the
/// source.
fn duplicate(error: &StoreError) -> StoreError {
    let again = |source: &(dyn std::error::Error + Send + Sync)| -> Box<_> {
        Box::new(Repeated(source.to_string()))
    };
    match error {
        StoreError::Backend(source) => StoreError::Backend(again(source.as_ref())),
        StoreError::Migration(source) => StoreError::Migration(again(source.as_ref())),
        StoreError::InvalidData(message) => StoreError::InvalidData(message.clone()),
        StoreError::Timeout(after) => StoreError::Timeout(*after),
        StoreError::InvalidUrl(message) => StoreError::InvalidUrl(message.clone()),
        StoreError::Misconfigured(message) => StoreError::Misconfigured(message.clone()),
        StoreError::Full(message) => StoreError::Full(message.clone()),
    }
}

/// An error's message, repeated to another caller.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Repeated(String);

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::sync::Semaphore;

    use super::*;

    /// A batcher that doubles its requests once `gate` lets a batch
    /// through, and keeps the sizes of its batches.
    fn doubling(gate: Arc<Semaphore>, sizes: Arc<Mutex<Vec<usize>>>) -> Batcher<u32, u32> {
        Batcher::new(Abandoned::Sent, move |batch: Vec<u32>| {
            let (gate, sizes) = (gate.clone(), sizes.clone());
            Box::pin(async move {
                gate.acquire().await.expect("open").forget();
                sizes.lock().unwrap().push(batch.len());
                if batch.contains(&0) {
                    return Err(StoreError::InvalidData("zero".into()));
                }
                Ok(batch.into_iter().map(|n| n * 2).collect())
            })
        })
    }

    #[tokio::test]
    async fn calls_queued_while_batches_are_out_go_together_and_get_their_own_answers() {
        let gate = Arc::new(Semaphore::new(0));
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let batcher = doubling(gate.clone(), sizes.clone());
        let calls: Vec<_> = (1..=100)
            .map(|n| {
                let batcher = batcher.clone();
                tokio::spawn(async move { batcher.call(n).await })
            })
            .collect();
        tokio::task::yield_now().await;
        gate.add_permits(1_000);
        for (n, call) in (1..=100).zip(calls) {
            assert_eq!(call.await.unwrap().unwrap(), n * 2);
        }
        let sizes = sizes.lock().unwrap().clone();
        assert_eq!(sizes.iter().sum::<usize>(), 100);
        assert!(sizes.len() < 100, "every call went alone: {sizes:?}");
        assert!(sizes.iter().all(|&size| size <= MAX_BATCH), "{sizes:?}");
    }

    #[tokio::test]
    async fn a_failed_batch_answers_each_of_its_calls_with_the_error_and_no_other() {
        let gate = Arc::new(Semaphore::new(0));
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let batcher = doubling(gate.clone(), sizes.clone());
        let spawn = |numbers: std::ops::Range<u32>| -> Vec<_> {
            numbers
                .map(|n| {
                    let batcher = batcher.clone();
                    tokio::spawn(async move { batcher.call(n).await })
                })
                .collect()
        };
        // 0 and 1 go out in the first batch, which fails; 2..10 queue
        // behind it and go out in others.
        let first = spawn(0..2);
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        let rest = spawn(2..10);
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        gate.add_permits(1_000);
        for call in first {
            let error = call.await.unwrap().unwrap_err();
            assert!(
                matches!(&error, StoreError::InvalidData(m) if m == "zero"),
                "{error}"
            );
        }
        for (n, call) in (2..10).zip(rest) {
            assert_eq!(call.await.unwrap().unwrap(), n * 2);
        }
        assert_eq!(sizes.lock().unwrap()[0], 2);
        // Nothing is left running: the next call is answered.
        assert_eq!(batcher.call(21).await.unwrap(), 42);
    }

    /// A batcher that echoes its requests once `gate` lets a batch
    /// through, and counts the requests it sent.
    fn echoing(
        abandoned: Abandoned,
        gate: Arc<Semaphore>,
        sent: Arc<AtomicUsize>,
    ) -> Batcher<u32, u32> {
        Batcher::new(abandoned, move |batch: Vec<u32>| {
            let (gate, sent) = (gate.clone(), sent.clone());
            Box::pin(async move {
                gate.acquire().await.expect("open").forget();
                sent.fetch_add(batch.len(), Ordering::SeqCst);
                Ok(batch)
            })
        })
    }

    /// The first [`RUNNERS`] calls go out at once, a batch each; two more
    /// queue, and the last one's caller is dropped before the gate opens.
    /// How many of those requests were sent.
    async fn drop_a_queued_call(abandoned: Abandoned) -> usize {
        let gate = Arc::new(Semaphore::new(0));
        let sent = Arc::new(AtomicUsize::new(0));
        let batcher = echoing(abandoned, gate.clone(), sent.clone());
        let mut calls = Vec::new();
        for n in 1..=(RUNNERS as u32 + 2) {
            let batcher = batcher.clone();
            calls.push(tokio::spawn(async move { batcher.call(n).await }));
            for _ in 0..10 {
                tokio::task::yield_now().await;
            }
        }
        let dropped = calls.pop().expect("calls");
        dropped.abort();
        let _ = dropped.await;
        gate.add_permits(10);
        for (n, call) in (1..).zip(calls) {
            assert_eq!(call.await.unwrap().unwrap(), n);
        }
        // The queue is empty once a later call is answered alone.
        assert_eq!(batcher.call(99).await.unwrap(), 99);
        sent.load(Ordering::SeqCst) - 1
    }

    #[tokio::test]
    async fn a_dropped_call_cancels_nobody_elses_and_is_sent_unless_skipped() {
        assert_eq!(drop_a_queued_call(Abandoned::Sent).await, RUNNERS + 2);
        assert_eq!(drop_a_queued_call(Abandoned::Skipped).await, RUNNERS + 1);
    }
}

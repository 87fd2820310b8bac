//! Holding a request until there is something to answer (`GET /v1/pull?wait=S`): the
//! request asks the store, and while the answer is empty it waits for the next change
//! (the wake-ups of [`crate::notify`]) and asks again, up to its wait.
//!
//! Bounded: at most [`LongPolls::new`]'s `max_waiting` requests wait at once (the hub
//! gives half of `--max-connections`), so long-polls cannot take every connection away
//! from pushes. A request over the bound is answered at once, and told so
//! ([`expo_sync::protocol::WAIT_HEADER`] 0). When the hub stops, every waiting request
//! answers at once instead of holding its connection open to the end of its wait.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Semaphore};
use tokio::time::Instant;

use crate::notify::ChangeNotifier;

/// Longest a request may wait for new changes, whatever it asked: below the hub's
/// request timeout and the idle timeouts of common proxies (60 s).
pub const MAX_WAIT: Duration = Duration::from_secs(25);

/// The long-polls of one hub process.
pub struct LongPolls {
    waiting: Arc<Semaphore>,
    max_waiting: usize,
    cap: Duration,
    stopping: watch::Sender<bool>,
}

impl LongPolls {
    /// At most `max_waiting` requests wait at once, each at most `cap`.
    pub fn new(max_waiting: usize, cap: Duration) -> Self {
        Self {
            waiting: Arc::new(Semaphore::new(max_waiting)),
            max_waiting,
            cap,
            stopping: watch::Sender::new(false),
        }
    }

    /// Requests waiting now.
    pub fn waiting(&self) -> usize {
        self.max_waiting.saturating_sub(self.waiting.available_permits())
    }

    /// The hub is stopping: every waiting request answers now, and none waits again.
    pub fn stop(&self) {
        self.stopping.send_replace(true);
    }

    /// Runs `query` until its answer is `ready` or `wait` (at most the cap) has passed,
    /// again each time `changes` says a change was stored. Returns the last answer and
    /// the wait granted: zero when none was asked, or the waiting requests are at their
    /// bound.
    pub async fn answer<T, E, Fut>(
        &self,
        changes: &ChangeNotifier,
        wait: Duration,
        mut query: impl FnMut() -> Fut,
        ready: impl Fn(&T) -> bool,
    ) -> Result<(T, Duration), E>
    where
        Fut: Future<Output = Result<T, E>>,
    {
        let wait = wait.min(self.cap);
        let slot = match wait.is_zero() || *self.stopping.borrow() {
            true => None,
            false => Arc::clone(&self.waiting).try_acquire_owned().ok(),
        };
        let Some(_slot) = slot else {
            return Ok((query().await?, Duration::ZERO));
        };
        let deadline = Instant::now() + wait;
        let mut stopping = self.stopping.subscribe();
        loop {
            // Before the read, so a change stored during it is not slept through.
            let mut stored = changes.subscribe();
            let answer = query().await?;
            if ready(&answer) || *stopping.borrow_and_update() {
                return Ok((answer, wait));
            }
            tokio::select! {
                again = stored.wait(deadline) => if !again { return Ok((answer, wait)) },
                _ = stopping.changed() => return Ok((answer, wait)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A query that answers "nothing" `empty` times, then "ready".
    fn ready_after(
        empty: u32,
    ) -> (Arc<AtomicU32>, impl FnMut() -> std::future::Ready<Result<bool, ()>>) {
        let asked = Arc::new(AtomicU32::new(0));
        let counter = Arc::clone(&asked);
        let query = move || std::future::ready(Ok(counter.fetch_add(1, Ordering::SeqCst) >= empty));
        (asked, query)
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_waits_for_a_stored_change_up_to_the_cap() {
        let polls = Arc::new(LongPolls::new(4, Duration::from_secs(25)));
        let changes = Arc::new(ChangeNotifier::default());
        let (asked, query) = ready_after(1);
        let waiting = {
            let (polls, changes) = (Arc::clone(&polls), Arc::clone(&changes));
            tokio::spawn(async move {
                polls.answer(&changes, Duration::from_secs(60), query, |r| *r).await
            })
        };
        while polls.waiting() == 0 {
            tokio::task::yield_now().await;
        }
        let stored_at = Instant::now();
        changes.stored();
        let (answer, granted) = waiting.await.unwrap().unwrap();
        assert!(answer);
        assert_eq!(Instant::now(), stored_at, "woken by the store, not by the fallback poll");
        assert_eq!(granted, Duration::from_secs(25), "60 s asked, the cap granted");
        assert_eq!(asked.load(Ordering::SeqCst), 2);
        assert_eq!(polls.waiting(), 0, "the slot is given back");

        let start = Instant::now();
        let (_, never) = ready_after(u32::MAX);
        let (answer, _) =
            polls.answer(&changes, Duration::from_secs(3), never, |r| *r).await.unwrap();
        assert!(!answer);
        assert_eq!(Instant::now() - start, Duration::from_secs(3), "gave up at its wait");
    }

    #[tokio::test(start_paused = true)]
    async fn over_the_bound_or_after_stop_a_request_is_answered_at_once() {
        let polls = Arc::new(LongPolls::new(1, Duration::from_secs(25)));
        let changes = Arc::new(ChangeNotifier::default());
        let holder = {
            let (polls, changes) = (Arc::clone(&polls), Arc::clone(&changes));
            let (_, never) = ready_after(u32::MAX);
            tokio::spawn(async move {
                polls.answer(&changes, Duration::from_secs(20), never, |r| *r).await
            })
        };
        while polls.waiting() == 0 {
            tokio::task::yield_now().await;
        }
        let start = Instant::now();
        let (_, never) = ready_after(u32::MAX);
        let (_, granted) =
            polls.answer(&changes, Duration::from_secs(20), never, |r| *r).await.unwrap();
        assert_eq!(granted, Duration::ZERO, "no slot left");
        assert_eq!(Instant::now(), start, "answered at once");

        polls.stop();
        let (answer, _) = holder.await.unwrap().unwrap();
        assert!(!answer);
        assert_eq!(Instant::now(), start, "the waiting request answered when the hub stopped");
        let (_, never) = ready_after(u32::MAX);
        let (_, granted) =
            polls.answer(&changes, Duration::from_secs(20), never, |r| *r).await.unwrap();
        assert_eq!(granted, Duration::ZERO, "none waits after stop");
    }
}

//! The wake-up of long polls (`/v1/feed?wait=`, and station pulls that wait): a request
//! with nothing new to answer waits for the next change this hub process stores, instead
//! of answering empty and being asked again a tick later.
//!
//! In-process, a [`watch`] channel carries a generation number the store paths bump after
//! they stored changes. Another hub process on the same PostgreSQL stores changes this
//! process never hears of, so a waiter also wakes every [`OTHER_PROCESS_POLL`] to read the
//! database again: a change stored elsewhere is seen within that interval, one stored here
//! at once.

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// How often a waiter reads the database again for changes another hub process stored.
pub const OTHER_PROCESS_POLL: Duration = Duration::from_secs(1);

/// Told of every batch of changes this process stores; hands out [`ChangeWaiter`]s.
#[derive(Debug)]
pub struct ChangeNotifier {
    generation: watch::Sender<u64>,
}

impl Default for ChangeNotifier {
    fn default() -> Self {
        Self { generation: watch::Sender::new(0) }
    }
}

impl ChangeNotifier {
    /// Called after changes were stored (committed): wakes every waiter.
    pub fn stored(&self) {
        self.generation.send_modify(|generation| *generation = generation.wrapping_add(1));
    }

    /// A waiter that wakes for changes stored from now on. Take it before reading the
    /// database, so a change stored between the read and the wait is not slept through.
    pub fn subscribe(&self) -> ChangeWaiter {
        let mut receiver = self.generation.subscribe();
        receiver.borrow_and_update();
        ChangeWaiter { receiver }
    }
}

/// One long poll's view of the notifier.
#[derive(Debug)]
pub struct ChangeWaiter {
    receiver: watch::Receiver<u64>,
}

impl ChangeWaiter {
    /// Waits until this process stores changes, [`OTHER_PROCESS_POLL`] passes, or
    /// `deadline`. True when the caller should read the database again, false once the
    /// deadline has passed (answer what you have).
    pub async fn wait(&mut self, deadline: Instant) -> bool {
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        let until = deadline.min(now + OTHER_PROCESS_POLL);
        // An error means the notifier is gone (the hub is stopping): read once more.
        let _stored_or_stopping = tokio::time::timeout_at(until, self.receiver.changed()).await;
        true
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_waiter_wakes_for_a_store_after_it_subscribed_and_gives_up_at_the_deadline() {
        let notifier = ChangeNotifier::default();
        notifier.stored();
        let mut waiter = notifier.subscribe();
        let deadline = Instant::now() + Duration::from_secs(30);
        let woke = tokio::spawn(async move {
            let woke = waiter.wait(deadline).await;
            (woke, Instant::now())
        });
        tokio::task::yield_now().await;
        let stored_at = Instant::now();
        notifier.stored();
        let (woke, at) = woke.await.unwrap();
        assert!(woke);
        assert_eq!(at, stored_at, "woken by the store, not by the fallback poll");

        let mut idle = notifier.subscribe();
        let start = Instant::now();
        assert!(idle.wait(start + Duration::from_secs(30)).await);
        assert_eq!(Instant::now() - start, OTHER_PROCESS_POLL, "the fallback poll");
        assert!(!idle.wait(Instant::now()).await, "past the deadline");
    }
}

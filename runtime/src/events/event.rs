//! `Event<T>`: the cell a HERO emits an event through (HEROS's `@event`). Every subscriber gets
//! each emitted message, by the delivery the `.proto` chose for the event:
//!
//! - best-effort: a bounded buffer per subscriber; when it is full the message is dropped for that
//!   subscriber only and counted, and the next message it does get carries the count, so loss is
//!   never silent;
//! - reliable: nothing is dropped; `emit` waits until every subscriber has room (a slow
//!   subscriber slows the emitter down).
//!
//! A subscriber that goes away (its stream dropped, the client gone) is forgotten at the next emit.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::sync::mpsc;

/// Subscriber buffer of best-effort events when the `.proto` says none (`buffer: 0`).
pub const DEFAULT_EVENT_BUFFER: usize = 256;

/// How an event reaches subscribers (from `(heros.v1.event).delivery`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Bounded buffer; a subscriber that falls behind is told how many it missed.
    BestEffort,
    /// Nothing dropped; the emitter waits for slow subscribers.
    Reliable,
}

pub use crate::wire::frame::{Frame, Payload};

/// An event a HERO emits. Keep one per event in the HERO and return it from the skeleton's
/// accessor; call [`Event::emit`] to publish.
pub struct Event<T> {
    /// Replaced (not changed in place) when subscribers come and go, so that an emit takes a
    /// snapshot with one reference count instead of copying the list.
    subscribers: Mutex<Arc<Vec<Subscriber<T>>>>,
}

struct Subscriber<T> {
    sender: mpsc::Sender<Frame<T>>,
    missed: Arc<MissedCount>,
    delivery: Delivery,
}

/// Messages dropped for one best-effort subscriber since its last frame, and the subscriber's
/// task, woken when the count grows. Without the wake-up, an emitter that found the buffer full
/// while the subscriber emptied it and went to sleep on the empty channel would count a loss
/// that nobody hears of until the next message gets through, or never.
#[derive(Default)]
struct MissedCount {
    count: AtomicU64,
    waker: atomic_waker::AtomicWaker,
}

impl MissedCount {
    fn add_one(&self) {
        self.count.fetch_add(1, Ordering::AcqRel);
        self.waker.wake();
    }

    fn take(&self) -> u64 {
        self.count.swap(0, Ordering::AcqRel)
    }
}

impl<T> Clone for Subscriber<T> {
    fn clone(&self) -> Self {
        Subscriber { sender: self.sender.clone(), missed: self.missed.clone(), delivery: self.delivery }
    }
}

impl<T> Default for Event<T> {
    fn default() -> Self {
        Event { subscribers: Mutex::new(Arc::new(Vec::new())) }
    }
}

impl<T> std::fmt::Debug for Event<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Event").field("subscribers", &self.subscriber_count()).finish()
    }
}

impl<T> Event<T> {
    /// How many subscribers are connected.
    pub fn subscriber_count(&self) -> usize {
        self.subscribers.lock().unwrap_or_else(|e| e.into_inner()).iter().filter(|s| !s.sender.is_closed()).count()
    }
}

impl<T: Send + Sync + 'static> Event<T> {
    /// An event nobody subscribes to yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Publishes `message` to every subscriber; returns how many it reached. For reliable
    /// subscribers this waits until each has room.
    pub async fn emit(&self, message: T) -> usize {
        // Sent outside the lock: a reliable subscriber may make this wait.
        let subscribers = self.subscribers.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let (mut owned, shared) = match subscribers.len() {
            0 => return 0,
            1 => (Some(message), None),
            _ => (None, Some(Arc::new(message))),
        };
        let mut reached = 0;
        let mut gone = false;
        for subscriber in subscribers.iter() {
            let payload = match &shared {
                Some(shared) => Payload::Shared(shared.clone()),
                None => Payload::Owned(owned.take().expect("one subscriber, one message")),
            };
            let frame = Frame { missed: 0, message: Some(payload) };
            match subscriber.delivery {
                Delivery::Reliable => match subscriber.sender.send(frame).await {
                    Ok(()) => reached += 1,
                    Err(_) => gone = true,
                },
                Delivery::BestEffort => match subscriber.sender.try_reserve() {
                    Ok(permit) => {
                        permit.send(Frame { missed: subscriber.missed.take(), ..frame });
                        reached += 1;
                    }
                    Err(mpsc::error::TrySendError::Full(())) => subscriber.missed.add_one(),
                    Err(mpsc::error::TrySendError::Closed(())) => gone = true,
                },
            }
        }
        if gone {
            self.change_subscribers(|_| {});
        }
        reached
    }

    /// Replaces the subscriber list with a changed copy, leaving out those that went away.
    fn change_subscribers(&self, change: impl FnOnce(&mut Vec<Subscriber<T>>)) {
        let mut subscribers = self.subscribers.lock().unwrap_or_else(|e| e.into_inner());
        let mut changed: Vec<Subscriber<T>> = subscribers.iter().filter(|s| !s.sender.is_closed()).cloned().collect();
        change(&mut changed);
        *subscribers = Arc::new(changed);
    }

    /// A new subscription; `buffer` 0 means [`DEFAULT_EVENT_BUFFER`].
    pub fn subscribe(&self, delivery: Delivery, buffer: usize) -> Subscription<T> {
        let buffer = if buffer == 0 { DEFAULT_EVENT_BUFFER } else { buffer };
        let (sender, receiver) = mpsc::channel(buffer);
        let missed = Arc::new(MissedCount::default());
        let subscriber = Subscriber { sender, missed: missed.clone(), delivery };
        self.change_subscribers(|subscribers| subscribers.push(subscriber));
        Subscription { receiver, missed }
    }
}

/// The frames of one subscriber, as a `Stream`. Once its buffer is empty, a count of messages
/// dropped meanwhile comes as a frame of its own, so loss is reported even if nothing more is
/// ever emitted.
pub struct Subscription<T> {
    receiver: mpsc::Receiver<Frame<T>>,
    missed: Arc<MissedCount>,
}

impl<T> Subscription<T> {
    /// Messages dropped for this subscriber since its last frame.
    pub fn missed_since_last(&self) -> u64 {
        self.missed.count.load(Ordering::Acquire)
    }
}

impl<T> tokio_stream::Stream for Subscription<T> {
    type Item = Frame<T>;

    fn poll_next(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Frame<T>>> {
        match self.receiver.poll_recv(cx) {
            Poll::Pending => {
                // Misses are counted only while the buffer is full, so an empty buffer has
                // taken all the frames that came before them. The waker goes in before the
                // count is read: a miss counted after the read wakes this task.
                self.missed.waker.register(cx.waker());
                let missed = self.missed.take();
                if missed > 0 {
                    Poll::Ready(Some(Frame { missed, message: None }))
                } else {
                    Poll::Pending
                }
            }
            // The channel closed (the HERO went away): misses counted while the buffer was full
            // are still told, before the end.
            Poll::Ready(None) => match self.missed.take() {
                0 => Poll::Ready(None),
                missed => Poll::Ready(Some(Frame { missed, message: None })),
            },
            ready => ready,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_stream::{Stream, StreamExt};

    #[tokio::test]
    async fn every_subscriber_gets_every_message() {
        let event = Event::new();
        let mut subscriptions: Vec<_> = (0..3).map(|_| event.subscribe(Delivery::BestEffort, 8)).collect();
        assert_eq!(event.emit(7_u32).await, 3);
        for subscription in &mut subscriptions {
            let frame = subscription.next().await.unwrap();
            assert_eq!((frame.message.as_deref(), frame.missed), (Some(&7), 0));
        }
    }

    #[tokio::test]
    async fn a_full_best_effort_buffer_drops_and_counts() {
        let event = Event::new();
        let mut slow = event.subscribe(Delivery::BestEffort, 2);
        for n in 0..5_u32 {
            event.emit(n).await;
        }
        assert_eq!(slow.missed_since_last(), 3);
        assert_eq!(slow.next().await.unwrap().message.as_deref(), Some(&0));
        assert_eq!(slow.next().await.unwrap().message.as_deref(), Some(&1));
        event.emit(5).await;
        let frame = slow.next().await.unwrap();
        assert_eq!((frame.message.as_deref(), frame.missed), (Some(&5), 3), "the next message tells what was lost");
        for n in 6..9_u32 {
            event.emit(n).await;
        }
        slow.next().await.unwrap();
        slow.next().await.unwrap();
        let frame = slow.next().await.unwrap();
        assert_eq!((frame.message, frame.missed), (None, 1), "caught up: the loss is reported by itself");
    }

    /// The race the waker closes: the emitter found the buffer full, the subscriber emptied it
    /// and went to sleep, and only then was the miss counted.
    #[tokio::test]
    async fn a_miss_counted_while_the_subscriber_sleeps_wakes_it() {
        let event = Event::<u32>::new();
        let mut subscription = event.subscribe(Delivery::BestEffort, 1);
        let woken = Arc::new(WakeCount::default());
        let waker = std::task::Waker::from(woken.clone());
        let mut cx = Context::from_waker(&waker);
        assert!(std::pin::Pin::new(&mut subscription).poll_next(&mut cx).is_pending());
        let subscribers = event.subscribers.lock().unwrap().clone();
        subscribers[0].missed.add_one();
        assert_eq!(woken.0.load(Ordering::SeqCst), 1, "the sleeping subscriber is woken");
        let frame = std::pin::Pin::new(&mut subscription).poll_next(&mut cx);
        let Poll::Ready(Some(frame)) = frame else { panic!("the loss is reported") };
        assert_eq!((frame.message, frame.missed), (None, 1));
    }

    #[derive(Default)]
    struct WakeCount(AtomicU64);

    impl std::task::Wake for WakeCount {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[tokio::test]
    async fn misses_are_told_before_the_end_when_the_event_goes_away() {
        let event = Event::new();
        let mut subscription = event.subscribe(Delivery::BestEffort, 1);
        for n in 0..3_u32 {
            event.emit(n).await;
        }
        drop(event);
        assert_eq!(subscription.next().await.unwrap().message.as_deref(), Some(&0));
        let frame = subscription.next().await.expect("the loss, before the end");
        assert_eq!((frame.message, frame.missed), (None, 2));
        assert!(subscription.next().await.is_none());
    }

    #[tokio::test]
    async fn a_reliable_subscriber_slows_the_emitter_and_loses_nothing() {
        let event = Arc::new(Event::new());
        let mut slow = event.subscribe(Delivery::Reliable, 1);
        event.emit(0_u32).await;
        let blocked = tokio::spawn({
            let event = event.clone();
            async move { event.emit(1).await }
        });
        tokio::task::yield_now().await;
        assert!(!blocked.is_finished(), "the emitter waits for room");
        assert_eq!(slow.next().await.unwrap().message.as_deref(), Some(&0));
        assert_eq!(blocked.await.unwrap(), 1);
        assert_eq!(slow.next().await.unwrap().message.as_deref(), Some(&1));
    }

    #[tokio::test]
    async fn a_subscriber_that_left_is_forgotten() {
        let event = Event::new();
        let gone = event.subscribe(Delivery::Reliable, 1);
        let _stays = event.subscribe(Delivery::BestEffort, 1);
        drop(gone);
        assert_eq!(event.emit(1_u8).await, 1);
        assert_eq!(event.subscriber_count(), 1);
    }
}

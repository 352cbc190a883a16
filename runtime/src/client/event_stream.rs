//! The subscriber's side of an event: [`EventStream`] (what a stub's `subscribe_x()` returns)
//! and [`Connected`] (a callback fed from one, what `connect_x()` returns).

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio_stream::{Stream, StreamExt};

use crate::error::{Error, Result};

/// What a subscriber receives: the events, and word of those it missed. Loss is never silent.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Received<M> {
    /// An emitted message.
    Event(M),
    /// A best-effort event's subscriber fell behind: this many messages were dropped for it
    /// (just before the next `Event`, if any).
    Missed(u64),
    /// The subscription broke (the HERO left, its server went away): events emitted from now
    /// until `Resumed` are not seen. The stream keeps trying to subscribe again.
    Interrupted {
        /// Why, in words.
        reason: String,
    },
    /// Subscribed again (the HERO is back, maybe at a new address) after a gap this long.
    Resumed {
        /// How long the subscription was broken.
        after: Duration,
    },
}

impl<M> Received<M> {
    /// The message, if this is one.
    pub fn event(self) -> Option<M> {
        match self {
            Received::Event(message) => Some(message),
            _ => None,
        }
    }
}

/// One attempt at subscribing again.
type Attempt<M> = Pin<Box<dyn Future<Output = Result<Frames<M>>> + Send>>;

/// Subscribes again; returns the new subscription's frames.
pub(crate) type Resubscribe<M> = Arc<dyn Fn() -> Attempt<M> + Send + Sync>;

/// First wait before subscribing again, and the longest: the wait doubles after each failure.
const FIRST_RETRY: Duration = Duration::from_millis(50);
const LONGEST_RETRY: Duration = Duration::from_secs(2);

/// A broken subscription being made again.
struct Reconnect<M> {
    since: Instant,
    delay: Duration,
    wait: Pin<Box<tokio::time::Sleep>>,
    attempt: Option<Attempt<M>>,
}

pub(crate) type Frames<M> = Pin<Box<dyn Stream<Item = Result<(u64, Option<M>)>> + Send>>;

/// The messages of one subscription, in order. When the subscription breaks (the HERO leaves,
/// its server goes away) it says so (`Received::Interrupted`), subscribes again as soon as the
/// HERO is back (found again by discovery if it moved), and says that too (`Received::Resumed`).
/// It ends only when dropped.
pub struct EventStream<M> {
    frames: Option<Frames<M>>,
    /// Items already decoded but not yet returned (an event after its missed count).
    ready: VecDeque<Received<M>>,
    resubscribe: Option<Resubscribe<M>>,
    reconnect: Option<Reconnect<M>>,
}

impl<M: Clone + Unpin + Send + Sync + 'static> EventStream<M> {
    /// The frames of one subscription (the missed count and the message), from either transport.
    pub(crate) fn of(frames: Frames<M>) -> Self {
        EventStream { frames: Some(frames), ready: VecDeque::new(), resubscribe: None, reconnect: None }
    }

    /// The raw frames (to hand to a stream that resubscribes).
    pub(crate) fn into_frames(self) -> Option<Frames<M>> {
        self.frames
    }

    /// Makes the stream subscribe again with `resubscribe` whenever the subscription breaks.
    pub(crate) fn resubscribing(mut self, resubscribe: Resubscribe<M>) -> Self {
        self.resubscribe = Some(resubscribe);
        self
    }

    /// Calls `callback` with each item, on a task of its own, until the stream ends or the
    /// returned [`Connected`] is dropped or disconnected.
    pub fn connect(mut self, mut callback: impl FnMut(Received<M>) + Send + 'static) -> Connected {
        let task = tokio::spawn(async move {
            while let Some(item) = self.next().await {
                match item {
                    Ok(item) => callback(item),
                    Err(error) => return Err(error),
                }
            }
            Ok(())
        });
        Connected { task: Some(task) }
    }
}

impl<M: Unpin> Stream for EventStream<M> {
    type Item = Result<Received<M>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(item) = this.ready.pop_front() {
                return Poll::Ready(Some(Ok(item)));
            }
            if let Some(frames) = &mut this.frames {
                let end = match frames.as_mut().poll_next(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Some(Ok((0, Some(message))))) => {
                        return Poll::Ready(Some(Ok(Received::Event(message))))
                    }
                    Poll::Ready(Some(Ok((missed, message)))) => {
                        this.ready.extend(message.map(Received::Event));
                        return Poll::Ready(Some(Ok(Received::Missed(missed))));
                    }
                    Poll::Ready(end) => end,
                };
                this.frames = None;
                let error = match end {
                    Some(Err(error)) => Some(error),
                    _ => None, // the end (frames were all returned above)
                };
                if this.resubscribe.is_none() {
                    return Poll::Ready(error.map(Err));
                }
                let reason = error.map_or_else(|| "the HERO ended the subscription".to_owned(), |e| e.to_string());
                this.reconnect = Some(Reconnect {
                    since: Instant::now(),
                    delay: FIRST_RETRY,
                    wait: Box::pin(tokio::time::sleep(FIRST_RETRY)),
                    attempt: None,
                });
                return Poll::Ready(Some(Ok(Received::Interrupted { reason })));
            }
            let (Some(reconnect), Some(resubscribe)) = (&mut this.reconnect, &this.resubscribe) else {
                return Poll::Ready(None);
            };
            match &mut reconnect.attempt {
                None => {
                    if reconnect.wait.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    reconnect.attempt = Some(resubscribe());
                }
                Some(attempt) => match attempt.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(frames)) => {
                        let after = reconnect.since.elapsed();
                        this.frames = Some(frames);
                        this.reconnect = None;
                        return Poll::Ready(Some(Ok(Received::Resumed { after })));
                    }
                    Poll::Ready(Err(error)) => {
                        tracing::debug!("subscribing again failed ({error}); retrying in {:?}", reconnect.delay);
                        reconnect.attempt = None;
                        reconnect.wait = Box::pin(tokio::time::sleep(reconnect.delay));
                        reconnect.delay = (reconnect.delay * 2).min(LONGEST_RETRY);
                    }
                },
            }
        }
    }
}

/// A callback connected to an event. Dropping it (or [`Connected::disconnect`]) disconnects.
pub struct Connected {
    task: Option<tokio::task::JoinHandle<Result<()>>>,
}

impl Connected {
    /// Stops the callback.
    pub fn disconnect(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }

    /// Waits until the subscription ends by itself; `Err` tells why (e.g. the HERO left).
    pub async fn ended(mut self) -> Result<()> {
        let task = self.task.take().expect("present until consumed");
        task.await.unwrap_or_else(|e| Err(Error::Rpc { code: tonic::Code::Internal, message: e.to_string() }))
    }
}

impl Drop for Connected {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

//! The subscriber's side of an event: [`EventStream`] (what a stub's `subscribe_x()` returns)
//! and [`Connected`] (a callback fed from one, what `connect_x()` returns).

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio_stream::{Stream, StreamExt};

use crate::error::{Error, Result};
use crate::interface::EventFrames;

/// What a subscriber receives: the events, and word of those it missed. Loss is never silent.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Received<M> {
    /// An emitted message.
    Event(M),
    /// A best-effort event's subscriber fell behind: this many messages were dropped for it
    /// (just before the next `Event`, if any).
    Missed(u64),
}

impl<M> Received<M> {
    /// The message, if this is one.
    pub fn event(self) -> Option<M> {
        match self {
            Received::Event(message) => Some(message),
            Received::Missed(_) => None,
        }
    }
}

type Frames<M> = Pin<Box<dyn Stream<Item = Result<(u64, Option<M>)>> + Send>>;

/// The messages of one subscription, in order. It ends with an `Err` when the HERO leaves or
/// its server goes away (`Error::Unavailable`), and with `None` after that.
pub struct EventStream<M> {
    frames: Frames<M>,
    /// Items already decoded but not yet returned (an event after its missed count).
    ready: VecDeque<Received<M>>,
}

impl<M: Clone + Unpin + Send + Sync + 'static> EventStream<M> {
    /// Frames from the network: the missed count and the message, as the codec decoded them.
    pub(crate) fn remote(frames: tonic::Streaming<(u64, Option<M>)>) -> Self {
        let frames = frames.map(|frame| frame.map_err(|status| Error::from_status(&status)));
        EventStream { frames: Box::pin(frames), ready: VecDeque::new() }
    }

    /// Frames from a HERO of this process: the emitted message itself, shared between its
    /// subscribers (cloned only when another subscriber still holds it).
    pub(crate) fn local(frames: EventFrames<M>) -> Self {
        let frames = frames.map(|frame| match frame {
            Ok(frame) => Ok((
                frame.missed,
                frame.message.map(|message| Arc::try_unwrap(message).unwrap_or_else(|shared| (*shared).clone())),
            )),
            Err(status) => Err(Error::from_status(&status)),
        });
        EventStream { frames: Box::pin(frames), ready: VecDeque::new() }
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
        if let Some(item) = self.ready.pop_front() {
            return Poll::Ready(Some(Ok(item)));
        }
        match self.frames.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok((missed, message)))) => match (missed, message) {
                (0, Some(message)) => Poll::Ready(Some(Ok(Received::Event(message)))),
                (missed, message) => {
                    self.ready.extend(message.map(Received::Event));
                    Poll::Ready(Some(Ok(Received::Missed(missed))))
                }
            },
            Poll::Ready(Some(Err(error))) => Poll::Ready(Some(Err(error))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
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

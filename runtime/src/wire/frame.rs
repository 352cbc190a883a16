//! An event frame as it travels from a HERO's `Event<T>` to one subscriber's stream: the message
//! (owned or shared) and the count of messages that subscriber missed. The codec encodes it
//! (`codec::FrameEncoder`); `events::event` makes and delivers it.

use std::sync::Arc;

/// One message on its way to one subscriber, with the number of messages that subscriber missed
/// just before it (best-effort only). A frame without a message only reports misses: the
/// subscriber caught up after losing some, and nothing new has been emitted since.
#[derive(Debug, Clone)]
pub struct Frame<T> {
    /// Messages dropped for this subscriber since the previous frame.
    pub missed: u64,
    /// The message.
    pub message: Option<Payload<T>>,
}

/// A message on its way to one subscriber: its own when it is the only subscriber (no shared
/// allocation to free on another thread), else shared with the others.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload<T> {
    /// The only subscriber's.
    Owned(T),
    /// One of several subscribers'.
    Shared(Arc<T>),
}

impl<T> std::ops::Deref for Payload<T> {
    type Target = T;

    fn deref(&self) -> &T {
        match self {
            Payload::Owned(message) => message,
            Payload::Shared(message) => message,
        }
    }
}

impl<T: Clone> Payload<T> {
    /// The message itself, cloned only if another subscriber still holds it.
    pub fn into_owned(self) -> T {
        match self {
            Payload::Owned(message) => message,
            Payload::Shared(message) => Arc::try_unwrap(message).unwrap_or_else(|shared| (*shared).clone()),
        }
    }
}

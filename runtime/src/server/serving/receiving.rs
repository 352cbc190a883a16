//! Request bytes on their way in. tonic's decoder reserves a buffer of whatever length a
//! message's 5-byte gRPC prefix announces, and keeps what arrives for as long as the stream
//! lives; one client used to pin 800 MiB with four unfinished messages, or reserve 256 MiB with
//! five bytes. Here each request body is read through [`ReceivingBody`], which
//!
//! - refuses a message whose announced length is above the message-size limit at once;
//! - books a message's announced length against its peer's budget of bytes still arriving
//!   (`HEROS_MAX_RECEIVING_BYTES_PER_PEER`) before tonic sees it, and refuses the message
//!   (RESOURCE_EXHAUSTED) when the budget has no room. A message that arrives in the frame that
//!   starts it (nearly every call) books nothing. Refusing rather than waiting for room is on
//!   purpose: a body that waits stops reading, and on one HTTP/2 connection the unread bytes of
//!   two waiting streams fill the connection's window, so the booked ones starve too and every
//!   call on it fails at the receive timeout;
//! - so what tonic reserves for announced bytes stays within the peer's budget (its pages are
//!   only touched as bytes arrive), and a booked message's bytes go on as they come, so
//!   decoding overlaps the transfer of a large message;
//! - fails a request that has not finished arriving within the receive timeout
//!   (`HEROS_RECEIVE_TIMEOUT_MS`), which frees all it held. The clock runs while the body waits
//!   for bytes, until the request ends; for requests that are streams (`open_between_messages`)
//!   only until the first message and within each message, so that an idle stream may stay.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Sleep;

use crate::error::Error;

/// The gRPC message prefix: a compression flag and a 4-byte big-endian length.
const PREFIX: usize = 5;

/// What one connection's bodies need to know.
#[derive(Clone)]
pub(crate) struct ReceiveRules {
    pub(crate) budget: Arc<Semaphore>,
    /// The budget's size, for error messages.
    pub(crate) budget_size: usize,
    pub(crate) max_message_size: usize,
    pub(crate) timeout: Duration,
}

/// A request body read under the rules above.
pub(crate) struct ReceivingBody {
    inner: Incoming,
    rules: ReceiveRules,
    /// Where the message being read stands.
    prefix: [u8; PREFIX],
    prefix_len: usize,
    /// Bytes of the current message (after its prefix) still to come, and in all.
    remaining: usize,
    announced: usize,
    /// The current message's booking against the peer's budget.
    booked: Option<OwnedSemaphorePermit>,
    /// Whether a message has arrived whole.
    had_message: bool,
    /// The request is a stream that may stay open, idle, between messages.
    open_between_messages: bool,
    /// Bytes of the message not yet complete, held back from tonic.
    held: Vec<Bytes>,
    /// Complete messages ready for tonic.
    ready: VecDeque<Bytes>,
    /// Armed while the body waits for bytes.
    deadline: Option<Pin<Box<Sleep>>>,
    ended: bool,
}

impl ReceivingBody {
    pub(crate) fn new(inner: Incoming, rules: ReceiveRules, open_between_messages: bool) -> Self {
        ReceivingBody {
            inner,
            rules,
            prefix: [0; PREFIX],
            prefix_len: 0,
            remaining: 0,
            announced: 0,
            booked: None,
            had_message: false,
            open_between_messages,
            held: Vec::new(),
            ready: VecDeque::new(),
            deadline: None,
            ended: false,
        }
    }

    /// Whether a message has started and not finished.
    fn in_message(&self) -> bool {
        self.prefix_len > 0
    }

    /// Walks the gRPC framing of `chunk`: complete messages go to `ready`, the start of an
    /// incomplete one is held. Returns the announced length of a message that still needs a
    /// booking.
    fn take(&mut self, whole: Bytes) -> Result<Option<usize>, Error> {
        let bytes: &[u8] = &whole;
        let mut at = 0; // offset in `whole` of what is still to walk
        let mut complete_until = None; // end of the last message completed in this chunk
        while at < bytes.len() {
            if self.prefix_len < PREFIX {
                let n = (PREFIX - self.prefix_len).min(bytes.len() - at);
                self.prefix[self.prefix_len..self.prefix_len + n].copy_from_slice(&bytes[at..at + n]);
                self.prefix_len += n;
                at += n;
                if self.prefix_len < PREFIX {
                    break;
                }
                let announced = u32::from_be_bytes(self.prefix[1..].try_into().expect("4 bytes")) as usize;
                if announced > self.rules.max_message_size {
                    return Err(Error::limit_reached(
                        "HEROS_MAX_MESSAGE_SIZE",
                        self.rules.max_message_size,
                        format!("the request announces a message of {announced} bytes"),
                    ));
                }
                self.remaining = announced;
                self.announced = announced;
            } else {
                let n = self.remaining.min(bytes.len() - at);
                at += n;
                self.remaining -= n;
            }
            if self.prefix_len == PREFIX && self.remaining == 0 {
                self.prefix_len = 0;
                self.booked = None; // the message is complete: its booking goes back
                self.had_message = true;
                complete_until = Some(at);
            }
        }
        match complete_until {
            // The common case: the chunk is whole messages and nothing was held.
            Some(end) if end == whole.len() && self.held.is_empty() => self.ready.push_back(whole),
            Some(end) => {
                self.ready.extend(self.held.drain(..));
                self.ready.push_back(whole.slice(..end));
                if end < whole.len() {
                    self.held.push(whole.slice(end..));
                }
            }
            None => self.held.push(whole),
        }
        self.pass_on_if_booked();
        let needs_booking = self.prefix_len == PREFIX && self.booked.is_none() && self.remaining > 0;
        // The message's own bytes: the budget is at least the largest message, which must fit.
        Ok(needs_booking.then_some(self.announced))
    }

    /// Books `bytes` of the peer's budget, or says why it cannot.
    fn book(&mut self, bytes: usize) -> Result<(), Error> {
        let permits = u32::try_from(bytes).unwrap_or(u32::MAX);
        let budget = &self.rules.budget;
        let permit = budget.clone().try_acquire_many_owned(permits).map_err(|_| {
            Error::limit_reached(
                "HEROS_MAX_RECEIVING_BYTES_PER_PEER",
                self.rules.budget_size,
                format!(
                    "a message of {bytes} bytes does not fit: messages still arriving from this address take {} bytes",
                    self.rules.budget_size.saturating_sub(budget.available_permits())
                ),
            )
        })?;
        self.booked = Some(permit);
        self.pass_on_if_booked();
        Ok(())
    }

    /// A booked message's bytes go on to tonic as they arrive.
    fn pass_on_if_booked(&mut self) {
        if self.booked.is_some() && !self.held.is_empty() {
            self.ready.extend(self.held.drain(..));
        }
    }

    /// The error that ends the body when the deadline passes.
    fn too_slow(&self) -> tonic::Status {
        Error::Timeout {
            message: format!(
                "the request's message did not arrive within {:?} (HEROS_RECEIVE_TIMEOUT_MS)",
                self.rules.timeout
            ),
        }
        .to_status()
    }
}

impl Body for ReceivingBody {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        let this = &mut *self;
        loop {
            if let Some(message) = this.ready.pop_front() {
                return Poll::Ready(Some(Ok(Frame::data(message))));
            }
            if this.ended {
                return Poll::Ready(None);
            }
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    let frame = match frame.into_data() {
                        Ok(chunk) => chunk,
                        // Request trailers: pass them on once the messages before them are.
                        Err(frame) => return Poll::Ready(Some(Ok(frame))),
                    };
                    if let Err(error) = this.take(frame).and_then(|booking| booking.map_or(Ok(()), |b| this.book(b))) {
                        this.ended = true;
                        this.held.clear();
                        this.ready.clear();
                        return Poll::Ready(Some(Err(error.to_status())));
                    }
                    if !this.in_message() {
                        this.deadline = None;
                    }
                    continue;
                }
                Poll::Ready(Some(Err(error))) => {
                    return Poll::Ready(Some(Err(tonic::Status::from_error(Box::new(error)))));
                }
                Poll::Ready(None) => {
                    // A truncated message goes to tonic as it is; its decoder reports it.
                    this.ready.extend(this.held.drain(..));
                    this.ended = true;
                    continue;
                }
                Poll::Pending => {}
            }
            if this.open_between_messages && this.had_message && !this.in_message() {
                return Poll::Pending; // an idle stream between messages: no clock
            }
            // Waiting for bytes: the clock runs.
            let timeout = this.rules.timeout;
            let deadline = this.deadline.get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
            if deadline.as_mut().poll(cx).is_ready() {
                this.ended = true;
                this.held.clear();
                this.booked = None;
                return Poll::Ready(Some(Err(this.too_slow())));
            }
            return Poll::Pending;
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ready.is_empty() && (self.ended || (self.inner.is_end_stream() && self.held.is_empty()))
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

//! Reply bytes on their way out, and the calls open on one connection.
//!
//! HTTP/2 keeps what it is handed until the client's flow-control window lets it go, and hyper
//! hands over a reply's bytes whole; replies whose turn has not come wait, encoded or not, in
//! their bodies. A client that asks and never reads used to pin a gigabyte with fifty 20 MiB
//! replies. Here:
//!
//! - a unary reply is encoded as soon as the method returns (a stream's frame: when hyper asks
//!   for it), and its bytes count as unread for the connection from then;
//! - the bytes go to hyper in pieces of at most [`PIECE`]. hyper asks for the next piece only
//!   when HTTP/2 has room for the stream (what it buffers is under the client's window and
//!   under its 400 KiB send buffer), so a piece stops counting when hyper asks again;
//! - a reply that would take the connection's unread bytes above `HEROS_MAX_UNREAD_REPLY_BYTES`
//!   is dropped and its call ends with RESOURCE_EXHAUSTED. A reply is always let through when
//!   nothing else is unread, so one message of the largest size still goes out.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use crate::error::Error;

/// What one connection's calls share.
pub(crate) struct ConnectionState {
    /// Calls open now (HTTP/2 streams the router has taken and not finished).
    open_calls: AtomicUsize,
    /// Calls ever started, so that an idle check can tell "no call since".
    calls_started: AtomicU64,
    /// Reply bytes handed to HTTP/2 that the client has not taken yet.
    unread_reply_bytes: AtomicUsize,
    max_unread_reply_bytes: usize,
}

impl ConnectionState {
    pub(crate) fn new(max_unread_reply_bytes: usize) -> Self {
        ConnectionState {
            open_calls: AtomicUsize::new(0),
            calls_started: AtomicU64::new(0),
            unread_reply_bytes: AtomicUsize::new(0),
            max_unread_reply_bytes,
        }
    }

    /// Calls open now, and calls ever started.
    pub(crate) fn calls(&self) -> (usize, u64) {
        (self.open_calls.load(Ordering::Acquire), self.calls_started.load(Ordering::Acquire))
    }
}

/// One call open on a connection, from the request's headers to the reply's last frame.
pub(crate) struct CallGuard(Arc<ConnectionState>);

impl CallGuard {
    pub(crate) fn enter(state: &Arc<ConnectionState>) -> Self {
        state.calls_started.fetch_add(1, Ordering::AcqRel);
        state.open_calls.fetch_add(1, Ordering::AcqRel);
        CallGuard(state.clone())
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        self.0.open_calls.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Largest piece of a reply handed to hyper at once: HTTP/2 then holds at most about this much
/// beyond the client's window per stream. The client's frames are 1 MiB at most anyway.
pub(crate) const PIECE: usize = 1024 * 1024;

/// A reply body whose bytes count as unread until hyper has taken them.
pub(crate) struct ReplyBody {
    inner: tonic::body::Body,
    call: CallGuard,
    /// What is left of the current data frame, counted.
    rest: Bytes,
    /// The piece yielded last, still counted until hyper asks again.
    piece: usize,
    /// A frame other than data, taken ahead (see [`ReplyBody::take_ahead`]).
    other: Option<Frame<Bytes>>,
    /// The reply was refused (its trailers went out) or has ended.
    ended: bool,
    /// The caller's deadline (`grpc-timeout`), for replies that are streams.
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl ReplyBody {
    pub(crate) fn new(
        inner: tonic::body::Body,
        call: CallGuard,
        deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    ) -> Self {
        ReplyBody { inner, call, rest: Bytes::new(), piece: 0, other: None, ended: false, deadline }
    }

    /// Ends the reply with `error` in its trailers; what is left of it (a HERO's stream) is
    /// dropped, which cancels its call.
    fn end_with(&mut self, error: &Error) -> Frame<Bytes> {
        self.inner = tonic::body::Body::empty();
        let mut trailers = http::HeaderMap::new();
        if error.to_status().add_header(&mut trailers).is_err() {
            trailers.insert(tonic::Status::GRPC_STATUS, http::HeaderValue::from_static("8"));
        }
        self.ended = true;
        Frame::trailers(trailers)
    }

    /// Takes the reply's first frame now if it is ready (a unary reply: the encoded message)
    /// and counts it, so that a reply waiting for its turn is counted too. Err: the reply is
    /// refused, and its bytes are gone.
    pub(crate) fn take_ahead(&mut self, cx: &mut Context<'_>) -> Result<(), Error> {
        let Poll::Ready(Some(Ok(frame))) = Pin::new(&mut self.inner).poll_frame(cx) else {
            // Pending (a stream), the end, or an error: hyper polls again and sees the same.
            return Ok(());
        };
        match frame.into_data() {
            Ok(data) => self.count(data).inspect_err(|_| {
                self.inner = tonic::body::Body::empty();
                self.ended = true;
            }),
            Err(other) => {
                self.other = Some(other);
                Ok(())
            }
        }
    }

    /// Counts `data` as unread and keeps it to hand out, unless that would take the connection
    /// above its cap.
    fn count(&mut self, data: Bytes) -> Result<(), Error> {
        let state = &self.call.0;
        let bytes = data.len();
        let before = state.unread_reply_bytes.fetch_add(bytes, Ordering::AcqRel);
        if before > 0 && before + bytes > state.max_unread_reply_bytes {
            state.unread_reply_bytes.fetch_sub(bytes, Ordering::AcqRel);
            return Err(Error::limit_reached(
                "HEROS_MAX_UNREAD_REPLY_BYTES",
                state.max_unread_reply_bytes,
                format!(
                    "a reply of {bytes} bytes was dropped: this connection's client has not read {before} bytes of earlier replies"
                ),
            ));
        }
        self.rest = data;
        Ok(())
    }

    /// The piece handed out last has been taken.
    fn taken(&mut self) {
        if self.piece > 0 {
            self.call.0.unread_reply_bytes.fetch_sub(self.piece, Ordering::AcqRel);
            self.piece = 0;
        }
    }

    fn next_piece(&mut self) -> Bytes {
        let piece = self.rest.split_to(self.rest.len().min(PIECE));
        self.piece = piece.len();
        piece
    }
}

impl Drop for ReplyBody {
    fn drop(&mut self) {
        self.taken();
        if !self.rest.is_empty() {
            self.call.0.unread_reply_bytes.fetch_sub(self.rest.len(), Ordering::AcqRel);
        }
    }
}

impl Body for ReplyBody {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        let this = &mut *self;
        // Asked again: HTTP/2 had room, so the piece before has (mostly) left.
        this.taken();
        if !this.rest.is_empty() {
            return Poll::Ready(Some(Ok(Frame::data(this.next_piece()))));
        }
        if let Some(other) = this.other.take() {
            return Poll::Ready(Some(Ok(other)));
        }
        if this.ended {
            return Poll::Ready(None);
        }
        let data = match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                Ok(data) => data,
                Err(other) => return Poll::Ready(Some(Ok(other))),
            },
            Poll::Pending => {
                let Some(deadline) = this.deadline.as_mut() else { return Poll::Pending };
                if deadline.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                let error =
                    Error::Timeout { message: "the call's deadline (grpc-timeout) passed on the server".into() };
                return Poll::Ready(Some(Ok(this.end_with(&error))));
            }
            other => return other,
        };
        match this.count(data) {
            Ok(()) => Poll::Ready(Some(Ok(Frame::data(this.next_piece())))),
            Err(error) => {
                tracing::debug!("{error}");
                // The reply's bytes go now; the call ends with the error in its trailers.
                Poll::Ready(Some(Ok(this.end_with(&error))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_empty() && self.other.is_none() && (self.ended || self.inner.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        // Unknown unless over: bytes taken ahead are not in the inner body's hint any more.
        if self.is_end_stream() {
            SizeHint::with_exact(0)
        } else {
            SizeHint::default()
        }
    }
}

//! Reply bytes on their way out, and the calls open on one connection.
//!
//! hyper hands a reply's bytes to HTTP/2 whole, and HTTP/2 keeps them until the client's flow
//! control window lets them go: a client that asks and never reads used to pin a gigabyte with
//! fifty 20 MiB replies. hyper asks a body for its next frame only once the previous one has
//! mostly left (its send buffer is below 400 KiB), so a frame counts as unread from when the
//! body yields it until hyper asks again. A reply that would take the connection's unread bytes
//! above `HEROS_MAX_UNREAD_REPLY_BYTES` is dropped and its call ends with RESOURCE_EXHAUSTED; a
//! reply is always let through when nothing else is unread, so one message of the largest size
//! still goes out.

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

/// A reply body whose frames count as unread until hyper asks for the next one.
pub(crate) struct ReplyBody {
    inner: tonic::body::Body,
    call: CallGuard,
    /// Bytes of the frame yielded last, still counted as unread.
    counted: usize,
    /// The reply was refused (its trailers went out) or has ended.
    ended: bool,
}

impl ReplyBody {
    pub(crate) fn new(inner: tonic::body::Body, call: CallGuard) -> Self {
        ReplyBody { inner, call, counted: 0, ended: false }
    }

    fn uncount(&mut self) {
        if self.counted > 0 {
            self.call.0.unread_reply_bytes.fetch_sub(self.counted, Ordering::AcqRel);
            self.counted = 0;
        }
    }

    /// Counts `bytes` as unread, unless that would take the connection above its cap.
    fn count(&mut self, bytes: usize) -> Result<(), Error> {
        let state = &self.call.0;
        let before = state.unread_reply_bytes.fetch_add(bytes, Ordering::AcqRel);
        if before > 0 && before + bytes > state.max_unread_reply_bytes {
            state.unread_reply_bytes.fetch_sub(bytes, Ordering::AcqRel);
            return Err(Error::limit_reached(
                "HEROS_MAX_UNREAD_REPLY_BYTES",
                state.max_unread_reply_bytes,
                format!("a reply of {bytes} bytes was dropped: this connection's client has not read {before} bytes of earlier replies"),
            ));
        }
        self.counted = bytes;
        Ok(())
    }
}

impl Drop for ReplyBody {
    fn drop(&mut self) {
        self.uncount();
    }
}

impl Body for ReplyBody {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        let this = &mut *self;
        // Asked again: the frame before has left.
        this.uncount();
        if this.ended {
            return Poll::Ready(None);
        }
        let frame = match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => frame,
            other => return other,
        };
        let Some(bytes) = frame.data_ref().map(|data| data.len()) else { return Poll::Ready(Some(Ok(frame))) };
        match this.count(bytes) {
            Ok(()) => Poll::Ready(Some(Ok(frame))),
            Err(error) => {
                tracing::debug!("{error}");
                // The reply's bytes go now; the call ends with the error in its trailers.
                this.inner = tonic::body::Body::empty();
                let mut trailers = http::HeaderMap::new();
                let status = error.to_status();
                if status.add_header(&mut trailers).is_err() {
                    trailers.insert(tonic::Status::GRPC_STATUS, http::HeaderValue::from_static("8"));
                }
                this.ended = true;
                Poll::Ready(Some(Ok(Frame::trailers(trailers))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        if self.ended {
            SizeHint::with_exact(0)
        } else {
            self.inner.size_hint()
        }
    }
}

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
//!   nothing else is unread, so one message of the largest size still goes out;
//! - a stream's small frames, made while it yields with more to give, go out gathered
//!   (`gathering.rs`).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use super::gathering::{Added, Gathered};
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
    /// A data frame to hand out after `rest`, counted too (a large frame after gathered ones).
    queued: Bytes,
    /// The piece yielded last, still counted until hyper asks again.
    piece: usize,
    /// A frame other than data, taken ahead (see [`ReplyBody::take_ahead`]).
    other: Option<Frame<Bytes>>,
    /// The reply was refused (its trailers went out) or has ended.
    ended: bool,
    /// The caller's deadline (`grpc-timeout`), for replies that are streams.
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    /// A streamed reply's small frames, gathered (made at its second frame; unary replies
    /// never need it).
    gathered: Option<Box<Gathered>>,
}

impl ReplyBody {
    pub(crate) fn new(
        inner: tonic::body::Body,
        call: CallGuard,
        deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    ) -> Self {
        ReplyBody {
            inner,
            call,
            rest: Bytes::new(),
            queued: Bytes::new(),
            piece: 0,
            other: None,
            ended: false,
            deadline,
            gathered: None,
        }
    }

    /// Ends the reply with `error` in its trailers; what is left of it (a HERO's stream) is
    /// dropped, which cancels its call.
    fn end_with(&mut self, error: &Error) -> Frame<Bytes> {
        self.inner = tonic::body::Body::empty();
        self.ended = true;
        self.other = None;
        if let Some(gathered) = self.gathered.as_deref_mut() {
            gathered.take();
        }
        self.drop_queued();
        trailers_of(&error.to_status())
    }

    fn drop_queued(&mut self) {
        let queued = std::mem::take(&mut self.queued);
        self.call.0.unread_reply_bytes.fetch_sub(queued.len(), Ordering::AcqRel);
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
        self.count_both(data, Bytes::new())
    }

    /// Like [`ReplyBody::count`], for `data` and then `queued`, together.
    fn count_both(&mut self, data: Bytes, queued: Bytes) -> Result<(), Error> {
        let state = &self.call.0;
        let bytes = data.len() + queued.len();
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
        self.queued = queued;
        Ok(())
    }

    /// The piece handed out last has been taken.
    fn taken(&mut self) {
        if self.piece > 0 {
            self.call.0.unread_reply_bytes.fetch_sub(self.piece, Ordering::AcqRel);
            self.piece = 0;
        }
    }

    /// Hands `data` to hyper (its first piece), counted; over the connection's cap, ends the
    /// reply instead.
    fn hand_out(&mut self, data: Bytes) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        self.hand_out_both(data, Bytes::new())
    }

    /// [`ReplyBody::hand_out`] for `data`, then `queued` (both counted now).
    fn hand_out_both(&mut self, data: Bytes, queued: Bytes) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        match self.count_both(data, queued) {
            Ok(()) => Poll::Ready(Some(Ok(Frame::data(self.next_piece())))),
            Err(error) => {
                tracing::debug!("{error}");
                // The reply's bytes go now; the call ends with the error in its trailers.
                Poll::Ready(Some(Ok(self.end_with(&error))))
            }
        }
    }

    /// The streamed reply's gathered bytes, if it holds any.
    fn held(&mut self) -> Option<&mut Gathered> {
        self.gathered.as_deref_mut().filter(|gathered| !gathered.is_empty())
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
        self.drop_queued();
    }
}

impl Body for ReplyBody {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        let this = &mut *self;
        // Asked again: HTTP/2 had room, so the piece before has (mostly) left.
        this.taken();
        if this.rest.is_empty() {
            this.rest = std::mem::take(&mut this.queued);
        }
        if !this.rest.is_empty() {
            return Poll::Ready(Some(Ok(Frame::data(this.next_piece()))));
        }
        if let Some(other) = this.other.take() {
            return Poll::Ready(Some(Ok(other)));
        }
        if this.ended {
            return Poll::Ready(None);
        }
        loop {
            let (polled, woken) = match this.gathered.as_deref() {
                Some(gathered) => gathered.poll_noting_wakes(cx, |cx| Pin::new(&mut this.inner).poll_frame(cx)),
                // No stream frame yet (a unary reply has none after its first): nothing to note.
                None => (Pin::new(&mut this.inner).poll_frame(cx), false),
            };
            let data = match polled {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => {
                        let Some(gathered) = this.gathered.as_deref_mut() else {
                            // A stream's first frame here (it was polled without noting its
                            // wakes) goes as it is; gathering starts after it.
                            this.gathered = Some(Box::new(Gathered::new()));
                            return this.hand_out(data);
                        };
                        match gathered.add(data) {
                            Added::Ready(data) => data,
                            Added::ReadyTwice(gathered, large) => return this.hand_out_both(gathered, large),
                            // The stream had nothing more at once, without asking to be polled
                            // again: the next poll says whether it waits.
                            Added::Held if !woken => continue,
                            // The stream yielded (tonic's encoder hands out what it has when
                            // its stream returns `Pending`): the task yields too, and is polled
                            // again at once, the bytes held.
                            Added::Held if gathered.may_wait(true) => return Poll::Pending,
                            Added::Held => gathered.take(),
                        }
                    }
                    // The trailers: what was gathered goes first.
                    Err(other) => match this.held() {
                        Some(gathered) => {
                            let data = gathered.take();
                            this.other = Some(other);
                            data
                        }
                        None => return Poll::Ready(Some(Ok(other))),
                    },
                },
                Poll::Ready(None) => {
                    this.ended = true;
                    match this.held() {
                        Some(gathered) => gathered.take(),
                        None => return Poll::Ready(None),
                    }
                }
                Poll::Pending => {
                    if this.deadline.as_mut().is_some_and(|deadline| deadline.as_mut().poll(cx).is_ready()) {
                        let error = Error::Timeout {
                            message: "the call's deadline (grpc-timeout) passed on the server".into(),
                        };
                        // What the stream made in time goes first.
                        let made = this.held().map(|gathered| gathered.take());
                        let trailers = this.end_with(&error);
                        let Some(made) = made else { return Poll::Ready(Some(Ok(trailers))) };
                        this.other = Some(trailers);
                        made
                    } else {
                        let Some(gathered) = this.held() else { return Poll::Pending };
                        if gathered.may_wait(woken) {
                            return Poll::Pending;
                        }
                        gathered.take()
                    }
                }
                // Not from tonic's encoder (it puts a server's errors in the trailers), but a
                // body may end so: what was gathered goes first, then the error, as trailers.
                Poll::Ready(Some(Err(status))) => match this.held() {
                    Some(gathered) => {
                        let data = gathered.take();
                        this.other = Some(trailers_of(&status));
                        this.inner = tonic::body::Body::empty();
                        this.ended = true;
                        data
                    }
                    None => return Poll::Ready(Some(Err(status))),
                },
            };
            return this.hand_out(data);
        }
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_empty()
            && self.queued.is_empty()
            && self.other.is_none()
            && self.gathered.as_ref().is_none_or(|gathered| gathered.is_empty())
            && (self.ended || self.inner.is_end_stream())
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

/// Trailers that end a call with `status`.
fn trailers_of(status: &tonic::Status) -> Frame<Bytes> {
    let mut trailers = http::HeaderMap::new();
    if status.add_header(&mut trailers).is_err() {
        trailers.insert(tonic::Status::GRPC_STATUS, http::HeaderValue::from_static("8"));
    }
    Frame::trailers(trailers)
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::atomic::AtomicUsize;
    use std::task::{Wake, Waker};
    use std::time::Duration;

    use super::super::gathering::{GATHER, MAX_HELD_YIELDS, MAX_HOLD};
    use super::*;

    /// What a scripted reply does when polled.
    enum Step {
        Data(usize),
        /// Data, the task woken meanwhile: what tonic's encoder hands out when its stream
        /// yields with more to give (it returns what it has encoded when the stream returns
        /// `Pending`).
        Yielding(usize),
        /// Like `Yielding`, after working for this long (a stream whose messages cost time).
        SlowYielding(usize, Duration),
        /// `Pending`, having woken itself (a stream that yields with more to give).
        Yield,
        /// `Pending` without a wake (a stream that waits for something to happen).
        Wait,
        Trailers,
        /// The body fails (tonic's encoder puts a server's errors in trailers instead).
        Failing,
    }

    /// A reply body that follows a script; after it, the end. `.1`: its last poll was Pending.
    struct Scripted(VecDeque<Step>, bool);

    fn bytes(count: usize) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![7u8; count])))))
    }

    impl Body for Scripted {
        type Data = Bytes;
        type Error = tonic::Status;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
            let polled = self.step(cx);
            self.1 = polled.is_pending();
            polled
        }

        // As tonic's encoder: ended once it has given all it had.
        fn is_end_stream(&self) -> bool {
            self.0.is_empty() && !self.1
        }
    }

    impl Scripted {
        fn step(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
            match self.0.pop_front() {
                Some(Step::Data(count)) => bytes(count),
                Some(Step::Yielding(count)) => {
                    cx.waker().wake_by_ref();
                    bytes(count)
                }
                Some(Step::SlowYielding(count, work)) => {
                    std::thread::sleep(work);
                    cx.waker().wake_by_ref();
                    bytes(count)
                }
                Some(Step::Yield) => {
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
                Some(Step::Wait) => Poll::Pending,
                Some(Step::Trailers) => Poll::Ready(Some(Ok(Frame::trailers(http::HeaderMap::new())))),
                Some(Step::Failing) => Poll::Ready(Some(Err(tonic::Status::unavailable("gone")))),
                None => Poll::Ready(None),
            }
        }
    }

    /// Counts the wakes of the task that polls the reply.
    struct Wakes(AtomicUsize);

    impl Wake for Wakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// What the task polling the reply saw, poll by poll.
    #[derive(Debug, PartialEq)]
    enum Seen {
        Data(usize),
        Pending {
            woken: bool,
        },
        /// Trailers, with their grpc-status if any.
        Trailers(Option<String>),
        End,
    }

    fn reply(state: &Arc<ConnectionState>, script: Vec<Step>) -> ReplyBody {
        ReplyBody::new(tonic::body::Body::new(Scripted(script.into(), false)), CallGuard::enter(state), None)
    }

    /// Polls `body` until it ends, or 1000 times.
    fn run_body(body: &mut ReplyBody) -> Vec<Seen> {
        let wakes = Arc::new(Wakes(AtomicUsize::new(0)));
        let waker = Waker::from(wakes.clone());
        let mut cx = Context::from_waker(&waker);
        let mut seen = Vec::new();
        for _ in 0..1000 {
            let before = wakes.0.load(Ordering::Relaxed);
            match Pin::new(&mut *body).poll_frame(&mut cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => seen.push(Seen::Data(data.len())),
                    Err(frame) => {
                        let trailers = frame.into_trailers().unwrap();
                        let status = trailers.get("grpc-status").map(|s| s.to_str().unwrap().to_owned());
                        seen.push(Seen::Trailers(status));
                    }
                },
                Poll::Ready(Some(Err(status))) => panic!("{status}"),
                Poll::Ready(None) => {
                    seen.push(Seen::End);
                    assert!(body.is_end_stream());
                    return seen;
                }
                Poll::Pending => {
                    // Nothing held may be taken for the end (hyper would close the stream).
                    assert!(!body.is_end_stream(), "ended while pending: {seen:?}");
                    seen.push(Seen::Pending { woken: wakes.0.load(Ordering::Relaxed) > before })
                }
            }
        }
        panic!("the reply did not end: {seen:?}");
    }

    /// Polls a reply that follows `script` until it ends; its bytes are all accounted for.
    fn run(script: Vec<Step>) -> Vec<Seen> {
        let state = Arc::new(ConnectionState::new(usize::MAX));
        let mut body = reply(&state, script);
        let seen = run_body(&mut body);
        drop(body);
        assert_eq!(state.unread_reply_bytes.load(Ordering::Acquire), 0);
        seen
    }

    /// The data frames seen, in order.
    fn data(seen: &[Seen]) -> Vec<usize> {
        seen.iter().filter_map(|seen| if let Seen::Data(bytes) = seen { Some(*bytes) } else { None }).collect()
    }

    fn yielded() -> Seen {
        Seen::Pending { woken: true }
    }

    #[test]
    fn a_stream_that_yields_with_more_to_give_goes_out_in_fewer_frames() {
        // 200 frames of 800 bytes, each with a yield: tokio_stream::iter's 32 small messages.
        let mut script: Vec<Step> = (0..200).map(|_| Step::Yielding(800)).collect();
        script.push(Step::Trailers);
        let seen = run(script);
        let frames = data(&seen);
        assert_eq!(frames.iter().sum::<usize>(), 200 * 800, "{seen:?}");
        // The first goes as it is. After it, a frame is held over at most MAX_HELD_YIELDS
        // yields (32 KiB would take 40 here): 8 frames, not 200.
        let held = MAX_HELD_YIELDS as usize + 1;
        let expected: Vec<usize> =
            [800].into_iter().chain((0..199 / held).map(|_| held * 800)).chain([199 % held * 800]).collect();
        assert_eq!(frames, expected, "{seen:?}");
        // The task yielded each time the stream did: every Pending was woken.
        assert!(seen.iter().all(|s| !matches!(s, Seen::Pending { woken: false })), "{seen:?}");
        assert_eq!(seen[seen.len() - 2..], [Seen::Trailers(None), Seen::End]);
    }

    #[test]
    fn what_is_gathered_goes_as_soon_as_the_stream_waits() {
        // After the first frame: one message, a yield, one more, then a wait for an event: both
        // go at the wait. The third message, alone before a wait, goes at once too.
        let seen = run(vec![
            Step::Data(1),
            Step::Data(30),
            Step::Yield,
            Step::Data(30),
            Step::Wait,
            Step::Data(30),
            Step::Wait,
        ]);
        assert_eq!(seen, [Seen::Data(1), yielded(), Seen::Data(60), Seen::Data(30), Seen::End]);
        // The same with the yields as tonic's encoder reports them (with the data).
        let seen =
            run(vec![Step::Data(1), Step::Yielding(30), Step::Yielding(30), Step::Wait, Step::Data(30), Step::Wait]);
        assert_eq!(seen, [Seen::Data(1), yielded(), yielded(), Seen::Data(60), Seen::Data(30), Seen::End]);
    }

    #[test]
    fn a_stream_that_yields_without_giving_anything_does_not_hold_its_frame() {
        let mut script = vec![Step::Data(1), Step::Data(30)];
        script.extend((0..100).map(|_| Step::Yield));
        let seen = run(script);
        // One yield after the message is waited for; at the second, with nothing new, it goes.
        assert_eq!(seen[..3], [Seen::Data(1), yielded(), Seen::Data(30)]);
        assert_eq!(data(&seen), [1, 30]);
    }

    #[test]
    fn a_frame_is_held_over_at_most_max_held_yields() {
        let mut script = vec![Step::Data(1)];
        for _ in 0..MAX_HELD_YIELDS + 5 {
            script.extend([Step::Data(1), Step::Yield]);
        }
        // At the end of the stream, what is held goes.
        assert_eq!(data(&run(script)), [1, MAX_HELD_YIELDS as usize + 1, 4]);
    }

    #[test]
    fn a_frame_is_held_for_at_most_max_hold() {
        // The second message comes MAX_HOLD after the first: both go then, not later.
        let slow = Step::SlowYielding(30, MAX_HOLD + Duration::from_millis(1));
        let seen = run(vec![Step::Data(1), Step::Yielding(30), slow, Step::Yielding(30), Step::Wait]);
        assert_eq!(seen, [Seen::Data(1), yielded(), Seen::Data(60), yielded(), Seen::Data(30), Seen::End]);
    }

    #[test]
    fn large_frames_go_at_once_counted_and_trailers_wait_for_the_data() {
        let state = Arc::new(ConnectionState::new(usize::MAX));
        let mut body = reply(
            &state,
            vec![
                Step::Data(1),
                Step::Data(GATHER),
                Step::Yield,
                Step::Data(100),
                Step::Yielding(GATHER + 1),
                Step::Yield,
                Step::Data(100),
                Step::Trailers,
            ],
        );
        let seen = run_body(&mut body);
        let expected = [
            Seen::Data(1),
            // Not gathered: large.
            Seen::Data(GATHER),
            yielded(),
            // Gathered; a large frame would take it over GATHER: it goes, then the large one.
            Seen::Data(100),
            Seen::Data(GATHER + 1),
            yielded(),
            Seen::Data(100),
            Seen::Trailers(None),
            Seen::End,
        ];
        assert_eq!(seen, expected);
        drop(body);
        assert_eq!(state.unread_reply_bytes.load(Ordering::Acquire), 0);

        // While the 100 bytes go, the large frame after them counts as unread too.
        let mut body = reply(&state, vec![Step::Data(1), Step::Data(100), Step::Data(GATHER), Step::Wait]);
        let waker = Waker::from(Arc::new(Wakes(AtomicUsize::new(0))));
        let mut cx = Context::from_waker(&waker);
        assert!(Pin::new(&mut body).poll_frame(&mut cx).is_ready());
        assert!(Pin::new(&mut body).poll_frame(&mut cx).is_ready());
        assert_eq!(state.unread_reply_bytes.load(Ordering::Acquire), 100 + GATHER);
        drop(body);
        assert_eq!(state.unread_reply_bytes.load(Ordering::Acquire), 0);
    }

    #[test]
    fn held_bytes_are_not_taken_for_the_end_of_the_stream() {
        // The stream has given its last frame (and says it ended) while that frame is held:
        // the reply has not ended (checked at each Pending) until the frame is out.
        let seen = run(vec![Step::Data(1), Step::Yielding(30)]);
        assert_eq!(seen, [Seen::Data(1), yielded(), Seen::Data(30), Seen::End]);
    }

    #[test]
    fn an_error_after_gathered_bytes_comes_after_them_as_trailers() {
        let seen = run(vec![Step::Data(1), Step::Yielding(30), Step::Failing]);
        assert_eq!(seen, [Seen::Data(1), yielded(), Seen::Data(30), Seen::Trailers(Some("14".into())), Seen::End]);
    }

    #[tokio::test(start_paused = true)]
    async fn at_the_deadline_what_was_made_in_time_goes_before_the_error() {
        let state = Arc::new(ConnectionState::new(usize::MAX));
        let script = vec![Step::Data(1), Step::Yielding(30), Step::Wait];
        let deadline = Some(Box::pin(tokio::time::sleep(Duration::ZERO)));
        let mut body =
            ReplyBody::new(tonic::body::Body::new(Scripted(script.into(), false)), CallGuard::enter(&state), deadline);
        tokio::time::advance(Duration::from_millis(1)).await;
        let seen = run_body(&mut body);
        // DEADLINE_EXCEEDED
        assert_eq!(seen, [Seen::Data(1), yielded(), Seen::Data(30), Seen::Trailers(Some("4".into())), Seen::End]);
    }

    #[test]
    fn gathered_bytes_over_the_connections_cap_end_the_call() {
        // Another reply on the connection has 30 bytes unread; the cap is 50.
        let state = Arc::new(ConnectionState::new(50));
        let mut other = reply(&state, vec![Step::Data(30), Step::Wait]);
        let waker = Waker::from(Arc::new(Wakes(AtomicUsize::new(0))));
        other.take_ahead(&mut Context::from_waker(&waker)).unwrap();
        let mut body = reply(&state, vec![Step::Data(1), Step::Yielding(30), Step::Yielding(30), Step::Wait]);
        let seen = run_body(&mut body);
        // RESOURCE_EXHAUSTED
        assert_eq!(seen, [Seen::Data(1), yielded(), yielded(), Seen::Trailers(Some("8".into())), Seen::End]);
        drop(body);
        assert_eq!(state.unread_reply_bytes.load(Ordering::Acquire), 30);
    }

    #[test]
    fn a_unary_reply_gathers_nothing() {
        let state = Arc::new(ConnectionState::new(usize::MAX));
        let mut body = reply(&state, vec![Step::Data(10), Step::Trailers]);
        let waker = Waker::from(Arc::new(Wakes(AtomicUsize::new(0))));
        body.take_ahead(&mut Context::from_waker(&waker)).unwrap();
        assert_eq!(state.unread_reply_bytes.load(Ordering::Acquire), 10, "counted while it waits its turn");
        assert_eq!(run_body(&mut body), [Seen::Data(10), Seen::Trailers(None), Seen::End]);
        assert!(body.gathered.is_none(), "nothing allocated for gathering");
    }
}

//! Small frames of a streamed reply, gathered into fewer HTTP/2 DATA frames.
//!
//! tonic encodes a stream's messages into one frame until the stream returns `Pending`. A stream
//! that has more to give but yields to the scheduler (`tokio_stream::iter` every 32 items,
//! tokio's cooperative budget, a generator's `yield_now`) returns `Pending` too, having woken its
//! own task, so a fast stream of small messages went out as one frame, one socket write and, on
//! the caller's side, one wake-up per 32 messages: the HERO's server stream of small messages
//! reached 0.8-0.9x raw tonic (BENCHMARKS.md, issue 15). The reply now notes whether its stream
//! was woken while it was polled; if so, the frame is held (and the task yields as the stream
//! asked, to be polled again at once), and what follows is added to it, until:
//!
//! - [`GATHER`] bytes are together, or
//! - the stream waits for real (`Pending` without being woken while it was polled: an event
//!   that has not happened yet), so a stream that gives one message now and then is not
//!   delayed at all, or
//! - the stream yielded [`MAX_HELD_YIELDS`] times in a row, or once without giving anything,
//!   or the first held bytes came [`MAX_HOLD`] ago, so that a stream that spins or works hard
//!   for each message does not hold its messages back, or
//! - the stream ends, fails, or passes the caller's deadline (the trailers go after the
//!   gathered bytes).
//!
//! Held bytes count as unread reply bytes from when they are handed out, as every frame does; a
//! large frame is never held. Held, they are less than [`GATHER`] a call: a client that stops
//! reading can make a connection hold at most `HEROS_MAX_CONCURRENT_STREAMS` × 32 KiB (4 MiB by
//! default) beside the unread bytes its cap allows (256 MiB by default).
//!
//! A stream's first frames (the one taken ahead with the reply's headers, and the next) go as
//! they come. gRPC-Go's writer gathers likewise, at the connection: it writes when it has
//! nothing else to do.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Wake, Waker};
use std::time::{Duration, Instant};

use atomic_waker::AtomicWaker;
use bytes::{Bytes, BytesMut};

/// At most this many bytes are gathered into one frame (tonic's own encoder yields at 32 KiB).
pub(crate) const GATHER: usize = 32 * 1024;

/// A frame is held over at most this many yields of its stream,
pub(crate) const MAX_HELD_YIELDS: u32 = 32;

/// and for at most this long (the HERO's server stream of small messages gathers 32 KiB in
/// about 0.1 ms).
pub(crate) const MAX_HOLD: Duration = Duration::from_millis(1);

/// What a frame of the stream turned into.
pub(crate) enum Added {
    /// Held, to go with what follows.
    Held,
    /// Bytes to hand out now: a large frame, [`GATHER`] bytes gathered, or what was gathered
    /// before a frame that would take it over [`GATHER`] (that frame is held next).
    Ready(Bytes),
    /// What was gathered, then a large frame, to hand out one after the other.
    ReadyTwice(Bytes, Bytes),
}

/// The gathered bytes of one streamed reply, and whether its stream woke itself.
pub(crate) struct Gathered {
    /// The first frame held, uncopied; frames after it go to `more` (with it).
    first: Bytes,
    more: BytesMut,
    /// Yields of the stream since the bytes were first held, and whether a frame came since
    /// the last one.
    yields: u32,
    added_since_yield: bool,
    /// When the first of the held bytes came.
    held_since: Instant,
    flag: Arc<WakeFlag>,
    /// Wakes `flag`, which records the wake and passes it on to the task polling the reply.
    waker: Waker,
}

impl Gathered {
    pub(crate) fn new() -> Self {
        let flag = Arc::new(WakeFlag { woken: AtomicBool::new(false), task: AtomicWaker::new() });
        let waker = Waker::from(flag.clone());
        Gathered {
            first: Bytes::new(),
            more: BytesMut::new(),
            yields: 0,
            added_since_yield: false,
            held_since: Instant::now(),
            flag,
            waker,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.first.is_empty() && self.more.is_empty()
    }

    /// Runs `poll` (a poll of the reply's stream) with a waker that records whether the stream
    /// was woken meanwhile; returns its result and that.
    pub(crate) fn poll_noting_wakes<R>(&self, cx: &Context<'_>, poll: impl FnOnce(&mut Context<'_>) -> R) -> (R, bool) {
        self.flag.task.register(cx.waker());
        self.flag.woken.store(false, Ordering::Release);
        let result = poll(&mut Context::from_waker(&self.waker));
        (result, self.flag.woken.load(Ordering::Acquire))
    }

    /// Takes a data frame of the stream.
    pub(crate) fn add(&mut self, data: Bytes) -> Added {
        self.added_since_yield = true;
        if self.is_empty() {
            if data.len() >= GATHER {
                return Added::Ready(data);
            }
            self.hold_first(data);
            return Added::Held;
        }
        if self.len() + data.len() > GATHER {
            let gathered = self.take();
            if data.len() >= GATHER {
                // A large frame is not copied, nor held: it goes right after.
                return Added::ReadyTwice(gathered, data);
            }
            self.hold_first(data);
            return Added::Ready(gathered);
        }
        if self.more.is_empty() {
            self.more.reserve(GATHER);
            self.more.extend_from_slice(&std::mem::take(&mut self.first));
        }
        self.more.extend_from_slice(&data);
        if self.more.len() == GATHER {
            return Added::Ready(self.take());
        }
        Added::Held
    }

    fn hold_first(&mut self, data: Bytes) {
        self.first = data;
        self.added_since_yield = true;
        self.held_since = Instant::now();
    }

    /// The stream returned `Pending`, `woken` while it was polled: whether the held bytes may
    /// wait for its next frame.
    pub(crate) fn may_wait(&mut self, woken: bool) -> bool {
        if !woken || !self.added_since_yield || self.yields >= MAX_HELD_YIELDS {
            return false;
        }
        // A stream that yields while each message costs it time (work, a slow source) must not
        // hold back what it has made: the caller would see its first messages late.
        if self.held_since.elapsed() >= MAX_HOLD {
            return false;
        }
        self.yields += 1;
        self.added_since_yield = false;
        true
    }

    /// The bytes gathered so far (empty if none).
    pub(crate) fn take(&mut self) -> Bytes {
        self.yields = 0;
        self.added_since_yield = false;
        if self.more.is_empty() {
            std::mem::take(&mut self.first)
        } else {
            self.more.split().freeze()
        }
    }

    fn len(&self) -> usize {
        self.first.len() + self.more.len()
    }
}

/// Records that the reply's stream was woken, and passes the wake on to the task polling it.
struct WakeFlag {
    woken: AtomicBool,
    task: AtomicWaker,
}

impl Wake for WakeFlag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.task.wake();
    }
}

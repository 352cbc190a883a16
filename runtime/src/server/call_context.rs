//! `CallContext`: what a HERO's method can know about the call it serves, without a parameter in
//! every skeleton signature: the caller's deadline, whether the call was cancelled, and (for a
//! long-running operation) where its progress goes.
//!
//! The server runs each method's future (and each stream it returns) inside [`Scoped`], which puts
//! the call's [`CallScope`] in a thread-local slot while it is polled; [`CallContext::current`]
//! reads it there. The slot is filled by moving the scope in and out around each poll: no
//! reference count changes and no allocation per poll. A unary call's context is made only when
//! the method asks for it, so a call that never does costs no allocation. Work a method spawns must take the context with it
//! (`let context = CallContext::current();`), because a spawned task is polled elsewhere.
//!
//! Cancellation is the future being dropped: when the caller goes away, cancels, or its deadline
//! passes, the server drops the method's future. Code that outlives that future (a spawned task, a
//! thread driving hardware) learns it from [`CallContext::cancelled`], which [`Scoped`] fires when
//! it is dropped before its future finished.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// What a method can know about the call it serves; [`CallContext::current`] gives it.
///
/// Outside a call (code called directly, not through a server) the context has no deadline, is
/// never cancelled and reports progress nowhere.
#[derive(Clone)]
pub struct CallContext {
    state: Arc<ContextState>,
}

struct ContextState {
    deadline: Option<Instant>,
    cancelled: AtomicBool,
    wake: Notify,
    progress: Option<Arc<dyn ProgressSink>>,
}

/// Where a long-running operation's progress goes (its entry in the server's operation table).
pub(crate) trait ProgressSink: Send + Sync + 'static {
    fn report(&self, fraction: f64, message: String, intermediate: Option<prost_types::Any>);
    fn operation_id(&self) -> &str;
}

thread_local! {
    /// The scope of the call whose future this thread is polling.
    static CURRENT: RefCell<Option<CallScope>> = const { RefCell::new(None) };
}

/// What a call's context is made of, until (and unless) the method asks for it.
pub(crate) struct CallScope {
    deadline: Option<Instant>,
    progress: Option<Arc<dyn ProgressSink>>,
    context: Option<CallContext>,
}

impl CallScope {
    /// A scope whose context is made on first use.
    pub(crate) fn new(deadline: Option<Instant>, progress: Option<Arc<dyn ProgressSink>>) -> Self {
        CallScope { deadline, progress, context: None }
    }

    /// A scope with its context made already (shared by a method's future and its stream).
    pub(crate) fn of(context: CallContext) -> Self {
        CallScope { deadline: context.state.deadline, progress: None, context: Some(context) }
    }

    fn context(&mut self) -> CallContext {
        let (deadline, progress) = (self.deadline, self.progress.take());
        self.context.get_or_insert_with(|| CallContext::new(deadline, progress)).clone()
    }
}

impl std::fmt::Debug for CallContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallContext")
            .field("remaining", &self.remaining())
            .field("cancelled", &self.is_cancelled())
            .field("operation", &self.operation_id())
            .finish()
    }
}

impl CallContext {
    pub(crate) fn new(deadline: Option<Instant>, progress: Option<Arc<dyn ProgressSink>>) -> Self {
        CallContext {
            state: Arc::new(ContextState {
                deadline,
                cancelled: AtomicBool::new(false),
                wake: Notify::new(),
                progress,
            }),
        }
    }

    /// The context of the call being served by the current task; a detached one (no deadline,
    /// never cancelled) outside a call.
    pub fn current() -> CallContext {
        CURRENT
            .with(|current| current.borrow_mut().as_mut().map(CallScope::context))
            .unwrap_or_else(|| CallContext::new(None, None))
    }

    /// When the caller stops waiting, if it said (`grpc-timeout`, or the stub's timeout).
    pub fn deadline(&self) -> Option<Instant> {
        self.state.deadline
    }

    /// How long until the deadline (zero once it has passed); `None` without a deadline.
    pub fn remaining(&self) -> Option<Duration> {
        self.state.deadline.map(|deadline| deadline.saturating_duration_since(Instant::now()))
    }

    /// Whether the call was cancelled: the caller went away or cancelled, or its deadline passed
    /// and the server dropped the method's future.
    pub fn is_cancelled(&self) -> bool {
        self.state.cancelled.load(Ordering::Acquire)
    }

    /// Resolves when the call is cancelled (see [`Self::is_cancelled`]), for work that outlives
    /// the method's own future.
    pub async fn cancelled(&self) {
        loop {
            let woken = self.state.wake.notified();
            if self.is_cancelled() {
                return;
            }
            woken.await;
        }
    }

    /// Reports how far a long-running operation has come (`fraction` in 0..=1) and what it is
    /// doing; callers read it from the operation. Does nothing for an ordinary call.
    pub fn report_progress(&self, fraction: f64, message: impl Into<String>) {
        if let Some(progress) = &self.state.progress {
            progress.report(fraction.clamp(0.0, 1.0), message.into(), None);
        }
    }

    /// Like [`Self::report_progress`], with an intermediate result (for instance the position a
    /// stage has reached), which a typed stub decodes as the operation's intermediate type.
    pub fn report_intermediate<M: prost::Name>(&self, fraction: f64, message: impl Into<String>, value: &M) {
        if let Some(progress) = &self.state.progress {
            let intermediate = prost_types::Any { type_url: M::type_url(), value: value.encode_to_vec() };
            progress.report(fraction.clamp(0.0, 1.0), message.into(), Some(intermediate));
        }
    }

    /// The id of the long-running operation this call runs as, if it does.
    pub fn operation_id(&self) -> Option<&str> {
        self.state.progress.as_ref().map(|progress| progress.operation_id())
    }

    /// Marks the call cancelled and wakes whoever waits in [`Self::cancelled`].
    pub(crate) fn cancel(&self) {
        if !self.state.cancelled.swap(true, Ordering::AcqRel) {
            self.state.wake.notify_waiters();
        }
    }
}

pin_project_lite::pin_project! {
    /// A method's future or stream, polled with its call's context in [`CURRENT`]; dropped
    /// before it finished, it cancels the context.
    pub(crate) struct Scoped<F> {
        #[pin]
        inner: F,
        // In here between polls; in `CURRENT` while `inner` is polled.
        scope: Option<CallScope>,
        finished: bool,
    }

    impl<F> PinnedDrop for Scoped<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if !*this.finished {
                if let Some(context) = this.scope.as_ref().and_then(|scope| scope.context.as_ref()) {
                    context.cancel();
                }
            }
        }
    }
}

impl<F> Scoped<F> {
    pub(crate) fn new(scope: CallScope, inner: F) -> Self {
        Scoped { inner, scope: Some(scope), finished: false }
    }
}

/// Runs `poll` with `slot`'s scope current, and puts it back (even if `poll` panics).
fn enter<R>(slot: &mut Option<CallScope>, poll: impl FnOnce() -> R) -> R {
    struct Restore<'a> {
        slot: &'a mut Option<CallScope>,
        previous: Option<CallScope>,
    }
    impl Drop for Restore<'_> {
        fn drop(&mut self) {
            let previous = self.previous.take();
            *self.slot = CURRENT.with(|current| std::mem::replace(&mut *current.borrow_mut(), previous));
        }
    }
    let previous = CURRENT.with(|current| std::mem::replace(&mut *current.borrow_mut(), slot.take()));
    let _restore = Restore { slot, previous };
    poll()
}

impl<F: Future> Future for Scoped<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let inner = this.inner;
        let output = enter(this.scope, || inner.poll(cx));
        *this.finished |= output.is_ready();
        output
    }
}

impl<S: tokio_stream::Stream> tokio_stream::Stream for Scoped<S> {
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let this = self.project();
        let inner = this.inner;
        let item = enter(this.scope, || inner.poll_next(cx));
        *this.finished |= matches!(item, Poll::Ready(None));
        item
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_context_is_current_inside_and_detached_outside() {
        let deadline = Instant::now() + Duration::from_secs(5);
        let inside = Scoped::new(CallScope::new(Some(deadline), None), async { CallContext::current().deadline() });
        assert_eq!(inside.await, Some(deadline));
        assert_eq!(CallContext::current().deadline(), None);
    }

    #[tokio::test]
    async fn dropping_an_unfinished_call_cancels_its_context() {
        let context = CallContext::new(None, None);
        let pending = Scoped::new(CallScope::of(context.clone()), std::future::pending::<()>());
        let mut pending = Box::pin(pending);
        assert!(futures_poll_once(pending.as_mut()).is_pending());
        assert!(!context.is_cancelled());
        drop(pending);
        assert!(context.is_cancelled());
        tokio::time::timeout(Duration::from_secs(1), context.cancelled()).await.expect("cancelled() resolves");

        let finished = CallContext::new(None, None);
        Scoped::new(CallScope::of(finished.clone()), async {}).await;
        assert!(!finished.is_cancelled(), "a call that finished was not cancelled");
    }

    fn futures_poll_once<F: Future>(future: Pin<&mut F>) -> Poll<F::Output> {
        let waker = std::task::Waker::noop();
        future.poll(&mut Context::from_waker(waker))
    }
}

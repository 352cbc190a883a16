//! A HERO's method that panics fails its call, not its server: the panic is caught where the
//! call's reply is awaited (the router for network calls, `local` for in-process ones) and becomes
//! `Error::Panic`, INTERNAL with kind `PANIC`, and the server goes on serving.

use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::error::Error;

/// `future`, with a panic while polling it as `Err(payload)`. Wraps the call's boxed future in
/// place: nothing is allocated unless it panics.
pub(crate) struct CatchPanic<F>(pub(crate) F);

impl<F: Future + Unpin> Future for CatchPanic<F> {
    type Output = Result<F::Output, Box<dyn Any + Send>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Unwind safety: after a panic the future is never polled again (it is dropped with the
        // call), and what it shares with the HERO is the HERO's own to keep consistent; the
        // error tells the caller its state may not be.
        match catch_unwind(AssertUnwindSafe(|| Pin::new(&mut self.0).poll(cx))) {
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(payload)),
        }
    }
}

/// The error for a panic of HERO `hero` in `path` (`/package.Service/Method`), logged, since
/// the panic is a bug of the HERO that its operator should see, not only its caller.
pub(crate) fn panicked(hero: &str, path: &str, payload: Box<dyn Any + Send>) -> Error {
    let message = match payload.downcast::<String>() {
        Ok(message) => *message,
        Err(payload) => match payload.downcast_ref::<&'static str>() {
            Some(message) => (*message).to_owned(),
            None => "a non-string panic payload".to_owned(),
        },
    };
    let method = path.strip_prefix('/').unwrap_or(path);
    tracing::error!(hero, method, "HERO method panicked: {message}");
    Error::Panic { hero: hero.to_owned(), method: method.to_owned(), message }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_payload_becomes_the_message() {
        let message = |payload: Box<dyn Any + Send>| match panicked("h", "/x.Y/Z", payload) {
            Error::Panic { hero, method, message } => {
                assert_eq!((hero.as_str(), method.as_str()), ("h", "x.Y/Z"));
                message
            }
            other => panic!("{other:?}"),
        };
        assert_eq!(message(Box::new("static")), "static");
        assert_eq!(message(Box::new(String::from("formatted 7"))), "formatted 7");
        assert_eq!(message(Box::new(7_u32)), "a non-string panic payload");
    }
}

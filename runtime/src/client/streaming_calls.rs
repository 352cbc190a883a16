//! Streaming methods as a stub calls them through its [`Target`]: server-streaming (one request,
//! a stream of replies), client-streaming (a stream of requests, one reply) and bidirectional.
//!
//! The caller's stream of requests is handed to the transport as it is (boxed once): the network
//! encodes each request when HTTP/2 has room for it, a HERO of this process polls it directly, so
//! a slow reader on either side slows the writer and nothing queues without bound. A deadline
//! (`timeout`) covers the whole call, the streams included: the server ends the call there
//! (DEADLINE_EXCEEDED) and the stream here ends with the same error, should the server not.

use std::time::Duration;

use std::future::Future;

use tokio_stream::Stream;

use std::sync::Arc;

use crate::client::handles::{ClientSession, StubSession};
use crate::client::network::{open_bidi, open_replies, open_upload};
use crate::client::target::Target;
use crate::client::transport::{message_of, Outgoing, Transport};
use crate::error::{Error, HandleProblem, Result};
use crate::interface::{AnyMessage, ItemStream, RequestItems, Streaming};

impl Target {
    /// Calls a server-streaming rpc of the HERO: its replies as they come.
    pub async fn server_streaming<Req, Rep>(
        &self,
        path: &'static str,
        request: Req,
        timeout: Option<Duration>,
    ) -> Result<Streaming<Rep>>
    where
        Req: prost::Message + Send + Sync + 'static,
        Rep: prost::Message + Default + Send + Sync + 'static,
    {
        let transport = self.transport().await;
        self.server_streaming_on(&*transport, None, path, request, timeout).await
    }

    /// [`Self::server_streaming`] for an rpc that passes or returns handles, in this process's
    /// session with the HERO's server.
    pub async fn server_streaming_in_session<Req, Rep>(
        &self,
        path: &'static str,
        request: Req,
        timeout: Option<Duration>,
    ) -> Result<(Streaming<Rep>, StubSession)>
    where
        Req: prost::Message + Send + Sync + 'static,
        Rep: prost::Message + Default + Send + Sync + 'static,
    {
        let transport = self.transport().await;
        let session = self.session_on(&*transport).await?;
        let replies = self.server_streaming_on(&*transport, Some(&session), path, request, timeout).await;
        Ok((self.in_session(replies, &session)?, StubSession(session)))
    }

    async fn server_streaming_on<Req, Rep>(
        &self,
        transport: &dyn Transport,
        session: Option<&Arc<ClientSession>>,
        path: &'static str,
        request: Req,
        timeout: Option<Duration>,
    ) -> Result<Streaming<Rep>>
    where
        Req: prost::Message + Send + Sync + 'static,
        Rep: prost::Message + Default + Send + Sync + 'static,
    {
        let call = self.outgoing(path, session, timeout);
        let replies = transport.server_stream(call, Box::new(request), open_replies::<Rep>).await;
        let replies = replies.and_then(|replies| message_of::<ItemStream<Rep>>(replies, path));
        Ok(until_deadline(replies.map_err(|error| self.went_away(error))?, path, timeout))
    }

    /// Calls a client-streaming rpc of the HERO: sends `requests` as the HERO reads them, then
    /// returns its one reply. The HERO may reply before `requests` ends.
    pub async fn client_streaming<Req, Rep>(
        &self,
        path: &'static str,
        requests: impl Stream<Item = Req> + Send + 'static,
        timeout: Option<Duration>,
    ) -> Result<Rep>
    where
        Req: prost::Message + Send + Sync + 'static,
        Rep: prost::Message + Default + Send + Sync + 'static,
    {
        let transport = self.transport().await;
        self.client_streaming_on(&*transport, None, path, requests, timeout).await
    }

    /// [`Self::client_streaming`] for an rpc that passes or returns handles, in this process's
    /// session with the HERO's server.
    pub async fn client_streaming_in_session<Req, Rep>(
        &self,
        path: &'static str,
        requests: impl Stream<Item = Req> + Send + 'static,
        timeout: Option<Duration>,
    ) -> Result<(Rep, StubSession)>
    where
        Req: prost::Message + Send + Sync + 'static,
        Rep: prost::Message + Default + Send + Sync + 'static,
    {
        let transport = self.transport().await;
        let session = self.session_on(&*transport).await?;
        let reply = self.client_streaming_on(&*transport, Some(&session), path, requests, timeout).await;
        Ok((self.in_session(reply, &session)?, StubSession(session)))
    }

    async fn client_streaming_on<Req, Rep>(
        &self,
        transport: &dyn Transport,
        session: Option<&Arc<ClientSession>>,
        path: &'static str,
        requests: impl Stream<Item = Req> + Send + 'static,
        timeout: Option<Duration>,
    ) -> Result<Rep>
    where
        Req: prost::Message + Send + Sync + 'static,
        Rep: prost::Message + Default + Send + Sync + 'static,
    {
        let call = self.outgoing(path, session, timeout);
        let requests = Box::new(Box::pin(requests) as RequestItems<Req>) as AnyMessage;
        let reply = async {
            let reply = transport.streaming(call, requests, open_upload::<Req, Rep>).await?;
            message_of::<Rep>(reply, path)
        };
        let reply = match timeout {
            None => reply.await,
            Some(timeout) => {
                tokio::time::timeout(timeout, reply).await.unwrap_or_else(|_| Err(timed_out(path, timeout)))
            }
        };
        reply.map_err(|error| self.went_away(error))
    }

    /// Calls a bidirectional rpc of the HERO: sends `requests` as the HERO reads them, and
    /// returns its replies as they come.
    pub async fn bidi_streaming<Req, Rep>(
        &self,
        path: &'static str,
        requests: impl Stream<Item = Req> + Send + 'static,
        timeout: Option<Duration>,
    ) -> Result<Streaming<Rep>>
    where
        Req: prost::Message + Send + Sync + 'static,
        Rep: prost::Message + Default + Send + Sync + 'static,
    {
        let transport = self.transport().await;
        self.bidi_streaming_on(&*transport, None, path, requests, timeout).await
    }

    /// [`Self::bidi_streaming`] for an rpc that passes or returns handles, in this process's
    /// session with the HERO's server.
    pub async fn bidi_streaming_in_session<Req, Rep>(
        &self,
        path: &'static str,
        requests: impl Stream<Item = Req> + Send + 'static,
        timeout: Option<Duration>,
    ) -> Result<(Streaming<Rep>, StubSession)>
    where
        Req: prost::Message + Send + Sync + 'static,
        Rep: prost::Message + Default + Send + Sync + 'static,
    {
        let transport = self.transport().await;
        let session = self.session_on(&*transport).await?;
        let replies = self.bidi_streaming_on(&*transport, Some(&session), path, requests, timeout).await;
        Ok((self.in_session(replies, &session)?, StubSession(session)))
    }

    async fn bidi_streaming_on<Req, Rep>(
        &self,
        transport: &dyn Transport,
        session: Option<&Arc<ClientSession>>,
        path: &'static str,
        requests: impl Stream<Item = Req> + Send + 'static,
        timeout: Option<Duration>,
    ) -> Result<Streaming<Rep>>
    where
        Req: prost::Message + Send + Sync + 'static,
        Rep: prost::Message + Default + Send + Sync + 'static,
    {
        let call = self.outgoing(path, session, timeout);
        let requests = Box::new(Box::pin(requests) as RequestItems<Req>) as AnyMessage;
        let replies = transport.streaming(call, requests, open_bidi::<Req, Rep>).await;
        let replies = replies.and_then(|replies| message_of::<ItemStream<Rep>>(replies, path));
        Ok(until_deadline(replies.map_err(|error| self.went_away(error))?, path, timeout))
    }

    fn outgoing(
        &self,
        path: &'static str,
        session: Option<&Arc<ClientSession>>,
        timeout: Option<Duration>,
    ) -> Outgoing<'_> {
        Outgoing { hero: self.addressee(), path, session: session.map(|s| s.header().clone()), timeout }
    }

    /// A call's outcome in `session`: a server that no longer knows the session has lost it,
    /// so the next call opens another.
    fn in_session<T>(&self, outcome: Result<T>, session: &ClientSession) -> Result<T> {
        if let Err(Error::Handle { problem: HandleProblem::UnknownSession, .. }) = &outcome {
            session.mark_dead();
        }
        outcome
    }
}

fn timed_out(path: &str, timeout: Duration) -> Error {
    Error::Timeout { message: format!("{path} took longer than {timeout:?}") }
}

/// `replies`, ended with DEADLINE_EXCEEDED when `timeout` has passed (the server ends the call
/// there too; this covers a server that stopped answering, and HEROs of this process).
fn until_deadline<Rep: Send + 'static>(
    replies: Streaming<Rep>,
    path: &'static str,
    timeout: Option<Duration>,
) -> Streaming<Rep> {
    let Some(timeout) = timeout else { return replies };
    Box::pin(UntilDeadline {
        replies: Some(replies),
        deadline: tokio::time::sleep(timeout),
        error: Some(timed_out(path, timeout)),
    })
}

pin_project_lite::pin_project! {
    /// A stream of replies that ends with an error when its deadline passes first.
    struct UntilDeadline<Rep> {
        replies: Option<Streaming<Rep>>,
        #[pin]
        deadline: tokio::time::Sleep,
        error: Option<Error>,
    }
}

impl<Rep> Stream for UntilDeadline<Rep> {
    type Item = Result<Rep>;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Rep>>> {
        use std::task::Poll;
        let this = self.project();
        let Some(replies) = this.replies.as_mut() else { return Poll::Ready(None) };
        if let Poll::Ready(item) = replies.as_mut().poll_next(cx) {
            return Poll::Ready(item);
        }
        if this.deadline.poll(cx).is_pending() {
            return Poll::Pending;
        }
        // Dropping the replies ends the call (over the network: RST_STREAM; in process: the
        // HERO's stream is dropped, which cancels its call).
        *this.replies = None;
        Poll::Ready(this.error.take().map(Err))
    }
}

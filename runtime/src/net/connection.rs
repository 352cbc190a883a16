//! One HTTP/2 connection from this process to a server, shared by every stub that calls it.
//!
//! tonic's `Channel` puts a buffer task between the caller and the connection: each call hops
//! from the caller's task to the buffer's and on to the connection's. hyper's `SendRequest`
//! hands the request to the connection task directly, one hop fewer per call; that hop was most
//! of the gap between a HERO call and raw tonic (BENCHMARKS.md).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioIo, TokioTimer};

use crate::error::{Error, Result};

/// HTTP/2 flow control: how much of one call's payload may be in the air before the receiver
/// says "more" (hyper's default, 1-2 MiB, stalls large payloads on every window update).
pub(crate) const STREAM_WINDOW: u32 = 16 * 1024 * 1024;
/// The same for all calls on one connection.
pub(crate) const CONNECTION_WINDOW: u32 = 32 * 1024 * 1024;
/// Largest HTTP/2 frame we accept (the default, 16 KiB, means a thousand frames per 16 MiB).
pub(crate) const MAX_FRAME: u32 = 1024 * 1024;

/// How long opening a TCP connection to a server may take.
pub(crate) const DIAL_TIMEOUT: Duration = Duration::from_secs(3);

/// A live connection to `endpoint`. Cheap to clone; all clones share it.
#[derive(Clone)]
pub(crate) struct Connection {
    endpoint: Arc<str>,
    origin: http::Uri,
    send: SendRequest<tonic::body::Body>,
    /// `authorization: Bearer <HEROS_TOKEN>`, sent with every call when the process has one.
    token: Option<http::HeaderValue>,
}

/// HTTP/2 over `io` (TCP, or TLS over TCP), its connection task started.
async fn handshake<I>(io: I, endpoint: &str) -> Result<SendRequest<tonic::body::Body>>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (send, connection) = hyper::client::conn::http2::Builder::new(BoxingExecutor)
        .timer(TokioTimer::new())
        .initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .max_frame_size(MAX_FRAME)
        .keep_alive_interval(Duration::from_secs(20))
        .keep_alive_while_idle(false)
        .handshake(TokioIo::new(io))
        .await
        .map_err(|e| Error::unavailable(format!("cannot connect to {endpoint}: {e}")))?;
    let task_endpoint = endpoint.to_owned();
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(endpoint = %task_endpoint, "connection ended: {error}");
        }
    });
    Ok(send)
}

impl Connection {
    /// Connects to `endpoint` (`http://host:port`), nodelay on, and starts the connection task
    /// on the current tokio runtime.
    pub(crate) async fn open(endpoint: &str) -> Result<Connection> {
        let uri: http::Uri =
            endpoint.parse().map_err(|e| Error::config(format!("'{endpoint}' is not an endpoint URL: {e}")))?;
        let authority = uri
            .authority()
            .filter(|_| uri.scheme_str() == Some("http"))
            .ok_or_else(|| Error::config(format!("'{endpoint}' is not an endpoint URL 'http://host:port'")))?;
        let refused = |e: &dyn std::fmt::Display| Error::unavailable(format!("cannot connect to {endpoint}: {e}"));
        let stream = tokio::time::timeout(DIAL_TIMEOUT, tokio::net::TcpStream::connect(authority.as_str()))
            .await
            .map_err(|_| refused(&format!("no answer within {DIAL_TIMEOUT:?}")))?
            .map_err(|e| refused(&e))?;
        // Without nodelay, small calls stall on Nagle's algorithm (40 ms each).
        stream.set_nodelay(true).map_err(|e| refused(&e))?;
        // The process's credentials (HEROS_CREDENTIALS / HEROS_TOKEN): TLS with the realm CA.
        let security = crate::security::process(|| crate::config::Config::from_env()?.security())?;
        let token = security.as_ref().and_then(|s| s.token.as_ref()).and_then(|t| t.header());
        let send = match security.as_ref().and_then(|s| s.tls.as_ref()) {
            Some(tls) => {
                let stream = tokio::time::timeout(DIAL_TIMEOUT, tls.connect(stream, endpoint))
                    .await
                    .map_err(|_| refused(&format!("no TLS handshake within {DIAL_TIMEOUT:?}")))??;
                handshake(stream, endpoint).await?
            }
            None => handshake(stream, endpoint).await?,
        };
        Ok(Connection { endpoint: endpoint.into(), origin: uri, send, token })
    }

    /// The connection broke or the server went away; a new one is needed.
    pub(crate) fn is_closed(&self) -> bool {
        self.send.is_closed()
    }

    /// The `http://host:port` origin requests are sent with.
    pub(crate) fn origin(&self) -> http::Uri {
        self.origin.clone()
    }

    /// A gRPC client on this connection.
    pub(crate) fn grpc(&self) -> tonic::client::Grpc<Connection> {
        tonic::client::Grpc::with_origin(self.clone(), self.origin())
    }
}

impl tower::Service<http::Request<tonic::body::Body>> for Connection {
    type Response = http::Response<hyper::body::Incoming>;
    type Error = tonic::Status;
    type Future = Pin<Box<dyn Future<Output = std::result::Result<Self::Response, tonic::Status>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<std::result::Result<(), tonic::Status>> {
        self.send.poll_ready(cx).map_err(|error| lost(&self.endpoint, &error))
    }

    fn call(&mut self, mut request: http::Request<tonic::body::Body>) -> Self::Future {
        if let Some(token) = &self.token {
            request.headers_mut().insert(crate::security::token::AUTHORIZATION, token.clone());
        }
        let response = self.send.send_request(request);
        let endpoint = self.endpoint.clone();
        Box::pin(async move { response.await.map_err(|error| lost(&endpoint, &error)) })
    }
}

/// Spawns hyper's futures boxed, as tonic's `Channel` does. hyper spawns two tasks per request
/// (one sends the body, one waits for the response), each as one enum of every future it spawns,
/// so each is as large as the largest of them, the connection task. Spawned unboxed, tokio moves
/// that whole size into the task and again when it ends; boxed, the task holds a pointer. About
/// 2000-2700 instructions less per call at 128 in flight (callgrind; BENCHMARKS.md, "128 calls
/// in flight").
#[derive(Clone, Copy, Debug)]
pub(crate) struct BoxingExecutor;

impl<F> hyper::rt::Executor<F> for BoxingExecutor
where
    F: Future<Output = ()> + Send + 'static,
{
    fn execute(&self, future: F) {
        tokio::spawn(Box::pin(future));
    }
}

/// A request that failed below gRPC (the connection broke, the server is gone) is UNAVAILABLE,
/// as the gRPC spec says; the stub then looks the HERO up again.
fn lost(endpoint: &str, error: &hyper::Error) -> tonic::Status {
    tonic::Status::unavailable(format!("connection to {endpoint} lost: {error}"))
}

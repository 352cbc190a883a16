//! One accepted connection, from its handshake to its close: HTTP/2 settings and keepalives,
//! the deadline for its first bytes, its calls (each request body read by `ReceivingBody`, each
//! reply by `ReplyBody`), a `grpc-timeout` per call, and its end: GOAWAY when it has been idle
//! for the idle timeout or when the server stops.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Sleep;
use tonic::transport::server::TcpConnectInfo;

use super::admission::{LogThrottle, Permit};
use super::handshake::HandshakeDeadline;
use super::receiving::{ReceiveRules, ReceivingBody};
use super::replying::{CallGuard, ConnectionState, ReplyBody};
use crate::error::Error;
use crate::limits::Limits;
use crate::net::connection::{BoxingExecutor, CONNECTION_WINDOW, MAX_FRAME, STREAM_WINDOW};
use crate::security::tls::{describe_refusal, Accepted};
use crate::security::{with_caller, Authenticated, Caller, Role, Security};
use crate::server::routing::{RouteFuture, SharedRouter};

/// How often an idle client connection is checked (HTTP/2 ping, TCP keepalive); a client that
/// does not answer within half of it is gone, and its sessions with it.
const CLIENT_KEEPALIVE: Duration = Duration::from_secs(20);

/// What HTTP/2 may buffer per stream before hyper asks the reply for more: two of the pieces
/// `ReplyBody` hands out, so that the next piece is always there when the one before has gone
/// (with hyper's 400 KiB, the stream stalled once per piece: a 16 MiB echo lost a third of its
/// speed).
const REPLY_SEND_BUFFER: usize = 2 * super::replying::PIECE;

/// Calls whose request is a stream that a client may keep open, idle, between messages (the
/// receive timeout then only runs while a message arrives). HERO methods take one message, but
/// for client-streaming and bidirectional ones (`HeroTable::streams_requests`).
const STREAMING_REQUEST_PATHS: &[&str] =
    &["/grpc.reflection.v1.ServerReflection/", "/grpc.reflection.v1alpha.ServerReflection/"];

/// Paths of the framework's services, the calls that are told who the peer is (sessions are
/// counted per peer address). HERO methods are not: the extension costs an allocation per call.
const FRAMEWORK_PATHS: &str = "/heros.v1.";

/// What every connection of a server shares.
pub(crate) struct Shared {
    pub(crate) router: SharedRouter,
    pub(crate) limits: Limits,
    /// TLS and token, for a secured server.
    pub(crate) security: Option<Arc<Security>>,
    /// Refused handshakes, logged at most every 10 s.
    pub(crate) refusals: LogThrottle,
}

/// Serves one accepted connection until it closes; `permit` is its place under the caps.
pub(crate) async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    permit: Permit,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
) {
    let limits = &shared.limits;
    // Without nodelay, small calls stall on Nagle's algorithm (44 ms each). Keepalives find
    // clients whose host vanished (power, network) instead of waiting for a TCP timeout.
    let _ = stream.set_nodelay(true);
    let keepalive = socket2::TcpKeepalive::new().with_time(CLIENT_KEEPALIVE).with_interval(CLIENT_KEEPALIVE / 4);
    let _ = socket2::SockRef::from(&stream).set_tcp_keepalive(&keepalive);
    let local = stream.local_addr().ok();
    let connect_info = TcpConnectInfo { local_addr: local, remote_addr: Some(peer) };
    let caller = Caller { peer: peer.ip(), auth: None };
    let Some(security) = shared.security.clone() else {
        let io = HandshakeDeadline::new(stream, limits.handshake_timeout);
        return serve_http(io, connect_info, caller, Guard::Open, permit, shared, stop).await;
    };
    let Some(tls) = &security.tls else {
        let io = HandshakeDeadline::new(stream, limits.handshake_timeout);
        let guard = Guard::Token(security.clone());
        return serve_http(io, connect_info, caller, guard, permit, shared, stop).await;
    };
    // TLS first, inside the handshake timeout; then the HTTP/2 preface within what is left.
    let started = tokio::time::Instant::now();
    let accepted = match tokio::time::timeout(limits.handshake_timeout, tls.accept(stream)).await {
        Ok(Ok(accepted)) => accepted,
        Ok(Err(error)) => {
            shared.refusals.log(|count| tracing::warn!(count, "{}", describe_refusal(peer, &error)));
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "no TLS handshake within the handshake timeout (HEROS_HANDSHAKE_TIMEOUT_MS)");
            return;
        }
    };
    let left = limits.handshake_timeout.saturating_sub(started.elapsed());
    match accepted {
        Accepted::Plaintext(stream) => {
            shared.refusals.log(|count| {
                tracing::warn!(count, %peer, "a plaintext client in a secured realm: its calls are refused (UNAUTHENTICATED)")
            });
            let guard = Guard::Refuse(Error::Unauthenticated {
                message: "this server is in a secured realm and takes only TLS with a certificate of its realm CA; \
                          give the client credentials (HEROS_CREDENTIALS, `heros realm issue`)"
                    .into(),
            });
            serve_http(HandshakeDeadline::new(stream, left), connect_info, caller, guard, permit, shared, stop).await
        }
        Accepted::Tls(stream, certificate) => {
            let guard = if tls.denylist.revoked(&certificate.serial) {
                shared.refusals.log(|count| {
                    tracing::warn!(count, %peer, serial = %certificate.serial, name = %certificate.name, "a revoked certificate (denylist): its calls are refused")
                });
                Guard::Refuse(Error::Unauthenticated {
                    message: format!(
                        "certificate {} ('{}') is revoked (denylist)",
                        certificate.serial, certificate.name
                    ),
                })
            } else {
                Guard::Token(security.clone())
            };
            let auth = Authenticated {
                identity: format!("{}#{}", certificate.name, certificate.serial),
                role: certificate.role,
            };
            let caller = Caller { peer: peer.ip(), auth: Some(Arc::new(auth)) };
            serve_http(HandshakeDeadline::new(*stream, left), connect_info, caller, guard, permit, shared, stop).await
        }
    }
}

/// Serves HTTP/2 on an accepted (and, for a secured server, TLS-wrapped) socket.
async fn serve_http<S>(
    io: HandshakeDeadline<S>,
    connect_info: TcpConnectInfo,
    mut caller: Caller,
    guard: Guard,
    permit: Permit,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let limits = &shared.limits;
    let peer = caller.peer;
    // With a token but no certificate, everyone who has the token is one operator; sessions are
    // then told apart by address.
    if let (Guard::Token(security), None) = (&guard, &caller.auth) {
        if security.token.is_some() {
            caller.auth = Some(Arc::new(Authenticated { identity: format!("token@{peer}"), role: Role::Operate }));
        }
    }
    // A guard that checks nothing is no guard: the plain path pays nothing per call.
    let guard = match guard {
        Guard::Token(security)
            if security.token.is_none() && caller.auth.as_ref().is_none_or(|a| a.role == Role::Operate) =>
        {
            Guard::Open
        }
        guard => guard,
    };
    let state = Arc::new(ConnectionState::new(limits.max_unread_reply_bytes));
    let service = ConnectionService {
        router: shared.router.clone(),
        state: state.clone(),
        rules: ReceiveRules {
            budget: permit.receiving.clone(),
            budget_size: limits.receiving_budget(),
            max_message_size: limits.max_message_size,
            timeout: limits.receive_timeout,
        },
        connect_info,
        caller,
        guard: Arc::new(guard),
    };
    let io = TokioIo::new(io);
    let mut builder = hyper::server::conn::http2::Builder::new(BoxingExecutor);
    builder
        .timer(TokioTimer::new())
        .initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .max_frame_size(MAX_FRAME)
        .keep_alive_interval(CLIENT_KEEPALIVE)
        .keep_alive_timeout(CLIENT_KEEPALIVE / 2)
        .max_concurrent_streams(limits.max_concurrent_streams)
        .max_send_buf_size(REPLY_SEND_BUFFER);
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    // Why the connection should close (idle, or the server stops) is watched by a task of its
    // own: in the `select!` below its futures were polled again on every wake-up of the
    // connection, once per reply frame of a stream (a timer and a watch's lock each time; in an
    // experiment the server stream of small messages ran at a median 0.79x raw tonic with them,
    // 0.93x without; BENCHMARKS.md). The watcher ends with this connection.
    let (close, mut closing_reason) = tokio::sync::oneshot::channel();
    let idle_timeout = limits.idle_timeout;
    let _watcher = AbortOnDrop(tokio::spawn(async move {
        let reason = tokio::select! {
            () = idle(state, idle_timeout) => Closing::Idle,
            _ = stop.wait_for(|stop| *stop) => Closing::Stop,
        };
        let _ = close.send(reason);
    }));
    let mut closing = false;
    loop {
        tokio::select! {
            biased;
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%peer, "connection ended: {error}");
                }
                break;
            }
            reason = &mut closing_reason, if !closing => {
                if let Ok(Closing::Idle) = reason {
                    tracing::debug!(%peer, "closing a connection idle for {idle_timeout:?} (HEROS_IDLE_TIMEOUT_MS)");
                }
                // A watcher gone without a reason (the runtime shutting down) closes too.
                connection.as_mut().graceful_shutdown();
                closing = true;
            }
        }
    }
    drop(permit);
}

/// What a connection checks on each call before routing it.
enum Guard {
    /// Nothing: an unsecured server, or an operator's TLS connection without a token.
    Open,
    /// Every call is refused with this error (a plaintext or revoked peer of a secured server).
    Refuse(Error),
    /// The token (if the server has one) and the caller's role.
    Token(Arc<Security>),
}

/// A task that is aborted when this is dropped, however its owner ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Why a connection is being closed.
enum Closing {
    /// No call for the idle timeout.
    Idle,
    /// The server stops.
    Stop,
}

/// Resolves once the connection has had no call open and none started for a whole `period`
/// (so between one and two periods after its last call).
async fn idle(state: Arc<ConnectionState>, period: Duration) {
    let mut seen = state.calls().1;
    loop {
        tokio::time::sleep(period).await;
        let (open, started) = state.calls();
        if open == 0 && started == seen {
            return;
        }
        seen = started;
    }
}

/// The service hyper runs for each request of one connection.
#[derive(Clone)]
struct ConnectionService {
    router: SharedRouter,
    state: Arc<ConnectionState>,
    rules: ReceiveRules,
    connect_info: TcpConnectInfo,
    /// Who calls, for the calls' task-local (`security::Caller`).
    caller: Caller,
    guard: Arc<Guard>,
}

impl ConnectionService {
    /// The error that refuses a call at once, if the guard has one.
    fn refusal(&self, parts: &http::request::Parts) -> Option<Error> {
        match &*self.guard {
            Guard::Open => None,
            Guard::Refuse(error) => Some(error.clone()),
            Guard::Token(security) => {
                if let Some(token) = &security.token {
                    if !token.accepts(parts.headers.get(crate::security::token::AUTHORIZATION)) {
                        return Some(Error::Unauthenticated {
                            message: "this server needs the realm's token: 'authorization: Bearer <HEROS_TOKEN>'"
                                .into(),
                        });
                    }
                }
                let role = self.caller.auth.as_ref().map_or(Role::Operate, |auth| auth.role);
                crate::server::access::check(&self.router.0.table, parts.uri.path(), role).err()
            }
        }
    }
}

impl hyper::service::Service<http::Request<Incoming>> for ConnectionService {
    type Response = http::Response<ReplyBody>;
    type Error = Infallible;
    type Future = CallFuture;

    fn call(&self, request: http::Request<Incoming>) -> CallFuture {
        let call = CallGuard::enter(&self.state);
        let (mut parts, body) = request.into_parts();
        if let Some(refused) = self.refusal(&parts) {
            let reply: RouteFuture = Box::pin(std::future::ready(Ok(refused.to_status().into_http())));
            return CallFuture { reply, call: Some(call), deadline: None, caller: self.caller.clone() };
        }
        if parts.uri.path().starts_with(FRAMEWORK_PATHS) {
            parts.extensions.insert(self.connect_info.clone());
        }
        let deadline = grpc_timeout(&parts.headers).map(|timeout| Box::pin(tokio::time::sleep(timeout)));
        let path = parts.uri.path();
        let streaming = STREAMING_REQUEST_PATHS.iter().any(|prefix| path.starts_with(prefix))
            || self.router.0.table.streams_requests(path);
        let body = tonic::body::Body::new(ReceivingBody::new(body, self.rules.clone(), streaming));
        let reply = self.router.route(http::Request::from_parts(parts, body));
        CallFuture { reply, call: Some(call), deadline, caller: self.caller.clone() }
    }
}

/// A call until its reply's headers: the router's future, cut at the caller's deadline.
pub(crate) struct CallFuture {
    reply: RouteFuture,
    call: Option<CallGuard>,
    deadline: Option<Pin<Box<Sleep>>>,
    /// Set as the task-local caller while the router's future runs.
    caller: Caller,
}

impl Future for CallFuture {
    type Output = Result<http::Response<ReplyBody>, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let response = match with_caller(&this.caller, || this.reply.as_mut().poll(cx)) {
            Poll::Ready(Ok(response)) => response,
            Poll::Ready(Err(never)) => match never {},
            Poll::Pending => {
                let Some(deadline) = this.deadline.as_mut() else { return Poll::Pending };
                if deadline.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                // Dropping the router's future cancels the HERO's method.
                Error::Timeout { message: "the call's deadline (grpc-timeout) passed on the server".into() }
                    .to_status()
                    .into_http()
            }
        };
        let call = this.call.take().expect("a call future is polled to completion once");
        let (parts, body) = response.into_parts();
        // The deadline covers the whole call: a stream's reply ends there too.
        let mut body = ReplyBody::new(body, call, this.deadline.take());
        let response = match body.take_ahead(cx) {
            Ok(()) => http::Response::from_parts(parts, body),
            Err(refused) => refused.to_status().into_http::<()>().map(|()| body),
        };
        Poll::Ready(Ok(response))
    }
}

/// The caller's deadline from `grpc-timeout` ("<digits><unit>", at most 8 digits; units H, M,
/// S, m, u, n), if it sent one.
pub(crate) fn grpc_timeout(headers: &http::HeaderMap) -> Option<Duration> {
    const GRPC_TIMEOUT: http::HeaderName = http::HeaderName::from_static("grpc-timeout");
    let value = headers.get(GRPC_TIMEOUT)?.as_bytes();
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    let amount: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(match unit {
        b"H" => Duration::from_secs(amount * 3600),
        b"M" => Duration::from_secs(amount * 60),
        b"S" => Duration::from_secs(amount),
        b"m" => Duration::from_millis(amount),
        b"u" => Duration::from_micros(amount),
        b"n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::grpc_timeout;
    use std::time::Duration;

    #[test]
    fn grpc_timeouts() {
        let parse = |value: &'static str| {
            let mut headers = http::HeaderMap::new();
            headers.insert("grpc-timeout", http::HeaderValue::from_static(value));
            grpc_timeout(&headers)
        };
        assert_eq!(parse("1S"), Some(Duration::from_secs(1)));
        assert_eq!(parse("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(parse("5u"), Some(Duration::from_micros(5)));
        for bad in ["S", "123456789S", "1x", "-1S", ""] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        assert_eq!(grpc_timeout(&http::HeaderMap::new()), None);
    }
}

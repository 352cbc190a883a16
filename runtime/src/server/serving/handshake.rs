//! A deadline for the start of a connection. hyper waits for a client's HTTP/2 preface for as
//! long as the socket stays open, so a peer that connects and says nothing holds a descriptor
//! forever; a thousand of them used to lock every client out. The socket here fails its reads
//! once the deadline passes before the preface and the first frame header have arrived, and
//! hyper then closes the connection.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// The client preface (24 bytes) and the header of its SETTINGS frame (9 bytes): a peer that
/// sent this much speaks HTTP/2; from then on HTTP/2's own keepalives watch it.
const HANDSHAKE_BYTES: usize = 24 + 9;

/// A socket whose first [`HANDSHAKE_BYTES`] must arrive before a deadline.
pub(crate) struct HandshakeDeadline<S> {
    inner: S,
    received: usize,
    /// Dropped once the handshake bytes are in, so later reads pay nothing.
    deadline: Option<Pin<Box<Sleep>>>,
}

impl<S> HandshakeDeadline<S> {
    pub(crate) fn new(inner: S, timeout: Duration) -> Self {
        HandshakeDeadline { inner, received: 0, deadline: Some(Box::pin(tokio::time::sleep(timeout))) }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for HandshakeDeadline<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if this.deadline.is_some() {
                    this.received += buf.filled().len() - before;
                    if this.received >= HANDSHAKE_BYTES {
                        this.deadline = None;
                    }
                }
                Poll::Ready(result)
            }
            Poll::Pending => {
                let Some(deadline) = this.deadline.as_mut() else { return Poll::Pending };
                ready!(deadline.as_mut().poll(cx));
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no HTTP/2 preface and SETTINGS within the handshake timeout (HEROS_HANDSHAKE_TIMEOUT_MS)",
                )))
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for HandshakeDeadline<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test(start_paused = true)]
    async fn a_silent_peer_fails_at_the_deadline_and_a_talking_one_never() {
        let (mut peer, socket) = tokio::io::duplex(1024);
        let mut silent = HandshakeDeadline::new(socket, Duration::from_secs(5));
        let mut byte = [0u8; 1];
        let error = silent.read(&mut byte).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        peer.write_all(b"x").await.unwrap(); // keep `peer` alive until here

        let (mut peer, socket) = tokio::io::duplex(1024);
        let mut talking = HandshakeDeadline::new(socket, Duration::from_secs(5));
        peer.write_all(&[0u8; HANDSHAKE_BYTES]).await.unwrap();
        let mut handshake = [0u8; HANDSHAKE_BYTES];
        talking.read_exact(&mut handshake).await.unwrap();
        let read = tokio::spawn(async move { talking.read(&mut byte).await.map(|_| byte[0]) });
        tokio::time::sleep(Duration::from_secs(60)).await;
        peer.write_all(b"z").await.unwrap();
        assert_eq!(read.await.unwrap().unwrap(), b'z', "after the handshake, silence is allowed");
    }
}

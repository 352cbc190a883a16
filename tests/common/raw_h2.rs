//! HTTP/2 frames written by hand, for the attacks no HTTP/2 library would make: streams beyond
//! the server's limit, connections that stop after the preface. Headers are sent as HPACK
//! literals without indexing, so no encoder state is needed.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const GOAWAY: u8 = 0x7;
pub const SETTINGS_MAX_CONCURRENT_STREAMS: u16 = 0x3;

const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const ACK: u8 = 0x1;

/// One frame as read.
#[derive(Debug)]
pub struct Frame {
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
    pub payload: Vec<u8>,
}

impl Frame {
    /// The settings of a SETTINGS frame, as (identifier, value).
    pub fn settings(&self) -> Vec<(u16, u32)> {
        self.payload
            .chunks_exact(6)
            .map(|s| (u16::from_be_bytes([s[0], s[1]]), u32::from_be_bytes([s[2], s[3], s[4], s[5]])))
            .collect()
    }
}

/// A client connection that speaks frames.
pub struct RawH2 {
    pub socket: TcpStream,
    /// The server's first SETTINGS.
    pub server_settings: Vec<(u16, u32)>,
}

impl RawH2 {
    /// Connects, sends the preface and empty SETTINGS, and acknowledges the server's.
    pub async fn connect(server: SocketAddr) -> std::io::Result<RawH2> {
        Self::handshake(TcpStream::connect(server).await?).await
    }

    /// Like [`RawH2::connect`], from the loopback address `source`.
    pub async fn connect_from(source: std::net::IpAddr, server: SocketAddr) -> std::io::Result<RawH2> {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(source, 0))?;
        Self::handshake(socket.connect(server).await?).await
    }

    async fn handshake(mut socket: TcpStream) -> std::io::Result<RawH2> {
        socket.write_all(PREFACE).await?;
        let mut raw = RawH2 { socket, server_settings: Vec::new() };
        raw.frame(SETTINGS, 0, 0, &[]).await?;
        loop {
            let frame = raw.read().await?;
            if frame.kind == SETTINGS && frame.flags & ACK == 0 {
                raw.server_settings = frame.settings();
                raw.frame(SETTINGS, ACK, 0, &[]).await?;
                return Ok(raw);
            }
        }
    }

    pub async fn frame(&mut self, kind: u8, flags: u8, stream: u32, payload: &[u8]) -> std::io::Result<()> {
        let length = payload.len() as u32;
        let mut header = [0u8; 9];
        header[..3].copy_from_slice(&length.to_be_bytes()[1..]);
        header[3] = kind;
        header[4] = flags;
        header[5..].copy_from_slice(&stream.to_be_bytes());
        self.socket.write_all(&header).await?;
        self.socket.write_all(payload).await
    }

    /// Opens stream `stream` with a gRPC request to `path`; `end_stream` closes it at once.
    pub async fn request(&mut self, stream: u32, path: &str, end_stream: bool) -> std::io::Result<()> {
        let mut block = Vec::new();
        for (name, value) in [
            (":method", "POST"),
            (":scheme", "http"),
            (":path", path),
            (":authority", "localhost"),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
        ] {
            literal(&mut block, name, value);
        }
        let flags = END_HEADERS | if end_stream { END_STREAM } else { 0 };
        self.frame(HEADERS, flags, stream, &block).await
    }

    pub async fn data(&mut self, stream: u32, bytes: &[u8], end_stream: bool) -> std::io::Result<()> {
        self.frame(DATA, if end_stream { END_STREAM } else { 0 }, stream, bytes).await
    }

    pub async fn read(&mut self) -> std::io::Result<Frame> {
        let mut header = [0u8; 9];
        self.socket.read_exact(&mut header).await?;
        let length = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
        let mut payload = vec![0u8; length];
        self.socket.read_exact(&mut payload).await?;
        let stream = u32::from_be_bytes([header[5], header[6], header[7], header[8]]) & 0x7fff_ffff;
        Ok(Frame { kind: header[3], flags: header[4], stream, payload })
    }
}

/// An HPACK "literal header field without indexing, new name".
fn literal(block: &mut Vec<u8>, name: &str, value: &str) {
    block.push(0x00);
    for text in [name, value] {
        integer(block, text.len(), 7, 0x00);
        block.extend_from_slice(text.as_bytes());
    }
}

/// An HPACK integer with an `n`-bit prefix (RFC 7541 §5.1).
fn integer(block: &mut Vec<u8>, mut value: usize, n: u32, flags: u8) {
    let max = (1usize << n) - 1;
    if value < max {
        block.push(flags | value as u8);
        return;
    }
    block.push(flags | max as u8);
    value -= max;
    while value >= 128 {
        block.push((value % 128 + 128) as u8);
        value /= 128;
    }
    block.push(value as u8);
}

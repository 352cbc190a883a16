//! The floor: 16 bytes bounced between two processes over TCP loopback with blocking sockets,
//! nothing else in the way. No RPC stack can answer faster than this on the same machine.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

const MESSAGE: usize = 16;

/// Serves ping-pong on a thread of its own (one connection at a time) and returns its address.
pub(crate) fn serve() -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let address = listener.local_addr()?;
    std::thread::Builder::new().name("floor".into()).spawn(move || {
        for stream in listener.incoming().flatten() {
            let _ = bounce(stream);
        }
    })?;
    Ok(address)
}

fn bounce(mut stream: TcpStream) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut message = [0u8; MESSAGE];
    loop {
        stream.read_exact(&mut message)?;
        stream.write_all(&message)?;
    }
}

/// The client end of the ping-pong.
pub(crate) struct FloorClient {
    stream: TcpStream,
}

impl FloorClient {
    pub(crate) fn connect(address: SocketAddr) -> std::io::Result<FloorClient> {
        let stream = TcpStream::connect(address)?;
        stream.set_nodelay(true)?;
        Ok(FloorClient { stream })
    }

    /// Round-trip times of `count` ping-pongs (blocking; run it off the async workers).
    pub(crate) fn round_trips(&mut self, count: usize) -> std::io::Result<Vec<Duration>> {
        let mut message = [7u8; MESSAGE];
        let mut times = Vec::with_capacity(count);
        for _ in 0..count {
            let started = Instant::now();
            self.stream.write_all(&message)?;
            self.stream.read_exact(&mut message)?;
            times.push(started.elapsed());
        }
        Ok(times)
    }
}

//! One client can neither lock a server out nor pin its memory (issue 12). Each test runs an
//! attack from this process against a real server on loopback (the attacker's sockets come from
//! 127.0.0.2 where the server must tell peers apart) and checks the defence: the limit that
//! bites, what the attacker sees, and what the server holds while it runs. RELIABILITY.md has
//! the figures these tests print (`cargo nextest run --test hardening --no-capture`).

mod common;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::raw_h2::{self, RawH2};
use common::{proto, within, TestHero};
use heros::{Hero, Limits, Server};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

const MIB: usize = 1024 * 1024;

#[test]
fn hero_process() {
    common::process::hero_process_role();
}

/// A server on 127.0.0.1 with these limits and a TestHero called `hero`.
async fn server_with(limits: Limits) -> (Server, heros::LocalHero, Arc<TestHero>) {
    let server = common::limited_server(limits).await;
    let object = Arc::new(TestHero::new(0));
    let hero =
        server.share(Hero::new("hero").interface(proto::TestObjectServer::from_arc(object.clone()))).await.unwrap();
    (server, hero, object)
}

/// Reads (and drops) what the server sends until it closes the connection; false if it has
/// not closed it within `limit`.
async fn until_closed(socket: &mut TcpStream, limit: Duration) -> bool {
    let mut buffer = [0u8; 1024];
    let read_to_end = async {
        while let Ok(n @ 1..) = socket.read(&mut buffer).await {
            let _ = n;
        }
    };
    tokio::time::timeout(limit, read_to_end).await.is_ok()
}

/// A TCP connection from `source` (a loopback address other than the server's own client's).
async fn connect_from(source: IpAddr, server: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source, 0))?;
    socket.connect(server).await
}

fn attacker() -> IpAddr {
    "127.0.0.2".parse().unwrap()
}

/// This process's memory, from /proc: (resident, virtual) in MiB.
fn memory_mib(pid: Option<u32>) -> (f64, f64) {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/status"),
        None => "/proc/self/status".to_owned(),
    };
    let status = std::fs::read_to_string(path).unwrap();
    let field = |name: &str| -> f64 {
        let line = status.lines().find(|l| l.starts_with(name)).unwrap();
        line.split_whitespace().nth(1).unwrap().parse::<f64>().unwrap() / 1024.0
    };
    (field("VmRSS:"), field("VmSize:"))
}

/// CPU time (user + system) a process has used.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 1000 / rustix::param::clock_ticks_per_second())
}

/// A HERO process (a TestHero, on 127.0.0.1 without mDNS) whose open-files limit is `(soft,
/// hard)`, with `env` besides; its URL and address.
fn hero_process_with_files(
    (soft, hard): (u32, u32),
    env: &[(&str, &str)],
) -> (common::process::HeroProcess, String, SocketAddr) {
    let mut command = std::process::Command::new("sh");
    let script = format!("ulimit -Sn {soft} && ulimit -Hn {hard} && exec \"$0\" \"$@\"");
    command.args(["-c", &script]).arg(std::env::current_exe().unwrap());
    let mut env = env.to_vec();
    env.extend([("HEROS_DISCOVERY", "off"), ("HEROS_BIND", "127.0.0.1:0")]);
    let process = common::process::HeroProcess::start_with(command, "target", &env);
    assert!(process.ready(), "{}", process.first_line);
    let url = process.first_line.trim_start_matches("READY ").trim().to_owned();
    let address = url.trim_start_matches("heros://").split('/').next().unwrap().parse().unwrap();
    (process, url, address)
}

/// Raises this process's open-files limit, so that it can play a thousand clients.
fn allow_many_sockets() {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    // Root may raise the hard limit too, where a machine's is low.
    if limit.maximum.is_some_and(|hard| hard < 8192) {
        let raised = rustix::process::Rlimit { current: Some(8192), maximum: Some(8192) };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            return;
        }
    }
    limit.current = limit.maximum;
    setrlimit(Resource::Nofile, limit).unwrap();
}

/// An HTTP/2 client (the h2 crate) on a new connection, with HTTP/2's default windows (64 KiB):
/// what it does not read stays with the server.
async fn h2_client(server: SocketAddr) -> h2::client::SendRequest<Bytes> {
    let socket = TcpStream::connect(server).await.unwrap();
    let (send, connection) = h2::client::handshake(socket).await.unwrap();
    tokio::spawn(async move {
        let _ = connection.await;
    });
    send.ready().await.unwrap()
}

fn grpc_request(path: &str) -> http::Request<()> {
    http::Request::post(format!("http://localhost{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("heros-name", "hero")
        .body(())
        .unwrap()
}

/// A ReadTemp request as a gRPC message (prefix and bytes).
fn read_temp_message(min: i32, max: i32) -> Bytes {
    let request = proto::ReadTempRequest { min, max };
    let mut message = prefix(prost::Message::encoded_len(&request)).to_vec();
    message.extend(prost::Message::encode_to_vec(&request));
    message.into()
}

/// A gRPC message prefix announcing `length` bytes.
fn prefix(length: usize) -> Bytes {
    let mut prefix = vec![0u8];
    prefix.extend_from_slice(&(length as u32).to_be_bytes());
    prefix.into()
}

/// The status a call ended with: from a trailers-only response, or from the trailers after
/// its body (which is read and let go, opening the window as it goes).
async fn status_of(response: h2::client::ResponseFuture) -> tonic::Status {
    let response = response.await.unwrap();
    if let Some(status) = tonic::Status::from_header_map(response.headers()) {
        return status;
    }
    let mut body = response.into_body();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.unwrap();
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    let trailers = body.trailers().await.unwrap().expect("trailers");
    tonic::Status::from_header_map(&trailers).expect("a grpc-status")
}

fn limit_of(status: &tonic::Status) -> String {
    let detail = heros::detail_of(status).expect("an ErrorDetail");
    assert_eq!(detail.kind, "LIMIT_REACHED", "{status:?}");
    detail.context["limit"].clone()
}

// ---------------------------------------------------------------------------------------------
// Connections
// ---------------------------------------------------------------------------------------------

/// 1,100 silent sockets against a server whose soft open-files limit is 1,024: it raises the
/// limit, keeps answering, closes them at the handshake timeout, and does not spin meanwhile.
#[tokio::test]
async fn silent_sockets_neither_lock_out_nor_spin() {
    allow_many_sockets();
    let (process, url, address) = hero_process_with_files(
        (1024, 4096),
        &[("HEROS_HANDSHAKE_TIMEOUT_MS", "8000"), ("HEROS_MAX_CONNECTIONS_PER_PEER", "2000")],
    );
    let pid = process.pid();

    let started = Instant::now();
    let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let descriptors = tokio::spawn({
        let sampling = sampling.clone();
        async move {
            let mut peak = 0;
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count()));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            peak
        }
    });
    let mut silent = Vec::new();
    for _ in 0..1100 {
        silent.push(connect_from(attacker(), address).await.unwrap());
    }
    let connected = started.elapsed();
    let cpu_before = cpu_time(pid);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stub = proto::TestObjectRemote::connect(&url).await.unwrap();
    let call = Instant::now();
    let answer = tokio::time::timeout(Duration::from_secs(1), stub.read_temp(0, 10)).await;
    let call = call.elapsed();
    assert_eq!(answer.expect("answered within 1 s while 1,100 sockets are held").unwrap(), 5.0);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let cpu = cpu_time(pid) - cpu_before;
    let window = Duration::from_millis(2000);
    assert!(cpu < window / 4, "the server used {cpu:?} of CPU in {window:?} while holding silent sockets");
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    let open_files = descriptors.await.unwrap();
    assert!(open_files > 1100, "the server held them all at once ({open_files} descriptors)");

    // Every silent socket is closed by the server at the handshake timeout (8 s after it was
    // accepted). One deadline for all of them, not a wait per socket: the first socket's wait
    // starts about 2.5 s into those 8 s, so a fixed per-socket limit below 5.5 s would fail
    // on a fast machine.
    let all_closed_by = started + connected + Duration::from_secs(8) + Duration::from_secs(5);
    let mut closed = 0;
    for socket in &mut silent {
        let left = all_closed_by.saturating_duration_since(Instant::now());
        if until_closed(socket, left.max(Duration::from_millis(10))).await {
            closed += 1;
        }
    }
    let recovered = started.elapsed();
    assert_eq!(closed, 1100, "silent sockets closed by the server");
    println!(
        "FIGURES silent sockets: 1100 connected in {connected:?} and held (server descriptors at the peak: {open_files}, soft limit 1024 raised), \
         call answered in {call:?}, server CPU {cpu:?} over {window:?}, all closed {recovered:?} after the attack began"
    );
    process.leave();
}

/// A server whose process has no descriptor left cannot accept: it backs off instead of
/// retrying at once (tonic's loop spun one core at 100%).
#[tokio::test]
async fn accepting_without_descriptors_backs_off_instead_of_spinning() {
    let (process, _, address) = hero_process_with_files((256, 256), &[("HEROS_TEST_USE_ALL_FILES", "1")]);
    let pid = process.pid();
    // The connections wait in the listen backlog; every accept fails with EMFILE.
    let mut waiting = Vec::new();
    for _ in 0..10 {
        waiting.push(connect_from(attacker(), address).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = cpu_time(pid);
    let window = Duration::from_secs(2);
    tokio::time::sleep(window).await;
    let cpu = cpu_time(pid) - before;
    assert!(cpu < window / 4, "the server used {cpu:?} of CPU in {window:?} failing to accept");
    println!("FIGURES accept back-off: server CPU {cpu:?} over {window:?} while every accept failed with EMFILE");
}

/// One peer gets at most `max_connections_per_peer` connections; the next ones are closed at
/// once, and other peers are not affected.
#[tokio::test]
async fn connections_per_peer_and_in_total_are_capped() {
    let limits = Limits { max_connections_per_peer: 4, max_connections: 6, ..Limits::default() };
    let (server, hero, _) = server_with(limits).await;
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(RawH2::connect_from(attacker(), server.local_addr()).await.unwrap());
    }
    let mut refused = connect_from(attacker(), server.local_addr()).await.unwrap();
    assert!(
        until_closed(&mut refused, Duration::from_secs(5)).await,
        "the fifth connection of one peer is closed at once"
    );

    let stub = proto::TestObjectRemote::connect(&hero.url()).await.unwrap();
    assert_eq!(stub.read_temp(0, 2).await.unwrap(), 1.0, "another peer is served");
    // Five connections now (four from the attacker, the stub's); a sixth from a third address
    // fits, a seventh does not.
    let _sixth = RawH2::connect_from("127.0.0.3".parse().unwrap(), server.local_addr()).await.unwrap();
    let mut seventh = connect_from("127.0.0.4".parse().unwrap(), server.local_addr()).await.unwrap();
    assert!(until_closed(&mut seventh, Duration::from_secs(5)).await, "above the total cap: closed at once");
    assert_eq!(server.connections(), 6);
    drop(held);
    within(5, async {
        while server.connections() > 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

/// A connection without calls is closed with GOAWAY after the idle timeout; one with a call
/// open is not.
#[tokio::test]
async fn idle_connections_get_goaway_and_busy_ones_do_not() {
    let limits = Limits { idle_timeout: Duration::from_millis(300), ..Limits::default() };
    let (server, _hero, object) = server_with(limits).await;
    let mut idle = RawH2::connect(server.local_addr()).await.unwrap();
    let opened = Instant::now();
    let goaway = within(5, async {
        loop {
            let frame = idle.read().await.unwrap();
            if frame.kind == raw_h2::GOAWAY {
                return frame;
            }
        }
    })
    .await;
    let after = opened.elapsed();
    assert!(after >= Duration::from_millis(300), "GOAWAY came after {after:?}, before the idle timeout");
    assert_eq!(goaway.stream, 0);

    // A call held open for four idle timeouts keeps its connection.
    let mut busy = h2_client(server.local_addr()).await;
    let (response, mut body) = busy.send_request(grpc_request("/examples.v1.TestObject/ReadTemp"), false).unwrap();
    body.send_data(read_temp_message(-1, -1), true).unwrap();
    within(5, object.entered.notified()).await;
    // The idle timeout is a timer of this runtime (the server runs in this process) and nothing is
    // in flight while the call waits at its gate: paused time lets four timeouts pass at once.
    tokio::time::pause();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    tokio::time::resume();
    object.gate.notify_one();
    let status = within(5, status_of(response)).await;
    assert_eq!(status.code(), tonic::Code::Ok, "the busy call finished: {status:?}");
    // A connection closed while busy would still finish that call (GOAWAY lets it end), but it
    // would take no new one.
    let mut busy = within(5, busy.ready()).await.expect("the busy connection still takes calls");
    let (response, mut body) = busy.send_request(grpc_request("/examples.v1.TestObject/ReadTemp"), false).unwrap();
    body.send_data(read_temp_message(0, 2), true).unwrap();
    let status = within(5, status_of(response)).await;
    assert_eq!(status.code(), tonic::Code::Ok, "the busy connection was kept: {status:?}");
    println!("FIGURES idle: GOAWAY {after:?} after the last activity with HEROS_IDLE_TIMEOUT_MS=300");
}

// ---------------------------------------------------------------------------------------------
// Streams and memory
// ---------------------------------------------------------------------------------------------

/// 1,000 streams opened at once and never finished: the server advertises and enforces its
/// stream limit (the rest are refused) and ends the ones it took at the receive timeout.
#[tokio::test]
async fn unfinished_streams_are_limited_and_time_out() {
    let limits = Limits { receive_timeout: Duration::from_secs(1), ..Limits::default() };
    let max = limits.max_concurrent_streams;
    let (server, _hero, _) = server_with(limits).await;
    let rss_before = memory_mib(None).0;
    let mut raw = RawH2::connect(server.local_addr()).await.unwrap();
    assert!(
        raw.server_settings.contains(&(raw_h2::SETTINGS_MAX_CONCURRENT_STREAMS, max)),
        "advertised: {:?}",
        raw.server_settings
    );
    let started = Instant::now();
    for stream in 0..1000u32 {
        raw.request(2 * stream + 1, "/examples.v1.TestObject/ReadTemp", false).await.unwrap();
    }
    let (mut refused, mut ended, mut first_end) = (0, 0, None);
    let mut rss_during: f64 = 0.0;
    within(10, async {
        while refused + ended < 1000 && ended <= max as usize {
            let frame = raw.read().await.unwrap();
            match frame.kind {
                // REFUSED_STREAM; a stream the server answered early is also reset, NO_ERROR.
                raw_h2::RST_STREAM if frame.payload == [0, 0, 0, 7] => refused += 1,
                raw_h2::HEADERS if frame.flags & 0x1 != 0 => {
                    ended += 1;
                    first_end.get_or_insert_with(|| started.elapsed());
                    rss_during = rss_during.max(memory_mib(None).0);
                }
                _ => {}
            }
        }
    })
    .await;
    let first_end = first_end.expect("some streams were taken");
    assert_eq!(ended, max as usize, "the server took exactly its limit of streams");
    assert_eq!(refused, 1000 - max as usize, "and refused the others");
    assert!(first_end >= Duration::from_millis(900), "ended at the receive timeout, not before: {first_end:?}");
    assert!(rss_during - rss_before < 64.0, "RSS grew {:.1} MiB", rss_during - rss_before);
    println!(
        "FIGURES unfinished streams: {ended} taken and ended after {first_end:?}, {refused} refused; \
         RSS {rss_before:.1} -> {rss_during:.1} MiB"
    );
}

/// A message of exactly the largest size, in many frames, is received whole even when the
/// peer's receive budget is that size too.
#[tokio::test]
async fn a_message_of_the_largest_size_still_arrives() {
    let limits = Limits { max_message_size: MIB, max_receiving_bytes_per_peer: MIB, ..Limits::default() };
    let (server, _hero, _) = server_with(limits).await;
    let mut client = h2_client(server.local_addr()).await;
    let status = within(10, status_of(send_padded_read_temp(&mut client, MIB))).await;
    assert_eq!(status.code(), tonic::Code::Ok, "{status:?}");
}

/// Four 100 MiB messages at once on one connection, with the default budget of 256 MiB: two
/// are taken, the two that do not fit are refused at once, and the two taken complete. (When
/// the refused ones waited instead, their unread bytes filled the connection's window, the
/// taken ones starved too, and all four failed at the receive timeout.)
#[tokio::test]
async fn messages_above_the_receive_budget_are_refused_not_left_to_starve_the_others() {
    let (server, _hero, _) = server_with(Limits::default()).await;
    let mut client = h2_client(server.local_addr()).await;
    let calls: Vec<_> = (0..4).map(|_| send_padded_read_temp(&mut client, 100 * MIB)).collect();
    let started = Instant::now();
    let mut codes = Vec::new();
    for call in calls {
        let status = within(20, status_of(call)).await;
        if status.code() == tonic::Code::ResourceExhausted {
            assert_eq!(limit_of(&status), "HEROS_MAX_RECEIVING_BYTES_PER_PEER");
        }
        codes.push(status.code());
    }
    let taken = codes.iter().filter(|c| **c == tonic::Code::Ok).count();
    let refused = codes.iter().filter(|c| **c == tonic::Code::ResourceExhausted).count();
    assert_eq!((taken, refused), (2, 2), "{codes:?}");
    println!(
        "FIGURES receive budget: 4 x 100 MiB at once: 2 taken, 2 refused, all answered in {:?}",
        started.elapsed()
    );
}

/// A ReadTemp(1, 3) request padded to exactly `size` bytes with an unknown field (15, bytes),
/// which decoding skips, sent in 1 MiB frames from one shared buffer.
fn send_padded_read_temp(client: &mut h2::client::SendRequest<Bytes>, size: usize) -> h2::client::ResponseFuture {
    let mut head = prost::Message::encode_to_vec(&proto::ReadTempRequest { min: 1, max: 3 });
    let key = 1; // field 15, wire type 2
    let length_bytes = prost::encoding::encoded_len_varint(size as u64); // an upper bound's length
    let padding = size - head.len() - key - length_bytes;
    assert_eq!(prost::encoding::encoded_len_varint(padding as u64), length_bytes, "pick another size");
    prost::encoding::encode_key(15, prost::encoding::WireType::LengthDelimited, &mut head);
    prost::encoding::encode_varint(padding as u64, &mut head);
    let (response, mut body) = client.send_request(grpc_request("/examples.v1.TestObject/ReadTemp"), false).unwrap();
    body.send_data(prefix(size), false).unwrap();
    body.send_data(head.into(), false).unwrap();
    let zeros = Bytes::from(vec![0u8; MIB]);
    let mut left = padding;
    while left > 0 {
        let n = left.min(MIB);
        body.send_data(zeros.slice(..n), false).unwrap();
        left -= n;
    }
    body.send_data(Bytes::new(), true).unwrap();
    response
}

/// A reflection stream (a request that is a stream) may stay open and idle between its
/// messages for longer than the receive timeout.
#[tokio::test]
async fn a_request_stream_may_idle_between_messages() {
    let limits = Limits { receive_timeout: Duration::from_millis(300), ..Limits::default() };
    let (server, _hero, _) = server_with(limits).await;
    let mut client = h2_client(server.local_addr()).await;
    let (response, mut requests) =
        client.send_request(grpc_request("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"), false).unwrap();
    // ServerReflectionRequest { list_services: "" }: field 7, length 0.
    let list_services = || {
        let mut message = prefix(2).to_vec();
        message.extend([0x3a, 0x00]);
        Bytes::from(message)
    };
    requests.send_data(list_services(), false).unwrap();
    let mut replies = within(5, response).await.unwrap().into_body();
    let first = within(5, replies.data()).await.expect("a first answer").unwrap();
    let _ = replies.flow_control().release_capacity(first.len());
    // The receive timeout is a timer of this runtime (the server runs in this process) and the
    // stream idles: paused time lets three timeouts pass at once.
    tokio::time::pause();
    tokio::time::sleep(Duration::from_millis(900)).await;
    tokio::time::resume();
    requests.send_data(list_services(), false).unwrap();
    let second = within(5, replies.data()).await.expect("a second answer after the idle time").unwrap();
    assert!(!second.is_empty());
}

/// A message that stops arriving ends with DEADLINE_EXCEEDED (kind TIMEOUT) at the receive
/// timeout.
#[tokio::test]
async fn a_message_that_stops_arriving_times_out() {
    let limits = Limits { receive_timeout: Duration::from_millis(500), ..Limits::default() };
    let (server, _hero, _) = server_with(limits).await;
    let mut client = h2_client(server.local_addr()).await;
    let (response, mut body) = client.send_request(grpc_request("/examples.v1.TestObject/ReadTemp"), false).unwrap();
    body.send_data(prefix(1000), false).unwrap();
    body.send_data(Bytes::from_static(&[0u8; 10]), false).unwrap();
    let started = Instant::now();
    let status = within(5, status_of(response)).await;
    assert_eq!(status.code(), tonic::Code::DeadlineExceeded, "{status:?}");
    assert_eq!(heros::detail_of(&status).unwrap().kind, "TIMEOUT");
    assert!(status.message().contains("HEROS_RECEIVE_TIMEOUT_MS"), "{}", status.message());
    assert!(started.elapsed() >= Duration::from_millis(400));
}

/// Four streams each send 200 MiB of a message and never its last byte: the peer's receive
/// budget (256 MiB) takes the first and refuses the others at once; the receive timeout ends
/// the first; the server never holds the 800 MiB.
#[tokio::test]
async fn unfinished_large_messages_do_not_pin_memory() {
    let limits = Limits { receive_timeout: Duration::from_secs(3), ..Limits::default() };
    let (server, _hero, _) = server_with(limits).await;
    let (rss_before, _) = memory_mib(None);
    let mut client = h2_client(server.local_addr()).await;
    let chunk = Bytes::from(vec![7u8; MIB]);
    let mut responses = Vec::new();
    let mut senders = Vec::new();
    for _ in 0..4 {
        let (response, mut body) =
            client.send_request(grpc_request("/examples.v1.TestObject/ReadTemp"), false).unwrap();
        body.send_data(prefix(200 * MIB), false).unwrap();
        for _ in 0..199 {
            body.send_data(chunk.clone(), false).unwrap();
        }
        body.send_data(chunk.slice(..MIB - 1), false).unwrap();
        responses.push(response);
        senders.push(body); // kept open: the message never ends
    }
    let started = Instant::now();
    let sampler = tokio::spawn(async move {
        let mut peak: f64 = 0.0;
        while started.elapsed() < Duration::from_millis(2800) {
            peak = peak.max(memory_mib(None).0);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        peak
    });
    let mut statuses = Vec::new();
    for response in responses {
        statuses.push(within(30, status_of(response)).await);
    }
    let ended = started.elapsed();
    let rss_during = sampler.await.unwrap();
    drop(senders);
    drop(client);
    let (rss_after, _) = memory_mib(None);
    assert_eq!(statuses[0].code(), tonic::Code::DeadlineExceeded, "{:?}", statuses[0]);
    for refused in &statuses[1..] {
        assert_eq!(refused.code(), tonic::Code::ResourceExhausted, "{refused:?}");
        assert_eq!(limit_of(refused), "HEROS_MAX_RECEIVING_BYTES_PER_PEER");
    }
    let growth = rss_during - rss_before;
    assert!(growth < 400.0, "RSS grew {growth:.0} MiB while 4 x 200 MiB were on their way");
    println!(
        "FIGURES 4 x 200 MiB unfinished: RSS {rss_before:.0} -> {rss_during:.0} (peak) -> {rss_after:.0} MiB; \
         three refused at once, the first ended DEADLINE_EXCEEDED after {ended:?}"
    );
}

/// 100 streams each announce a message of the largest size in a 5-byte prefix and send nothing
/// more: what is reserved for them stays within the peer's receive budget (one of them), not 100
/// times the limit. A prefix above the limit is refused at once.
#[tokio::test]
async fn announced_lengths_reserve_no_more_than_the_budget() {
    let limits = Limits { receive_timeout: Duration::from_secs(2), ..Limits::default() };
    let max = limits.max_message_size;
    let (server, _hero, _) = server_with(limits).await;
    let (_, vm_before) = memory_mib(None);
    let mut client = h2_client(server.local_addr()).await;
    let mut streams = Vec::new();
    for _ in 0..100 {
        let (response, mut body) =
            client.send_request(grpc_request("/examples.v1.TestObject/ReadTemp"), false).unwrap();
        body.send_data(prefix(max), false).unwrap();
        streams.push((response, body));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, vm_during) = memory_mib(None);
    assert!(
        vm_during - vm_before < 2048.0,
        "address space grew {:.0} MiB for 100 announced {} MiB messages",
        vm_during - vm_before,
        max / MIB
    );

    let (response, mut body) = client.send_request(grpc_request("/examples.v1.TestObject/ReadTemp"), false).unwrap();
    body.send_data(prefix(max + 1), false).unwrap();
    let status = within(5, status_of(response)).await;
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    assert_eq!(limit_of(&status), "HEROS_MAX_MESSAGE_SIZE");
    println!(
        "FIGURES announced lengths: address space {vm_before:.0} -> {vm_during:.0} MiB for 100 x {} MiB announced",
        max / MIB
    );
}

/// A client that asks for fifty 20 MiB replies and reads none (its window stays at 64 KiB): the
/// server keeps what fits under the unread-reply cap and refuses the rest (RESOURCE_EXHAUSTED,
/// limit HEROS_MAX_UNREAD_REPLY_BYTES); once the client reads, it is served again.
#[tokio::test]
async fn replies_a_client_does_not_read_are_capped() {
    let limits = Limits { max_unread_reply_bytes: 64 * MIB, ..Limits::default() };
    let (server, _hero, object) = server_with(limits).await;
    object.firmware.set("f".repeat(20 * MIB));
    let (rss_before, _) = memory_mib(None);
    let mut client = h2_client(server.local_addr()).await;
    let (mut refused, mut held) = (0, Vec::new());
    let mut rss_during: f64 = 0.0;
    for _ in 0..50 {
        let (response, mut body) =
            client.send_request(grpc_request("/examples.v1.TestObject/Firmware"), false).unwrap();
        body.send_data(prefix(0), true).unwrap();
        let response = within(10, response).await.unwrap();
        match tonic::Status::from_header_map(response.headers()) {
            Some(status) => {
                assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
                assert_eq!(limit_of(&status), "HEROS_MAX_UNREAD_REPLY_BYTES");
                refused += 1;
            }
            None => held.push(response),
        }
        rss_during = rss_during.max(memory_mib(None).0);
    }
    assert_eq!(held.len(), 3, "three 20 MiB replies fit under 64 MiB");
    assert_eq!(refused, 47);
    let growth = rss_during - rss_before;
    assert!(growth < 300.0, "RSS grew {growth:.0} MiB (undefended: about 1000)");

    // The client reads (all at once: they share the connection's window): the held replies
    // arrive whole, and the next call is answered.
    let readers: Vec<_> = held
        .into_iter()
        .map(|response| {
            tokio::spawn(async move {
                let mut body = response.into_body();
                let mut received = 0;
                while let Some(chunk) = body.data().await {
                    let chunk = chunk.unwrap();
                    received += chunk.len();
                    let _ = body.flow_control().release_capacity(chunk.len());
                }
                received
            })
        })
        .collect();
    for reader in readers {
        let received = within(10, reader).await.unwrap();
        assert!(received > 20 * MIB, "a held reply arrived whole ({received} bytes)");
    }
    let (response, mut body) = client.send_request(grpc_request("/examples.v1.TestObject/Firmware"), false).unwrap();
    body.send_data(prefix(0), true).unwrap();
    let response = within(10, response).await.unwrap();
    assert!(tonic::Status::from_header_map(response.headers()).is_none(), "served again once read");
    println!(
        "FIGURES unread replies: 50 x 20 MiB asked, 3 held, 47 refused; RSS {rss_before:.0} -> {rss_during:.0} MiB"
    );
}

/// The message-size limit can be set from the environment.
#[tokio::test]
async fn the_message_size_limit_comes_from_the_environment() {
    let config = heros::Config::from_lookup(|key| match key {
        "HEROS_MAX_MESSAGE_SIZE" => Some("1024".into()),
        "HEROS_DISCOVERY" => Some("off".into()),
        "HEROS_BIND" => Some("127.0.0.1:0".into()),
        "HEROS_IN_PROCESS" => Some("off".into()),
        _ => None,
    })
    .unwrap();
    assert_eq!(config.limits.max_message_size, 1024);
    let server = Server::builder().config(config).start().await.unwrap();
    let hero = server.share(Hero::new("hero").interface(proto::TestObjectServer::new(TestHero::new(0)))).await.unwrap();
    let firmware = hero.url();
    let stub = proto::TestObjectRemote::connect(&firmware).await.unwrap();
    assert_eq!(stub.read_temp(0, 2).await.unwrap(), 1.0);
    let mut client = h2_client(server.local_addr()).await;
    let (response, mut body) = client.send_request(grpc_request("/examples.v1.TestObject/ReadTemp"), false).unwrap();
    body.send_data(prefix(2048), false).unwrap();
    let status = within(5, status_of(response)).await;
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    assert_eq!(heros::detail_of(&status).unwrap().context["max"], "1024");
}

/// The server ends a call at the caller's `grpc-timeout`, with DEADLINE_EXCEEDED (kind TIMEOUT),
/// and the HERO's method is cancelled.
#[tokio::test]
async fn the_callers_deadline_ends_the_call_on_the_server() {
    let (server, _hero, object) = server_with(Limits::default()).await;
    let mut client = h2_client(server.local_addr()).await;
    let mut request = grpc_request("/examples.v1.TestObject/ReadTemp");
    request.headers_mut().insert("grpc-timeout", http::HeaderValue::from_static("200m"));
    let (response, mut body) = client.send_request(request, false).unwrap();
    body.send_data(read_temp_message(-1, -1), true).unwrap();
    within(5, object.entered.notified()).await;
    let status = within(5, status_of(response)).await;
    assert_eq!(status.code(), tonic::Code::DeadlineExceeded, "{status:?}");
    assert_eq!(heros::detail_of(&status).unwrap().kind, "TIMEOUT");
}

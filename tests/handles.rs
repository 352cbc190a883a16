//! Handles: values that stay on the server, returned and passed back through typed stubs and by
//! any gRPC client; their lifetime (counted references, sessions, leases); remoteable's
//! store/attach/fetch/browse; and every way a handle can be wrong, each with its precise status.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::lab::TestInstrument;
use common::proto::{self, InstrumentRemote, Settings};
use common::{raw_call, within};
use heros::proto::{handles_client::HandlesClient, sessions_client::SessionsClient};
use heros::{Error, HandleProblem, Hero, LocalHero, Server};
use prost::Message;
use tonic::Code;

async fn server(in_process: bool) -> Server {
    Server::builder()
        .bind("127.0.0.1:0".parse().unwrap())
        .mdns(false)
        .in_process(in_process)
        .lease(Duration::from_millis(300))
        .start()
        .await
        .expect("server starts")
}

async fn share_instrument(server: &Server, instrument: TestInstrument) -> LocalHero {
    let hero = Hero::new("instrument").interface(proto::InstrumentServer::new(instrument));
    server.share(hero).await.expect("shared")
}

/// Waits (polling, with a deadline) until `condition` holds: values are dropped just after they
/// leave the table, outside its lock.
async fn eventually(condition: impl Fn() -> bool) {
    within(10, async {
        while !condition() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

/// Waits (polling, with a deadline) until the server's table holds `entries` values.
async fn table_reaches(server: &Server, entries: u64) {
    within(10, async {
        while server.handle_stats().entries != entries {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

fn problem_of(error: Error) -> HandleProblem {
    match error {
        Error::Handle { problem, .. } => problem,
        other => panic!("expected a handle error, got {other:?}"),
    }
}

fn kind_of(status: &tonic::Status) -> String {
    heros::detail_of(status).map(|d| d.kind).unwrap_or_default()
}

#[tokio::test]
async fn a_value_returned_as_a_handle_comes_back_typed_and_goes_when_the_last_copy_drops() {
    for in_process in [false, true] {
        let server = server(in_process).await;
        let instrument = TestInstrument::new(0);
        let live = instrument.live.clone();
        let hero = share_instrument(&server, instrument).await;
        let stub = InstrumentRemote::connect(&hero.url()).await.unwrap();
        assert_eq!(stub.target().is_in_process(), in_process);

        let first = stub.open(3).await.unwrap();
        let second = stub.open(5).await.unwrap();
        assert_eq!(first.type_name(), "examples.InstrumentSession");
        assert_eq!(first.repr(), "channel 3 session", "the skeleton's own description");
        assert_eq!(stub.read(&first).await.unwrap(), 3.0);
        assert_eq!(stub.read(&second).await.unwrap(), 5.0);

        // A stored message passed by handle next to the HERO's own value.
        let settings = stub.target().store(&Settings { gain: 2.5, label: "calibrated".into() }).await.unwrap();
        assert_eq!(settings.type_name(), "examples.v1.Settings");
        assert_eq!(stub.configure(&first, &settings).await.unwrap(), "calibrated on channel 3: gain 2.5");
        assert_eq!(stub.read(&first).await.unwrap(), 7.5, "the same object, changed through its handle");
        assert_eq!(server.handle_stats().entries, 3);
        assert_eq!(live.load(Ordering::SeqCst), 2);

        // Copies share one reference; only the last one releases it.
        let copy = first.clone();
        drop(first);
        assert_eq!(stub.read(&copy).await.unwrap(), 7.5);
        drop((copy, second, settings));
        table_reaches(&server, 0).await;
        eventually(|| live.load(Ordering::SeqCst) == 0).await; // the values themselves were dropped
        hero.shutdown().await;
        server.shutdown().await;
    }
}

#[tokio::test]
async fn a_handle_of_the_wrong_type_is_refused_with_invalid_argument() {
    for in_process in [false, true] {
        let server = server(in_process).await;
        let hero = share_instrument(&server, TestInstrument::new(0)).await;
        let stub = InstrumentRemote::connect(&hero.url()).await.unwrap();
        let session = stub.open(1).await.unwrap();
        let settings = stub.target().store(&Settings { gain: 1.0, label: "x".into() }).await.unwrap();
        let error = stub.read(&settings).await.unwrap_err();
        assert_eq!(error.code(), Code::InvalidArgument);
        assert_eq!(problem_of(error.clone()), HandleProblem::WrongType);
        assert!(error
            .to_string()
            .contains("takes a handle to examples.InstrumentSession, not to examples.v1.Settings"));
        let error = stub.configure(&session, &session).await.unwrap_err();
        assert_eq!(problem_of(error), HandleProblem::WrongType);
    }
}

/// A client of any language: a session opened with a plain gRPC call, its id sent as a header.
struct RawClient {
    channel: tonic::transport::Channel,
    session: String,
}

impl RawClient {
    async fn open(server: &Server, lease_ms: u32) -> RawClient {
        let endpoint = format!("http://{}", server.local_addr());
        let channel = tonic::transport::Endpoint::from_shared(endpoint).unwrap().connect().await.unwrap();
        let session = SessionsClient::new(channel.clone())
            .open(heros::proto::OpenSessionRequest { lease_ms })
            .await
            .unwrap()
            .into_inner();
        RawClient { channel, session: session.id }
    }

    fn headers(&self) -> Vec<(&'static str, &str)> {
        vec![("heros-name", "instrument"), ("heros-session", self.session.as_str())]
    }

    async fn open_channel(&self, server: &Server, channel: u32) -> Result<heros::proto::Handle, tonic::Status> {
        let reply = raw_call(
            server,
            "/examples.v1.Instrument/Open",
            &self.headers(),
            proto::OpenRequest { channel }.encode_to_vec(),
        )
        .await?;
        Ok(proto::OpenReply::decode(reply).unwrap().session.expect("a handle"))
    }

    async fn read(&self, server: &Server, session: heros::proto::Handle) -> Result<f64, tonic::Status> {
        let request = proto::ReadRequest { session: Some(session) }.encode_to_vec();
        let reply = raw_call(server, "/examples.v1.Instrument/Read", &self.headers(), request).await?;
        Ok(proto::ReadReply::decode(reply).unwrap().value)
    }

    fn handles(&self) -> HandlesClient<tonic::transport::Channel> {
        HandlesClient::new(self.channel.clone())
    }

    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.metadata_mut().insert("heros-session", self.session.parse().unwrap());
        request
    }
}

#[tokio::test]
async fn any_grpc_client_holds_and_passes_handles_as_plain_messages() {
    let server = server(false).await;
    let _hero = share_instrument(&server, TestInstrument::new(0)).await;
    let client = RawClient::open(&server, 0).await;
    let handle = client.open_channel(&server, 4).await.unwrap();
    assert_eq!(handle.id.len(), 32);
    assert_eq!(client.read(&server, handle.clone()).await.unwrap(), 4.0);
    client
        .handles()
        .release(client.request(heros::proto::ReleaseRequest {
            releases: vec![heros::proto::Release { id: handle.id.clone(), count: 1 }],
        }))
        .await
        .unwrap();
    let status = client.read(&server, handle).await.unwrap_err();
    assert_eq!((status.code(), kind_of(&status).as_str()), (Code::NotFound, "HANDLE_RELEASED"), "{status:?}");
}

#[tokio::test]
async fn forged_foreign_released_and_sessionless_handles_get_precise_statuses() {
    let server = server(false).await;
    let _hero = share_instrument(&server, TestInstrument::new(0)).await;
    let alice = RawClient::open(&server, 0).await;
    let mallory = RawClient::open(&server, 0).await;
    let handle = alice.open_channel(&server, 1).await.unwrap();

    // Another client's session.
    let status = mallory.read(&server, handle.clone()).await.unwrap_err();
    assert_eq!((status.code(), kind_of(&status).as_str()), (Code::PermissionDenied, "HANDLE_FOREIGN"));

    // A forged id: one bit changed, a made-up id, an id of the wrong length.
    for id in [
        {
            let mut id = handle.id.to_vec();
            id[20] ^= 0x40;
            id
        },
        {
            let mut id = handle.id.to_vec();
            id[8..16].copy_from_slice(&999_999_u64.to_be_bytes());
            id
        },
        vec![7; 5],
    ] {
        let forged = heros::proto::Handle { id: id.into(), ..handle.clone() };
        let status = alice.read(&server, forged).await.unwrap_err();
        assert_eq!((status.code(), kind_of(&status).as_str()), (Code::InvalidArgument, "HANDLE_INVALID"), "{status:?}");
    }

    // No session, or one that never existed.
    let request = proto::ReadRequest { session: Some(handle.clone()) }.encode_to_vec();
    let status = raw_call(&server, "/examples.v1.Instrument/Read", &[("heros-name", "instrument")], request.clone())
        .await
        .unwrap_err();
    assert_eq!((status.code(), kind_of(&status).as_str()), (Code::FailedPrecondition, "SESSION_REQUIRED"));
    let made_up = "0123456789abcdef0123456789abcdef";
    let headers = [("heros-name", "instrument"), ("heros-session", made_up)];
    let status = raw_call(&server, "/examples.v1.Instrument/Read", &headers, request.clone()).await.unwrap_err();
    assert_eq!((status.code(), kind_of(&status).as_str()), (Code::FailedPrecondition, "SESSION_UNKNOWN"));
    let headers = [("heros-name", "instrument"), ("heros-session", "not-hex")];
    let status = raw_call(&server, "/examples.v1.Instrument/Read", &headers, request).await.unwrap_err();
    assert_eq!(kind_of(&status), "SESSION_UNKNOWN");

    // No session and no handle: the session is what is missing first.
    let empty = proto::ReadRequest { session: None }.encode_to_vec();
    let status =
        raw_call(&server, "/examples.v1.Instrument/Read", &[("heros-name", "instrument")], empty).await.unwrap_err();
    assert_eq!(kind_of(&status), "SESSION_REQUIRED");
    // A method that returns a handle does not run without a session (it could not return it).
    let status = raw_call(
        &server,
        "/examples.v1.Instrument/Open",
        &[("heros-name", "instrument")],
        proto::OpenRequest { channel: 9 }.encode_to_vec(),
    )
    .await
    .unwrap_err();
    assert_eq!(kind_of(&status), "SESSION_REQUIRED");
    assert_eq!(server.handle_stats().entries, 1, "Open did not run");

    // A missing handle argument.
    let status = raw_call(
        &server,
        "/examples.v1.Instrument/Read",
        &alice.headers(),
        proto::ReadRequest { session: None }.encode_to_vec(),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("'session' needs a handle"), "{status:?}");

    // Through the typed stub: released handles are refused, and so is a stub's handle passed
    // with another session's id.
    assert_eq!(alice.read(&server, handle).await.unwrap(), 1.0, "the owner still can");
}

#[tokio::test]
async fn a_handle_from_before_a_server_restart_is_stale() {
    let first = server(false).await;
    let address = first.local_addr();
    let hero = share_instrument(&first, TestInstrument::new(0)).await;
    let stub = InstrumentRemote::connect(&hero.url()).await.unwrap();
    let old = stub.open(2).await.unwrap();
    hero.shutdown().await;
    first.shutdown().await;

    // The same HERO again, at the same address, in a new server run.
    let second = Server::builder().bind(address).mdns(false).in_process(false).start().await.expect("rebinds");
    let _hero = share_instrument(&second, TestInstrument::new(0)).await;
    let error = within(10, async {
        loop {
            match stub.read(&old).await {
                // The first call may still meet the old connection going away.
                Err(Error::Unavailable { .. }) => tokio::time::sleep(Duration::from_millis(20)).await,
                other => break other.unwrap_err(),
            }
        }
    })
    .await;
    assert_eq!(error.code(), Code::NotFound, "{error:?}");
    assert_eq!(problem_of(error), HandleProblem::Stale);
    // New handles work in the new run.
    let fresh = stub.open(6).await.unwrap();
    assert_eq!(stub.read(&fresh).await.unwrap(), 6.0);
}

#[tokio::test]
async fn a_client_that_holds_no_stream_loses_its_handles_when_its_lease_runs_out() {
    let server = server(false).await;
    let instrument = TestInstrument::new(0);
    let live = instrument.live.clone();
    let _hero = share_instrument(&server, instrument).await;
    let client = RawClient::open(&server, 0).await;
    for channel in 0..3 {
        client.open_channel(&server, channel).await.unwrap();
    }
    let stats = server.handle_stats();
    assert_eq!(stats.entries, 3);
    let session = &stats.sessions[0];
    assert!(!session.held && session.expires_in_ms <= 300 && session.entries == 3, "{stats:?}");
    // From here nothing crosses the network until the session is gone: the lease and the server's
    // sweep run on this runtime's timers, so paused time lets the lease run out without waiting.
    // (Paused only now: while a call is in flight, paused time jumps to the next timer, which
    // could let the lease run out during the calls above.)
    tokio::time::pause();
    let remaining = Duration::from_millis(server.handle_stats().sessions[0].expires_in_ms);
    let idle_since = tokio::time::Instant::now();
    table_reaches(&server, 0).await; // a lease that never runs out fails here, after 10 s of paused time
    let released_after = idle_since.elapsed();
    assert!(released_after >= remaining, "released {released_after:?} after, before the lease ran out ({remaining:?})");
    // The sweep runs every quarter lease (75 ms); `table_reaches` looks every 5 ms.
    let late = remaining + Duration::from_millis(75 + 15);
    assert!(released_after <= late, "released {released_after:?} after, {remaining:?} left on the lease");
    eventually(|| live.load(Ordering::SeqCst) == 0).await;
    assert!(server.handle_stats().sessions.is_empty());
    tokio::time::resume();
    let status = client.open_channel(&server, 1).await.unwrap_err();
    assert_eq!(kind_of(&status), "SESSION_UNKNOWN");
}

#[tokio::test]
async fn a_held_session_ends_with_its_stream_and_renew_keeps_a_leased_one() {
    let server = server(false).await;
    let _hero = share_instrument(&server, TestInstrument::new(0)).await;
    let client = RawClient::open(&server, 0).await;
    let mut hold = SessionsClient::new(client.channel.clone())
        .hold(heros::proto::SessionRequest { id: client.session.clone() })
        .await
        .unwrap()
        .into_inner();
    assert!(hold.message().await.unwrap().is_some(), "the hold stream confirms first");
    client.open_channel(&server, 1).await.unwrap();
    // Held: it outlives many leases. Nothing crosses the network meanwhile, and the leases and the
    // server's sweep run on this runtime's timers: paused time lets them pass without waiting.
    tokio::time::pause();
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(server.handle_stats().entries, 1);
    assert!(server.handle_stats().sessions[0].held);
    tokio::time::resume();
    drop(hold);
    table_reaches(&server, 0).await;

    // Renewing restarts the lease (on a server with a lease long enough that a slow machine
    // cannot let it run out between the steps).
    let server = Server::builder().bind("127.0.0.1:0".parse().unwrap()).mdns(false).lease(Duration::from_secs(5));
    let server = server.start().await.unwrap();
    let _hero = share_instrument(&server, TestInstrument::new(0)).await;
    let leased = RawClient::open(&server, 0).await;
    leased.open_channel(&server, 1).await.unwrap();
    tokio::time::pause();
    let idle = server.handle_stats().sessions[0].expires_in_ms;
    tokio::time::advance(Duration::from_millis(300)).await;
    let before = server.handle_stats().sessions[0].expires_in_ms;
    assert!(before <= 4700 && before == idle - 300, "the lease runs while idle: {idle} ms, then {before} ms left");
    // Real time again for the call: paused time would jump ahead while it is in flight.
    tokio::time::resume();
    let renewed = SessionsClient::new(leased.channel.clone())
        .renew(heros::proto::SessionRequest { id: leased.session.clone() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(renewed.lease_ms, 5000);
    let after = server.handle_stats().sessions[0].expires_in_ms;
    assert!(after > before + 200, "renewed: {before} ms left before, {after} ms after");
    SessionsClient::new(leased.channel.clone())
        .close(heros::proto::SessionRequest { id: leased.session.clone() })
        .await
        .unwrap();
    assert_eq!(server.handle_stats().entries, 0, "closing releases at once");
}

#[tokio::test]
async fn store_attach_fetch_and_browse_share_values_between_clients() {
    for in_process in [false, true] {
        let server = server(in_process).await;
        let hero = share_instrument(&server, TestInstrument::new(0)).await;
        let stub = InstrumentRemote::connect(&hero.url()).await.unwrap();
        let settings = stub.target().store(&Settings { gain: 3.0, label: "shared".into() }).await.unwrap();
        stub.target().attach(&settings, "lab-settings").await.unwrap();
        let exports = stub.target().browse().await.unwrap();
        assert_eq!(exports.len(), 1);
        assert_eq!((exports[0].name.as_str(), exports[0].type_name.as_str()), ("lab-settings", "examples.v1.Settings"));
        let error = stub.target().attach(&settings, "lab-settings").await.unwrap_err();
        assert_eq!((error.code(), problem_of(error)), (Code::AlreadyExists, HandleProblem::ExportExists));

        // Another client: the handle itself is foreign to it; fetched by name, it is its own.
        let other = RawClient::open(&server, 0).await;
        let session = other.open_channel(&server, 2).await.unwrap();
        let foreign = proto::ConfigureRequest { session: Some(session.clone()), settings: Some(settings.to_message()) };
        let status = raw_call(&server, "/examples.v1.Instrument/Configure", &other.headers(), foreign.encode_to_vec())
            .await
            .unwrap_err();
        assert_eq!(kind_of(&status), "HANDLE_FOREIGN");
        let fetched = other
            .handles()
            .fetch(other.request(heros::proto::ExportName { name: "lab-settings".into() }))
            .await
            .unwrap()
            .into_inner();
        let configure = proto::ConfigureRequest { session: Some(session), settings: Some(fetched) };
        let reply = raw_call(&server, "/examples.v1.Instrument/Configure", &other.headers(), configure.encode_to_vec())
            .await
            .unwrap();
        assert_eq!(proto::ConfigureReply::decode(reply).unwrap().applied, "shared on channel 2: gain 3");

        // The export keeps the value after its creator lets go; detaching lets it go.
        drop(settings);
        // Detaching takes a session this server knows.
        let mut detach = tonic::Request::new(heros::proto::ExportName { name: "lab-settings".into() });
        detach.metadata_mut().insert("heros-session", "00000000000000000000000000000000".parse().unwrap());
        let status = other.handles().detach(detach).await.unwrap_err();
        assert_eq!(kind_of(&status), "SESSION_UNKNOWN");
        let status = other
            .handles()
            .fetch(other.request(heros::proto::ExportName { name: "nothing".into() }))
            .await
            .unwrap_err();
        assert_eq!((status.code(), kind_of(&status).as_str()), (Code::NotFound, "EXPORT_NOT_FOUND"));
        let fetched_again = stub.target().fetch("lab-settings").await.unwrap();
        stub.target().detach("lab-settings").await.unwrap();
        assert!(stub.target().browse().await.unwrap().is_empty());
        let stats = stub.target().handle_stats().await.unwrap();
        assert_eq!(stats.exports, 0);
        assert_eq!(stats.sessions.len(), 2, "{stats:?}");
        drop(fetched_again);
        hero.shutdown().await;
        server.shutdown().await;
    }
}

#[tokio::test]
async fn the_registry_reports_the_table_per_session() {
    let server = server(false).await;
    let hero = share_instrument(&server, TestInstrument::new(0)).await;
    let stub = InstrumentRemote::connect(&hero.url()).await.unwrap();
    let handles: Vec<_> = futures_join(&stub, 5).await;
    let stats = stub.target().handle_stats().await.unwrap();
    assert_eq!((stats.entries, stats.references), (5, 5));
    assert_eq!(stats.sessions.len(), 1);
    assert!(stats.sessions[0].held, "a stub's session is held by its stream");
    assert_eq!(stats.sessions[0].entries, 5);
    assert_eq!(stats, server.handle_stats());
    drop(handles);
    table_reaches(&server, 0).await;
}

async fn futures_join(stub: &InstrumentRemote, n: u32) -> Vec<heros::Handle> {
    let mut handles = Vec::new();
    for channel in 0..n {
        handles.push(stub.open(channel).await.unwrap());
    }
    handles
}

#[tokio::test]
async fn a_server_shutting_down_ends_held_sessions_and_drops_every_value() {
    let server = server(false).await;
    let instrument = TestInstrument::new(0);
    let live = instrument.live.clone();
    let hero = share_instrument(&server, instrument).await;
    let stub = InstrumentRemote::connect(&hero.url()).await.unwrap();
    let _handle = stub.open(1).await.unwrap();
    hero.shutdown().await;
    // The stub's Hold stream must not keep graceful shutdown waiting.
    within(5, server.shutdown()).await;
    assert_eq!(live.load(Ordering::SeqCst), 0);
}

//! Issue 12, hardening: each resource a client can make the handle table hold has a quota, and
//! each test here runs the attack over gRPC against a server with small limits: storing until
//! the byte quota bites, opening instrument sessions until the handle quota bites, exporting and
//! keeping exports, opening sessions from one address; and exports that went with their session
//! (8 stored values exported, then the session closed: all gone) unless kept, and are detached
//! only by their owner.

mod common;

use std::sync::atomic::Ordering;

use common::lab::TestInstrument;
use common::proto::{self, InstrumentRemote, Settings};
use common::{raw_call, within};
use heros::proto::{
    handles_client::HandlesClient, sessions_client::SessionsClient, AttachRequest, ExportName, Handle,
    OpenSessionRequest, Release, ReleaseRequest, SessionRequest,
};
use heros::{Error, Hero, Limits, LocalHero, Server};
use prost::Message;
use tonic::{Code, Status};

async fn server(limits: Limits) -> Server {
    common::limited_server(limits).await
}

async fn share_instrument(server: &Server, instrument: TestInstrument) -> LocalHero {
    let hero = Hero::new("instrument").interface(proto::InstrumentServer::new(instrument));
    server.share(hero).await.expect("shared")
}

/// The refusal of a quota: RESOURCE_EXHAUSTED, kind `LIMIT_REACHED`, naming the setting and its value.
fn assert_limit(status: &Status, limit: &str, max: u64) {
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    let detail = heros::detail_of(status).expect("an ErrorDetail");
    assert_eq!(detail.kind, "LIMIT_REACHED");
    assert_eq!(detail.context.get("limit").map(String::as_str), Some(limit), "{detail:?}");
    assert_eq!(detail.context.get("max"), Some(&max.to_string()), "{detail:?}");
}

fn kind_of(status: &Status) -> String {
    heros::detail_of(status).map(|d| d.kind).unwrap_or_default()
}

/// A client session opened with plain gRPC calls, as a client in any language would.
struct RawSession {
    channel: tonic::transport::Channel,
    id: String,
}

impl RawSession {
    async fn open(server: &Server) -> Result<RawSession, Status> {
        let endpoint = format!("http://{}", server.local_addr());
        let channel = tonic::transport::Endpoint::from_shared(endpoint).unwrap().connect().await.unwrap();
        let session = SessionsClient::new(channel.clone()).open(OpenSessionRequest { lease_ms: 0 }).await?;
        Ok(RawSession { channel, id: session.into_inner().id })
    }

    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.metadata_mut().insert("heros-session", self.id.parse().unwrap());
        request
    }

    fn handles(&self) -> HandlesClient<tonic::transport::Channel> {
        HandlesClient::new(self.channel.clone())
    }

    async fn store(&self, bytes: usize) -> Result<Handle, Status> {
        let any = prost_types::Any { type_url: "type.googleapis.com/test.Blob".into(), value: vec![0xa5; bytes] };
        Ok(self.handles().store(self.request(any)).await?.into_inner())
    }

    async fn attach(&self, handle: &Handle, name: &str, keep: bool) -> Result<(), Status> {
        let request = AttachRequest { handle: Some(handle.clone()), name: name.into(), keep };
        self.handles().attach(self.request(request)).await.map(drop)
    }

    async fn detach(&self, name: &str) -> Result<(), Status> {
        self.handles().detach(self.request(ExportName { name: name.into() })).await.map(drop)
    }

    async fn fetch(&self, name: &str) -> Result<Handle, Status> {
        Ok(self.handles().fetch(self.request(ExportName { name: name.into() })).await?.into_inner())
    }

    async fn release(&self, handle: &Handle) {
        let releases = vec![Release { id: handle.id.clone(), count: 1 }];
        self.handles().release(self.request(ReleaseRequest { releases })).await.unwrap();
    }

    async fn open_channel(&self, server: &Server, channel: u32) -> Result<Handle, Status> {
        let headers = [("heros-name", "instrument"), ("heros-session", self.id.as_str())];
        let request = proto::OpenRequest { channel }.encode_to_vec();
        let reply = raw_call(server, "/examples.v1.Instrument/Open", &headers, request).await?;
        Ok(proto::OpenReply::decode(reply).unwrap().session.expect("a handle"))
    }

    async fn close(self) {
        SessionsClient::new(self.channel.clone()).close(SessionRequest { id: self.id.clone() }).await.unwrap();
    }
}

#[tokio::test]
async fn store_is_refused_once_the_session_keeps_its_byte_quota() {
    const MAX: usize = 1024 * 1024;
    let server = server(Limits { max_stored_bytes_per_session: MAX, ..Limits::default() }).await;
    let session = RawSession::open(&server).await.unwrap();
    let mut stored = Vec::new();
    let refused = loop {
        match session.store(256 * 1024).await {
            Ok(handle) => stored.push(handle),
            Err(status) => break status,
        }
        assert!(stored.len() <= 4, "the quota never bit");
    };
    assert_eq!(stored.len(), 4, "four of 256 KiB fill 1 MiB");
    assert_limit(&refused, "HEROS_MAX_STORED_BYTES_PER_SESSION", MAX as u64);
    assert!(refused.message().contains("keeps 1048576 bytes"), "{refused:?}");
    assert_eq!(server.handle_stats().entries, 4, "the refused bytes were not kept");

    // Another session has a quota of its own; a release gives bytes back.
    let other = RawSession::open(&server).await.unwrap();
    other.store(MAX).await.unwrap();
    session.release(&stored[0]).await;
    session.store(256 * 1024).await.unwrap();

    // The typed client reads the refusal as Error::LimitReached.
    let _hero = share_instrument(&server, TestInstrument::new(0)).await;
    let stub = InstrumentRemote::connect(&format!("heros://{}/instrument", server.local_addr())).await.unwrap();
    let big = Settings { gain: 1.0, label: "x".repeat(MAX / 2) };
    let _first = stub.target().store(&big).await.unwrap();
    match stub.target().store(&big).await.unwrap_err() {
        Error::LimitReached { limit, max, .. } => {
            assert_eq!((limit.as_str(), max), ("HEROS_MAX_STORED_BYTES_PER_SESSION", MAX as u64))
        }
        other => panic!("not a limit: {other:?}"),
    }
}

#[tokio::test]
async fn a_session_opening_instrument_channels_stops_at_the_handle_quota() {
    const MAX: u64 = 8;
    let server = server(Limits { max_handles_per_session: MAX as usize, ..Limits::default() }).await;
    let instrument = TestInstrument::new(0);
    let live = instrument.live.clone();
    let _hero = share_instrument(&server, instrument).await;

    let session = RawSession::open(&server).await.unwrap();
    let mut opened = Vec::new();
    let refused = loop {
        match session.open_channel(&server, opened.len() as u32).await {
            Ok(handle) => opened.push(handle),
            Err(status) => break status,
        }
        assert!(opened.len() as u64 <= MAX, "the quota never bit");
    };
    assert_eq!(opened.len() as u64, MAX);
    assert_limit(&refused, "HEROS_MAX_HANDLES_PER_SESSION", MAX);
    assert_eq!(server.handle_stats().entries, MAX);
    // The HERO made the value before the table refused it; it is dropped with the reply.
    within(10, async {
        while live.load(Ordering::SeqCst) != MAX as usize {
            tokio::task::yield_now().await;
        }
    })
    .await;
    // Fetching a value new to the session counts too.
    let other = RawSession::open(&server).await.unwrap();
    let theirs = other.open_channel(&server, 99).await.unwrap();
    other.attach(&theirs, "theirs", false).await.unwrap();
    assert_limit(&session.fetch("theirs").await.unwrap_err(), "HEROS_MAX_HANDLES_PER_SESSION", MAX);
    // Giving one back makes room for one.
    session.release(&opened[0]).await;
    session.open_channel(&server, 100).await.unwrap();
    assert_limit(&session.open_channel(&server, 101).await.unwrap_err(), "HEROS_MAX_HANDLES_PER_SESSION", MAX);

    // A typed stub's session has the same quota, and reads the refusal as Error::LimitReached.
    let stub = InstrumentRemote::connect(&format!("heros://{}/instrument", server.local_addr())).await.unwrap();
    let mut held = Vec::new();
    for channel in 0..MAX as u32 {
        held.push(stub.open(channel).await.unwrap());
    }
    let error = stub.open(MAX as u32).await.unwrap_err();
    assert_eq!(error.code(), Code::ResourceExhausted);
    assert!(
        matches!(error, Error::LimitReached { ref limit, max: MAX, .. } if limit == "HEROS_MAX_HANDLES_PER_SESSION")
    );
}

#[tokio::test]
async fn exports_per_session_and_kept_exports_on_the_server_are_limited() {
    let server = server(Limits { max_exports_per_session: 3, max_kept_exports: 2, ..Limits::default() }).await;
    let greedy = RawSession::open(&server).await.unwrap();
    let value = greedy.store(10).await.unwrap();
    for n in 0..3 {
        greedy.attach(&value, &format!("export {n}"), false).await.unwrap();
    }
    assert_limit(&greedy.attach(&value, "export 3", false).await.unwrap_err(), "HEROS_MAX_EXPORTS_PER_SESSION", 3);
    greedy.detach("export 0").await.unwrap();
    greedy.attach(&value, "export 3", false).await.unwrap();

    // Kept exports are counted for the whole server, across sessions.
    let keeper = RawSession::open(&server).await.unwrap();
    let kept = keeper.store(10).await.unwrap();
    keeper.attach(&kept, "kept 0", true).await.unwrap();
    let another = RawSession::open(&server).await.unwrap();
    let theirs = another.store(10).await.unwrap();
    another.attach(&theirs, "kept 1", true).await.unwrap();
    assert_limit(&keeper.attach(&kept, "kept 2", true).await.unwrap_err(), "HEROS_MAX_KEPT_EXPORTS", 2);
    keeper.attach(&kept, "not kept", false).await.unwrap();
    assert_eq!(server.handle_stats().exports, 6);

    // Target::attach_kept sends `keep`; Target::attach does not.
    let _hero = share_instrument(&server, TestInstrument::new(0)).await;
    let stub = InstrumentRemote::connect(&format!("heros://{}/instrument", server.local_addr())).await.unwrap();
    let settings = stub.target().store(&Settings { gain: 1.0, label: "s".into() }).await.unwrap();
    stub.target().attach(&settings, "stub owned").await.unwrap();
    let error = stub.target().attach_kept(&settings, "stub kept").await.unwrap_err();
    assert!(matches!(error, Error::LimitReached { ref limit, max: 2, .. } if limit == "HEROS_MAX_KEPT_EXPORTS"));
}

#[tokio::test]
async fn one_address_opens_at_most_its_sessions_and_gets_them_back_when_they_end() {
    const MAX: usize = 4;
    let server = server(Limits { max_sessions_per_peer: MAX, ..Limits::default() }).await;
    let mut sessions = Vec::new();
    let refused = loop {
        match RawSession::open(&server).await {
            Ok(session) => sessions.push(session),
            Err(status) => break status,
        }
        assert!(sessions.len() <= MAX, "the quota never bit");
    };
    assert_eq!(sessions.len(), MAX);
    assert_limit(&refused, "HEROS_MAX_SESSIONS_PER_PEER", MAX as u64);
    assert!(refused.message().contains("127.0.0.1 has 4 sessions open"), "{refused:?}");

    // Closed: its place is free at once.
    sessions.pop().unwrap().close().await;
    let held = RawSession::open(&server).await.unwrap();
    assert_limit(&RawSession::open(&server).await.err().unwrap(), "HEROS_MAX_SESSIONS_PER_PEER", MAX as u64);

    // Held by a stream that ends: its place is free once the server sees the stream go.
    let mut hold = SessionsClient::new(held.channel.clone())
        .hold(SessionRequest { id: held.id.clone() })
        .await
        .unwrap()
        .into_inner();
    assert!(hold.message().await.unwrap().is_some());
    drop(hold);
    within(10, async {
        while server.handle_stats().sessions.len() == MAX {
            tokio::task::yield_now().await;
        }
    })
    .await;
    RawSession::open(&server).await.unwrap();
}

#[tokio::test]
async fn exports_go_with_the_session_that_attached_them_unless_kept() {
    let server = server(Limits::default()).await;
    // The finding: a client stored values, exported them, and went; they stayed.
    let leaver = RawSession::open(&server).await.unwrap();
    for n in 0..8 {
        let value = leaver.store(64 * 1024).await.unwrap();
        leaver.attach(&value, &format!("blob {n}"), false).await.unwrap();
        leaver.release(&value).await;
    }
    assert_eq!((server.handle_stats().entries, server.handle_stats().exports), (8, 8));
    leaver.close().await;
    let stats = server.handle_stats();
    assert_eq!((stats.entries, stats.exports), (0, 0), "{stats:?}");

    // Kept on purpose: it stays, and once its owner is gone anyone may detach it.
    let keeper = RawSession::open(&server).await.unwrap();
    let value = keeper.store(64 * 1024).await.unwrap();
    keeper.attach(&value, "calibration", true).await.unwrap();
    keeper.attach(&value, "scratch", false).await.unwrap();
    let fetcher = RawSession::open(&server).await.unwrap();
    let fetched = fetcher.fetch("scratch").await.unwrap();
    keeper.close().await;
    let stats = server.handle_stats();
    assert_eq!((stats.entries, stats.exports), (1, 1), "{stats:?}");
    let names: Vec<String> =
        fetcher.handles().browse(()).await.unwrap().into_inner().exports.into_iter().map(|e| e.name).collect();
    assert_eq!(names, ["calibration"]);
    assert_eq!(fetcher.fetch("calibration").await.unwrap().id, fetched.id, "the same value");
    fetcher.detach("calibration").await.unwrap();
    fetcher.close().await;
    let stats = server.handle_stats();
    assert_eq!((stats.entries, stats.exports), (0, 0), "{stats:?}");
}

#[tokio::test]
async fn only_the_owner_detaches_an_export_while_it_lives() {
    let server = server(Limits::default()).await;
    let owner = RawSession::open(&server).await.unwrap();
    let other = RawSession::open(&server).await.unwrap();
    let value = owner.store(16).await.unwrap();
    owner.attach(&value, "owned", false).await.unwrap();
    owner.attach(&value, "kept", true).await.unwrap();
    other.fetch("owned").await.unwrap();
    for name in ["owned", "kept"] {
        let status = other.detach(name).await.unwrap_err();
        assert_eq!((status.code(), kind_of(&status).as_str()), (Code::PermissionDenied, "EXPORT_NOT_OWNED"));
    }
    owner.detach("owned").await.unwrap();
    owner.close().await;
    // The kept export's owner is gone: now anyone may.
    other.detach("kept").await.unwrap();
    assert_eq!(server.handle_stats().exports, 0);
}

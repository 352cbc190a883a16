//! Long-running methods and cancellation: `Move` of the stage (`schema/examples/stage.proto`)
//! started as an operation, with progress, an intermediate position, cancel and a result that
//! outlives the connection that started it; the caller's deadline and its going away reaching
//! the HERO's method; the limits on what operations a server holds.

mod common;

#[path = "../examples/support/stage_hero.rs"]
mod stage_hero;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{encode, proto, raw_call, raw_call_on, raw_channel, within};
use heros::{Error, Hero, Limits, OperationPhase, Server};
use proto::{MoveRequest, StageRemote, StageServer};
use stage_hero::StageHero;
use tokio_stream::StreamExt;

const NAME: [(&str, &str); 1] = [("heros-name", "stage")];

struct Stage {
    stub: StageRemote,
    stopped: Arc<AtomicU64>,
    done: Arc<AtomicU64>,
    server: Server,
    _hero: heros::LocalHero,
}

async fn stage_on(server: Server) -> Stage {
    let stage = StageHero::default();
    let (stopped, done) = (stage.moves_stopped.clone(), stage.moves_done.clone());
    let hero = server.share(Hero::new("stage").interface(StageServer::new(stage))).await.unwrap();
    let stub = StageRemote::connect(&hero.url()).await.unwrap();
    Stage { stub, stopped, done, server, _hero: hero }
}

async fn stage(in_process: bool) -> Stage {
    stage_on(common::loopback_server(in_process).await).await
}

/// Waits until `counter` reaches `value` (what a dropped future does, it does at once; this
/// only leaves room for the scheduler).
async fn reaches(counter: &AtomicU64, value: u64) {
    within(5, async {
        while counter.load(Ordering::SeqCst) < value {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
}

#[tokio::test]
async fn a_long_move_runs_as_an_operation_with_progress_and_a_result() {
    for in_process in [false, true] {
        let stage = stage(in_process).await;
        let started = Instant::now();
        // 10 mm at 40 mm/s: a quarter of a second.
        let operation = stage.stub.start_move(10.0, 40.0).await.unwrap();
        assert!(started.elapsed() < Duration::from_millis(200), "start returns at once");
        assert_eq!(operation.id().len(), 32);

        let mut progress = operation.progress().await.unwrap();
        let mut fractions = Vec::new();
        let mut last = None;
        while let Some(status) = within(10, progress.next()).await {
            let status = status.unwrap();
            fractions.push(status.progress);
            last = Some(status);
        }
        let last = last.unwrap();
        assert_eq!(last.phase, OperationPhase::Succeeded);
        assert!(fractions.windows(2).all(|w| w[0] <= w[1]), "{fractions:?}");
        assert!(fractions.iter().any(|f| *f > 0.0 && *f < 1.0), "intermediate progress seen: {fractions:?}");
        let position = last.intermediate.expect("the last position reported").millimetres;
        assert!((position - 10.0).abs() < 1e-9, "{position}");

        assert_eq!(operation.wait().await.unwrap(), 10.0);
        assert_eq!(operation.status().await.unwrap().phase, OperationPhase::Succeeded);
        assert_eq!(stage.done.load(Ordering::SeqCst), 1);
        // The ordinary call of the same method still waits for its reply.
        assert_eq!(stage.stub.r#move(0.0, 400.0).await.unwrap(), 0.0);
    }
}

#[tokio::test]
async fn cancelling_an_operation_drops_the_move_where_it_is() {
    for in_process in [false, true] {
        let stage = stage(in_process).await;
        let operation = stage.stub.start_move(1_000.0, 10.0).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let status = operation.cancel().await.unwrap();
        assert_eq!(status.phase, OperationPhase::Cancelled);
        reaches(&stage.stopped, 1).await;
        let error = operation.wait().await.unwrap_err();
        assert!(matches!(&error, Error::Cancelled { message } if message.contains(operation.id())), "{error:?}");
        let position = stage.stub.position().await.unwrap();
        assert!(position > 0.0 && position < 10.0, "stopped on the way: {position}");
        // Cancelling again changes nothing.
        assert_eq!(operation.cancel().await.unwrap().phase, OperationPhase::Cancelled);
    }
}

/// Any gRPC client starts an operation from the `.proto` alone, goes away, and another client
/// (here a typed stub on another connection) finds it by id and takes its result.
#[tokio::test]
async fn an_operation_outlives_the_connection_that_started_it() {
    let stage = stage(false).await;
    let channel = raw_channel(&stage.server).await;
    let start = heros::proto::StartOperationRequest {
        interface: "examples.v1.Stage".into(),
        method: "Move".into(),
        request: encode(&MoveRequest { target: 5.0, speed: 50.0 }).into(),
    };
    let reply = raw_call_on(channel, "/heros.v1.Operations/Start", &NAME, encode(&start)).await.unwrap();
    let started: heros::proto::Operation = prost::Message::decode(reply).unwrap();
    assert_eq!(started.state, heros::proto::OperationState::OperationRunning as i32);
    // The channel (the only clone) is gone: its connection closes.

    let other = StageRemote::connect(&format!("heros://{}/stage", stage.server.local_addr())).await.unwrap();
    let operation = other.move_operation(&started.id);
    assert_eq!(within(10, operation.wait()).await.unwrap(), 5.0);

    let unknown = other.move_operation("00112233445566778899aabbccddeeff").status().await.unwrap_err();
    assert!(matches!(&unknown, Error::OperationNotFound { id } if id.starts_with("0011")), "{unknown:?}");
}

#[tokio::test]
async fn only_long_running_methods_start_as_operations() {
    let stage = stage(false).await;
    let start = heros::proto::StartOperationRequest {
        interface: "examples.v1.Stage".into(),
        method: "Position".into(),
        request: Default::default(),
    };
    let status = raw_call(&stage.server, "/heros.v1.Operations/Start", &NAME, encode(&start)).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("not a long-running method"), "{status:?}");

    let garbage = heros::proto::StartOperationRequest {
        interface: "examples.v1.Stage".into(),
        method: "Move".into(),
        request: vec![0xff, 0xff, 0xff].into(),
    };
    let reply = raw_call(&stage.server, "/heros.v1.Operations/Start", &NAME, encode(&garbage)).await.unwrap();
    let started: heros::proto::Operation = prost::Message::decode(reply).unwrap();
    let operation = stage.stub.move_operation(&started.id);
    let error = within(5, operation.wait()).await.unwrap_err();
    assert!(matches!(&error, Error::InvalidArgument { message } if message.contains("MoveRequest")), "{error:?}");
}

/// `HEROS_MAX_OPERATIONS` bounds what a client can make the server hold; an ended operation
/// goes after `HEROS_OPERATION_LIFETIME_MS`.
#[tokio::test]
async fn operations_are_bounded_in_number_and_lifetime() {
    let limits = Limits { max_operations: 2, operation_lifetime: Duration::from_millis(300), ..Limits::default() };
    let stage = stage_on(common::limited_server(limits).await).await;
    let slow = stage.stub.start_move(1_000.0, 1.0).await.unwrap();
    let quick = stage.stub.start_move(0.0, 1_000.0).await.unwrap();
    let refused = stage.stub.start_move(1.0, 1.0).await.unwrap_err();
    assert!(
        matches!(&refused, Error::LimitReached { limit, max: 2, .. } if limit == "HEROS_MAX_OPERATIONS"),
        "{refused:?}"
    );
    within(5, quick.wait()).await.unwrap();
    slow.cancel().await.unwrap();
    // Both ended; after their lifetime they are gone and make room.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let gone = quick.status().await.unwrap_err();
    assert!(matches!(gone, Error::OperationNotFound { .. }), "{gone:?}");
    stage.stub.start_move(0.0, 1.0).await.expect("room again");
}

/// The caller's deadline reaches the method: the skeleton reads it, and when it passes the
/// method's future is dropped and the caller gets DEADLINE_EXCEEDED at once.
#[tokio::test]
async fn the_callers_deadline_reaches_the_method() {
    let stage = stage(false).await;
    let empty = Vec::new();
    let deadline = [("heros-name", "stage"), ("grpc-timeout", "5000m")];
    let reply = raw_call(&stage.server, "/examples.v1.Stage/TimeLeft", &deadline, empty.clone()).await.unwrap();
    let left: proto::TimeLeftReply = prost::Message::decode(reply).unwrap();
    let left = left.milliseconds.expect("the method sees the deadline");
    assert!(left > 4_000 && left <= 5_000, "{left}");
    let reply = raw_call(&stage.server, "/examples.v1.Stage/TimeLeft", &NAME, empty).await.unwrap();
    assert_eq!(<proto::TimeLeftReply as prost::Message>::decode(reply).unwrap().milliseconds, None);

    let started = Instant::now();
    let deadline = [("heros-name", "stage"), ("grpc-timeout", "200m")];
    let long_move = encode(&MoveRequest { target: 1_000.0, speed: 1.0 });
    let status = raw_call(&stage.server, "/examples.v1.Stage/Move", &deadline, long_move).await.unwrap_err();
    // The server says DEADLINE_EXCEEDED; tonic's client keeps the same deadline and may say
    // CANCELLED "Timeout expired" first.
    let timed_out = status.code() == tonic::Code::DeadlineExceeded || status.message().contains("Timeout expired");
    assert!(timed_out, "{status:?}");
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    reaches(&stage.stopped, 1).await;
}

/// A caller that goes away (drops its call) stops the method, over the network and in process.
#[tokio::test]
async fn a_caller_going_away_stops_the_method() {
    for in_process in [false, true] {
        let stage = stage(in_process).await;
        let call = tokio::time::timeout(Duration::from_millis(100), stage.stub.r#move(1_000.0, 1.0)).await;
        assert!(call.is_err(), "the move was still running");
        reaches(&stage.stopped, 1).await;
        assert_eq!(stage.done.load(Ordering::SeqCst), 0);
    }
}

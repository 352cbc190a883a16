//! Events: every subscriber gets every message; a slow best-effort subscriber is told how many it
//! missed, a slow reliable one slows the emitter; subscribers come and go; a HERO leaving ends
//! the streams; and any gRPC client subscribes with a plain server stream.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::lab::{TestFurnace, FURNACE_LIMIT};
use common::proto::{self, FurnaceRemote};
use common::within;
use heros::{EventStream, Hero, LocalHero, Received, Server};
use tokio_stream::StreamExt;

async fn server(in_process: bool) -> Server {
    common::loopback_server(in_process).await
}

async fn share_furnace(server: &Server) -> (Arc<TestFurnace>, LocalHero, FurnaceRemote) {
    let furnace = Arc::new(TestFurnace::default());
    let hero = Hero::new("furnace").interface(proto::FurnaceServer::from_arc(furnace.clone()));
    let hero = server.share(hero).await.expect("shared");
    let stub = FurnaceRemote::connect(&hero.url()).await.unwrap();
    (furnace, hero, stub)
}

/// The next item, failing the test after 10 s instead of hanging.
async fn next<M: Unpin + Clone + Send + Sync + 'static>(stream: &mut EventStream<M>) -> Received<M> {
    within(10, stream.next()).await.expect("the stream goes on").expect("no error")
}

#[tokio::test]
async fn every_subscriber_gets_every_message_in_order() {
    for in_process in [false, true] {
        let server = server(in_process).await;
        let (furnace, _hero, stub) = share_furnace(&server).await;
        let mut subscribers = Vec::new();
        for _ in 0..10 {
            subscribers.push(stub.subscribe_readings().await.unwrap());
        }
        assert_eq!(furnace.readings.subscriber_count(), 10);
        // Readings are reliable with a buffer of 4: the burst goes on only as the subscribers read.
        let burst = tokio::spawn({
            let stub = stub.clone();
            async move { stub.burst(20, 0, false).await }
        });
        for expected in 0..20 {
            for subscriber in &mut subscribers {
                let reading = next(subscriber).await.event().expect("an event");
                assert_eq!(reading.sequence, expected);
            }
        }
        assert_eq!(within(10, burst).await.unwrap().unwrap(), 10, "the last reading reached all ten");
        stub.heat(FURNACE_LIMIT + 5.0).await.unwrap();
        let mut alarms = stub.subscribe_overheated().await.unwrap();
        stub.heat(FURNACE_LIMIT + 10.0).await.unwrap();
        let alarm = next(&mut alarms).await.event().unwrap();
        assert_eq!(alarm.celsius, FURNACE_LIMIT + 10.0, "only what was emitted after subscribing");
    }
}

#[tokio::test]
async fn a_slow_best_effort_subscriber_is_told_how_many_it_missed() {
    for in_process in [false, true] {
        let server = server(in_process).await;
        let (_furnace, _hero, stub) = share_furnace(&server).await;
        let mut slow = stub.subscribe_overheated().await.unwrap();
        // 50 MiB of alarms while nobody reads: more than the buffer (8) plus HTTP/2's windows.
        const BURST: u64 = 200;
        stub.burst(BURST as u32, 256 * 1024, true).await.unwrap();
        // One more, which may get through or be missed too, depending on how much the network
        // buffered; either way it is accounted for.
        stub.heat(FURNACE_LIMIT + 1.0).await.unwrap();
        let (mut events, mut missed) = (0, 0);
        let mut last_sequence = None;
        while events + missed < BURST + 1 {
            match next(&mut slow).await {
                Received::Event(alarm) => {
                    assert!(last_sequence < Some(alarm.sequence), "in order");
                    last_sequence = Some(alarm.sequence);
                    events += 1;
                }
                Received::Missed(count) => missed += count,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(events + missed, BURST + 1, "every alarm was either delivered or counted");
        assert!(missed > 0, "the slow subscriber missed some (in_process: {in_process})");
        // Caught up, the subscriber gets the next alarm as it is.
        stub.heat(FURNACE_LIMIT + 2.0).await.unwrap();
        let alarm = next(&mut slow).await.event().expect("an alarm, nothing missed");
        assert_eq!(alarm.sequence, BURST + 1);
    }
}

#[tokio::test]
async fn a_slow_reliable_subscriber_slows_the_emitter_and_loses_nothing() {
    for in_process in [false, true] {
        let server = server(in_process).await;
        let (_furnace, _hero, stub) = share_furnace(&server).await;
        let mut slow = stub.subscribe_readings().await.unwrap();
        const BURST: u64 = 200;
        let burst = tokio::spawn({
            let stub = stub.clone();
            async move { stub.burst(BURST as u32, 256 * 1024, false).await }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!burst.is_finished(), "the emitter waits for the subscriber");
        for expected in 0..BURST {
            let reading = next(&mut slow).await.event().expect("nothing missed");
            assert_eq!(reading.sequence, expected);
        }
        assert_eq!(within(10, burst).await.unwrap().unwrap(), 1);
    }
}

#[tokio::test]
async fn a_subscriber_that_disconnects_mid_stream_does_not_hold_up_the_others() {
    let server = server(false).await;
    let (furnace, _hero, stub) = share_furnace(&server).await;
    let mut stays = stub.subscribe_readings().await.unwrap();
    let mut leaves = stub.subscribe_readings().await.unwrap();
    stub.burst(3, 0, false).await.unwrap();
    for _ in 0..3 {
        next(&mut stays).await;
        next(&mut leaves).await;
    }
    drop(leaves);
    // Reliable delivery to a subscriber that left must not block: the burst finishes.
    let reached = within(10, stub.burst(100, 1024, false)).await.unwrap();
    assert_eq!(reached, 1);
    for expected in 3..103 {
        assert_eq!(next(&mut stays).await.event().unwrap().sequence, expected);
    }
    assert_eq!(furnace.readings.subscriber_count(), 1);

    // A callback connected the same way; disconnecting stops it.
    let (seen, mut sequences) = tokio::sync::mpsc::unbounded_channel();
    let connected = stub
        .connect_readings(move |item| {
            if let Some(reading) = item.event() {
                let _ = seen.send(reading.sequence);
            }
        })
        .await
        .unwrap();
    stub.burst(5, 0, false).await.unwrap();
    for expected in 103..108 {
        assert_eq!(within(10, sequences.recv()).await, Some(expected));
    }
    connected.disconnect();
}

#[tokio::test]
async fn a_subscription_survives_the_hero_leaving_and_coming_back_and_reports_the_gap() {
    for in_process in [false, true] {
        let server = server(in_process).await;
        let (_furnace, hero, stub) = share_furnace(&server).await;
        let mut stream = stub.subscribe_readings().await.unwrap();
        let (seen, mut callback) = tokio::sync::mpsc::unbounded_channel();
        let _connected = stub
            .connect_overheated(move |item| {
                let _ = seen.send(item);
            })
            .await
            .unwrap();
        stub.heat(20.0).await.unwrap();
        assert_eq!(next(&mut stream).await.event().unwrap().sequence, 0);

        within(10, hero.shutdown()).await;
        match next(&mut stream).await {
            Received::Interrupted { reason } => assert!(reason.contains("furnace"), "{reason}"),
            other => panic!("expected word of the interruption, got {other:?}"),
        }
        // Back, as a new object under the same name: the stream subscribes again by itself.
        let (_furnace, _hero, _) = share_furnace(&server).await;
        assert!(matches!(next(&mut stream).await, Received::Resumed { .. }));
        // The callback's subscription comes back on its own schedule: wait for it, too.
        let interrupted = within(10, callback.recv()).await;
        assert!(matches!(interrupted, Some(Received::Interrupted { .. })), "{interrupted:?}");
        let resumed = within(10, callback.recv()).await;
        assert!(matches!(resumed, Some(Received::Resumed { .. })), "{resumed:?}");
        stub.heat(FURNACE_LIMIT + 1.0).await.unwrap();
        assert_eq!(next(&mut stream).await.event().unwrap().sequence, 0, "the new furnace's first reading");
        let alarm = within(10, callback.recv()).await;
        assert!(matches!(&alarm, Some(Received::Event(alarm)) if alarm.celsius == FURNACE_LIMIT + 1.0), "{alarm:?}");
        // Open streams do not keep the server from shutting down.
        within(10, server.shutdown()).await;
    }
}

/// Subscribes to `Readings` of the furnace `hero` at `address` as any gRPC client would (an
/// empty request, raw bytes back); returns once the response headers have arrived.
async fn plain_subscription(address: &str, hero: &str) -> tonic::codec::Streaming<bytes::Bytes> {
    let channel =
        tonic::transport::Endpoint::from_shared(format!("http://{address}")).unwrap().connect().await.unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let mut request = tonic::Request::new(bytes::Bytes::new());
    request.metadata_mut().insert("heros-name", hero.parse().unwrap());
    let path = http::uri::PathAndQuery::from_static("/examples.v1.Furnace/Readings");
    // tonic's `server_streaming` resolves when the response headers arrive.
    grpc.server_streaming(request, path, common::RawCodec).await.unwrap().into_inner()
}

/// PROTOCOL.md, Events, "Subscribing": once the response headers have arrived, the subscription
/// is registered, so a message emitted right then reaches the subscriber; no other signal needed.
#[tokio::test]
async fn an_event_emitted_once_the_response_headers_arrived_is_received() {
    use prost::Message;
    let server = server(false).await;
    let (furnace, _hero, _stub) = share_furnace(&server).await;
    for round in 0..20_u32 {
        let mut stream = plain_subscription(&server.local_addr().to_string(), "furnace").await;
        // Emitted by the HERO itself, with nothing in between to wait for the subscription.
        let reached =
            furnace.readings.emit(proto::FurnaceReading { celsius: f64::from(round), ..Default::default() }).await;
        assert_eq!(reached, 1, "round {round}: the subscriber was registered before its headers were sent");
        let bytes = within(10, stream.message()).await.unwrap().expect("the event");
        assert_eq!(proto::FurnaceReading::decode(bytes).unwrap().celsius, f64::from(round));
    }
}

/// Not a test by itself: the HERO process of
/// [`a_process_exiting_right_after_shutdown_still_ends_its_event_streams_with_their_status`].
#[test]
fn hero_process() {
    common::process::hero_process_role();
}

/// PROTOCOL.md, "Leaving and shutdown": a HERO process that exits at once after
/// `LocalHero::shutdown()` (as `main` returning would) has sent the `UNAVAILABLE` status, with
/// its `ErrorDetail`, to its event subscribers first. Several runs: a lost status was a race.
#[tokio::test(flavor = "multi_thread")]
async fn a_process_exiting_right_after_shutdown_still_ends_its_event_streams_with_their_status() {
    for run in 0..5 {
        let env = [("HEROS_DISCOVERY", "off"), ("HEROS_BIND", "127.0.0.1:0"), ("HEROS_IN_PROCESS", "off")];
        let process = common::process::HeroProcess::start(&format!("leaving-{run}"), &env);
        assert!(process.ready(), "{}", process.first_line);
        let url = process.first_line.trim_start_matches("READY heros://").to_owned();
        let address = url.split('/').next().unwrap().to_owned();
        let mut stream = plain_subscription(&address, &format!("leaving-{run}")).await;
        common::interop::in_blocking_thread(move || process.leave()).await;
        let status = within(10, stream.message()).await.expect_err("the stream ends with a status");
        let detail = heros::detail_of(&status)
            .unwrap_or_else(|| panic!("run {run}: a bare status, without its ErrorDetail: {status:?}"));
        assert_eq!((status.code(), detail.kind.as_str()), (tonic::Code::Unavailable, "UNAVAILABLE"), "run {run}");
        assert!(detail.message.contains("left; its events stopped"), "run {run}: {detail:?}");
    }
}

#[tokio::test]
async fn any_grpc_client_subscribes_with_a_plain_server_stream() {
    use prost::Message;
    let server = server(false).await;
    let (_furnace, _hero, stub) = share_furnace(&server).await;
    let mut stream = plain_subscription(&server.local_addr().to_string(), "furnace").await;
    stub.burst(3, 0, false).await.unwrap();
    for expected in 0..3 {
        let bytes = within(10, stream.message()).await.unwrap().expect("a message");
        let reading = proto::FurnaceReading::decode(bytes).expect("a plain FurnaceReading");
        assert_eq!(reading.sequence, expected);
    }

    // The registry describes both events.
    let mut registry =
        heros::proto::registry_client::RegistryClient::connect(format!("http://{}", server.local_addr()))
            .await
            .unwrap();
    let description = registry
        .describe_hero(heros::proto::DescribeHeroRequest { name: "furnace".into() })
        .await
        .unwrap()
        .into_inner();
    let events: Vec<(String, i32)> =
        description.interfaces[0].events.iter().map(|e| (e.name.clone(), e.delivery)).collect();
    assert_eq!(
        events,
        vec![
            ("Overheated".to_owned(), heros::proto::Delivery::BestEffort as i32),
            ("Readings".to_owned(), heros::proto::Delivery::Reliable as i32)
        ]
    );
}

#[tokio::test]
async fn a_missed_count_reaches_a_plain_client_as_an_unknown_field() {
    let server = server(false).await;
    let (_furnace, _hero, stub) = share_furnace(&server).await;
    let endpoint = format!("http://{}", server.local_addr());
    let channel = tonic::transport::Endpoint::from_shared(endpoint).unwrap().connect().await.unwrap();
    let mut grpc = tonic::client::Grpc::new(channel).max_decoding_message_size(usize::MAX);
    grpc.ready().await.unwrap();
    let mut request = tonic::Request::new(bytes::Bytes::new());
    request.metadata_mut().insert("heros-name", "furnace".parse().unwrap());
    let path = http::uri::PathAndQuery::from_static("/examples.v1.Furnace/Overheated");
    let mut stream = grpc.server_streaming(request, path, common::RawCodec).await.unwrap().into_inner();
    const BURST: u64 = 200;
    stub.burst(BURST as u32, 256 * 1024, true).await.unwrap();
    let (mut alarms, mut missed) = (0, 0);
    while alarms + missed < BURST {
        let bytes = within(10, stream.message()).await.unwrap().expect("a message");
        // Field 536870911 (varint) ahead of an alarm: missed just before it. Field 536870910
        // alone: missed, and no alarm in this message.
        let (key, rest) = bytes.split_at(5);
        let mut rest = rest;
        match key {
            [0xF8, 0xFF, 0xFF, 0xFF, 0x0F] => {
                missed += prost::encoding::decode_varint(&mut rest).unwrap();
                <proto::Alarm as prost::Message>::decode(rest).expect("an alarm follows");
                alarms += 1;
            }
            [0xF0, 0xFF, 0xFF, 0xFF, 0x0F] => {
                missed += prost::encoding::decode_varint(&mut rest).unwrap();
                assert!(rest.is_empty(), "nothing else in a missed-only message");
            }
            _ => {
                <proto::Alarm as prost::Message>::decode(bytes).expect("a plain alarm");
                alarms += 1;
            }
        }
    }
    assert_eq!(alarms + missed, BURST);
    assert!(missed > 0);
}

#[tokio::test]
async fn an_attribute_watch_sees_every_set_from_anywhere() {
    for in_process in [false, true] {
        let server = server(in_process).await;
        let hero = common::share_test_hero(&server, "watched", 5).await;
        let stub = proto::TestObjectRemote::connect(&hero.url()).await.unwrap();
        let mut values = stub.watch_testme().await.unwrap();
        assert_eq!(next_value(&mut values).await, 5, "the current value first");
        stub.set_testme(7).await.unwrap(); // set by a caller
        assert_eq!(next_value(&mut values).await, 7);
        stub.hello().await.unwrap(); // changed by the HERO itself
        assert_eq!(next_value(&mut values).await, 8);
        hero.shutdown().await;
        assert!(within(10, values.next()).await.is_none(), "the watch ends when the HERO leaves");
    }
}

async fn next_value<V>(values: &mut heros::AttributeStream<V>) -> V {
    within(10, values.next()).await.expect("a value").expect("no error")
}

#[tokio::test]
async fn watching_what_is_not_an_attribute_names_the_attributes() {
    let server = server(false).await;
    let _hero = common::share_test_hero(&server, "watched", 5).await;
    let mut attributes =
        heros::proto::attributes_client::AttributesClient::connect(format!("http://{}", server.local_addr()))
            .await
            .unwrap();
    let mut request = tonic::Request::new(heros::proto::WatchRequest {
        interface: "examples.v1.TestObject".into(),
        attribute: "Hello".into(),
    });
    request.metadata_mut().insert("heros-name", "watched".parse().unwrap());
    let status = attributes.watch(request).await.expect_err("refused");
    assert_eq!(status.code(), tonic::Code::Unimplemented);
    assert!(status.message().contains("Testme") && status.message().contains("Firmware"), "{status:?}");
    // It says what is wrong: the name is there, but not as an attribute.
    assert!(status.message().contains("'Hello' is not an attribute of examples.v1.TestObject"), "{status:?}");
    assert!(!status.message().contains("has no method"), "{status:?}");
    let detail = heros::detail_of(&status).expect("an ErrorDetail");
    assert_eq!((detail.kind.as_str(), detail.hero.as_str()), ("METHOD_NOT_FOUND", "watched"));
    assert_eq!(detail.context.get("expected").map(String::as_str), Some("attribute"));
    assert_eq!(detail.context.get("available").map(String::as_str), Some("Testme,Firmware"));
    match heros::Error::from_status(&status) {
        heros::Error::MethodNotFound { expected, method, .. } => {
            assert_eq!((expected.as_str(), method.as_str()), ("attribute", "Hello"))
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_method_of_another_hero_is_called_with_each_event_peer_to_peer() {
    use common::lab::CountingAlarmLog;
    let furnace_server = server(false).await;
    let (_furnace, _hero, furnace) = share_furnace(&furnace_server).await;
    let log_server = server(false).await;
    let log = CountingAlarmLog::default();
    let alarms = log.alarms.clone();
    let log_hero = log_server.share(Hero::new("alarm-log").interface(proto::AlarmLogServer::new(log))).await.unwrap();
    let count = |alarms: &Arc<std::sync::Mutex<Vec<proto::Alarm>>>| alarms.lock().unwrap().len();

    let info = furnace
        .target()
        .connect_callback("examples.v1.Furnace", "Overheated", &log_hero, "/examples.v1.AlarmLog/Record")
        .await
        .unwrap();
    furnace.heat(FURNACE_LIMIT + 1.0).await.unwrap();
    furnace.heat(FURNACE_LIMIT + 2.0).await.unwrap();
    within(10, async {
        while count(&alarms) < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    let celsius: Vec<f64> = alarms.lock().unwrap().iter().map(|a| a.celsius).collect();
    assert_eq!(celsius, vec![FURNACE_LIMIT + 1.0, FURNACE_LIMIT + 2.0]);
    let listed = furnace.target().callbacks().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].id, listed[0].delivered, listed[0].failed), (info.id, 2, 0));
    assert_eq!(listed[0].target.as_ref().unwrap().name, "alarm-log");

    // A method that does not exist: each call fails, and is counted.
    let broken = furnace
        .target()
        .connect_callback("examples.v1.Furnace", "Overheated", &log_hero, "/examples.v1.AlarmLog/Nope")
        .await
        .unwrap();
    furnace.target().disconnect_callback(info.id).await.unwrap();
    furnace.heat(FURNACE_LIMIT + 3.0).await.unwrap();
    within(10, async {
        while furnace.target().callbacks().await.unwrap().iter().all(|c| c.failed == 0) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    let listed = furnace.target().callbacks().await.unwrap();
    assert_eq!(listed.iter().map(|c| (c.id, c.delivered, c.failed)).collect::<Vec<_>>(), vec![(broken.id, 0, 1)]);
    assert_eq!(count(&alarms), 2, "the disconnected callback was not called");

    // Refused: a bad path, an unknown event, a target in another realm, an unknown id.
    let error = furnace.target().connect_callback("examples.v1.Furnace", "Overheated", &log_hero, "Record").await;
    assert_eq!(error.unwrap_err().code(), tonic::Code::InvalidArgument);
    let error = furnace.target().connect_callback("examples.v1.Furnace", "Nothing", &log_hero, "/a.B/C").await;
    assert_eq!(error.unwrap_err().code(), tonic::Code::Unimplemented);
    // A method that is not an event: METHOD_NOT_FOUND with expected=event, as PROTOCOL.md says.
    let error = furnace.target().connect_callback("examples.v1.Furnace", "Heat", &log_hero, "/a.B/C").await;
    let error = error.unwrap_err();
    assert!(error.to_string().contains("'Heat' is not an event of examples.v1.Furnace"), "{error}");
    match error {
        heros::Error::MethodNotFound { hero, interface, method, expected, available } => {
            assert_eq!((hero.as_str(), interface.as_str()), ("furnace", "examples.v1.Furnace"));
            assert_eq!((method.as_str(), expected.as_str()), ("Heat", "event"));
            assert!(available.iter().any(|e| e == "Overheated"), "{available:?}");
            assert!(!available.iter().any(|e| e == "Heat"), "{available:?}");
        }
        other => panic!("expected METHOD_NOT_FOUND, got {other:?}"),
    }
    let elsewhere = heros::proto::HeroRef { realm: "elsewhere".into(), ..heros::AsHeroRef::hero_ref(&log_hero) };
    let error = furnace.target().connect_callback("examples.v1.Furnace", "Overheated", &elsewhere, "/a.B/C").await;
    assert_eq!(error.unwrap_err().code(), tonic::Code::PermissionDenied);
    assert_eq!(furnace.target().disconnect_callback(999).await.unwrap_err().code(), tonic::Code::NotFound);
}

#[tokio::test]
async fn a_hero_that_leaves_while_emitting_on_still_ends_its_streams() {
    let server = server(true).await;
    let (furnace, hero, stub) = share_furnace(&server).await;
    let mut alarms = stub.subscribe_overheated().await.unwrap();
    // The HERO's own task keeps emitting, so the subscriber never runs dry.
    let emitter = tokio::spawn({
        let furnace = furnace.clone();
        async move {
            loop {
                furnace.overheated.emit(proto::Alarm { celsius: 99.0, ..Default::default() }).await;
                tokio::task::yield_now().await;
            }
        }
    });
    next(&mut alarms).await;
    drop(hero);
    within(10, async {
        loop {
            if let Received::Interrupted { .. } = next(&mut alarms).await {
                break;
            }
        }
    })
    .await;
    emitter.abort();
}

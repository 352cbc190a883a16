//! Streaming methods (gRPC's route guide, `.proto` unchanged): server-streaming, client-streaming
//! and bidirectional rpcs as HERO methods, through the typed stub over the network and within
//! the process alike; flow control; and cancel and deadlines reaching the HERO.

mod common;

#[path = "../examples/support/route_guide_hero.rs"]
mod route_guide_hero;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::within;
use heros::{Error, Hero, Server};
use route_guide_hero::routeguide::{Feature, Point, RouteGuideRemote, RouteGuideServer, RouteNote};
use route_guide_hero::{features, long_features, RouteGuideHero};
use tokio_stream::StreamExt;

async fn server(in_process: bool) -> Server {
    common::loopback_server(in_process).await
}

/// The route guide on a fresh server, and a stub to it (in process, or over loopback).
struct Guide {
    stub: RouteGuideRemote,
    /// Features the HERO has made for `ListFeatures` so far.
    features_sent: Arc<AtomicU64>,
    _hero: heros::LocalHero,
    _server: Server,
}

async fn route_guide(in_process: bool, features: Vec<Feature>) -> Guide {
    let server = server(in_process).await;
    let guide = RouteGuideHero::new(features);
    let features_sent = guide.features_sent.clone();
    let hero = server.share(Hero::new("guide").interface(RouteGuideServer::new(guide))).await.unwrap();
    let stub = RouteGuideRemote::connect(&hero.url()).await.unwrap();
    assert_eq!(stub.target().is_in_process(), in_process);
    Guide { stub, features_sent, _hero: hero, _server: server }
}

fn point(n: i32) -> Point {
    Point { latitude: 400_000_000, longitude: -740_000_000 + n * 10_000 }
}

/// All four rpcs give the same answers both ways.
#[tokio::test]
async fn the_route_guide_answers_alike_over_the_network_and_in_process() {
    let mut answers = Vec::new();
    for in_process in [false, true] {
        let guide = route_guide(in_process, features(100)).await;
        let stub = &guide.stub;
        let feature = stub.get_feature(point(3).latitude, point(3).longitude).await.unwrap();
        assert_eq!(feature.name, "feature-3");

        let listed: Vec<String> = stub
            .list_features(Some(point(10)), Some(point(19)))
            .await
            .unwrap()
            .map(|feature| feature.unwrap().name)
            .collect()
            .await;
        assert_eq!(listed.len(), 10, "{listed:?}");
        assert_eq!(listed[0], "feature-10");

        let route = tokio_stream::iter((0..5).map(point).chain([Point { latitude: 1, longitude: 1 }]));
        let summary = stub.record_route(route).await.unwrap();
        assert_eq!((summary.point_count, summary.feature_count), (6, 5));
        assert!(summary.distance > 3_000, "{summary:?}");

        let note = |n: i32, text: &str| RouteNote { location: Some(point(n)), message: text.to_owned() };
        let notes = tokio_stream::iter(vec![note(1, "a"), note(2, "b"), note(1, "c"), note(1, "d")]);
        let heard: Vec<String> =
            stub.route_chat(notes).await.unwrap().map(|note| note.unwrap().message).collect().await;
        // At the third note, "a" was left at point 1; at the fourth, "a" and "c".
        assert_eq!(heard, ["a", "a", "c"]);
        answers.push(format!("{feature:?} {listed:?} {summary:?} {heard:?}"));
    }
    assert_eq!(answers[0], answers[1]);
}

/// A method's own error ends its stream with that error, both ways.
#[tokio::test]
async fn a_streaming_method_refuses_with_its_own_error() {
    for in_process in [false, true] {
        let guide = route_guide(in_process, features(3)).await;
        let stub = &guide.stub;
        let error = match stub.list_features(Some(point(0)), None).await {
            Ok(mut stream) => stream.next().await.expect("an error item").unwrap_err(),
            Err(error) => error,
        };
        assert!(matches!(&error, Error::InvalidArgument { message } if message.contains("both corners")), "{error:?}");
    }
}

/// A reader that does not read holds the HERO's stream back: the features are made as the
/// caller takes them, so only what fits in HTTP/2's windows (16 MiB a call) is ever made ahead
/// over the network, and nothing within the process.
#[tokio::test]
async fn a_slow_reader_holds_back_a_server_stream() {
    const COUNT: usize = 20_000;
    for in_process in [false, true] {
        // 4 KiB a feature: 80 MiB in all, five times the stream's window.
        let guide = route_guide(in_process, long_features(COUNT, 4096)).await;
        let mut stream = guide.stub.list_features(Some(point(0)), Some(point(COUNT as i32))).await.unwrap();
        let first = stream.next().await.unwrap().unwrap();
        assert!(first.name.starts_with("feature-0."), "{}", &first.name[..20]);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let sent = guide.features_sent.load(Ordering::Relaxed);
        let ahead = if in_process { 2 } else { COUNT as u64 / 4 };
        assert!(sent <= ahead, "{sent} of {COUNT} features made for a reader that read one (in process: {in_process})");
        let rest = within(60, async { stream.fold(1usize, |n, _| n + 1).await }).await;
        assert_eq!(rest, COUNT);
    }
}

/// A fast stream of small messages goes out in few HTTP/2 frames. tonic's encoder makes a frame
/// whenever the HERO's stream returns `Pending`, and `tokio_stream::iter` (as any stream under
/// tokio's cooperative budget) does that every 32 messages, with more to give; the server
/// gathers such frames (runtime/src/server/serving/gathering.rs), which made the server stream
/// of small messages 1.4x faster (BENCHMARKS.md). Counted on the wire, with a client that reads
/// HTTP/2 frames.
#[tokio::test]
async fn a_fast_stream_of_small_messages_goes_out_in_few_frames() {
    use common::raw_h2::{self, RawH2};
    use prost::Message;
    use route_guide_hero::routeguide::Rectangle;

    // About 45 KB of features: under the 64 KiB a client's window holds before it says more.
    const COUNT: usize = 1200;
    let guide = route_guide(false, features(COUNT)).await;
    let mut raw = RawH2::connect(guide._server.local_addr()).await.unwrap();
    raw.request(1, "/routeguide.RouteGuide/ListFeatures", false).await.unwrap();
    let rectangle = Rectangle { lo: Some(point(0)), hi: Some(point(COUNT as i32)) }.encode_to_vec();
    let mut request = vec![0u8];
    request.extend((rectangle.len() as u32).to_be_bytes());
    request.extend(rectangle);
    raw.data(1, &request, true).await.unwrap();

    let (mut frames, mut replies) = (0, Vec::new());
    within(10, async {
        loop {
            let frame = raw.read().await.unwrap();
            match frame.kind {
                raw_h2::DATA if frame.stream == 1 => {
                    frames += 1;
                    replies.extend(frame.payload);
                }
                raw_h2::HEADERS if frame.stream == 1 && frame.flags & 0x1 != 0 => break,
                _ => {}
            }
        }
    })
    .await;
    let mut names = Vec::new();
    let mut rest = &replies[..];
    while !rest.is_empty() {
        let length = u32::from_be_bytes(rest[1..5].try_into().unwrap()) as usize;
        names.push(Feature::decode(&rest[5..5 + length]).unwrap().name);
        rest = &rest[5 + length..];
    }
    assert_eq!(names.len(), COUNT);
    assert!(names.iter().enumerate().all(|(n, name)| *name == format!("feature-{n}")), "in order");
    // One frame per 32 features would be 38. Gathered: the first two as they come, then the
    // rest in pieces of up to 32 KiB, which HTTP/2 cuts to this client's largest frame (16 KiB,
    // the default): 5.
    assert!(frames <= 8, "{} bytes of {COUNT} features in {frames} DATA frames", replies.len());
}

/// Handles and HERO references inside streamed messages, in every kind of streaming rpc.
mod warehouse {
    use super::*;
    use common::stock::{Note, WarehouseRemote, WarehouseServer};
    use heros::Streaming;

    /// A crate: its number and weight.
    pub(crate) struct Crate {
        number: u32,
        kilograms: f64,
    }

    /// A warehouse: its name and the warehouses it knows.
    struct Depot {
        name: String,
        neighbours: Vec<WarehouseRemote>,
    }

    impl common::stock::Warehouse for Depot {
        type Crate = Crate;

        async fn crates(&self, count: u32, kilograms: f64) -> heros::Result<Streaming<Arc<Crate>>> {
            Ok(Box::pin(tokio_stream::iter((0..count).map(move |number| Ok(Arc::new(Crate { number, kilograms }))))))
        }

        async fn weigh(&self, mut requests: Streaming<Arc<Crate>>) -> heros::Result<f64> {
            let mut total = 0.0;
            while let Some(crate_) = requests.next().await {
                total += crate_?.kilograms;
            }
            Ok(total)
        }

        async fn labels(&self, requests: Streaming<Arc<Crate>>) -> heros::Result<Streaming<String>> {
            let name = self.name.clone();
            Ok(Box::pin(
                requests.map(move |crate_| crate_.map(|c| format!("{name}: crate {} of {} kg", c.number, c.kilograms))),
            ))
        }

        async fn read_notes(&self, requests: Streaming<Note>) -> heros::Result<Streaming<String>> {
            Ok(Box::pin(requests.map(|note| note.map(|note| note.text))))
        }

        async fn neighbours(&self) -> heros::Result<Streaming<heros::proto::HeroRef>> {
            let references: Vec<_> = self.neighbours.iter().map(|n| Ok(heros::AsHeroRef::hero_ref(n))).collect();
            Ok(Box::pin(tokio_stream::iter(references)))
        }

        async fn visit(&self, requests: Streaming<WarehouseRemote>) -> heros::Result<Streaming<String>> {
            Ok(Box::pin(requests.then(|warehouse| async move { warehouse?.name().await })))
        }

        async fn name(&self) -> heros::Result<String> {
            Ok(self.name.clone())
        }

        async fn tally(&self, mut requests: Streaming<String>) -> heros::Result<f64> {
            let mut count = 0.0;
            if let Some(first) = requests.next().await {
                first?;
                count += 1.0;
                tokio::time::sleep(PAUSE).await;
            }
            while let Some(label) = requests.next().await {
                label?;
                count += 1.0;
            }
            Ok(count)
        }
    }

    /// How long `Tally` stops reading after the first label.
    const PAUSE: Duration = Duration::from_millis(600);

    /// A HERO that stops reading holds the caller's stream back: labels are made as the HERO
    /// takes them, so only what fits in HTTP/2's windows is made ahead over the network, and
    /// nothing within the process.
    #[tokio::test]
    async fn a_slow_reader_holds_back_a_client_stream() {
        const COUNT: usize = 20_000;
        for in_process in [false, true] {
            let server = server(in_process).await;
            let (_hero, stub) = depot(&server, "slow", Vec::new()).await;
            let made = Arc::new(AtomicU64::new(0));
            let counter = made.clone();
            // 4 KiB a label: 80 MiB in all, five times the stream's window.
            let labels = tokio_stream::iter(0..COUNT).map(move |n| {
                counter.fetch_add(1, Ordering::Relaxed);
                format!("{n}{}", ".".repeat(4096))
            });
            let tally = tokio::spawn(async move { stub.tally(labels).await });
            tokio::time::sleep(PAUSE / 2).await;
            let ahead = made.load(Ordering::Relaxed);
            let bound = if in_process { 3 } else { COUNT as u64 / 4 };
            assert!(
                ahead <= bound,
                "{ahead} of {COUNT} labels made while the HERO read one (in process: {in_process})"
            );
            assert_eq!(within(60, tally).await.unwrap().unwrap(), COUNT as f64);
        }
    }

    async fn depot(
        server: &Server,
        name: &str,
        neighbours: Vec<WarehouseRemote>,
    ) -> (heros::LocalHero, WarehouseRemote) {
        let depot = Depot { name: name.to_owned(), neighbours };
        let hero = server.share(Hero::new(name).interface(WarehouseServer::new(depot))).await.unwrap();
        let stub = WarehouseRemote::connect(&hero.url()).await.unwrap();
        (hero, stub)
    }

    #[tokio::test]
    async fn handles_travel_in_streams_both_ways() {
        for in_process in [false, true] {
            let server = server(in_process).await;
            let (_hero, stub) = depot(&server, "north", Vec::new()).await;
            let handles: Vec<heros::Handle> =
                stub.crates(3, 2.5).await.unwrap().map(|handle| handle.unwrap()).collect().await;
            assert_eq!(handles.len(), 3);
            assert!(handles[0].repr().contains("lab.Crate"), "{}", handles[0].repr());
            assert_eq!(stub.weigh(tokio_stream::iter(handles.clone())).await.unwrap(), 7.5);
            let labels: Vec<String> = stub
                .labels(tokio_stream::iter(handles.clone()))
                .await
                .unwrap()
                .map(|label| label.unwrap())
                .collect()
                .await;
            assert_eq!(labels, ["north: crate 0 of 2.5 kg", "north: crate 1 of 2.5 kg", "north: crate 2 of 2.5 kg"]);

            let notes = [
                stub.target().store(&Note { text: "fragile".into() }).await.unwrap(),
                stub.target().store(&Note { text: "this side up".into() }).await.unwrap(),
            ];
            let read: Vec<String> =
                stub.read_notes(tokio_stream::iter(notes)).await.unwrap().map(|n| n.unwrap()).collect().await;
            assert_eq!(read, ["fragile", "this side up"]);
        }
    }

    /// A handle of another server in a stream is refused with the handle error, as in a unary call.
    #[tokio::test]
    async fn a_foreign_handle_in_a_stream_is_refused() {
        for in_process in [false, true] {
            let (here, there) = (server(in_process).await, server(in_process).await);
            let (_a, north) = depot(&here, "north", Vec::new()).await;
            let (_b, south) = depot(&there, "south", Vec::new()).await;
            let foreign: Vec<heros::Handle> =
                south.crates(1, 1.0).await.unwrap().map(|handle| handle.unwrap()).collect().await;
            let error = north.weigh(tokio_stream::iter(foreign)).await.unwrap_err();
            assert!(matches!(error, Error::Handle { .. }), "{error:?}");
        }
    }

    #[tokio::test]
    async fn hero_references_travel_in_streams_both_ways() {
        for in_process in [false, true] {
            let server = server(in_process).await;
            let (_e, east) = depot(&server, "east", Vec::new()).await;
            let (_w, west) = depot(&server, "west", Vec::new()).await;
            let (_h, hub) = depot(&server, "hub", vec![east.clone(), west.clone()]).await;
            let neighbours: Vec<WarehouseRemote> = hub.neighbours().await.unwrap().map(|n| n.unwrap()).collect().await;
            let mut names = Vec::new();
            for neighbour in &neighbours {
                names.push(neighbour.name().await.unwrap());
            }
            assert_eq!(names, ["east", "west"]);
            let visited: Vec<String> = hub
                .visit(tokio_stream::iter(vec![west.clone(), east.clone()]))
                .await
                .unwrap()
                .map(|n| n.unwrap())
                .collect()
                .await;
            assert_eq!(visited, ["west", "east"]);
        }
    }
}

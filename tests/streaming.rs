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

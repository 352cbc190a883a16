//! gRPC's route guide (`schema/examples/route_guide.proto`, the `.proto` of gRPC's own example)
//! as a HERO: the four kinds of rpc through the typed stub, from another process.
//!
//! ```sh
//! cargo run --example route_guide
//! ```
//!
//! Two processes, as in `quickstart` (a private network namespace; `HEROS_NETNS=host` uses the
//! real network): this one starts the *guide process*, which shares `route-guide` with a few
//! hundred named places, finds it by name over mDNS and calls it:
//!
//! - `GetFeature` (unary): the place at one point;
//! - `ListFeatures` (server streaming): the places in a rectangle, each as it comes;
//! - `RecordRoute` (client streaming): a route sent point by point, one summary back;
//! - `RouteChat` (bidirectional): notes sent while the guide answers with the notes left earlier
//!   at the same place, each reply printed as it arrives, between the notes sent.

#[path = "support/route_guide_hero.rs"]
mod route_guide_hero;
#[path = "support/second_process.rs"]
mod second_process;

use std::time::Duration;

use route_guide_hero::routeguide::{Point, RouteGuideRemote, RouteGuideServer, RouteNote};
use route_guide_hero::{features, RouteGuideHero};
use tokio_stream::StreamExt;

/// The places the guide knows: `feature-0` .. `feature-299`, on a line of latitude 40°N.
const PLACES: usize = 300;

/// The point of place `n` (see [`route_guide_hero::features`]).
fn place(n: i32) -> Point {
    Point { latitude: 400_000_000, longitude: -740_000_000 + n * 10_000 }
}

/// The guide process: says READY and serves until `stop` resolves.
async fn serve_guide(stop: impl std::future::Future<Output = ()>) -> anyhow::Result<()> {
    let hero = heros::share("route-guide", RouteGuideServer::new(RouteGuideHero::new(features(PLACES)))).await?;
    println!("READY: 'route-guide' knows {PLACES} places, at {}", hero.url());
    stop.await;
    hero.shutdown().await;
    println!("'route-guide' has left");
    Ok(())
}

/// This process's side: the four rpcs through the typed stub.
async fn travel() -> anyhow::Result<()> {
    let guide = RouteGuideRemote::connect("route-guide").await?;
    println!("connected to 'route-guide' at {}", guide.target().endpoint());

    // Unary.
    let here = place(42);
    let feature = guide.get_feature(here.latitude, here.longitude).await?;
    println!("GetFeature(place 42) -> '{}'", feature.name);
    let nowhere = guide.get_feature(0, 0).await?;
    println!("GetFeature(0, 0) -> '{}' (no place there)", nowhere.name);

    // Server streaming: the replies arrive one by one, the first before the last is made.
    let mut listed = guide.list_features(Some(place(100)), Some(place(104))).await?;
    while let Some(feature) = listed.next().await {
        let feature = feature?;
        let at = feature.location.unwrap_or_default();
        println!("ListFeatures: '{}' at ({}, {})", feature.name, at.latitude, at.longitude);
    }
    let count = guide.list_features(Some(place(0)), Some(place(PLACES as i32))).await?.fold(0, |n, _| n + 1).await;
    println!("ListFeatures over every place -> {count} features streamed");

    // Client streaming: the points go out as the guide reads them.
    let route: Vec<Point> = (10..20).map(place).chain([Point { latitude: 1, longitude: 1 }]).collect();
    let sent = route.len();
    let summary = guide
        .record_route(tokio_stream::iter(route).map(|point| {
            println!("RecordRoute: sending ({}, {})", point.latitude, point.longitude);
            point
        }))
        .await?;
    println!(
        "RecordRoute({sent} points) -> {} points, {} features, {} m",
        summary.point_count, summary.feature_count, summary.distance
    );

    // Bidirectional: a note every 100 ms; the guide answers each with the notes left before it at
    // the same place, while the next notes are still being sent.
    let notes = [(1, "first at 1"), (2, "first at 2"), (1, "second at 1"), (1, "third at 1"), (2, "second at 2")];
    let outgoing = tokio_stream::iter(notes).then(|(n, text)| async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        println!("RouteChat: sending '{text}' at place {n}");
        RouteNote { location: Some(place(n)), message: text.to_owned() }
    });
    let mut heard = guide.route_chat(outgoing).await?;
    let mut replies = 0;
    while let Some(note) = heard.next().await {
        println!("RouteChat: heard '{}'", note?.message);
        replies += 1;
    }
    println!("RouteChat -> {replies} notes heard");
    Ok(())
}

fn main() -> anyhow::Result<()> {
    second_process::run("route_guide", "guide", serve_guide, travel)
}

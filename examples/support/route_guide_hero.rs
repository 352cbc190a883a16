//! gRPC's route guide as a HERO (`schema/examples/route_guide.proto`, the `.proto` of gRPC's own
//! example unchanged): a few named places, and the four kinds of rpc. Shared by the `route_guide`
//! example and the streaming tests.

#![allow(dead_code)] // each includer uses its part

pub(crate) mod routeguide {
    heros::include_proto!("routeguide");
}

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use heros::Streaming;
use routeguide::{Feature, Point, RouteGuide, RouteNote, RouteSummary};
use tokio_stream::StreamExt;

/// Notes by (latitude, longitude).
type NotesByPlace = HashMap<(i32, i32), Vec<RouteNote>>;

/// The route guide: its features, the notes left at each point, and counters the tests read.
pub(crate) struct RouteGuideHero {
    features: Vec<Feature>,
    /// Notes left at each place, by every caller of `RouteChat`.
    notes: Arc<Mutex<NotesByPlace>>,
    /// Features sent by `ListFeatures` so far (a slow reader holds this back).
    pub(crate) features_sent: Arc<AtomicU64>,
}

/// `count` features on a line of latitude 40°N, one every 0.001° of longitude from 74°W, named
/// `feature-<n>`.
pub(crate) fn features(count: usize) -> Vec<Feature> {
    long_features(count, 0)
}

/// Like [`features`], each name followed by `padding` dots (large messages).
pub(crate) fn long_features(count: usize, padding: usize) -> Vec<Feature> {
    (0..count)
        .map(|n| Feature {
            name: format!("feature-{n}{}", ".".repeat(padding)),
            location: Some(Point { latitude: 400_000_000, longitude: -740_000_000 + n as i32 * 10_000 }),
        })
        .collect()
}

impl RouteGuideHero {
    pub(crate) fn new(features: Vec<Feature>) -> Self {
        RouteGuideHero { features, notes: Arc::default(), features_sent: Arc::default() }
    }

    fn feature_at(&self, point: &Point) -> Option<&Feature> {
        self.features.iter().find(|f| f.location.as_ref() == Some(point))
    }
}

fn in_rectangle(point: &Point, lo: &Point, hi: &Point) -> bool {
    let (left, right) = (lo.longitude.min(hi.longitude), lo.longitude.max(hi.longitude));
    let (bottom, top) = (lo.latitude.min(hi.latitude), lo.latitude.max(hi.latitude));
    (left..=right).contains(&point.longitude) && (bottom..=top).contains(&point.latitude)
}

/// Great-circle distance in metres (the haversine formula, as in gRPC's example).
fn distance(from: &Point, to: &Point) -> i32 {
    const COORD_FACTOR: f64 = 1e7;
    const EARTH_RADIUS: f64 = 6_371_000.0;
    let (lat1, lat2) = (from.latitude as f64 / COORD_FACTOR, to.latitude as f64 / COORD_FACTOR);
    let (lng1, lng2) = (from.longitude as f64 / COORD_FACTOR, to.longitude as f64 / COORD_FACTOR);
    let (phi1, phi2) = (lat1.to_radians(), lat2.to_radians());
    let delta_phi = (lat2 - lat1).to_radians();
    let delta_lambda = (lng2 - lng1).to_radians();
    let a = (delta_phi / 2.0).sin().powi(2) + phi1.cos() * phi2.cos() * (delta_lambda / 2.0).sin().powi(2);
    (EARTH_RADIUS * 2.0 * a.sqrt().atan2((1.0 - a).sqrt())) as i32
}

impl RouteGuide for RouteGuideHero {
    async fn get_feature(&self, latitude: i32, longitude: i32) -> heros::Result<Feature> {
        let point = Point { latitude, longitude };
        Ok(self.feature_at(&point).cloned().unwrap_or(Feature { name: String::new(), location: Some(point) }))
    }

    async fn list_features(&self, lo: Option<Point>, hi: Option<Point>) -> heros::Result<Streaming<Feature>> {
        let (Some(lo), Some(hi)) = (lo, hi) else {
            return Err(heros::Error::invalid_argument("a rectangle needs both corners, lo and hi"));
        };
        let found: Vec<Feature> = self
            .features
            .iter()
            .filter(|f| f.location.as_ref().is_some_and(|p| in_rectangle(p, &lo, &hi)))
            .cloned()
            .collect();
        let sent = self.features_sent.clone();
        // Lazy: each feature is made when the caller's side has room for it.
        Ok(Box::pin(tokio_stream::iter(found).map(move |feature| {
            sent.fetch_add(1, Ordering::Relaxed);
            Ok(feature)
        })))
    }

    async fn record_route(&self, mut requests: Streaming<Point>) -> heros::Result<RouteSummary> {
        let started = Instant::now();
        let mut summary = RouteSummary::default();
        let mut previous: Option<Point> = None;
        while let Some(point) = requests.next().await {
            let point = point?;
            summary.point_count += 1;
            if self.feature_at(&point).is_some() {
                summary.feature_count += 1;
            }
            if let Some(previous) = &previous {
                summary.distance += distance(previous, &point);
            }
            previous = Some(point);
        }
        summary.elapsed_time = started.elapsed().as_secs() as i32;
        Ok(summary)
    }

    async fn route_chat(&self, requests: Streaming<RouteNote>) -> heros::Result<Streaming<RouteNote>> {
        // For each note: the notes left at its place before it, then it is left there too. The
        // replies are made as the caller reads them, one note at a time.
        let notes = self.notes.clone();
        let replies = futures_util::StreamExt::flat_map(requests, move |note| {
            let earlier = note.map(|note| {
                let place = note.location.as_ref().map(|p| (p.latitude, p.longitude)).unwrap_or_default();
                let mut notes = notes.lock().unwrap();
                let here = notes.entry(place).or_default();
                let earlier = here.clone();
                here.push(note);
                earlier
            });
            let earlier: Vec<heros::Result<RouteNote>> = match earlier {
                Ok(earlier) => earlier.into_iter().map(Ok).collect(),
                Err(error) => vec![Err(error)],
            };
            tokio_stream::iter(earlier)
        });
        Ok(Box::pin(replies))
    }
}

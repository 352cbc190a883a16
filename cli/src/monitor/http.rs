//! The monitor's HTTP API, which the page uses and tests call directly:
//!
//! | route | gives |
//! | --- | --- |
//! | `GET /` (and `/app.js`, `/style.css`) | the page (`assets.rs`) |
//! | `GET /api/heros` | the roster: name, realm, interfaces, tags, endpoint, health |
//! | `GET /api/heros/{hero}` | the HERO described, with form fields (`forms.rs`) |
//! | `POST /api/heros/{hero}/methods/{method}` | calls it; body: the request as JSON |
//! | `POST /api/heros/{hero}/attributes/{attribute}` | sets it; body: the value as JSON |
//! | `GET /api/stream[?hero=NAME]` | server-sent events: the roster on every change, and with `hero`, that HERO's attribute values and events |
//! | `GET /api/stats` | subscriptions opened to HEROs, feeds and pages live |
//!
//! Errors are JSON (`failure.rs`). A POST must be `application/json`, which a form on another
//! web site cannot send without the browser asking first (and the monitor never says yes).

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::{BroadcastStream, WatchStream};
use tokio_stream::{Stream, StreamExt, StreamMap};

use super::failure::Failure;
use super::feeds::{Item, Subscription};
use super::hub::Hub;

pub(crate) fn router(hub: Arc<Hub>, listen: SocketAddr, allow_remote: bool) -> Router {
    Router::new()
        .merge(super::assets::routes())
        .route("/api/heros", get(roster))
        .route("/api/heros/{hero}", get(describe))
        .route("/api/heros/{hero}/methods/{method}", post(call))
        .route("/api/heros/{hero}/attributes/{attribute}", post(set))
        .route("/api/stream", get(stream))
        .route("/api/stats", get(stats))
        .fallback(|| async { Failure::not_found("no such page or API route") })
        .layer(middleware::from_fn(move |request: Request, next: Next| guard(request, next, listen, allow_remote)))
        .with_state(hub)
}

/// Refuses requests for another host name (DNS rebinding) and POSTs that are not JSON.
async fn guard(request: Request, next: Next, listen: SocketAddr, allow_remote: bool) -> Response {
    let host = request.headers().get(header::HOST).and_then(|host| host.to_str().ok());
    if !super::listen::host_allowed(host, listen, allow_remote) {
        let message = format!("this monitor answers requests for {listen} only, not for host {host:?}");
        return (StatusCode::MISDIRECTED_REQUEST, Json(json!({ "error": { "message": message } }))).into_response();
    }
    if request.method() == Method::POST {
        let content_type = request.headers().get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok());
        if !content_type.is_some_and(|value| value.starts_with("application/json")) {
            let message = "send the JSON with Content-Type: application/json";
            return (StatusCode::UNSUPPORTED_MEDIA_TYPE, Json(json!({ "error": { "message": message } })))
                .into_response();
        }
    }
    next.run(request).await
}

async fn roster(State(hub): State<Arc<Hub>>) -> Json<Value> {
    let heros = hub.roster.subscribe().borrow().clone();
    Json(super::roster::to_json(&heros))
}

async fn describe(State(hub): State<Arc<Hub>>, Path(name): Path<String>) -> Result<Json<Value>, Failure> {
    let hero = hub.hero(&name).await?;
    Ok(Json(super::forms::describe(&hero)))
}

async fn call(
    State(hub): State<Arc<Hub>>,
    Path((name, method)): Path<(String, String)>,
    body: String,
) -> Result<Json<Value>, Failure> {
    let hero = hub.hero(&name).await?;
    let reply = super::actions::call(&hero, &method, &body).await?;
    Ok(Json(json!({ "reply": reply })))
}

async fn set(
    State(hub): State<Arc<Hub>>,
    Path((name, attribute)): Path<(String, String)>,
    body: String,
) -> Result<Json<Value>, Failure> {
    let hero = hub.hero(&name).await?;
    let value = super::actions::set(&hero, &attribute, &body).await?;
    Ok(Json(json!({ "value": value })))
}

async fn stats(State(hub): State<Arc<Hub>>) -> Json<Value> {
    Json(hub.stats.to_json())
}

type Items = Pin<Box<dyn Stream<Item = Item> + Send>>;

/// One page's live stream: the roster whenever it changes (the latest only, for a page that
/// fell behind), and with `?hero=NAME` a share of the feed of each of that HERO's attributes
/// and events. Everything the page shows live comes through this one connection, so a tab
/// holds one of the browser's few connections per host, not one per thing it watches.
async fn stream(
    State(hub): State<Arc<Hub>>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Failure> {
    let realm = hub.realm.clone();
    let roster = WatchStream::new(hub.roster.subscribe()).map(move |heros| -> Item {
        json!({ "type": "roster", "realm": realm, "heros": super::roster::to_json(&heros) }).to_string().into()
    });
    let mut items: StreamMap<usize, Items> = StreamMap::new();
    items.insert(0, Box::pin(roster));
    if let Some(name) = query.get("hero") {
        let hero = hub.hero(name).await?;
        for member in hero.members.iter().filter(|member| super::feeds::has_feed(member)) {
            let Subscription { _feed: feed, last, items: receiver } = hub.feeds.subscribe(name, member);
            let later = BroadcastStream::new(receiver).map(move |item| {
                // The page's share keeps the feed open for as long as this stream lives.
                let _share = &feed;
                match item {
                    Ok(item) => item,
                    Err(BroadcastStreamRecvError::Lagged(missed)) => {
                        json!({ "type": "lagged", "missed": missed }).to_string().into()
                    }
                }
            });
            items.insert(items.len(), Box::pin(tokio_stream::iter(last).chain(later)));
        }
    }
    let page = Page::open(hub.clone());
    let events = items.map(move |(_, item)| {
        let _page = &page;
        Ok(Event::default().data(&*item))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

/// Counts a page's live stream while it is open.
struct Page(Arc<Hub>);

impl Page {
    fn open(hub: Arc<Hub>) -> Page {
        hub.stats.pages_live.fetch_add(1, Ordering::Relaxed);
        Page(hub)
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        self.0.stats.pages_live.fetch_sub(1, Ordering::Relaxed);
    }
}

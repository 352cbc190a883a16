//! The page, built into the binary: plain HTML, CSS and JavaScript, no CDN and no build step,
//! so the monitor works on a machine without internet and the binary is all one installs.

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

const INDEX: &str = include_str!("assets/index.html");
const APP: &str = include_str!("assets/app.js");
const STYLE: &str = include_str!("assets/style.css");

pub(crate) fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|| async { asset("text/html; charset=utf-8", INDEX) }))
        .route("/app.js", get(|| async { asset("text/javascript; charset=utf-8", APP) }))
        .route("/style.css", get(|| async { asset("text/css; charset=utf-8", STYLE) }))
}

/// Served with `no-cache`: a browser kept open across an upgrade of the tool revalidates.
fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-cache")], body)
}

//! What a page does to a HERO: call a method with a JSON request, set an attribute to a JSON
//! value. The same lookups, JSON checks and calls as `heros call` and `heros set`, with their
//! errors sorted into HTTP statuses (`failure.rs`) instead of printed.

use serde_json::Value;

use super::failure::Failure;
use crate::hero::Hero;
use crate::interface::{find, Wanted};
use crate::json::{parse_message, to_json, to_message};

/// Calls `method` with `request` (a JSON object; empty means `{}`); gives the reply as JSON.
pub(crate) async fn call(hero: &Hero, method: &str, request: &str) -> Result<Value, Failure> {
    let member = find(&hero.members, &hero.info.name, method, Wanted::Method).map_err(not_found)?;
    if member.method.is_client_streaming() || member.method.is_server_streaming() {
        return Err(Failure::bad_request(format!(
            "{} of HERO '{}' is a streaming method; the monitor calls methods with one request and one reply",
            member.method.name(),
            hero.info.name
        )));
    }
    let request = if request.trim().is_empty() { "{}" } else { request };
    let request = parse_message(&member.method.input(), request).map_err(bad_request)?;
    let reply = hero.unary(&member.method, request).await.map_err(Failure::of_call)?;
    Ok(to_json(&reply))
}

/// Sets `attribute` to the JSON `value`; gives the value it then has.
pub(crate) async fn set(hero: &Hero, attribute: &str, value: &str) -> Result<Value, Failure> {
    let member = find(&hero.members, &hero.info.name, attribute, Wanted::Attribute).map_err(not_found)?;
    let value: Value = serde_json::from_str(value)
        .map_err(|e| Failure::bad_request(format!("bad JSON ({e}) in: {value} (a string needs quotes: \"text\")")))?;
    let request = to_message(&member.method.input(), serde_json::json!({ "value": value })).map_err(bad_request)?;
    let reply = hero.unary(&member.method, request).await.map_err(Failure::of_call)?;
    Ok(to_json(&reply).get("value").cloned().unwrap_or(Value::Null))
}

fn not_found(error: anyhow::Error) -> Failure {
    Failure::not_found(format!("{error:#}"))
}

fn bad_request(error: anyhow::Error) -> Failure {
    Failure::bad_request(format!("{error:#}"))
}

//! `heros call`, `heros get`, `heros set`: one unary rpc with its request from JSON and its reply
//! printed as JSON (pretty for people, one line with `--json`).

use anyhow::{anyhow, Result};
use prost_reflect::DynamicMessage;
use serde_json::Value;

use crate::hero::Hero;
use crate::interface::{find, Wanted};
use crate::json::{parse_message, to_json, to_message};

/// Calls `method` with `request` (a JSON object; `{}` when absent) and prints the reply.
pub(crate) async fn call(hero: &Hero, method: &str, request: Option<&str>, as_json: bool) -> Result<()> {
    let member = find(&hero.members, &hero.info.name, method, Wanted::Method)?;
    let request = parse_message(&member.method.input(), request.unwrap_or("{}"))?;
    let reply = hero.unary(&member.method, request).await?;
    print(&to_json(&reply), as_json);
    Ok(())
}

/// Reads `attribute`: a request without `value`.
pub(crate) async fn get(hero: &Hero, attribute: &str, as_json: bool) -> Result<()> {
    let member = find(&hero.members, &hero.info.name, attribute, Wanted::Attribute)?;
    let reply = hero.unary(&member.method, DynamicMessage::new(member.method.input())).await?;
    print_attribute(&to_json(&reply), as_json);
    Ok(())
}

/// Sets `attribute` to the JSON `value`: a request with `value`. The server refuses read-only
/// attributes itself (READ_ONLY), which is the error people should see.
pub(crate) async fn set(hero: &Hero, attribute: &str, value: &str, as_json: bool) -> Result<()> {
    let member = find(&hero.members, &hero.info.name, attribute, Wanted::Attribute)?;
    let parsed: Value = serde_json::from_str(value).map_err(|e| {
        let hint = if value.starts_with(['"', '{', '[']) { "" } else { " (a string needs quotes: '\"text\"')" };
        anyhow!("bad JSON ({e}) in: {value}{hint}")
    })?;
    let request = to_message(&member.method.input(), serde_json::json!({ "value": parsed }))?;
    let reply = hero.unary(&member.method, request).await?;
    print_attribute(&to_json(&reply), as_json);
    Ok(())
}

pub(crate) fn print_attribute(message: &Value, as_json: bool) {
    print(&attribute_view(message, as_json), as_json);
}

/// People see the value itself; programs the whole value message (`{"value": ...}`).
pub(crate) fn attribute_view(message: &Value, as_json: bool) -> Value {
    match as_json {
        true => message.clone(),
        false => message.get("value").cloned().unwrap_or(Value::Null),
    }
}

pub(crate) fn print(value: &Value, as_json: bool) {
    if as_json {
        crate::output::line(format_args!("{value}"));
    } else {
        crate::output::line(format_args!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
        ));
    }
}

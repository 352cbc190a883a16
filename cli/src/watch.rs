//! `heros watch`: an event's messages as they come (and how many were missed), or an
//! attribute's values (`heros.v1.Attributes/Watch`), until Ctrl-C, `--count` or `--for`.

use anyhow::{anyhow, Result};
use heros_runtime::proto::attributes_client::AttributesClient;
use heros_runtime::proto::{AttributeValue, WatchRequest};
use prost_reflect::DynamicMessage;
use serde_json::json;

use crate::codec::Received;
use crate::hero::Hero;
use crate::interface::{find, Kind, Member, Wanted};
use crate::json::to_json;
use crate::remote::RemoteError;

pub(crate) async fn run(hero: &Hero, name: &str, count: Option<u64>, as_json: bool) -> Result<()> {
    let member = find(&hero.members, &hero.info.name, name, Wanted::Watchable)?;
    match member.kind {
        Kind::Attribute { .. } => attribute(hero, member, count, as_json).await,
        _ => event(hero, member, count, as_json).await,
    }
}

async fn event(hero: &Hero, member: &Member, count: Option<u64>, as_json: bool) -> Result<()> {
    // The request's content is ignored by HEROS servers (docs/PROTOCOL.md, Events).
    let mut stream = hero.subscribe(&member.method, DynamicMessage::new(member.method.input())).await?;
    let mut seen = 0;
    while count.is_none_or(|count| seen < count) {
        let received = stream.message().await.map_err(|status| RemoteError::from_status(&status))?;
        match received {
            None => return Err(anyhow!("{} ended the subscription to {}", hero.info.name, member.method.name())),
            Some(Received::Missed(missed)) => print_missed(missed, as_json),
            Some(Received::Message { missed, message }) => {
                if missed > 0 {
                    print_missed(missed, as_json);
                }
                let event = to_json(&message);
                if as_json {
                    crate::output::line(format_args!("{}", json!({ "event": event })));
                } else {
                    crate::output::line(format_args!("{event}"));
                }
                seen += 1;
            }
        }
    }
    Ok(())
}

/// Best-effort events are dropped for a subscriber that falls behind; never silently.
fn print_missed(missed: u64, as_json: bool) {
    if as_json {
        crate::output::line(format_args!("{}", json!({ "missed": missed })));
    } else {
        crate::output::line(format_args!("(missed {missed} event{})", if missed == 1 { "" } else { "s" }));
    }
}

async fn attribute(hero: &Hero, member: &Member, count: Option<u64>, as_json: bool) -> Result<()> {
    let mut values = watch_attribute(hero, member).await?;
    let mut seen = 0;
    while count.is_none_or(|count| seen < count) {
        let value = values.message().await.map_err(|status| RemoteError::from_status(&status))?;
        let Some(value) = value else {
            return Err(anyhow!("{} ended the watch of {}", hero.info.name, member.display_name()));
        };
        let message = attribute_value(member, &value)?;
        // One line per value, also for people: a watch is read as a log.
        crate::output::line(crate::call::attribute_view(&to_json(&message), as_json));
        seen += 1;
    }
    Ok(())
}

/// Opens `heros.v1.Attributes/Watch` for `member`: its current value, then each new one. Also
/// the monitor's attribute feeds.
pub(crate) async fn watch_attribute(hero: &Hero, member: &Member) -> Result<tonic::Streaming<AttributeValue>> {
    let request = WatchRequest { interface: member.interface(), attribute: member.method.name().to_owned() };
    let mut client = AttributesClient::new(hero.channel.clone());
    Ok(client
        .watch(hero.request(request, false))
        .await
        .map_err(|status| RemoteError::from_status(&status))?
        .into_inner())
}

/// One watched value as the attribute's value message (`{"value": ...}` in JSON).
pub(crate) fn attribute_value(member: &Member, value: &AttributeValue) -> Result<DynamicMessage> {
    DynamicMessage::decode(member.method.input(), &value.message[..])
        .map_err(|e| anyhow!("a value of {} does not decode: {e}", member.display_name()))
}

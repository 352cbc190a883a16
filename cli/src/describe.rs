//! `heros describe`: a HERO's interfaces with their methods (request and reply fields, and which
//! of them streams), attributes (type, read-only or not) and events (message, delivery), built
//! once as JSON and printed either as it is (`--json`) or as text for people.

use prost_reflect::MessageDescriptor;
use serde_json::{json, Value};

use crate::hero::Hero;
use crate::interface::{Kind, Member};
use crate::json::type_name;
use crate::table::Table;

pub(crate) fn run(hero: &Hero, as_json: bool) {
    let description = describe(hero);
    if as_json {
        crate::output::line(format_args!("{description}"));
    } else {
        crate::output::line(text(&description).trim_end());
    }
}

/// The description as a JSON object.
pub(crate) fn describe(hero: &Hero) -> Value {
    let mut info = crate::list::hero_json(&hero.info);
    info["endpoint"] = json!(hero.endpoint);
    let interfaces: Vec<Value> = hero
        .info
        .interfaces
        .iter()
        .map(|name| {
            let of_interface = |member: &&Member| member.interface() == *name;
            let members: Vec<&Member> = hero.members.iter().filter(of_interface).collect();
            let doc = hero
                .pool
                .get_service_by_name(name)
                .map(|service| crate::interface::doc(&service.parent_file(), service.path()))
                .unwrap_or_default();
            let pick = |wanted: fn(&Kind) -> bool| -> Vec<Value> {
                members.iter().filter(|m| wanted(&m.kind)).map(|m| member_json(m)).collect()
            };
            json!({
                "name": name,
                "doc": doc,
                "methods": pick(|kind| *kind == Kind::Method),
                "attributes": pick(|kind| matches!(kind, Kind::Attribute { .. })),
                "events": pick(|kind| matches!(kind, Kind::Event { .. })),
            })
        })
        .collect();
    info["interfaces"] = Value::Array(interfaces);
    info
}

fn member_json(member: &Member) -> Value {
    let method = &member.method;
    match &member.kind {
        Kind::Method => json!({
            "name": method.name(),
            "doc": member.doc(),
            "request": message_json(&method.input()),
            "reply": message_json(&method.output()),
            "streams_requests": member.streaming().requests(),
            "streams_replies": member.streaming().replies(),
        }),
        Kind::Attribute { readonly } => {
            let value = method.input().get_field_by_name("value");
            json!({
                "name": member.display_name(),
                "rpc": method.name(),
                "doc": member.doc(),
                "type": value.map(|field| type_name(&field)).unwrap_or_else(|| "?".to_owned()),
                "value_message": method.input().full_name(),
                "readonly": readonly,
            })
        }
        Kind::Event { delivery } => json!({
            "name": method.name(),
            "doc": member.doc(),
            "request": message_json(&method.input()),
            "message": message_json(&method.output()),
            "delivery": delivery,
        }),
    }
}

fn message_json(message: &MessageDescriptor) -> Value {
    let fields: Vec<Value> =
        message.fields().map(|field| json!({ "name": field.name(), "type": type_name(&field) })).collect();
    json!({ "type": message.full_name(), "fields": fields })
}

/// `ReadTempRequest { min: int32, max: int32 }` from a message's JSON.
fn signature(message: &Value) -> String {
    let full = message["type"].as_str().unwrap_or_default();
    let short = full.rsplit('.').next().unwrap_or(full);
    let fields: Vec<String> = message["fields"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|field| format!("{}: {}", text_of(&field["name"]), text_of(&field["type"])))
        .collect();
    if fields.is_empty() {
        format!("{short} {{}}")
    } else {
        format!("{short} {{ {} }}", fields.join(", "))
    }
}

fn text_of(value: &Value) -> &str {
    value.as_str().unwrap_or_default()
}

fn text(description: &Value) -> String {
    let mut out = format!(
        "{}  realm {}  at {}\n",
        text_of(&description["name"]),
        text_of(&description["realm"]),
        text_of(&description["endpoint"])
    );
    let list = |key: &str| -> Vec<String> {
        description[key].as_array().into_iter().flatten().map(|v| text_of(v).to_owned()).collect()
    };
    if !list("tags").is_empty() {
        out.push_str(&format!("tags: {}\n", list("tags").join(", ")));
    }
    if let Some(metadata) = description["metadata"].as_object().filter(|m| !m.is_empty()) {
        let pairs: Vec<String> = metadata.iter().map(|(k, v)| format!("{k}={}", text_of(v))).collect();
        out.push_str(&format!("metadata: {}\n", pairs.join(", ")));
    }
    for interface in description["interfaces"].as_array().into_iter().flatten() {
        out.push('\n');
        out.push_str(text_of(&interface["name"]));
        if !text_of(&interface["doc"]).is_empty() {
            out.push_str(&format!(": {}", text_of(&interface["doc"])));
        }
        out.push('\n');
        let section = |out: &mut String, title: &str, key: &str, cells: &dyn Fn(&Value) -> Vec<String>| {
            let members = interface[key].as_array().cloned().unwrap_or_default();
            if members.is_empty() {
                return;
            }
            out.push_str(&format!("  {title}:\n"));
            let mut table = Table::new(&[]);
            for member in &members {
                let mut row = cells(member);
                row.push(text_of(&member["doc"]).to_owned());
                table.row(row);
            }
            for line in table.render().lines() {
                out.push_str(&format!("    {line}\n"));
            }
        };
        section(&mut out, "methods", "methods", &|m| {
            // As the `.proto` file writes it: `stream Point { .. } -> RouteSummary { .. }`.
            let stream = |key: &str| if m[key].as_bool() == Some(true) { "stream " } else { "" };
            let (request, reply) = (signature(&m["request"]), signature(&m["reply"]));
            let shape = format!("{}{request} -> {}{reply}", stream("streams_requests"), stream("streams_replies"));
            vec![text_of(&m["name"]).to_owned(), shape]
        });
        section(&mut out, "attributes", "attributes", &|a| {
            let access = if a["readonly"].as_bool() == Some(true) { "read-only" } else { "read-write" };
            vec![text_of(&a["name"]).to_owned(), text_of(&a["type"]).to_owned(), access.to_owned()]
        });
        section(&mut out, "events", "events", &|e| {
            vec![text_of(&e["name"]).to_owned(), signature(&e["message"]), text_of(&e["delivery"]).to_owned()]
        });
    }
    out
}

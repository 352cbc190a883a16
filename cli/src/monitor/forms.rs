//! What the page needs to build a form with typed inputs: `heros describe`'s description of a
//! HERO, with, for each method's request and each attribute's value, its fields as inputs
//! (integer with its bounds, number, bool, string, bytes, enum with its values) and a JSON
//! example for the rest (messages, lists, maps), which the page offers as editable JSON.

use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{json, Map, Value};

use crate::hero::Hero;
use crate::interface::Kind as MemberKind;
use crate::json::type_name;

/// How deep examples of nested messages go (recursive messages would not end).
const DEPTH: usize = 4;

/// `heros describe --json` of `hero`, each method with `form` (its request's fields), each
/// attribute with `form` (its value field).
pub(crate) fn describe(hero: &Hero) -> Value {
    let mut description = crate::describe::describe(hero);
    let Some(interfaces) = description["interfaces"].as_array_mut() else { return description };
    for interface in interfaces {
        let name = interface["name"].as_str().unwrap_or_default().to_owned();
        for member in hero.members.iter().filter(|member| member.interface() == name) {
            let (list, key, form) = match member.kind {
                MemberKind::Method => ("methods", "name", fields(&member.method.input())),
                MemberKind::Attribute { .. } => {
                    let value = member.method.input().get_field_by_name("value");
                    ("attributes", "rpc", value.map(|field| input(&field)).unwrap_or(Value::Null))
                }
                MemberKind::Event { .. } => continue,
            };
            let entries = interface[list].as_array_mut().into_iter().flatten();
            if let Some(entry) = entries.into_iter().find(|entry| entry[key] == member.method.name()) {
                entry["form"] = form;
                if list == "methods" {
                    entry["streaming"] = json!(member.method.is_client_streaming());
                }
            }
        }
        streams_are_methods(interface);
    }
    description
}

/// Server streams without the `heros.v1.event` option are streaming methods, not events: the
/// page lists them with the methods (without a form: it calls unary methods only).
fn streams_are_methods(interface: &mut Value) {
    let Some(Value::Array(events)) = interface.get_mut("events").map(Value::take) else { return };
    let (events, streams): (Vec<Value>, Vec<Value>) =
        events.into_iter().partition(|event| event["delivery"] != crate::interface::NO_EVENT_OPTION);
    interface["events"] = Value::Array(events);
    if let Some(methods) = interface["methods"].as_array_mut() {
        methods.extend(streams.into_iter().map(|stream| {
            json!({
                "name": stream["name"],
                "doc": stream["doc"],
                "request": stream["request"],
                "reply": stream["message"],
                "streaming": true,
            })
        }));
    }
}

/// The inputs of a message's fields, in declaration order.
fn fields(message: &MessageDescriptor) -> Value {
    Value::Array(message.fields().map(|field| input(&field)).collect())
}

/// One field as an input: `{"name", "type", "input", ...}`.
fn input(field: &FieldDescriptor) -> Value {
    let mut spec = json!({ "name": field.name(), "type": type_name(field) });
    let scalar = !field.is_list() && !field.is_map();
    let kind = if scalar { scalar_input(&field.kind(), &mut spec) } else { None };
    match kind {
        Some(kind) => spec["input"] = json!(kind),
        None => {
            spec["input"] = json!("json");
            spec["example"] = json!(example_of_field(field, DEPTH).to_string());
        }
    }
    spec
}

/// The input for a single value of `kind`, with its bounds or choices in `spec`; `None` for
/// messages (edited as JSON).
fn scalar_input(kind: &Kind, spec: &mut Value) -> Option<&'static str> {
    // 64-bit bounds as text: JavaScript numbers lose precision past 2^53.
    let bounds = |spec: &mut Value, min: String, max: String| {
        spec["min"] = json!(min);
        spec["max"] = json!(max);
    };
    Some(match kind {
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            bounds(spec, i32::MIN.to_string(), i32::MAX.to_string());
            "integer"
        }
        Kind::Uint32 | Kind::Fixed32 => {
            bounds(spec, "0".into(), u32::MAX.to_string());
            "integer"
        }
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
            bounds(spec, i64::MIN.to_string(), i64::MAX.to_string());
            "integer"
        }
        Kind::Uint64 | Kind::Fixed64 => {
            bounds(spec, "0".into(), u64::MAX.to_string());
            "integer"
        }
        Kind::Double | Kind::Float => "number",
        Kind::Bool => "bool",
        Kind::String => "string",
        Kind::Bytes => "bytes",
        Kind::Enum(enumeration) => {
            spec["values"] = json!(enumeration.values().map(|value| value.name().to_owned()).collect::<Vec<_>>());
            "enum"
        }
        Kind::Message(_) => return None,
    })
}

fn example_of_field(field: &FieldDescriptor, depth: usize) -> Value {
    if field.is_map() {
        return json!({});
    }
    if field.is_list() {
        return json!([]);
    }
    example_of_kind(&field.kind(), depth)
}

/// A value of `kind` as the protobuf JSON mapping writes its default.
fn example_of_kind(kind: &Kind, depth: usize) -> Value {
    match kind {
        Kind::Bool => json!(false),
        Kind::String | Kind::Bytes => json!(""),
        Kind::Double | Kind::Float => json!(0.0),
        Kind::Enum(enumeration) => json!(enumeration.default_value().name()),
        Kind::Message(message) => match message.full_name() {
            "google.protobuf.Timestamp" => json!("1970-01-01T00:00:00Z"),
            "google.protobuf.Duration" => json!("0s"),
            _ if depth == 0 => json!({}),
            _ => {
                let fields: Map<String, Value> = message
                    .fields()
                    .map(|field| (field.name().to_owned(), example_of_field(&field, depth - 1)))
                    .collect();
                Value::Object(fields)
            }
        },
        _ => json!(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost_reflect::DescriptorPool;

    fn message(name: &str) -> MessageDescriptor {
        let schema = concat!(env!("CARGO_MANIFEST_DIR"), "/../schema");
        let files = protox::compile(
            ["examples/testobject.proto", "examples/furnace.proto", "heros/v1/datasource.proto"],
            [schema],
        )
        .unwrap();
        DescriptorPool::from_file_descriptor_set(files).unwrap().get_message_by_name(name).unwrap()
    }

    #[test]
    fn scalars_get_typed_inputs_with_bounds() {
        let form = fields(&message("examples.v1.ReadTempRequest"));
        assert_eq!(
            form[0],
            json!({"name": "min", "type": "int32", "input": "integer", "min": "-2147483648", "max": "2147483647"})
        );
        let form = fields(&message("examples.v1.BurstRequest"));
        let inputs: Vec<&str> = form.as_array().unwrap().iter().map(|f| f["input"].as_str().unwrap()).collect();
        assert_eq!(inputs, ["integer", "integer", "bool"]);
    }

    #[test]
    fn messages_and_lists_are_edited_as_json_from_an_example() {
        let form = fields(&message("heros.v1.DataSet"));
        assert_eq!((&form[0]["input"], &form[0]["example"]), (&json!("json"), &json!("[]")));
        let form = fields(&message("heros.v1.DataValue"));
        let timestamp = form.as_array().unwrap().iter().find(|f| f["name"] == "timestamp").unwrap();
        assert_eq!(timestamp["example"], json!("\"1970-01-01T00:00:00Z\""));
    }
}

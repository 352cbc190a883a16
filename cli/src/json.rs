//! JSON ↔ protobuf messages known only at run time, in the protobuf JSON mapping (prost-reflect
//! does the mapping). Before converting, the JSON is checked against the descriptor here, so a
//! mistake is reported by field and expected type (`field "min" of examples.v1.ReadTempRequest
//! expects int32, got "abc"`), not as a serde position.

use anyhow::{anyhow, bail, Result};
use prost_reflect::{DeserializeOptions, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, SerializeOptions};
use serde_json::Value;

/// Parses `text` as JSON, then as a `message`.
pub(crate) fn parse_message(message: &MessageDescriptor, text: &str) -> Result<DynamicMessage> {
    let value: Value = serde_json::from_str(text).map_err(|e| anyhow!("bad JSON ({e}) in: {}", shorten(text)))?;
    to_message(message, value)
}

/// A `message` from a JSON value.
pub(crate) fn to_message(message: &MessageDescriptor, value: Value) -> Result<DynamicMessage> {
    if !value.is_object() && !is_special(message) {
        bail!("{} expects a JSON object, got {}", message.full_name(), shorten(&value.to_string()));
    }
    check_message(message, &value)?;
    DynamicMessage::deserialize_with_options(message.clone(), value, &DeserializeOptions::new())
        .map_err(|e| anyhow!("{} does not accept this JSON: {e}", message.full_name()))
}

/// The JSON of a message: every field, with defaults, named as in the `.proto` file, 64-bit
/// integers as numbers (people read this, and shell tools such as jq handle them).
pub(crate) fn to_json(message: &DynamicMessage) -> Value {
    let options =
        SerializeOptions::new().skip_default_fields(false).use_proto_field_name(true).stringify_64_bit_integers(false);
    message.serialize_with_options(serde_json::value::Serializer, &options).unwrap_or_else(|e| {
        // Only non-finite floats in a map key could fail; say so instead of failing the command.
        Value::String(format!("<not representable as JSON: {e}>"))
    })
}

/// Messages with their own JSON form (well-known types: Timestamp as a string, wrappers as
/// bare values, ...): prost-reflect checks those.
fn is_special(message: &MessageDescriptor) -> bool {
    message.full_name().starts_with("google.protobuf.")
}

fn check_message(message: &MessageDescriptor, value: &Value) -> Result<()> {
    if is_special(message) {
        return Ok(());
    }
    let Value::Object(object) = value else { return Ok(()) };
    for (key, value) in object {
        let field = message.get_field_by_json_name(key).or_else(|| message.get_field_by_name(key));
        let Some(field) = field else {
            let fields: Vec<String> = message.fields().map(|f| format!("{} ({})", f.name(), type_name(&f))).collect();
            let fields = if fields.is_empty() { "none".to_owned() } else { fields.join(", ") };
            bail!("{} has no field \"{key}\"; its fields: {fields}", message.full_name());
        };
        check_field(message, &field, value)?;
    }
    Ok(())
}

fn check_field(message: &MessageDescriptor, field: &FieldDescriptor, value: &Value) -> Result<()> {
    let wrong = || {
        anyhow!(
            "field \"{}\" of {} expects {}, got {}",
            field.name(),
            message.full_name(),
            type_name(field),
            shorten(&value.to_string())
        )
    };
    if value.is_null() {
        return Ok(());
    }
    if field.is_map() {
        let Value::Object(entries) = value else { return Err(wrong()) };
        let Kind::Message(entry) = field.kind() else { return Err(wrong()) };
        let value_field = entry.map_entry_value_field();
        for item in entries.values() {
            if !fits(&value_field.kind(), item) {
                return Err(wrong());
            }
            if let (Kind::Message(inner), false) = (value_field.kind(), item.is_null()) {
                check_message(&inner, item)?;
            }
        }
        return Ok(());
    }
    let items: Vec<&Value> = if field.is_list() {
        match value {
            Value::Array(items) => items.iter().collect(),
            _ => return Err(wrong()),
        }
    } else {
        vec![value]
    };
    for item in items {
        if !fits(&field.kind(), item) {
            return Err(wrong());
        }
        if let Kind::Message(inner) = field.kind() {
            check_message(&inner, item)?;
        }
    }
    Ok(())
}

/// Whether `value` has a JSON shape the protobuf JSON mapping accepts for `kind`.
fn fits(kind: &Kind, value: &Value) -> bool {
    match kind {
        Kind::Message(message) => is_special(message) || value.is_object() || value.is_null(),
        Kind::Enum(enumeration) => match value {
            Value::String(name) => enumeration.get_value_by_name(name).is_some(),
            Value::Number(number) => number.as_i64().and_then(|n| i32::try_from(n).ok()).is_some(),
            _ => false,
        },
        Kind::Bool => value.is_boolean(),
        Kind::String | Kind::Bytes => value.is_string(),
        Kind::Double | Kind::Float => match value {
            Value::Number(_) => true,
            Value::String(text) => {
                matches!(text.as_str(), "NaN" | "Infinity" | "-Infinity") || text.parse::<f64>().is_ok()
            }
            _ => false,
        },
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => integer(value).is_some_and(|n| i32::try_from(n).is_ok()),
        Kind::Uint32 | Kind::Fixed32 => integer(value).is_some_and(|n| u32::try_from(n).is_ok()),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => integer(value).is_some_and(|n| i64::try_from(n).is_ok()),
        Kind::Uint64 | Kind::Fixed64 => integer(value).is_some_and(|n| u64::try_from(n).is_ok()),
    }
}

/// An integer given as a JSON number (also `1.0`, `1e3`) or a string of digits, as the protobuf
/// JSON mapping allows.
fn integer(value: &Value) -> Option<i128> {
    match value {
        Value::Number(number) => number
            .as_i64()
            .map(i128::from)
            .or_else(|| number.as_u64().map(i128::from))
            .or_else(|| number.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 1.9e19).map(|f| f as i128)),
        Value::String(text) => text.trim().parse::<i128>().ok(),
        _ => None,
    }
}

/// The type of a field as people read it: `int32`, `string`, `examples.v1.Alarm`, `list of
/// int32`, `map of string to double`, `enum heros.v1.Delivery (DELIVERY_...)`.
pub(crate) fn type_name(field: &FieldDescriptor) -> String {
    if field.is_map() {
        if let Kind::Message(entry) = field.kind() {
            return format!(
                "map of {} to {}",
                kind_name(&entry.map_entry_key_field().kind()),
                kind_name(&entry.map_entry_value_field().kind())
            );
        }
    }
    if field.is_list() {
        return format!("list of {}", kind_name(&field.kind()));
    }
    kind_name(&field.kind())
}

pub(crate) fn kind_name(kind: &Kind) -> String {
    match kind {
        Kind::Message(message) => message.full_name().to_owned(),
        Kind::Enum(enumeration) => {
            let values: Vec<String> = enumeration.values().map(|v| v.name().to_owned()).collect();
            format!("{} ({})", enumeration.full_name(), values.join(" | "))
        }
        Kind::Bytes => "bytes (base64)".to_owned(),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// At most 60 characters of `text`, for error messages.
fn shorten(text: &str) -> String {
    const MAX: usize = 60;
    if text.chars().count() <= MAX {
        return text.to_owned();
    }
    let cut: String = text.chars().take(MAX).collect();
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost_reflect::DescriptorPool;

    /// The repository's example schema, compiled here as a server would describe it.
    fn pool() -> DescriptorPool {
        let schema = concat!(env!("CARGO_MANIFEST_DIR"), "/../schema");
        let files = protox::compile(["examples/testobject.proto", "examples/furnace.proto"], [schema]).unwrap();
        DescriptorPool::from_file_descriptor_set(files).unwrap()
    }

    fn message(name: &str) -> MessageDescriptor {
        pool().get_message_by_name(name).unwrap()
    }

    #[test]
    fn a_request_round_trips() {
        let request = parse_message(&message("examples.v1.ReadTempRequest"), r#"{"min": 0, "max": "10"}"#).unwrap();
        assert_eq!(to_json(&request), serde_json::json!({"min": 0, "max": 10}));
    }

    #[test]
    fn defaults_are_shown_and_64_bit_integers_are_numbers() {
        let value = parse_message(&message("examples.v1.TestmeValue"), r#"{"value": 12345678901}"#).unwrap();
        assert_eq!(to_json(&value), serde_json::json!({"value": 12345678901_i64}));
        let reply = parse_message(&message("examples.v1.ReadTempReply"), "{}").unwrap();
        assert_eq!(to_json(&reply), serde_json::json!({"value": 0.0}));
    }

    #[test]
    fn a_wrong_type_names_the_field_and_the_type() {
        let error = parse_message(&message("examples.v1.ReadTempRequest"), r#"{"min": "abc"}"#).unwrap_err();
        assert_eq!(error.to_string(), r#"field "min" of examples.v1.ReadTempRequest expects int32, got "abc""#);
        let error = parse_message(&message("examples.v1.ReadTempRequest"), r#"{"max": 3000000000}"#).unwrap_err();
        assert!(error.to_string().contains("expects int32, got 3000000000"), "{error}");
        let error = parse_message(&message("examples.v1.BurstRequest"), r#"{"alarms": 1}"#).unwrap_err();
        assert_eq!(error.to_string(), r#"field "alarms" of examples.v1.BurstRequest expects bool, got 1"#);
    }

    #[test]
    fn an_unknown_field_lists_the_fields() {
        let error = parse_message(&message("examples.v1.ReadTempRequest"), r#"{"mni": 1}"#).unwrap_err();
        assert_eq!(
            error.to_string(),
            r#"examples.v1.ReadTempRequest has no field "mni"; its fields: min (int32), max (int32)"#
        );
    }

    #[test]
    fn bad_json_says_where() {
        let error = parse_message(&message("examples.v1.ReadTempRequest"), r#"{"min": }"#).unwrap_err();
        assert!(error.to_string().starts_with("bad JSON (expected value at line 1 column 9)"), "{error}");
        let error = parse_message(&message("examples.v1.ReadTempRequest"), "[1]").unwrap_err();
        assert!(error.to_string().contains("expects a JSON object"), "{error}");
    }

    #[test]
    fn bytes_and_enums_follow_the_json_mapping() {
        let alarm = parse_message(&message("examples.v1.Alarm"), r#"{"payload": "AAE=", "sequence": "7"}"#).unwrap();
        assert_eq!(to_json(&alarm)["payload"], "AAE=");
        assert_eq!(to_json(&alarm)["sequence"], 7);
        let error = parse_message(&message("examples.v1.Alarm"), r#"{"payload": [0, 1]}"#).unwrap_err();
        assert!(error.to_string().contains("expects bytes (base64)"), "{error}");
    }
}

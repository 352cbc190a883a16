//! Protobuf messages as Python HEROS sees a HERO: a call's CBOR `[args, kwargs]` onto the request
//! message's fields by position and name, a reply back to one value (the `value` field of a
//! one-field reply, `None` for an empty one, else a dict by field name), and the capability list
//! (`_capabilities`) of an interface's members, with Python type names for protobuf types.
//!
//! `heros.v1.HeroRef` fields become HEROS's tag 9000 in replies and events. What does not mean the
//! same on both sides is refused with a clear error: a HERO reference passed in (a Rust HERO
//! follows one through gRPC endpoints, which a reference from Python does not have) and handles
//! (`heros.v1.Handle` lives in a gRPC client session; Python's tag 9001 ids in a weak store).

use std::collections::HashMap;

use ciborium::Value as Cbor;
use heck::ToSnakeCase;
use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor, ReflectMessage, Value};

use crate::cbor::{text, HERO_TAG, SET_TAG};
use crate::error::{Error, Result};

const HERO_REF: &str = "heros.v1.HeroRef";
const HANDLE: &str = "heros.v1.Handle";

/// The name a member (an rpc, e.g. `ReadTemp`) has on zenoh and in Python: `read_temp`.
pub fn member_name(rpc: &str) -> String {
    rpc.to_snake_case()
}

/// The request of a method call from its CBOR payload: `[args, kwargs]` (protocol 1.0), or a
/// map of keyword arguments (protocol 0.1). Positional arguments fill the request's fields in
/// declaration order; fields no argument names keep their protobuf defaults.
pub(crate) fn request_from_call(message: &MessageDescriptor, method: &str, payload: &Cbor) -> Result<DynamicMessage> {
    let type_error = |text: String| Error::InvalidArgument(format!("{method}() {text}"));
    let (args, kwargs): (&[Cbor], &[(Cbor, Cbor)]) = match payload {
        Cbor::Array(parts) => match parts.as_slice() {
            [Cbor::Array(args), Cbor::Map(kwargs)] => (args, kwargs),
            _ => return Err(type_error("expects a payload [args, kwargs]".into())),
        },
        Cbor::Map(kwargs) => (&[], kwargs),
        _ => return Err(type_error("expects a payload [args, kwargs]".into())),
    };
    let fields: Vec<FieldDescriptor> = message.fields().collect();
    if args.len() > fields.len() {
        return Err(type_error(format!(
            "takes {} positional argument{} but {} were given",
            fields.len(),
            if fields.len() == 1 { "" } else { "s" },
            args.len()
        )));
    }
    let mut request = DynamicMessage::new(message.clone());
    for (field, arg) in fields.iter().zip(args) {
        set(&mut request, field, arg)?;
    }
    for (key, arg) in kwargs {
        let name = key.as_text().ok_or_else(|| type_error("got a keyword that is not a string".into()))?;
        let field = message
            .get_field_by_name(name)
            .ok_or_else(|| type_error(format!("got an unexpected keyword argument '{name}'")))?;
        if fields.iter().position(|f| f == &field).is_some_and(|i| i < args.len()) {
            return Err(type_error(format!("got multiple values for argument '{name}'")));
        }
        set(&mut request, &field, arg)?;
    }
    Ok(request)
}

/// An attribute's request: `value` set to `value` (a set), or absent (`None`: a read).
pub(crate) fn attribute_request(message: &MessageDescriptor, value: Option<&Cbor>) -> Result<DynamicMessage> {
    let mut request = DynamicMessage::new(message.clone());
    if let Some(value) = value {
        let field = value_field(message)?;
        if value.is_null() {
            return Err(Error::InvalidArgument(format!(
                "None cannot be set: the attribute's value ({}) is always present",
                message.full_name()
            )));
        }
        set(&mut request, &field, value)?;
    }
    Ok(request)
}

fn value_field(message: &MessageDescriptor) -> Result<FieldDescriptor> {
    message
        .get_field_by_name("value")
        .ok_or_else(|| Error::Protocol(format!("attribute message {} has no field 'value'", message.full_name())))
}

fn set(message: &mut DynamicMessage, field: &FieldDescriptor, arg: &Cbor) -> Result<()> {
    if arg.is_null() && !field.is_list() && !field.is_map() {
        return Ok(()); // None: the field stays absent (or default)
    }
    let value = to_field(field, arg)?;
    message.set_field(field, value);
    Ok(())
}

/// A CBOR value as the value of `field` (a list, a map or one value).
fn to_field(field: &FieldDescriptor, arg: &Cbor) -> Result<Value> {
    if field.is_map() {
        let Kind::Message(entry) = field.kind() else { unreachable!("a map field's kind is its entry message") };
        let (key_field, value_field) = (entry.map_entry_key_field(), entry.map_entry_value_field());
        let entries = arg.as_map().ok_or_else(|| wrong(field, "a dict", arg))?;
        let mut map = HashMap::new();
        for (k, v) in entries {
            let key = match to_single(&key_field, k)? {
                Value::Bool(b) => MapKey::Bool(b),
                Value::I32(i) => MapKey::I32(i),
                Value::I64(i) => MapKey::I64(i),
                Value::U32(i) => MapKey::U32(i),
                Value::U64(i) => MapKey::U64(i),
                Value::String(s) => MapKey::String(s),
                _ => return Err(wrong(field, "a dict with scalar keys", k)),
            };
            map.insert(key, to_single(&value_field, v)?);
        }
        return Ok(Value::Map(map));
    }
    if field.is_list() {
        let items = match arg {
            Cbor::Array(items) => items,
            Cbor::Tag(SET_TAG, inner) => inner.as_array().ok_or_else(|| wrong(field, "a list", arg))?,
            _ => return Err(wrong(field, "a list", arg)),
        };
        return Ok(Value::List(items.iter().map(|item| to_single(field, item)).collect::<Result<_>>()?));
    }
    to_single(field, arg)
}

fn to_single(field: &FieldDescriptor, arg: &Cbor) -> Result<Value> {
    let int = |arg: &Cbor| arg.as_integer().map(i128::from);
    let ranged = |what: &str, ok: Option<Value>| ok.ok_or_else(|| wrong(field, what, arg));
    Ok(match field.kind() {
        Kind::Double => Value::F64(number(arg).ok_or_else(|| wrong(field, "a float", arg))?),
        Kind::Float => Value::F32(number(arg).ok_or_else(|| wrong(field, "a float", arg))? as f32),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            ranged("an int (32 bits)", int(arg).and_then(|i| i32::try_from(i).ok()).map(Value::I32))?
        }
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
            ranged("an int (64 bits)", int(arg).and_then(|i| i64::try_from(i).ok()).map(Value::I64))?
        }
        Kind::Uint32 | Kind::Fixed32 => {
            ranged("an int (0 to 2**32-1)", int(arg).and_then(|i| u32::try_from(i).ok()).map(Value::U32))?
        }
        Kind::Uint64 | Kind::Fixed64 => {
            ranged("an int (0 to 2**64-1)", int(arg).and_then(|i| u64::try_from(i).ok()).map(Value::U64))?
        }
        Kind::Bool => Value::Bool(arg.as_bool().ok_or_else(|| wrong(field, "a bool", arg))?),
        Kind::String => Value::String(arg.as_text().ok_or_else(|| wrong(field, "a str", arg))?.to_owned()),
        Kind::Bytes => Value::Bytes(arg.as_bytes().ok_or_else(|| wrong(field, "bytes", arg))?.clone().into()),
        Kind::Enum(e) => {
            let number = match arg {
                Cbor::Text(name) => e.get_value_by_name(name).map(|v| v.number()),
                other => int(other).and_then(|i| i32::try_from(i).ok()).filter(|n| e.get_value(*n).is_some()),
            };
            let names: Vec<String> = e.values().map(|v| v.name().to_owned()).collect();
            Value::EnumNumber(number.ok_or_else(|| wrong(field, &format!("one of {}", names.join(", ")), arg))?)
        }
        Kind::Message(m) if m.full_name() == HERO_REF => {
            return Err(Error::Unsupported(format!(
                "'{}' takes a HERO reference: a Rust HERO follows references through gRPC endpoints, which a \
                 reference passed over zenoh does not carry; call it from a HEROS for Rust client instead",
                field.name()
            )))
        }
        Kind::Message(m) if m.full_name() == HANDLE => return Err(handle_refused(field.name())),
        Kind::Message(m) => {
            let entries = arg.as_map().ok_or_else(|| wrong(field, &format!("a dict ({})", m.full_name()), arg))?;
            Value::Message(message_from_dict(&m, entries, field.name())?)
        }
    })
}

/// A message from a dict by field name (`what` names the dict in errors).
fn message_from_dict(m: &MessageDescriptor, entries: &[(Cbor, Cbor)], what: &str) -> Result<DynamicMessage> {
    let mut message = DynamicMessage::new(m.clone());
    for (key, value) in entries {
        let name = key.as_text().ok_or_else(|| {
            Error::InvalidArgument(format!("'{what}' must be a dict with str keys ({})", m.full_name()))
        })?;
        let inner = m
            .get_field_by_name(name)
            .ok_or_else(|| Error::InvalidArgument(format!("'{what}': {} has no field '{name}'", m.full_name())))?;
        set(&mut message, &inner, value)?;
    }
    Ok(message)
}

fn handle_refused(field: &str) -> Error {
    Error::Unsupported(format!(
        "'{field}' is a handle: HEROS for Rust keeps handles in a gRPC client session, which a zenoh caller \
         does not have; call it from a HEROS for Rust client instead"
    ))
}

fn number(arg: &Cbor) -> Option<f64> {
    match arg {
        Cbor::Float(f) => Some(*f),
        Cbor::Integer(i) => Some(i128::from(*i) as f64),
        _ => None,
    }
}

fn wrong(field: &FieldDescriptor, expected: &str, got: &Cbor) -> Error {
    let got = match got {
        Cbor::Integer(_) => "int",
        Cbor::Float(_) => "float",
        Cbor::Text(_) => "str",
        Cbor::Bytes(_) => "bytes",
        Cbor::Bool(_) => "bool",
        Cbor::Null => "None",
        Cbor::Array(_) => "list",
        Cbor::Map(_) => "dict",
        Cbor::Tag(HERO_TAG, _) => "a HERO",
        Cbor::Tag(_, _) => "a tagged value",
        _ => "something else",
    };
    Error::InvalidArgument(format!("'{}' must be {expected}, got {got}", field.name()))
}

/// A reply (or an event's message) as Python gets it: see the module's doc.
pub(crate) fn reply_value(message: &DynamicMessage) -> Result<Cbor> {
    let fields: Vec<FieldDescriptor> = message.descriptor().fields().collect();
    match fields.as_slice() {
        [] => Ok(Cbor::Null),
        [only] if only.name() == "value" => field_value(message, only),
        _ => message_value(message),
    }
}

/// The other way, for a typed stub calling a HERO on zenoh: the request message as a call's
/// `[args, kwargs]`, every field a keyword argument by its name (so that the `.proto` need not
/// list them in the Python method's order).
pub(crate) fn call_from_request(request: &DynamicMessage) -> Result<Cbor> {
    let Cbor::Map(kwargs) = message_value(request)? else { unreachable!("a message is a dict") };
    Ok(Cbor::Array(vec![Cbor::Array(Vec::new()), Cbor::Map(kwargs)]))
}

/// A reply (or an event's value) into `message` by the rules of [`reply_value`]: a one-field
/// `value` message takes the value, an empty one takes anything (Python's `None`), any other a
/// dict by field name.
pub(crate) fn reply_message(message: &MessageDescriptor, value: &Cbor) -> Result<DynamicMessage> {
    let fields: Vec<FieldDescriptor> = message.fields().collect();
    match fields.as_slice() {
        [] => Ok(DynamicMessage::new(message.clone())),
        [only] if only.name() == "value" => {
            let mut reply = DynamicMessage::new(message.clone());
            set(&mut reply, only, value)?;
            Ok(reply)
        }
        _ => {
            let entries = value
                .as_map()
                .ok_or_else(|| Error::InvalidArgument(format!("a reply for {} must be a dict", message.full_name())))?;
            message_from_dict(message, entries, message.full_name())
        }
    }
}

fn message_value(message: &DynamicMessage) -> Result<Cbor> {
    let entries = message
        .descriptor()
        .fields()
        .map(|field| Ok((text(field.name()), field_value(message, &field)?)))
        .collect::<Result<_>>()?;
    Ok(Cbor::Map(entries))
}

fn field_value(message: &DynamicMessage, field: &FieldDescriptor) -> Result<Cbor> {
    if field.supports_presence() && !message.has_field(field) {
        return Ok(Cbor::Null);
    }
    from_field(field, &message.get_field(field))
}

fn from_field(field: &FieldDescriptor, value: &Value) -> Result<Cbor> {
    Ok(match value {
        Value::Bool(b) => Cbor::Bool(*b),
        Value::I32(i) => Cbor::Integer((*i).into()),
        Value::I64(i) => Cbor::Integer((*i).into()),
        Value::U32(i) => Cbor::Integer((*i).into()),
        Value::U64(i) => Cbor::Integer((*i).into()),
        Value::F32(f) => Cbor::Float(f64::from(*f)),
        Value::F64(f) => Cbor::Float(*f),
        Value::String(s) => Cbor::Text(s.clone()),
        Value::Bytes(b) => Cbor::Bytes(b.to_vec()),
        Value::EnumNumber(n) => match field.kind() {
            Kind::Enum(e) => e.get_value(*n).map_or(Cbor::Integer((*n).into()), |v| text(v.name())),
            _ => Cbor::Integer((*n).into()),
        },
        Value::List(items) => Cbor::Array(items.iter().map(|item| from_field(field, item)).collect::<Result<_>>()?),
        Value::Map(map) => {
            let Kind::Message(entry) = field.kind() else { unreachable!("a map field's kind is its entry message") };
            let value_field = entry.map_entry_value_field();
            let mut entries = map
                .iter()
                .map(|(k, v)| {
                    let key = match k {
                        MapKey::Bool(b) => Cbor::Bool(*b),
                        MapKey::I32(i) => Cbor::Integer((*i).into()),
                        MapKey::I64(i) => Cbor::Integer((*i).into()),
                        MapKey::U32(i) => Cbor::Integer((*i).into()),
                        MapKey::U64(i) => Cbor::Integer((*i).into()),
                        MapKey::String(s) => Cbor::Text(s.clone()),
                    };
                    Ok((key, from_field(&value_field, v)?))
                })
                .collect::<Result<Vec<_>>>()?;
            // HashMap order is random; a sorted map reads the same every time.
            entries.sort_by(|a, b| format!("{:?}", a.0).cmp(&format!("{:?}", b.0)));
            Cbor::Map(entries)
        }
        Value::Message(m) if m.descriptor().full_name() == HERO_REF => hero_tag(m),
        Value::Message(m) if m.descriptor().full_name() == HANDLE => return Err(handle_refused(field.name())),
        Value::Message(m) => message_value(m)?,
    })
}

/// A `heros.v1.HeroRef` as HEROS's tag 9000 `[realm, name]`: Python makes a `RemoteHERO` of it,
/// which works when that HERO is on zenoh too (shared with [`crate::ZenohFace`], or a Python HERO).
fn hero_tag(reference: &DynamicMessage) -> Cbor {
    let field = |name: &str| match reference.get_field_by_name(name).as_deref() {
        Some(Value::String(s)) => Cbor::Text(s.clone()),
        _ => Cbor::Text(String::new()),
    };
    Cbor::Tag(HERO_TAG, Box::new(Cbor::Array(vec![field("realm"), field("name")])))
}

/// The Python type name a field is shown with in `_capabilities`.
pub(crate) fn python_type(field: &FieldDescriptor) -> &'static str {
    if field.is_map() {
        return "dict";
    }
    if field.is_list() {
        return "list";
    }
    match field.kind() {
        Kind::Double | Kind::Float => "float",
        Kind::Bool => "bool",
        Kind::String | Kind::Enum(_) => "str",
        Kind::Bytes => "bytes",
        Kind::Message(m) if m.full_name() == HERO_REF => "RemoteHERO",
        Kind::Message(_) => "dict",
        _ => "int",
    }
}

/// The Python type a reply is shown with (the rules of [`reply_value`]).
pub(crate) fn reply_type(message: &MessageDescriptor) -> String {
    let fields: Vec<FieldDescriptor> = message.fields().collect();
    match fields.as_slice() {
        [] => "None".into(),
        [only] if only.name() == "value" => python_type(only).into(),
        _ => "dict".into(),
    }
}

/// `_capabilities` entry of a method: its parameters are the request's fields, in order.
pub(crate) fn method_capability(name: &str, request: &MessageDescriptor, reply: &MessageDescriptor) -> Cbor {
    // inspect.Parameter.POSITIONAL_OR_KEYWORD
    const POSITIONAL_OR_KEYWORD: i64 = 1;
    let parameters = request
        .fields()
        .map(|field| {
            Cbor::Map(vec![
                (text("name"), text(field.name())),
                (text("type"), text(python_type(&field))),
                (text("default"), text("undefined")),
                (text("kind"), Cbor::Integer(POSITIONAL_OR_KEYWORD.into())),
            ])
        })
        .collect();
    Cbor::Map(vec![
        (text("name"), text(name)),
        (text("flavor"), text("method")),
        (text("parameters"), Cbor::Array(parameters)),
        (text("return_type"), text(&reply_type(reply))),
    ])
}

/// `_capabilities` entry of an attribute.
pub(crate) fn attribute_capability(name: &str, message: &MessageDescriptor, readonly: bool) -> Result<Cbor> {
    let field = value_field(message)?;
    Ok(Cbor::Map(vec![
        (text("name"), text(name)),
        (text("flavor"), text("attribute")),
        (text("type"), text(python_type(&field))),
        (text("access"), text(if readonly { "r" } else { "rw" })),
    ]))
}

/// `_capabilities` entry of an event.
pub(crate) fn event_capability(name: &str) -> Cbor {
    Cbor::Map(vec![(text("name"), text(name)), (text("flavor"), text("event"))])
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost_reflect::DescriptorPool;

    /// google.protobuf.Duration (int64 seconds, int32 nanos), from prost-reflect's own pool.
    fn duration() -> MessageDescriptor {
        DescriptorPool::global().get_message_by_name("google.protobuf.Duration").unwrap()
    }

    fn call(args: Vec<Cbor>, kwargs: Vec<(&str, Cbor)>) -> Cbor {
        Cbor::Array(vec![Cbor::Array(args), Cbor::Map(kwargs.into_iter().map(|(k, v)| (text(k), v)).collect())])
    }

    #[test]
    fn positional_and_keyword_arguments_fill_fields_by_order_and_name() {
        let request = request_from_call(
            &duration(),
            "wait",
            &call(vec![Cbor::Integer(5.into())], vec![("nanos", Cbor::Integer(7.into()))]),
        )
        .unwrap();
        assert_eq!(request.get_field_by_name("seconds").unwrap().as_i64(), Some(5));
        assert_eq!(request.get_field_by_name("nanos").unwrap().as_i32(), Some(7));
        assert_eq!(
            reply_value(&request).unwrap(),
            Cbor::Map(vec![(text("seconds"), Cbor::Integer(5.into())), (text("nanos"), Cbor::Integer(7.into()))])
        );
    }

    #[test]
    fn bad_calls_say_what_python_would_say() {
        let too_many = request_from_call(&duration(), "wait", &call(vec![Cbor::Null; 3], vec![])).unwrap_err();
        assert_eq!(too_many.to_string(), "invalid argument: wait() takes 2 positional arguments but 3 were given");
        let unknown = request_from_call(&duration(), "wait", &call(vec![], vec![("x", Cbor::Null)])).unwrap_err();
        assert!(unknown.to_string().contains("unexpected keyword argument 'x'"), "{unknown}");
        let twice = request_from_call(
            &duration(),
            "wait",
            &call(vec![Cbor::Integer(1.into())], vec![("seconds", Cbor::Integer(1.into()))]),
        )
        .unwrap_err();
        assert!(twice.to_string().contains("multiple values for argument 'seconds'"), "{twice}");
        let wrong_type = request_from_call(&duration(), "wait", &call(vec![text("soon")], vec![])).unwrap_err();
        assert_eq!(wrong_type.to_string(), "invalid argument: 'seconds' must be an int (64 bits), got str");
        let out_of_range = request_from_call(
            &duration(),
            "wait",
            &call(vec![Cbor::Integer(0.into()), Cbor::Integer((1i64 << 40).into())], vec![]),
        )
        .unwrap_err();
        assert!(out_of_range.to_string().contains("'nanos' must be an int (32 bits)"), "{out_of_range}");
    }

    mod zlab {
        heros::include_proto!("zlab.v1");
    }

    fn kinds() -> MessageDescriptor {
        let pool = DescriptorPool::decode(zlab::OVEN_INTERFACE.descriptor_set).unwrap();
        pool.get_message_by_name("zlab.v1.Kinds").unwrap()
    }

    #[test]
    fn enums_maps_lists_messages_and_bytes_go_both_ways() {
        let kwargs = vec![
            ("mode", text("MODE_HEAT")),
            ("counts", Cbor::Map(vec![(text("a"), Cbor::Integer(1.into()))])),
            ("samples", Cbor::Array(vec![Cbor::Float(0.5), Cbor::Integer(2.into())])),
            ("alarm", Cbor::Map(vec![(text("celsius"), Cbor::Float(90.0))])),
            ("raw", Cbor::Bytes(vec![1, 2])),
        ];
        let message = request_from_call(&kinds(), "kinds", &call(vec![], kwargs)).unwrap();
        let reply = reply_value(&message).unwrap();
        let field = |name: &str| crate::cbor::get(&reply, name).cloned();
        assert_eq!(field("mode"), Some(text("MODE_HEAT")));
        assert_eq!(field("counts"), Some(Cbor::Map(vec![(text("a"), Cbor::Integer(1.into()))])));
        assert_eq!(field("samples"), Some(Cbor::Array(vec![Cbor::Float(0.5), Cbor::Float(2.0)])));
        assert_eq!(
            field("alarm"),
            Some(Cbor::Map(vec![(text("celsius"), Cbor::Float(90.0)), (text("limit"), Cbor::Float(0.0))]))
        );
        assert_eq!(field("raw"), Some(Cbor::Bytes(vec![1, 2])));
        assert_eq!(field("peer"), Some(Cbor::Null), "an absent message is None");
        let bad_mode = request_from_call(&kinds(), "kinds", &call(vec![text("MODE_COLD")], vec![])).unwrap_err();
        assert!(bad_mode.to_string().contains("MODE_UNSPECIFIED, MODE_HEAT"), "{bad_mode}");
    }

    #[test]
    fn a_hero_reference_goes_out_as_tag_9000_and_is_refused_coming_in() {
        let mut message = DynamicMessage::new(kinds());
        let peer = message.descriptor().get_field_by_name("peer").unwrap();
        let Kind::Message(hero_ref) = peer.kind() else { panic!("a message field") };
        let mut reference = DynamicMessage::new(hero_ref);
        reference.set_field_by_name("name", Value::String("oven".into()));
        reference.set_field_by_name("realm", Value::String("lab".into()));
        message.set_field(&peer, Value::Message(reference));
        let reply = reply_value(&message).unwrap();
        assert_eq!(
            crate::cbor::get(&reply, "peer"),
            Some(&Cbor::Tag(HERO_TAG, Box::new(Cbor::Array(vec![text("lab"), text("oven")]))))
        );
        let tag = Cbor::Tag(HERO_TAG, Box::new(Cbor::Array(vec![text("lab"), text("oven")])));
        let refused = request_from_call(&kinds(), "kinds", &call(vec![], vec![("peer", tag)])).unwrap_err();
        assert!(matches!(refused, Error::Unsupported(_)) && refused.to_string().contains("'peer'"), "{refused}");
    }

    #[test]
    fn handles_are_refused_both_ways() {
        let refused =
            request_from_call(&kinds(), "kinds", &call(vec![], vec![("session", Cbor::Map(vec![]))])).unwrap_err();
        assert!(matches!(refused, Error::Unsupported(_)) && refused.to_string().contains("handle"), "{refused}");
        let mut message = DynamicMessage::new(kinds());
        let handle = message.descriptor().get_field_by_name("session").unwrap();
        let Kind::Message(handle_type) = handle.kind() else { panic!("a message field") };
        message.set_field(&handle, Value::Message(DynamicMessage::new(handle_type)));
        assert!(matches!(reply_value(&message), Err(Error::Unsupported(_))));
    }

    #[test]
    fn a_request_goes_out_as_keyword_arguments_and_a_reply_comes_back_into_its_message() {
        let mut request = DynamicMessage::new(duration());
        request.set_field_by_name("seconds", Value::I64(5));
        let call = call_from_request(&request).unwrap();
        assert_eq!(
            call,
            super::tests::call(vec![], vec![("seconds", Cbor::Integer(5.into())), ("nanos", Cbor::Integer(0.into()))])
        );
        let reply = reply_message(&duration(), &Cbor::Map(vec![(text("nanos"), Cbor::Integer(9.into()))])).unwrap();
        assert_eq!(reply.get_field_by_name("nanos").unwrap().as_i32(), Some(9));
        let not_a_dict = reply_message(&duration(), &Cbor::Float(1.0)).unwrap_err();
        assert!(not_a_dict.to_string().contains("must be a dict"), "{not_a_dict}");
        let alarm = kinds().get_field_by_name("alarm").unwrap();
        let Kind::Message(alarm) = alarm.kind() else { panic!("a message field") };
        let wrong = reply_message(&alarm, &Cbor::Map(vec![(text("celsius"), text("hot"))])).unwrap_err();
        assert!(wrong.to_string().contains("'celsius' must be a float, got str"), "{wrong}");
    }

    #[test]
    fn capabilities_show_python_types() {
        let cap = method_capability("wait", &duration(), &duration());
        let parameters = crate::cbor::get(&cap, "parameters").unwrap().as_array().unwrap();
        assert_eq!(crate::cbor::get(&parameters[0], "name"), Some(&text("seconds")));
        assert_eq!(crate::cbor::get(&parameters[0], "type"), Some(&text("int")));
        assert_eq!(crate::cbor::get(&cap, "return_type"), Some(&text("dict")));
        assert_eq!(member_name("ReadTemp"), "read_temp");
    }
}

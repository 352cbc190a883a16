//! What the generators need to know about one HERO interface, read from the descriptor pool:
//! each rpc's role (method, attribute, event) from the `heros.v1` options, which prost drops,
//! and each message's fields as Rust arguments.

use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, MethodDescriptor, ServiceDescriptor, Value};

use crate::rust_types::{to_snake, TypeResolver};
use crate::Error;

/// One `.proto` service seen as a HERO interface.
pub(crate) struct Interface {
    /// Full service name, e.g. `examples.v1.TestObject`.
    pub(crate) full_name: String,
    pub(crate) tags: Vec<String>,
    pub(crate) members: Vec<Member>,
}

/// One rpc of the interface.
pub(crate) struct Member {
    /// The rpc name as in the `.proto`, e.g. `ReadTemp`.
    pub(crate) proto_name: String,
    pub(crate) request: Message,
    pub(crate) reply: Message,
    pub(crate) role: Role,
}

/// What an rpc is to a HERO.
pub(crate) enum Role {
    Method { timeout_ms: u32 },
    Attribute { readonly: bool, value_type: String },
}

/// A request or reply message and its fields as Rust arguments.
pub(crate) struct Message {
    /// Full protobuf name, e.g. `examples.v1.ReadTempRequest`.
    pub(crate) full_name: String,
    /// The Rust path of its struct, as prost resolves it.
    pub(crate) rust_path: String,
    /// `()` for `google.protobuf.Empty`.
    pub(crate) is_unit: bool,
    /// In declaration order; a oneof is one argument.
    pub(crate) fields: Vec<Field>,
}

pub(crate) struct Field {
    /// The Rust field name in prost's struct.
    pub(crate) ident: String,
    /// Its Rust type as prost declares it.
    pub(crate) ty: String,
}

/// Reads the HERO view of `service` (in `package`) from the pool.
pub(crate) fn interface(
    pool: &DescriptorPool,
    service: &ServiceDescriptor,
    types: &TypeResolver,
) -> Result<Interface, Error> {
    let package = service.package_name();
    let tags = extension(pool, &service.options(), "heros.v1.interface")
        .map(|opts| strings(&opts, "tags"))
        .unwrap_or_default();
    let members = service.methods().map(|method| member(pool, package, &method, types)).collect::<Result<_, _>>()?;
    Ok(Interface { full_name: service.full_name().to_owned(), tags, members })
}

fn member(
    pool: &DescriptorPool,
    package: &str,
    method: &MethodDescriptor,
    types: &TypeResolver,
) -> Result<Member, Error> {
    let where_ = format!("rpc {}.{}", method.parent_service().full_name(), method.name());
    let options = method.options();
    let attribute = extension(pool, &options, "heros.v1.attribute");
    let event = extension(pool, &options, "heros.v1.event");
    let method_options = extension(pool, &options, "heros.v1.method");
    for message in [method.input(), method.output()] {
        if message.full_name().starts_with("google.protobuf.") && message.full_name().ends_with("Value") {
            return Err(Error::Schema(format!(
                "{where_}: {} is a wrapper type, which prost turns into a plain Rust value; use a message of your own (or google.protobuf.Empty)",
                message.full_name()
            )));
        }
    }
    let request = message(package, &method.input(), types);
    let reply = message(package, &method.output(), types);
    if event.is_some() {
        return Err(Error::Unsupported(format!(
            "{where_}: events are not implemented yet in this version of heros-codegen"
        )));
    }
    if method.is_client_streaming() || method.is_server_streaming() {
        return Err(Error::Unsupported(format!(
            "{where_}: streaming rpcs are not supported yet; server-streaming rpcs marked with option (heros.v1.event) will be HERO events (issue #5)"
        )));
    }
    let role = match attribute {
        Some(attribute) => {
            if method.input().full_name() != method.output().full_name() {
                return Err(Error::Schema(format!(
                    "{where_}: an attribute's request and reply must be the same message, got {} and {}",
                    method.input().full_name(),
                    method.output().full_name()
                )));
            }
            let value = attribute_value(&method.input()).map_err(|why| Error::Schema(format!("{where_}: {why}")))?;
            Role::Attribute {
                readonly: bool_field(&attribute, "readonly"),
                value_type: types.present_value_type(package, &value),
            }
        }
        None => Role::Method { timeout_ms: method_options.map(|o| u32_field(&o, "timeout_ms")).unwrap_or(0) },
    };
    Ok(Member { proto_name: method.name().to_owned(), request, reply, role })
}

/// The `value` field of an attribute message: the only field, and one with presence, so that a
/// request without it can mean "read".
fn attribute_value(message: &MessageDescriptor) -> Result<prost_reflect::FieldDescriptor, String> {
    let fields: Vec<_> = message.fields().collect();
    match fields.as_slice() {
        [field] if field.name() == "value" && field.supports_presence() && !field.is_list() => Ok(field.clone()),
        _ => Err(format!(
            "an attribute message must have exactly one field, `value`, with presence (`optional` scalar or a message), so that a request without it reads; {} has: {}",
            message.full_name(),
            fields.iter().map(|f| f.name()).collect::<Vec<_>>().join(", ")
        )),
    }
}

fn message(package: &str, message: &MessageDescriptor, types: &TypeResolver) -> Message {
    let full_name = message.full_name().to_owned();
    let is_unit = full_name == "google.protobuf.Empty";
    let mut fields = Vec::new();
    let mut oneofs_seen = Vec::new();
    for field in message.fields() {
        match field.containing_oneof().filter(|oneof| !oneof.is_synthetic()) {
            Some(oneof) => {
                if !oneofs_seen.contains(&oneof.name().to_owned()) {
                    oneofs_seen.push(oneof.name().to_owned());
                    let module = types.resolve_ident(package, &format!(".{}", message.full_name()));
                    let module = module_of(&module);
                    let enum_name = crate::rust_types::to_upper_camel(oneof.name());
                    fields.push(Field {
                        ident: to_snake(oneof.name()),
                        ty: format!("::core::option::Option<{module}::{enum_name}>"),
                    });
                }
            }
            None => fields.push(Field { ident: to_snake(field.name()), ty: types.field_type(package, &field) }),
        }
    }
    let rust_path = types.resolve_ident(package, &format!(".{full_name}"));
    Message { full_name, rust_path, is_unit, fields }
}

/// prost puts a message's nested types in a module named after the message: `a::B` -> `a::b`.
fn module_of(type_path: &str) -> String {
    match type_path.rsplit_once("::") {
        Some((prefix, name)) => format!("{prefix}::{}", to_snake(name)),
        None => to_snake(type_path),
    }
}

fn extension(pool: &DescriptorPool, options: &DynamicMessage, name: &str) -> Option<DynamicMessage> {
    let extension = pool.get_extension_by_name(name)?;
    if !options.has_extension(&extension) {
        return None;
    }
    match options.get_extension(&extension).as_ref() {
        Value::Message(message) => Some(message.clone()),
        _ => None,
    }
}

fn bool_field(message: &DynamicMessage, name: &str) -> bool {
    message.get_field_by_name(name).and_then(|v| v.as_bool()).unwrap_or(false)
}

fn u32_field(message: &DynamicMessage, name: &str) -> u32 {
    message.get_field_by_name(name).and_then(|v| v.as_u32()).unwrap_or(0)
}

fn strings(message: &DynamicMessage, name: &str) -> Vec<String> {
    match message.get_field_by_name(name).as_deref() {
        Some(Value::List(values)) => values.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
        _ => Vec::new(),
    }
}

//! What the generators need to know about one HERO interface, read from the descriptor pool:
//! each rpc's role (method, attribute, event) from the `heros.v1` options, which prost drops,
//! and each message's fields as Rust arguments.

use prost_reflect::{
    DescriptorPool, DynamicMessage, Kind, MessageDescriptor, MethodDescriptor, ServiceDescriptor, Value,
};

use crate::rust_types::{to_snake, TypeResolver};
use crate::Error;

/// One `.proto` service seen as a HERO interface.
pub(crate) struct Interface {
    /// Full service name, e.g. `examples.v1.TestObject`.
    pub(crate) full_name: String,
    pub(crate) tags: Vec<String>,
    pub(crate) members: Vec<Member>,
    /// Types of values the HERO keeps behind handles: (associated type of the skeleton, the
    /// handle's type name), in order of first use.
    pub(crate) handle_types: Vec<(String, String)>,
}

/// One rpc of the interface.
pub(crate) struct Member {
    /// The rpc name as in the `.proto`, e.g. `ReadTemp`.
    pub(crate) proto_name: String,
    pub(crate) request: Message,
    pub(crate) reply: Message,
    pub(crate) role: Role,
    /// The request or reply has a `heros.v1.Handle` field: the call runs in a client session.
    pub(crate) uses_session: bool,
}

/// What an rpc is to a HERO.
pub(crate) enum Role {
    Method {
        timeout_ms: u32,
        /// The caller sends a stream of requests (client-streaming or bidirectional).
        streams_requests: bool,
        /// The HERO answers with a stream of replies (server-streaming or bidirectional).
        streams_replies: bool,
        /// `long_running`: stubs can also start it as an operation.
        long_running: bool,
        /// The Rust path of the operation's intermediate result message, if it has one.
        intermediate: Option<String>,
    },
    Attribute {
        readonly: bool,
        value_type: String,
    },
    /// A server stream of every message the HERO emits; `buffer` 0 means the runtime's default.
    Event {
        reliable: bool,
        buffer: u32,
    },
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
    /// A handle or a HERO reference that the skeleton and stub see as a value or a stub.
    pub(crate) special: Special,
}

/// Fields that the generated code converts on their way in and out.
#[derive(Clone)]
pub(crate) enum Special {
    /// An ordinary field, passed as prost declares it.
    None,
    /// `heros.v1.Handle` with `(heros.v1.handle).type_name`: the skeleton sees
    /// `Arc<Self::{assoc}>`, the stub a `heros::Handle`.
    Handle { type_name: String, assoc: String },
    /// `heros.v1.Handle` whose type name is a message of the schema: a value put on the server
    /// with `store`; the skeleton sees the message, the stub a `heros::Handle`.
    StoredMessage { type_name: String, rust_path: String },
    /// `heros.v1.HeroRef` with `(heros.v1.hero_ref).interface`: received as that interface's
    /// typed stub, sent as anything that is `heros::AsHeroRef`.
    HeroRef { interface: String, remote_path: String },
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
    let members: Vec<Member> =
        service.methods().map(|method| member(pool, package, &method, types)).collect::<Result<_, _>>()?;
    let mut handle_types: Vec<(String, String)> = Vec::new();
    let fields = members.iter().flat_map(|m| m.request.fields.iter().chain(&m.reply.fields));
    for field in fields {
        if let Special::Handle { type_name, assoc } = &field.special {
            match handle_types.iter().find(|(a, _)| a == assoc) {
                Some((_, other)) if other != type_name => {
                    return Err(Error::Schema(format!(
                    "{}: handle types {other} and {type_name} both become the associated type `{assoc}`; rename one",
                    service.full_name()
                )))
                }
                Some(_) => {}
                None => handle_types.push((assoc.clone(), type_name.clone())),
            }
        }
    }
    Ok(Interface { full_name: service.full_name().to_owned(), tags, members, handle_types })
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
    let request =
        message(pool, package, &method.input(), types).map_err(|why| Error::Schema(format!("{where_}: {why}")))?;
    let reply =
        message(pool, package, &method.output(), types).map_err(|why| Error::Schema(format!("{where_}: {why}")))?;
    check_handle_fields(pool, &method.input(), &method.output())
        .map_err(|why| Error::Unsupported(format!("{where_}: {why}")))?;
    let uses_session = [&method.input(), &method.output()]
        .iter()
        .any(|m| m.fields().any(|f| matches!(f.kind(), Kind::Message(k) if k.full_name() == HANDLE_MESSAGE)));
    let (streams_requests, streams_replies) = (method.is_client_streaming(), method.is_server_streaming());
    match (&event, streams_requests, streams_replies) {
        (Some(_), false, false) => {
            return Err(Error::Schema(format!(
                "{where_}: an event must be a server-streaming rpc (`returns (stream {})`)",
                method.output().full_name()
            )))
        }
        (Some(_), true, _) => {
            return Err(Error::Schema(format!(
                "{where_}: an event takes one request (`rpc {}({})`), not a stream",
                method.name(),
                method.input().full_name()
            )))
        }
        (None, _, _) if (streams_requests || streams_replies) && attribute.is_some() => {
            return Err(Error::Schema(format!("{where_}: an attribute is a unary rpc, not a stream")))
        }
        _ => {}
    }
    if event.is_none() && streams_requests {
        // As for replies (`check_handle_fields`): a handle in a streamed request is converted
        // item by item only as the message's one field.
        let fields = &request.fields;
        if fields.len() > 1
            && fields.iter().any(|f| matches!(f.special, Special::Handle { .. } | Special::StoredMessage { .. }))
        {
            return Err(Error::Unsupported(format!(
                "{where_}: a handle in a streamed request ({}) must be the message's only field",
                request.full_name
            )));
        }
    }
    if let Some(event) = event {
        if attribute.is_some() {
            return Err(Error::Schema(format!("{where_}: an rpc cannot be both an attribute and an event")));
        }
        // DELIVERY_RELIABLE = 2 in options.proto.
        let reliable = event.get_field_by_name("delivery").and_then(|v| v.as_enum_number()) == Some(2);
        let role = Role::Event { reliable, buffer: u32_field(&event, "buffer") };
        return Ok(Member { proto_name: method.name().to_owned(), request, reply, role, uses_session: false });
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
        None => {
            let timeout_ms = method_options.as_ref().map(|o| u32_field(o, "timeout_ms")).unwrap_or(0);
            let long_running = method_options.as_ref().is_some_and(|o| bool_field(o, "long_running"));
            let intermediate_type =
                method_options.as_ref().map(|o| string_field(o, "intermediate_type")).unwrap_or_default();
            let special_reply = reply.fields.iter().any(|f| !matches!(f.special, Special::None));
            if long_running && (streams_requests || streams_replies || uses_session || special_reply) {
                return Err(Error::Unsupported(format!(
                    "{where_}: a long-running method must be a unary rpc without handles or HERO references in its reply (its result outlives the caller's connection and session)"
                )));
            }
            if !intermediate_type.is_empty() && !long_running {
                return Err(Error::Schema(format!("{where_}: intermediate_type is for long-running methods")));
            }
            let intermediate = match intermediate_type.as_str() {
                "" => None,
                name => {
                    let name = name.trim_start_matches('.');
                    if pool.get_message_by_name(name).is_none() {
                        return Err(Error::Schema(format!(
                            "{where_}: intermediate_type {name} is not a message of the schema (import its .proto)"
                        )));
                    }
                    Some(types.resolve_ident(package, &format!(".{name}")))
                }
            };
            Role::Method { timeout_ms, streams_requests, streams_replies, long_running, intermediate }
        }
    };
    Ok(Member { proto_name: method.name().to_owned(), request, reply, role, uses_session })
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

const HANDLE_MESSAGE: &str = "heros.v1.Handle";

/// Handles are kept and released by generated code, which handles one shape: a singular field
/// with `(heros.v1.handle).type_name`, and in a reply only as its one field. Anything else would
/// leave references nobody releases until the session ends.
fn check_handle_fields(
    pool: &DescriptorPool,
    request: &MessageDescriptor,
    reply: &MessageDescriptor,
) -> Result<(), String> {
    for (message, is_reply) in [(request, false), (reply, true)] {
        let fields: Vec<_> = message.fields().collect();
        for field in &fields {
            if !matches!(field.kind(), Kind::Message(k) if k.full_name() == HANDLE_MESSAGE) {
                continue;
            }
            let typed = extension(pool, &field.options(), "heros.v1.handle")
                .is_some_and(|options| !string_field(&options, "type_name").is_empty());
            if field.is_list() || field.is_map() || !typed {
                return Err(format!(
                    "handle field '{}' of {} must be a single field with (heros.v1.handle).type_name",
                    field.name(),
                    message.full_name()
                ));
            }
            if is_reply && fields.len() > 1 {
                return Err(format!(
                    "handle field '{}' of {} must be the reply's only field (return a handle, or a message without handles)",
                    field.name(),
                    message.full_name()
                ));
            }
        }
    }
    Ok(())
}
const HERO_REF_MESSAGE: &str = "heros.v1.HeroRef";

/// What a field is to the generated code: see [`Special`].
fn special(
    pool: &DescriptorPool,
    package: &str,
    field: &prost_reflect::FieldDescriptor,
    types: &TypeResolver,
) -> Result<Special, String> {
    let Kind::Message(kind) = field.kind() else { return Ok(Special::None) };
    if field.is_list() || field.is_map() {
        return Ok(Special::None);
    }
    match kind.full_name() {
        HANDLE_MESSAGE => {
            let Some(options) = extension(pool, &field.options(), "heros.v1.handle") else { return Ok(Special::None) };
            let type_name = string_field(&options, "type_name");
            if type_name.is_empty() {
                return Ok(Special::None);
            }
            if pool.get_message_by_name(&type_name).is_some() {
                let rust_path = types.resolve_ident(package, &format!(".{type_name}"));
                return Ok(Special::StoredMessage { type_name, rust_path });
            }
            let last = type_name.rsplit(['.', ':']).next().unwrap_or_default();
            let assoc = crate::rust_types::to_upper_camel(last);
            if assoc.is_empty() || assoc.starts_with("r#") || !assoc.starts_with(|c: char| c.is_ascii_alphabetic()) {
                return Err(format!("field '{}': handle type name '{type_name}' does not end in a name", field.name()));
            }
            Ok(Special::Handle { type_name, assoc })
        }
        HERO_REF_MESSAGE => {
            let Some(options) = extension(pool, &field.options(), "heros.v1.hero_ref") else {
                return Ok(Special::None);
            };
            let interface = string_field(&options, "interface");
            if interface.is_empty() {
                return Ok(Special::None);
            }
            if pool.get_service_by_name(&interface).is_none() {
                return Err(format!(
                    "field '{}' refers to interface {interface}, which is not in the schema (import its .proto)",
                    field.name()
                ));
            }
            let remote_path = format!("{}Remote", types.resolve_ident(package, &format!(".{interface}")));
            Ok(Special::HeroRef { interface, remote_path })
        }
        _ => Ok(Special::None),
    }
}

fn message(
    pool: &DescriptorPool,
    package: &str,
    message: &MessageDescriptor,
    types: &TypeResolver,
) -> Result<Message, String> {
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
                        special: Special::None,
                    });
                }
            }
            None => fields.push(Field {
                ident: to_snake(field.name()),
                ty: types.field_type(package, &field),
                special: special(pool, package, &field, types)?,
            }),
        }
    }
    let rust_path = types.resolve_ident(package, &format!(".{full_name}"));
    Ok(Message { full_name, rust_path, is_unit, fields })
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

fn string_field(message: &DynamicMessage, name: &str) -> String {
    message.get_field_by_name(name).and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

fn strings(message: &DynamicMessage, name: &str) -> Vec<String> {
    match message.get_field_by_name(name).as_deref() {
        Some(Value::List(values)) => values.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
        _ => Vec::new(),
    }
}

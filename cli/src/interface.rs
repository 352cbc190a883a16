//! A HERO's interfaces as members: methods, attributes and events, told apart by the `heros.v1`
//! options in the descriptors the server sent, and found by the names people type.

use anyhow::{anyhow, bail, Result};
use prost_reflect::{DescriptorPool, DynamicMessage, FileDescriptor, MethodDescriptor, Value};

/// The `delivery` of a server stream without the `heros.v1.event` option: from a server that
/// sends no options, or a streaming method.
pub(crate) const NO_EVENT_OPTION: &str = "unspecified";

/// What an rpc of a HERO interface is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    Method,
    Attribute {
        readonly: bool,
    },
    /// `delivery` as the schema names it, e.g. `best-effort`.
    Event {
        delivery: &'static str,
    },
}

impl Kind {
    fn noun(&self) -> &'static str {
        match self {
            Kind::Method => "method",
            Kind::Attribute { .. } => "attribute",
            Kind::Event { .. } => "event",
        }
    }
}

/// One rpc of one interface.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub(crate) method: MethodDescriptor,
    pub(crate) kind: Kind,
}

impl Member {
    pub(crate) fn interface(&self) -> String {
        self.method.parent_service().full_name().to_owned()
    }

    /// The name people use: the rpc name for methods and events, snake_case for attributes
    /// (as the stubs and the `READ_ONLY` error name them).
    pub(crate) fn display_name(&self) -> String {
        match self.kind {
            Kind::Attribute { .. } => snake_case(self.method.name()),
            _ => self.method.name().to_owned(),
        }
    }

    pub(crate) fn doc(&self) -> String {
        doc(&self.method.parent_file(), self.method.path())
    }
}

/// The members of `interfaces`, in the order the services declare them.
pub(crate) fn members(pool: &DescriptorPool, interfaces: &[String]) -> Result<Vec<Member>> {
    let attribute = pool.get_extension_by_name("heros.v1.attribute");
    let event = pool.get_extension_by_name("heros.v1.event");
    let mut members = Vec::new();
    for name in interfaces {
        let service = pool
            .get_service_by_name(name)
            .ok_or_else(|| anyhow!("the server's reflection does not describe interface {name}"))?;
        for method in service.methods() {
            let options = method.options();
            let option = |extension: &Option<prost_reflect::ExtensionDescriptor>| {
                let extension = extension.as_ref()?;
                options.has_extension(extension).then(|| options.get_extension(extension).into_owned())
            };
            let kind = if let Some(Value::Message(attribute)) = option(&attribute) {
                Kind::Attribute { readonly: flag(&attribute, "readonly") }
            } else if let Some(Value::Message(event)) = option(&event) {
                Kind::Event { delivery: delivery(&event) }
            } else if method.is_server_streaming() {
                // A stream without the option (a server that does not send options): still
                // something to watch.
                Kind::Event { delivery: NO_EVENT_OPTION }
            } else {
                Kind::Method
            };
            members.push(Member { method, kind });
        }
    }
    Ok(members)
}

fn flag(options: &DynamicMessage, field: &str) -> bool {
    options.get_field_by_name(field).and_then(|value| value.as_bool()).unwrap_or(false)
}

fn delivery(options: &DynamicMessage) -> &'static str {
    match options.get_field_by_name("delivery").and_then(|value| value.as_enum_number()) {
        Some(2) => "reliable",
        _ => "best-effort",
    }
}

/// Which kinds a command accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wanted {
    Method,
    Attribute,
    /// An event, or an attribute (to watch its values).
    Watchable,
}

impl Wanted {
    fn accepts(self, kind: &Kind) -> bool {
        match self {
            Wanted::Method => *kind == Kind::Method,
            Wanted::Attribute => matches!(kind, Kind::Attribute { .. }),
            Wanted::Watchable => !matches!(kind, Kind::Method),
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Wanted::Method => "method",
            Wanted::Attribute => "attribute",
            Wanted::Watchable => "event or attribute",
        }
    }
}

/// The member called `name` (`ReadTemp`, `read_temp`, `readtemp`, or qualified:
/// `examples.v1.TestObject/ReadTemp`, `TestObject.ReadTemp`); the error lists what there is.
pub(crate) fn find<'a>(members: &'a [Member], hero: &str, name: &str, wanted: Wanted) -> Result<&'a Member> {
    let (qualifier, bare) = match name.rsplit_once(['/', '.']) {
        Some((qualifier, bare)) => (Some(qualifier), bare),
        None => (None, name),
    };
    let key = loose(bare);
    let matching: Vec<&Member> = members
        .iter()
        .filter(|member| loose(member.method.name()) == key)
        .filter(|member| {
            qualifier.is_none_or(|q| {
                let service = member.method.parent_service();
                service.full_name() == q || service.name() == q
            })
        })
        .collect();
    let available = || {
        let names: Vec<String> = members.iter().filter(|m| wanted.accepts(&m.kind)).map(|m| m.display_name()).collect();
        if names.is_empty() {
            format!("it has no {}s", wanted.noun())
        } else {
            format!("its {}s: {}", wanted.noun(), names.join(", "))
        }
    };
    match matching.as_slice() {
        [] => bail!("HERO '{hero}' has no {} '{name}'; {}", wanted.noun(), available()),
        [member] if !wanted.accepts(&member.kind) => bail!(
            "'{name}' of HERO '{hero}' is {} {}, not {} {}; {}",
            article(member.kind.noun()),
            member.kind.noun(),
            article(wanted.noun()),
            wanted.noun(),
            available()
        ),
        [member] => Ok(member),
        several => {
            let full: Vec<String> = several.iter().map(|m| format!("{}/{}", m.interface(), m.method.name())).collect();
            bail!("'{name}' is ambiguous on HERO '{hero}': say which, one of {}", full.join(", "))
        }
    }
}

fn article(noun: &str) -> &'static str {
    if noun.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

/// Case and underscores do not matter: `read_temp` finds `ReadTemp`.
fn loose(name: &str) -> String {
    name.chars().filter(|c| *c != '_').flat_map(char::to_lowercase).collect()
}

/// `ReadTemp` → `read_temp`.
pub(crate) fn snake_case(name: &str) -> String {
    let mut snake = String::with_capacity(name.len() + 4);
    let mut previous_lower = false;
    for c in name.chars() {
        if c.is_uppercase() {
            if previous_lower {
                snake.push('_');
            }
            snake.extend(c.to_lowercase());
            previous_lower = false;
        } else {
            snake.push(c);
            previous_lower = c.is_lowercase() || c.is_ascii_digit();
        }
    }
    snake
}

/// The comment before the element at `path` of `file`, if the server sent source info.
pub(crate) fn doc(file: &FileDescriptor, path: &[i32]) -> String {
    let proto = file.file_descriptor_proto();
    let Some(info) = &proto.source_code_info else { return String::new() };
    let Some(location) = info.location.iter().find(|location| location.path == path) else { return String::new() };
    let comment = location.leading_comments();
    comment.lines().map(str::trim).collect::<Vec<_>>().join(" ").trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example schema with its options and comments, as a server's reflection sends it.
    fn furnace_and_test_object() -> Vec<Member> {
        let schema = concat!(env!("CARGO_MANIFEST_DIR"), "/../schema");
        let mut compiler = protox::Compiler::new([schema]).unwrap();
        compiler.include_imports(true).include_source_info(true);
        compiler.open_files(["examples/testobject.proto", "examples/furnace.proto"]).unwrap();
        let pool = DescriptorPool::decode(compiler.encode_file_descriptor_set().as_slice()).unwrap();
        members(&pool, &["examples.v1.TestObject".into(), "examples.v1.Furnace".into()]).unwrap()
    }

    #[test]
    fn options_tell_methods_attributes_and_events_apart() {
        let members = furnace_and_test_object();
        let kinds: Vec<(String, Kind)> = members.iter().map(|m| (m.display_name(), m.kind.clone())).collect();
        assert_eq!(
            kinds,
            [
                ("ReadTemp".into(), Kind::Method),
                ("Hello".into(), Kind::Method),
                ("testme".into(), Kind::Attribute { readonly: false }),
                ("firmware".into(), Kind::Attribute { readonly: true }),
                ("Heat".into(), Kind::Method),
                ("Burst".into(), Kind::Method),
                ("Overheated".into(), Kind::Event { delivery: "best-effort" }),
                ("Readings".into(), Kind::Event { delivery: "reliable" }),
            ]
        );
        assert_eq!(members[0].doc(), "The mean of `min` and `max`.");
    }

    #[test]
    fn members_are_found_by_the_names_people_type() {
        let members = furnace_and_test_object();
        let found = |name: &str, wanted| find(&members, "h", name, wanted).map(|m| m.method.name().to_owned());
        assert_eq!(found("read_temp", Wanted::Method).unwrap(), "ReadTemp");
        assert_eq!(found("examples.v1.TestObject/ReadTemp", Wanted::Method).unwrap(), "ReadTemp");
        assert_eq!(found("Furnace.heat", Wanted::Method).unwrap(), "Heat");
        assert_eq!(found("TESTME", Wanted::Attribute).unwrap(), "Testme");
        assert_eq!(found("testme", Wanted::Watchable).unwrap(), "Testme");
        let error = found("Furnace.ReadTemp", Wanted::Method).unwrap_err().to_string();
        assert_eq!(error, "HERO 'h' has no method 'Furnace.ReadTemp'; its methods: ReadTemp, Hello, Heat, Burst");
        let error = found("overheated", Wanted::Attribute).unwrap_err().to_string();
        assert!(
            error.starts_with(
                "'overheated' of HERO 'h' is an event, not an attribute; its attributes: testme, firmware"
            ),
            "{error}"
        );
    }

    #[test]
    fn names_become_snake_case_like_the_stubs() {
        assert_eq!(snake_case("ReadTemp"), "read_temp");
        assert_eq!(snake_case("Testme"), "testme");
        assert_eq!(snake_case("GetHTTPStatus"), "get_httpstatus");
        assert_eq!(loose("read_temp"), loose("ReadTemp"));
    }
}

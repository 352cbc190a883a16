//! Rust types of protobuf fields, spelled exactly as prost-build spells them, so that the
//! skeleton's and stub's signatures (which take fields as arguments) match prost's structs.
//!
//! This mirrors prost-build's `resolve_ident` and `ExternPaths`; the generator cross-checks it
//! against the method types prost resolves itself, so a drift shows up as a build error.

use std::collections::HashMap;

use heck::{ToSnakeCase, ToUpperCamelCase};
use prost_reflect::{FieldDescriptor, Kind};

/// Knows how prost names types in one protobuf package.
pub(crate) struct TypeResolver {
    extern_paths: HashMap<String, String>,
    prost_path: String,
    bytes_as_bytes: bool,
}

impl TypeResolver {
    pub(crate) fn new(
        user_extern_paths: &[(String, String)],
        prost_path: &str,
        prost_types_path: &str,
        bytes_as_bytes: bool,
    ) -> Self {
        let mut extern_paths: HashMap<String, String> = user_extern_paths.iter().cloned().collect();
        let wkt = [
            (".google.protobuf", prost_types_path.to_owned()),
            (".google.protobuf.BoolValue", "bool".to_owned()),
            (".google.protobuf.BytesValue", format!("{prost_path}::alloc::vec::Vec<u8>")),
            (".google.protobuf.DoubleValue", "f64".to_owned()),
            (".google.protobuf.Empty", "()".to_owned()),
            (".google.protobuf.FloatValue", "f32".to_owned()),
            (".google.protobuf.Int32Value", "i32".to_owned()),
            (".google.protobuf.Int64Value", "i64".to_owned()),
            (".google.protobuf.StringValue", format!("{prost_path}::alloc::string::String")),
            (".google.protobuf.UInt32Value", "u32".to_owned()),
            (".google.protobuf.UInt64Value", "u64".to_owned()),
        ];
        for (proto, rust) in wkt {
            extern_paths.entry(proto.to_owned()).or_insert(rust);
        }
        TypeResolver { extern_paths, prost_path: prost_path.to_owned(), bytes_as_bytes }
    }

    /// The Rust path of a message or enum (`.pkg.Outer.Inner`) as seen from module `package`.
    pub(crate) fn resolve_ident(&self, package: &str, pb_ident: &str) -> String {
        if let Some(path) = self.resolve_extern(pb_ident) {
            return path;
        }
        let mut local_path = package.split('.').filter(|s| !s.is_empty()).peekable();
        let mut ident_path = pb_ident.trim_start_matches('.').split('.');
        let ident_type = ident_path.next_back().unwrap_or_default();
        let mut ident_path = ident_path.peekable();
        while local_path.peek().is_some() && local_path.peek() == ident_path.peek() {
            local_path.next();
            ident_path.next();
        }
        local_path
            .map(|_| "super".to_owned())
            .chain(ident_path.map(to_snake))
            .chain(std::iter::once(to_upper_camel(ident_type)))
            .collect::<Vec<_>>()
            .join("::")
    }

    fn resolve_extern(&self, pb_ident: &str) -> Option<String> {
        if let Some(path) = self.extern_paths.get(pb_ident) {
            return Some(path.clone());
        }
        for (idx, _) in pb_ident.rmatch_indices('.') {
            if let Some(rust_path) = self.extern_paths.get(&pb_ident[..idx]) {
                let mut segments = pb_ident[idx + 1..].split('.');
                let ident_type = segments.next_back().map(to_upper_camel);
                let path: Vec<String> = rust_path
                    .split("::")
                    .chain(segments)
                    .enumerate()
                    .map(|(i, s)| if i == 0 && s == "crate" { s.to_owned() } else { to_snake(s) })
                    .chain(ident_type)
                    .collect();
                return Some(path.join("::"));
            }
        }
        None
    }

    /// The type of one element of a field (no `Option`, `Vec` or map around it).
    fn element_type(&self, package: &str, kind: &Kind) -> String {
        let prost = &self.prost_path;
        match kind {
            Kind::Double => "f64".into(),
            Kind::Float => "f32".into(),
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => "i32".into(),
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => "i64".into(),
            Kind::Uint32 | Kind::Fixed32 => "u32".into(),
            Kind::Uint64 | Kind::Fixed64 => "u64".into(),
            Kind::Bool => "bool".into(),
            Kind::String => format!("{prost}::alloc::string::String"),
            Kind::Bytes if self.bytes_as_bytes => format!("{prost}::bytes::Bytes"),
            Kind::Bytes => format!("{prost}::alloc::vec::Vec<u8>"),
            Kind::Enum(_) => "i32".into(),
            Kind::Message(message) => self.resolve_ident(package, &format!(".{}", message.full_name())),
        }
    }

    /// The type of a (non-oneof) field as prost declares it in its struct.
    pub(crate) fn field_type(&self, package: &str, field: &FieldDescriptor) -> String {
        let prost = &self.prost_path;
        if field.is_map() {
            let Kind::Message(entry) = field.kind() else { unreachable!("map fields are entry messages") };
            let key = self.element_type(package, &entry.map_entry_key_field().kind());
            let value = self.element_type(package, &entry.map_entry_value_field().kind());
            return format!("::std::collections::HashMap<{key}, {value}>");
        }
        let element = self.element_type(package, &field.kind());
        if field.is_list() {
            return format!("{prost}::alloc::vec::Vec<{element}>");
        }
        if field.supports_presence() {
            return format!("::core::option::Option<{element}>");
        }
        element
    }

    /// The type of a field with presence, without the `Option` (the value of an attribute).
    pub(crate) fn present_value_type(&self, package: &str, field: &FieldDescriptor) -> String {
        self.element_type(package, &field.kind())
    }
}

/// Field and module names as prost writes them.
pub(crate) fn to_snake(s: &str) -> String {
    sanitize_identifier(&s.to_snake_case())
}

/// Type names as prost writes them.
pub(crate) fn to_upper_camel(s: &str) -> String {
    sanitize_identifier(&s.to_upper_camel_case())
}

fn sanitize_identifier(ident: &str) -> String {
    match ident {
        "as" | "break" | "const" | "continue" | "else" | "enum" | "false" | "fn" | "for" | "if" | "impl" | "in"
        | "let" | "loop" | "match" | "mod" | "move" | "mut" | "pub" | "ref" | "return" | "static" | "struct"
        | "trait" | "true" | "type" | "unsafe" | "use" | "where" | "while" | "dyn" | "abstract" | "become" | "box"
        | "do" | "final" | "macro" | "override" | "priv" | "typeof" | "unsized" | "virtual" | "yield" | "async"
        | "await" | "try" | "gen" => format!("r#{ident}"),
        "_" | "super" | "self" | "Self" | "extern" | "crate" => format!("{ident}_"),
        s if s.starts_with(|c: char| c.is_numeric()) => format!("_{ident}"),
        _ => ident.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_prost() {
        let r = TypeResolver::new(&[(".heros.v1".into(), "::heros::proto".into())], "::prost", "::prost_types", true);
        assert_eq!(r.resolve_ident("examples.v1", ".examples.v1.ReadTempRequest"), "ReadTempRequest");
        assert_eq!(r.resolve_ident("examples.v1", ".examples.v1.Outer.Inner"), "outer::Inner");
        assert_eq!(r.resolve_ident("lab.climate.v1", ".lab.shared.Unit"), "super::super::shared::Unit");
        assert_eq!(r.resolve_ident("a", ".heros.v1.HeroRef"), "::heros::proto::HeroRef");
        assert_eq!(r.resolve_ident("a", ".google.protobuf.Empty"), "()");
        assert_eq!(r.resolve_ident("a", ".google.protobuf.Timestamp"), "::prost_types::Timestamp");
        assert_eq!(to_snake("type"), "r#type");
        assert_eq!(to_snake("self"), "self_");
    }
}

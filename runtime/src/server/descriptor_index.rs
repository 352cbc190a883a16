//! The `.proto` files a server knows, indexed the way gRPC reflection asks for them: by file
//! name, by symbol, by extension. Files are kept as the bytes codegen encoded, never decoded and
//! encoded again, because prost-types would drop the custom options (`heros.v1.attribute`,
//! `heros.v1.event`) that tools need to tell attributes and events from methods.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use prost::Message;
use prost_types::{DescriptorProto, EnumDescriptorProto, FieldDescriptorProto, FileDescriptorProto};

/// An encoded `FileDescriptorSet` with each file left as bytes.
#[derive(Clone, PartialEq, prost::Message)]
struct RawFileSet {
    #[prost(bytes = "vec", repeated, tag = "1")]
    file: Vec<Vec<u8>>,
}

/// Files, symbols and extensions of a set of descriptor sets, plus the services to list.
#[derive(Debug, Default)]
pub(crate) struct DescriptorIndex {
    files: HashMap<String, IndexedFile>,
    /// Full symbol name (no leading dot) → the file declaring it.
    symbols: HashMap<String, String>,
    /// (extended message, field number) → the file declaring the extension.
    extensions: HashMap<(String, i32), String>,
    /// Extended message → its extension numbers.
    extension_numbers: HashMap<String, BTreeSet<i32>>,
    services: Vec<String>,
}

#[derive(Debug)]
struct IndexedFile {
    bytes: Arc<[u8]>,
    imports: Vec<String>,
}

impl DescriptorIndex {
    /// Indexes `sets` (encoded `FileDescriptorSet`s; the first copy of a file name wins) and
    /// lists `services`. A set that does not decode (a codegen bug, or an `Interface` written by
    /// hand) is left out with a warning, so that it does not take reflection down for the rest.
    pub(crate) fn new<'a>(
        sets: impl IntoIterator<Item = &'a [u8]>,
        services: impl IntoIterator<Item = String>,
    ) -> Self {
        let mut index = DescriptorIndex { services: services.into_iter().collect(), ..Default::default() };
        for set in sets {
            if let Err(error) = index.add_set(set) {
                tracing::warn!("gRPC reflection leaves out a descriptor set that does not decode: {error}");
            }
        }
        index
    }

    fn add_set(&mut self, set: &[u8]) -> Result<(), prost::DecodeError> {
        // Decoded whole before anything is added, so that a bad set adds nothing.
        let files = RawFileSet::decode(set)?
            .file
            .into_iter()
            .map(|bytes| FileDescriptorProto::decode(bytes.as_slice()).map(|file| (file, bytes)))
            .collect::<Result<Vec<_>, _>>()?;
        for (file, bytes) in files {
            let name = file.name().to_owned();
            if let Some(known) = self.files.get(&name) {
                if *known.bytes != *bytes {
                    tracing::warn!(file = %name, "gRPC reflection: two different copies of this file; serving the first");
                }
                continue;
            }
            self.add_symbols(&file);
            self.files.insert(name, IndexedFile { bytes: bytes.into(), imports: file.dependency });
        }
        Ok(())
    }

    pub(crate) fn services(&self) -> &[String] {
        &self.services
    }

    /// The file declaring `symbol` (`pkg.Message`, `pkg.Service.Method`, `pkg.Message.field`, an
    /// enum value as a sibling of its enum: `pkg.VALUE` or `pkg.Message.VALUE`, ...).
    pub(crate) fn file_of_symbol(&self, symbol: &str) -> Option<&str> {
        self.symbols.get(symbol.trim_start_matches('.')).map(String::as_str)
    }

    /// The file declaring extension `number` of `message`.
    pub(crate) fn file_of_extension(&self, message: &str, number: i32) -> Option<&str> {
        self.extensions.get(&(message.trim_start_matches('.').to_owned(), number)).map(String::as_str)
    }

    /// The extension numbers of `message`; `None` when no file here declares that message.
    pub(crate) fn extension_numbers(&self, message: &str) -> Option<Vec<i32>> {
        let message = message.trim_start_matches('.');
        self.symbols.contains_key(message).then(|| {
            self.extension_numbers.get(message).map(|numbers| numbers.iter().copied().collect()).unwrap_or_default()
        })
    }

    /// `file` and, breadth first, the files it imports that `sent` does not hold yet (as gRPC's
    /// Go server does: a client asking on one stream gets each import once). `None` when the
    /// file is unknown.
    pub(crate) fn file_with_imports(&self, file: &str, sent: &mut HashSet<String>) -> Option<Vec<Arc<[u8]>>> {
        let first = self.files.get(file)?;
        sent.insert(file.to_owned());
        let mut out = vec![first.bytes.clone()];
        let mut queue: std::collections::VecDeque<&str> = first.imports.iter().map(String::as_str).collect();
        while let Some(name) = queue.pop_front() {
            // An import no descriptor set brought (a bug in codegen) is skipped, not fatal:
            // the client will say what it misses.
            let Some(import) = self.files.get(name) else { continue };
            if sent.insert(name.to_owned()) {
                out.push(import.bytes.clone());
                queue.extend(import.imports.iter().map(String::as_str));
            }
        }
        Some(out)
    }

    fn add_symbols(&mut self, file: &FileDescriptorProto) {
        let name = file.name().to_owned();
        let scope = file.package().to_owned();
        if !scope.is_empty() {
            // A package resolves too (grpcurl asks for it when listing by package).
            self.symbols.entry(scope.clone()).or_insert_with(|| name.clone());
        }
        for message in &file.message_type {
            self.add_message(&name, &scope, message);
        }
        for enumeration in &file.enum_type {
            self.add_enum(&name, &scope, enumeration);
        }
        for extension in &file.extension {
            self.add_extension(&name, &scope, extension);
        }
        for service in &file.service {
            let service_name = qualified(&scope, service.name());
            for method in &service.method {
                self.symbols.insert(qualified(&service_name, method.name()), name.clone());
            }
            self.symbols.insert(service_name, name.clone());
        }
    }

    fn add_message(&mut self, file: &str, scope: &str, message: &DescriptorProto) {
        let full = qualified(scope, message.name());
        for field in &message.field {
            self.symbols.insert(qualified(&full, field.name()), file.to_owned());
        }
        for oneof in &message.oneof_decl {
            self.symbols.insert(qualified(&full, oneof.name()), file.to_owned());
        }
        for nested in &message.nested_type {
            self.add_message(file, &full, nested);
        }
        for enumeration in &message.enum_type {
            self.add_enum(file, &full, enumeration);
        }
        for extension in &message.extension {
            self.add_extension(file, &full, extension);
        }
        self.symbols.insert(full, file.to_owned());
    }

    fn add_enum(&mut self, file: &str, scope: &str, enumeration: &EnumDescriptorProto) {
        let full = qualified(scope, enumeration.name());
        // Enum values are scoped like siblings of their enum, as in C++.
        for value in &enumeration.value {
            self.symbols.insert(qualified(scope, value.name()), file.to_owned());
        }
        self.symbols.insert(full, file.to_owned());
    }

    fn add_extension(&mut self, file: &str, scope: &str, extension: &FieldDescriptorProto) {
        self.symbols.insert(qualified(scope, extension.name()), file.to_owned());
        let extendee = extension.extendee().trim_start_matches('.').to_owned();
        self.extension_numbers.entry(extendee.clone()).or_default().insert(extension.number());
        self.extensions.insert((extendee, extension.number()), file.to_owned());
    }
}

fn qualified(scope: &str, name: &str) -> String {
    if scope.is_empty() {
        name.to_owned()
    } else {
        format!("{scope}.{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> DescriptorIndex {
        DescriptorIndex::new([crate::proto::FILE_DESCRIPTOR_SET], ["heros.v1.Registry".to_owned()])
    }

    #[test]
    fn symbols_of_every_kind_resolve_to_their_file() {
        let index = index();
        assert_eq!(index.file_of_symbol("heros.v1.Registry"), Some("heros/v1/registry.proto"));
        assert_eq!(index.file_of_symbol(".heros.v1.HeroRef"), Some("heros/v1/core.proto"));
        assert_eq!(index.file_of_symbol("heros.v1.AttributeOptions.readonly"), Some("heros/v1/options.proto"));
        assert_eq!(index.file_of_symbol("heros.v1.attribute"), Some("heros/v1/options.proto"));
        assert_eq!(index.file_of_symbol("heros.v1.Nothing"), None);
        // Enum values are siblings of their enum: `heros.v1.Delivery.DELIVERY_RELIABLE` is not a name.
        assert_eq!(index.file_of_symbol("heros.v1.DELIVERY_RELIABLE"), Some("heros/v1/options.proto"));
        assert_eq!(index.file_of_symbol("heros.v1.Delivery.DELIVERY_RELIABLE"), None);
        assert!(
            index.file_of_symbol("heros.v1").is_some_and(|file| file.starts_with("heros/v1/")),
            "a package resolves"
        );
        assert_eq!(index.services(), ["heros.v1.Registry"]);
    }

    #[test]
    fn extensions_are_found_by_message_and_number() {
        let index = index();
        let numbers = index.extension_numbers("google.protobuf.MethodOptions");
        // descriptor.proto itself is among the imports, so the message is known.
        let numbers = numbers.expect("MethodOptions is known");
        assert!(!numbers.is_empty());
        for number in numbers {
            assert_eq!(
                index.file_of_extension("google.protobuf.MethodOptions", number),
                Some("heros/v1/options.proto")
            );
        }
        assert_eq!(index.extension_numbers("no.Such"), None);
    }

    #[test]
    fn a_set_that_does_not_decode_is_left_out_and_the_rest_is_served() {
        let index = DescriptorIndex::new([&b"\x0a\xff\x01garbage"[..], crate::proto::FILE_DESCRIPTOR_SET], Vec::new());
        assert_eq!(index.file_of_symbol("heros.v1.Registry"), Some("heros/v1/registry.proto"));
    }

    #[test]
    fn imports_are_sent_once_per_stream() {
        let index = index();
        let mut sent = HashSet::new();
        let registry = index.file_with_imports("heros/v1/registry.proto", &mut sent).unwrap();
        assert!(registry.len() > 1, "registry.proto imports core.proto");
        assert!(sent.contains("heros/v1/core.proto"));
        // The file asked for always comes; its imports, already sent, do not.
        let core = index.file_with_imports("heros/v1/core.proto", &mut sent).unwrap();
        assert_eq!(core.len(), 1);
        assert!(index.file_with_imports("nope.proto", &mut sent).is_none());
    }
}

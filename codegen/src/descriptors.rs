//! The descriptors a server reports through gRPC reflection: for every package with HERO
//! interfaces, its `.proto` files and everything they import, encoded as a `FileDescriptorSet`
//! next to the generated code. Generated interfaces point at it (`Interface::descriptor_set`), so
//! that `grpcurl`, the `heros` CLI and other tools call HEROs whose `.proto` they never saw.

use std::collections::HashSet;

use prost_reflect::{DescriptorPool, FileDescriptor};

/// The file the generated code of `package` includes; beside the `<package>.rs` file.
pub(crate) fn file_name(package: &str) -> String {
    format!("{package}.descriptor.bin")
}

/// The name of the static holding `package`'s set, e.g. `EXAMPLES_V1_DESCRIPTOR_SET`: named after
/// the package, so that two packages included into one Rust module do not collide.
pub(crate) fn static_name(package: &str) -> String {
    // prost names the module of files without a package `_`.
    let package = package.trim_matches('_');
    let words: Vec<String> = package.split('.').map(heck::ToShoutySnakeCase::to_shouty_snake_case).collect();
    if package.is_empty() {
        "DESCRIPTOR_SET".to_owned()
    } else {
        format!("{}_DESCRIPTOR_SET", words.join("_"))
    }
}

/// What the generated module of `package` declares, pointing at [`file_name`]. A static, not a
/// const: every interface of the package refers to the same bytes.
pub(crate) fn declaration(package: &str) -> String {
    format!(
        "\n/// This package's `.proto` files and all they import, as an encoded `FileDescriptorSet` \
         (custom options and comments included): what the server's gRPC reflection reports.\n\
         {}\npub static {}: &[u8] = include_bytes!(\"{}\");\n",
        crate::generator::lints::ALLOW,
        static_name(package),
        file_name(package)
    )
}

/// The encoded `FileDescriptorSet` of `files` and their imports, imports first (the order
/// reflection clients and `protoc --descriptor_set_in` expect).
///
/// Each file is encoded by prost-reflect, which keeps extension options such as
/// `(heros.v1.attribute)`; prost-types would drop them, and tools would no longer tell an
/// attribute or an event from a method.
pub(crate) fn encode_set(pool: &DescriptorPool, files: &[String]) -> Vec<u8> {
    let mut ordered = Vec::new();
    let mut seen = HashSet::new();
    for name in files {
        if let Some(file) = pool.get_file_by_name(name) {
            push_with_imports(&file, &mut seen, &mut ordered);
        }
    }
    let mut set = Vec::new();
    for file in ordered {
        // `repeated FileDescriptorProto file = 1;`
        prost::encoding::bytes::encode(1, &file.encode_to_vec(), &mut set);
    }
    set
}

fn push_with_imports(file: &FileDescriptor, seen: &mut HashSet<String>, ordered: &mut Vec<FileDescriptor>) {
    if !seen.insert(file.name().to_owned()) {
        return;
    }
    for import in file.dependencies() {
        push_with_imports(&import, seen, ordered);
    }
    ordered.push(file.clone());
}

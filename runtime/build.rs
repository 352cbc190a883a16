//! Compiles the framework's own protocol (`schema/heros/v1`) with protox, so no `protoc` is needed.
//! The framework's services are plain gRPC: tonic's own generator serves them.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let schema = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schema");
    let files = [
        "heros/v1/options.proto",
        "heros/v1/core.proto",
        "heros/v1/handles.proto",
        "heros/v1/attributes.proto",
        "heros/v1/callbacks.proto",
        "heros/v1/datasource.proto",
        "heros/v1/registry.proto",
        "heros/v1/operations.proto",
    ];
    let mut compiler = protox::Compiler::new([&schema])?;
    compiler.include_imports(true).include_source_info(true);
    for file in files {
        compiler.open_file(file)?;
        println!("cargo:rerun-if-changed={}", schema.join(file).display());
    }
    let fds = compiler.file_descriptor_set();
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    // Encoded by protox rather than prost-types, which would drop the custom options (e.g. the
    // datasource's `(heros.v1.event)`) that gRPC reflection passes on to tools.
    std::fs::write(out.join("heros_v1_descriptor.bin"), compiler.encode_file_descriptor_set())?;
    // Two passes, because tonic takes one codec for both sides of a service and the sides must
    // blame differently: a request that does not decode is the caller's fault (INVALID_ARGUMENT,
    // as for HERO methods; `crate::wire::codec::FrameworkCodec` names the expected message, which is why
    // messages get `prost::Name`), a reply that does not decode is the server's (tonic's INTERNAL).
    // The first pass writes the messages and the servers; the second only the clients, with
    // tonic's own codec, taking the messages from the first (`extern_path`).
    let mut messages = prost_build::Config::new();
    messages.enable_type_names().type_name_domain(["."], "type.googleapis.com");
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(false)
        .codec_path("crate::wire::codec::FrameworkCodec")
        .bytes(".")
        .compile_fds_with_config(fds.clone(), messages)?;
    let clients = out.join("clients");
    std::fs::create_dir_all(&clients)?;
    tonic_prost_build::configure()
        .build_server(false)
        .build_client(true)
        .extern_path(".heros.v1", "crate::proto")
        .out_dir(clients)
        .compile_fds(fds)?;
    compile_etcd(&out)
}

/// The part of etcd's v3 API that discovery uses (runtime/proto/etcd, vendored): clients only,
/// with tonic's codec. Compiled here rather than taken from the etcd-client crate, whose build
/// script needs `protoc` (see runtime/src/discovery/etcd/mod.rs).
fn compile_etcd(out: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("proto");
    let mut compiler = protox::Compiler::new([&root])?;
    compiler.include_imports(true);
    for file in ["etcd/rpc.proto", "etcd/mvccpb/kv.proto"] {
        compiler.open_file(file)?;
        println!("cargo:rerun-if-changed={}", root.join(file).display());
    }
    let etcd = out.join("etcd");
    std::fs::create_dir_all(&etcd)?;
    tonic_prost_build::configure()
        .build_server(false)
        .build_client(true)
        .out_dir(etcd)
        .compile_fds(compiler.file_descriptor_set())?;
    Ok(())
}

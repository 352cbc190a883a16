//! Compiles the framework's own protocol (`schema/heros/v1`) with protox, so no `protoc` is needed.
//! The registry service is plain gRPC: tonic's own generator serves it.

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
    tonic_prost_build::configure().build_server(true).build_client(true).bytes(".").compile_fds(fds)?;
    Ok(())
}

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
    let fds = protox::compile(files, [&schema])?;
    for file in files {
        println!("cargo:rerun-if-changed={}", schema.join(file).display());
    }
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("heros_v1_descriptor.bin"), prost::Message::encode_to_vec(&fds))?;
    tonic_prost_build::configure().build_server(true).build_client(true).bytes(".").compile_fds(fds)?;
    Ok(())
}

//! Compiles the test-only interfaces of the zenoh interop tests (tests/proto): the Rust HERO that
//! Python drives, and a `.proto` written to match the Python test HERO, for the typed stub. The
//! library itself needs no generated code, it reads every interface's descriptors at run time.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    heros_codegen::compile(&["tests/proto/zlab.proto", "tests/proto/pyobject.proto"], &["tests/proto", "../schema"])?;
    Ok(())
}

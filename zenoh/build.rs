//! Compiles the test-only interface of the zenoh interop tests (tests/proto); the library
//! itself needs no generated code, it reads every interface's descriptors at run time.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    heros_codegen::compile(&["tests/proto/zlab.proto"], &["tests/proto", "../schema"])?;
    Ok(())
}

//! Generates the example interfaces for the end-to-end tests (tests/cli.rs serves them as real
//! HEROs). The tool itself uses none of this: it reads every interface from the server.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    heros_codegen::compile(
        &[
            "../schema/examples/testobject.proto",
            "../schema/examples/furnace.proto",
            "../schema/examples/route_guide.proto",
        ],
        &["../schema"],
    )?;
    Ok(())
}

//! Compiles the example interfaces (schema/examples) and the test-only interface
//! (tests/schema) with heros-codegen; the framework's own schema is compiled by heros-runtime.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    heros_codegen::compile(
        &[
            "schema/examples/testobject.proto",
            "schema/examples/nodes.proto",
            "schema/examples/instrument.proto",
            "schema/examples/callbacks.proto",
            "schema/examples/furnace.proto",
            "schema/examples/route_guide.proto",
            "schema/examples/stage.proto",
            "tests/schema/lab/climate/v1/thermostat.proto",
            "tests/schema/lab/stock/v1/warehouse.proto",
            // The standard datasource interface: its HERO code lives in this crate (heros::datasource).
            "schema/heros/v1/datasource.proto",
        ],
        &["schema", "tests/schema"],
    )?;
    Ok(())
}

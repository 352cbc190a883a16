//! `compile` writes, beside each package's code, the descriptor set that the package's
//! interfaces hand to the server's gRPC reflection: every file the package needs, imports
//! included, with the `heros.v1` options that prost-types would have dropped.

use std::path::Path;

use prost_reflect::DescriptorPool;

#[test]
fn each_package_with_interfaces_gets_a_complete_descriptor_set_with_its_options() {
    let out = std::env::temp_dir().join(format!("heros-codegen-descriptor-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    heros_codegen::Builder::new()
        .emit_rerun_if_changed(false)
        .out_dir(&out)
        .compile(&[root.join("schema/examples/testobject.proto")], &[root.join("schema")])
        .expect("compiles");

    let code = std::fs::read_to_string(out.join("examples.v1.rs")).unwrap();
    assert!(
        code.contains("pub static EXAMPLES_V1_DESCRIPTOR_SET: &[u8] = include_bytes!(\"examples.v1.descriptor.bin\")"),
        "the code points at the set"
    );
    let set = std::fs::read(out.join("examples.v1.descriptor.bin")).expect("the set is written");
    let _ = std::fs::remove_dir_all(&out);

    // Decoding fails unless every import came along.
    let pool = DescriptorPool::decode(set.as_slice()).expect("a complete set");
    let names: Vec<String> = pool.files().map(|f| f.name().to_owned()).collect();
    assert!(
        names.iter().position(|n| n == "heros/v1/options.proto")
            < names.iter().position(|n| n == "examples/testobject.proto"),
        "imports first: {names:?}"
    );
    let attribute = pool.get_extension_by_name("heros.v1.attribute").unwrap();
    let service = pool.get_service_by_name("examples.v1.TestObject").unwrap();
    let testme = service.methods().find(|m| m.name() == "Testme").unwrap();
    assert!(testme.options().has_extension(&attribute), "the attribute option survived encoding");
    // Comments too, for `heros describe` and grpcurl.
    assert!(service.parent_file().file_descriptor_proto().source_code_info.is_some());
}

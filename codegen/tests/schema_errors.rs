//! HEROS rules that `Builder::generate` enforces, and a service that uses the less common
//! protobuf shapes (nested messages, a oneof, a map, a message from another package).
//!
//! Each test writes its `.proto` files into its own directory under the system temp dir; the
//! framework's `heros/v1` files are built into heros-codegen, so that directory is the only include.

use std::path::{Path, PathBuf};

use heros_codegen::{Builder, Error};

/// A directory of `.proto` files, removed when dropped.
struct ProtoDir {
    root: PathBuf,
}

impl ProtoDir {
    /// A fresh directory, unique to this process and `test`.
    fn new(test: &str) -> Self {
        let root = std::env::temp_dir().join(format!("heros-codegen-schema-test-{}-{test}", std::process::id()));
        // Left over from a crashed run of a process with the same id: start clean.
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("create temp dir");
        ProtoDir { root }
    }

    /// Writes `content` to `name` (a path relative to the directory) and returns the full path.
    fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.root.join(name);
        std::fs::create_dir_all(path.parent().expect("file in a folder")).expect("create proto folder");
        std::fs::write(&path, content).expect("write proto");
        path
    }

    fn generate(&self, proto: &Path) -> Result<Vec<(String, String)>, Error> {
        Builder::new().emit_rerun_if_changed(false).generate(&[proto], &[&self.root])
    }
}

impl Drop for ProtoDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Generates `service` (the body of `service Svc { .. }`) with `messages` in package `t.v1`,
/// expecting an error.
fn generate_err(test: &str, service: &str, messages: &str) -> Error {
    generate_err_importing(test, &[], service, messages)
}

/// Like [`generate_err`], with `heros/v1/core.proto` imported for handles and references.
fn generate_err_with_core(test: &str, service: &str, messages: &str) -> Error {
    generate_err_importing(test, &["heros/v1/core.proto"], service, messages)
}

fn generate_err_importing(test: &str, imports: &[&str], service: &str, messages: &str) -> Error {
    let dir = ProtoDir::new(test);
    let imports: String = imports.iter().map(|i| format!("import \"{i}\";\n")).collect();
    let proto = dir.write(
        "t/v1/svc.proto",
        &format!(
            "syntax = \"proto3\";\npackage t.v1;\nimport \"heros/v1/options.proto\";\n{imports}\n\
             service Svc {{\n{service}\n}}\n\n{messages}\n"
        ),
    );
    match dir.generate(&proto) {
        Ok(files) => panic!("{test}: expected an error, got {} generated file(s)", files.len()),
        Err(e) => e,
    }
}

fn assert_mentions(error: &Error, parts: &[&str]) {
    let message = error.to_string();
    for part in parts {
        assert!(message.contains(part), "error message does not mention {part:?}: {message}");
    }
}

#[test]
fn attribute_request_and_reply_must_be_the_same_message() {
    let error = generate_err(
        "attribute_differs",
        "  rpc Gain(GainValue) returns (OtherValue) { option (heros.v1.attribute) = {}; }",
        "message GainValue { optional double value = 1; }\nmessage OtherValue { optional double value = 1; }",
    );
    assert!(matches!(error, Error::Schema(_)), "{error:?}");
    assert_mentions(&error, &["rpc t.v1.Svc.Gain", "same message", "t.v1.GainValue", "t.v1.OtherValue"]);
}

#[test]
fn attribute_field_must_be_named_value() {
    let error = generate_err(
        "attribute_field_name",
        "  rpc Gain(GainValue) returns (GainValue) { option (heros.v1.attribute) = {}; }",
        "message GainValue { optional double gain = 1; }",
    );
    assert!(matches!(error, Error::Schema(_)), "{error:?}");
    assert_mentions(&error, &["rpc t.v1.Svc.Gain", "`value`", "t.v1.GainValue has: gain"]);
}

#[test]
fn attribute_must_have_only_the_value_field() {
    let error = generate_err(
        "attribute_two_fields",
        "  rpc Gain(GainValue) returns (GainValue) { option (heros.v1.attribute) = {}; }",
        "message GainValue { optional double value = 1; string unit = 2; }",
    );
    assert!(matches!(error, Error::Schema(_)), "{error:?}");
    assert_mentions(&error, &["rpc t.v1.Svc.Gain", "exactly one field", "has: value, unit"]);
}

#[test]
fn attribute_value_needs_presence() {
    let error = generate_err(
        "attribute_presence",
        "  rpc Count(CountValue) returns (CountValue) { option (heros.v1.attribute) = {}; }",
        "message CountValue { int64 value = 1; }",
    );
    assert!(matches!(error, Error::Schema(_)), "{error:?}");
    assert_mentions(&error, &["rpc t.v1.Svc.Count", "with presence", "`optional`"]);
}

#[test]
fn attribute_value_must_not_be_repeated() {
    let error = generate_err(
        "attribute_repeated",
        "  rpc Counts(CountsValue) returns (CountsValue) { option (heros.v1.attribute) = {}; }",
        "message CountsValue { repeated int64 value = 1; }",
    );
    assert!(matches!(error, Error::Schema(_)), "{error:?}");
    assert_mentions(&error, &["rpc t.v1.Svc.Counts", "with presence"]);
}

#[test]
fn an_event_takes_one_request_not_a_stream() {
    let error = generate_err(
        "event_client_stream",
        "  rpc Changed(stream Chunk) returns (stream Chunk) { option (heros.v1.event) = {}; }",
        "message Chunk { bytes data = 1; }",
    );
    assert!(matches!(error, Error::Schema(_)), "{error:?}");
    assert_mentions(&error, &["rpc t.v1.Svc.Changed", "not a stream"]);
}

#[test]
fn a_handle_in_a_streamed_request_is_its_only_field() {
    let error = generate_err_with_core(
        "stream_handle_fields",
        "  rpc Put(stream Crate) returns (Done);",
        "message Crate { heros.v1.Handle crate = 1 [(heros.v1.handle).type_name = \"lab.Crate\"]; string label = 2; }\nmessage Done {}",
    );
    assert!(matches!(error, Error::Unsupported(_)), "{error:?}");
    assert_mentions(&error, &["rpc t.v1.Svc.Put", "streamed request", "only field"]);
}

#[test]
fn a_long_running_method_is_unary() {
    let error = generate_err(
        "long_running_stream",
        "  rpc Upload(stream Chunk) returns (Chunk) { option (heros.v1.method) = { long_running: true }; }",
        "message Chunk { bytes data = 1; }",
    );
    assert!(matches!(error, Error::Unsupported(_)), "{error:?}");
    assert_mentions(&error, &["rpc t.v1.Svc.Upload", "long-running", "unary"]);
}

#[test]
fn an_intermediate_type_is_a_message_of_the_schema() {
    let error = generate_err(
        "intermediate_unknown",
        "  rpc Move(Chunk) returns (Chunk) { option (heros.v1.method) = { long_running: true, intermediate_type: \"t.v1.Nowhere\" }; }",
        "message Chunk { bytes data = 1; }",
    );
    assert!(matches!(error, Error::Schema(_)), "{error:?}");
    assert_mentions(&error, &["rpc t.v1.Svc.Move", "t.v1.Nowhere", "not a message"]);
}

#[test]
fn an_event_must_be_a_server_stream() {
    let error = generate_err(
        "event_unary",
        "  rpc Changed(ChangedRequest) returns (Change) { option (heros.v1.event) = {}; }",
        "message ChangedRequest {}\nmessage Change { double value = 1; }",
    );
    assert!(matches!(error, Error::Schema(_)), "{error:?}");
    assert_mentions(&error, &["rpc t.v1.Svc.Changed", "server-streaming", "stream t.v1.Change"]);
}

#[test]
fn syntax_error_is_a_compile_error() {
    let dir = ProtoDir::new("syntax_error");
    let proto = dir.write(
        "t/v1/broken.proto",
        "syntax = \"proto3\";\npackage t.v1;\nimport \"heros/v1/options.proto\";\n\nmessage Broken {\n  int32 value = ;\n}\n",
    );
    let error = dir.generate(&proto).expect_err("a syntax error must not generate code");
    assert!(matches!(error, Error::Compile(_)), "{error:?}");
    assert_mentions(&error, &["broken.proto"]);
}

#[test]
fn missing_import_is_a_compile_error() {
    let dir = ProtoDir::new("missing_import");
    let proto = dir.write("t/v1/svc.proto", "syntax = \"proto3\";\npackage t.v1;\nimport \"t/v1/nowhere.proto\";\n");
    let error = dir.generate(&proto).expect_err("a missing import must not generate code");
    assert!(matches!(error, Error::Compile(_)), "{error:?}");
    assert_mentions(&error, &["nowhere.proto"]);
}

/// Nested messages, a oneof, a map, and messages of another package (as field, as request and
/// as an attribute's value) compile, with the argument types prost gives the struct fields.
#[test]
fn nested_oneof_map_and_other_package_compile() {
    let dir = ProtoDir::new("positive");
    dir.write(
        "lab/shared/v1/units.proto",
        r#"syntax = "proto3";
package lab.shared.v1;

message Quantity {
  double amount = 1;
  string unit = 2;
}
"#,
    );
    let proto = dir.write(
        "lab/optics/v1/laser.proto",
        r#"syntax = "proto3";
package lab.optics.v1;

import "heros/v1/options.proto";
import "lab/shared/v1/units.proto";

// A laser with a shutter.
service Laser {
  // Configures the laser; answers the configuration in effect.
  rpc Configure(ConfigureRequest) returns (ConfigureReply);
  // Converts a quantity to milliwatts.
  rpc ToMilliwatts(lab.shared.v1.Quantity) returns (Power);
  // The output power.
  rpc Power(PowerValue) returns (PowerValue) {
    option (heros.v1.attribute) = {};
  }
}

message ConfigureRequest {
  message Pulse {
    message Shape {
      double rise_ns = 1;
    }
    double width_ns = 1;
    Shape shape = 2;
  }
  oneof mode {
    Pulse pulse = 1;
    lab.shared.v1.Quantity continuous = 2;
  }
  map<string, int32> channel_gains = 3;
  repeated Pulse.Shape shapes = 4;
  lab.shared.v1.Quantity limit = 5;
}

message ConfigureReply {
  ConfigureRequest.Pulse pulse = 1;
}

message Power {
  double milliwatts = 1;
}

message PowerValue {
  lab.shared.v1.Quantity value = 1;
}
"#,
    );
    let files = dir.generate(&proto).unwrap_or_else(|e| panic!("generate: {e}"));
    let names: Vec<&str> = files.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["lab.optics.v1.rs"], "only the requested package is returned");
    let code = &files[0].1;
    let file = syn::parse_file(code).expect("generated code parses");
    let laser = trait_methods(&file, "Laser");

    let prost = "::heros::codegen::prost";
    let quantity = "super::super::shared::v1::Quantity";
    assert_signature(
        &laser,
        "configure",
        &[
            ("mode", "::core::option::Option<configure_request::Mode>"),
            ("channel_gains", &format!("::std::collections::HashMap<{prost}::alloc::string::String, i32>")),
            ("shapes", &format!("{prost}::alloc::vec::Vec<configure_request::pulse::Shape>")),
            ("limit", &format!("::core::option::Option<{quantity}>")),
        ],
        "impl ::core::future::Future<Output = ::heros::Result<::core::option::Option<configure_request::Pulse>>> \
         + ::core::marker::Send",
    );
    assert_signature(
        &laser,
        "to_milliwatts",
        &[("amount", "f64"), ("unit", &format!("{prost}::alloc::string::String"))],
        "impl ::core::future::Future<Output = ::heros::Result<f64>> + ::core::marker::Send",
    );
    assert_signature(&laser, "power", &[], &format!("&::heros::Attribute<{quantity}>"));

    // prost's side of the same types, which the signatures above must agree with.
    assert!(code.contains("pub mod configure_request {"), "{code}");
    assert!(code.contains("pub mod pulse {"), "{code}");
    assert!(code.contains("Continuous(super::super::super::shared::v1::Quantity)"), "{code}");
    // The stub and the server adapter are there, with the setter of the attribute.
    assert!(code.contains("pub struct LaserRemote"), "{code}");
    assert!(code.contains("pub async fn set_power("), "{code}");
    assert!(code.contains("impl<T: Laser> ::heros::codegen::HeroService for LaserServer<T>"), "{code}");
    assert!(code.contains("\"/lab.optics.v1.Laser/ToMilliwatts\""), "{code}");
    assert!(code.contains("request_type: \"lab.shared.v1.Quantity\""), "{code}");
}

/// The methods of `pub trait name` in `file`.
fn trait_methods<'a>(file: &'a syn::File, name: &str) -> Vec<&'a syn::TraitItemFn> {
    let item = file
        .items
        .iter()
        .find_map(|item| match item {
            syn::Item::Trait(t) if t.ident == name => Some(t),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no trait {name} in the generated code"));
    item.items
        .iter()
        .filter_map(|i| match i {
            syn::TraitItem::Fn(f) => Some(f),
            _ => None,
        })
        .collect()
}

/// Checks a trait method's arguments (after `&self`) and return type, comparing tokens, not layout.
fn assert_signature(methods: &[&syn::TraitItemFn], name: &str, args: &[(&str, &str)], returns: &str) {
    use quote::ToTokens;
    // Token text, without the trailing commas that a line-broken generic list gets.
    let text = |t: &dyn ToTokens| t.to_token_stream().to_string().replace(" , >", " >");
    let method =
        methods.iter().find(|m| m.sig.ident == name).unwrap_or_else(|| panic!("no method {name} in the trait"));
    let tokens = |ty: &str| text(&syn::parse_str::<syn::Type>(ty).expect("expected type parses"));
    let got: Vec<(String, String)> = method
        .sig
        .inputs
        .iter()
        .filter_map(|arg| match arg {
            syn::FnArg::Typed(pat) => Some((text(&pat.pat), text(&pat.ty))),
            syn::FnArg::Receiver(_) => None,
        })
        .collect();
    let want: Vec<(String, String)> = args.iter().map(|(arg, ty)| (arg.to_string(), tokens(ty))).collect();
    assert_eq!(got, want, "arguments of {name}");
    let syn::ReturnType::Type(_, got_returns) = &method.sig.output else { panic!("{name} returns ()") };
    assert_eq!(text(got_returns), tokens(returns), "return type of {name}");
}

#[test]
fn stub_method_names_must_not_collide() {
    let error = generate_err(
        "stub_collision",
        "  rpc Mode(ModeValue) returns (ModeValue) { option (heros.v1.attribute) = {}; }\n  rpc SetMode(ModeValue) returns (ModeValue);",
        "message ModeValue { optional int32 value = 1; }",
    );
    assert!(matches!(error, Error::Schema(_)), "{error:?}");
    assert_mentions(&error, &["rpc SetMode", "rpc Mode", "`set_mode`"]);
    let error = generate_err("stub_own_name", "  rpc Connect(Req) returns (Req);", "message Req {}");
    assert_mentions(&error, &["rpc Connect", "the stub itself", "`connect`"]);
}

#[test]
fn wrapper_types_are_refused_as_request_or_reply() {
    let dir = ProtoDir::new("wrapper");
    let proto = dir.write(
        "t/v1/svc.proto",
        "syntax = \"proto3\";\npackage t.v1;\nimport \"google/protobuf/wrappers.proto\";\n\
         service Svc { rpc Name(google.protobuf.StringValue) returns (google.protobuf.StringValue); }\n",
    );
    let error = dir.generate(&proto).unwrap_err();
    assert_mentions(&error, &["rpc t.v1.Svc.Name", "google.protobuf.StringValue is a wrapper type"]);
}

#[test]
fn a_proto_without_package_is_generated_too() {
    let dir = ProtoDir::new("no_package");
    let proto = dir.write(
        "bare.proto",
        "syntax = \"proto3\";\nservice Bare { rpc Ping(PingRequest) returns (PingReply); }\n\
         message PingRequest {}\nmessage PingReply { string value = 1; }\n",
    );
    let files = dir.generate(&proto).unwrap();
    assert_eq!(files.len(), 1, "{:?}", files.iter().map(|f| &f.0).collect::<Vec<_>>());
    assert!(files[0].1.contains("pub trait Bare"), "{}", files[0].1);
}

#[test]
fn a_reference_must_name_an_interface_of_the_schema() {
    let error = generate_err_with_core(
        "ref_unknown_interface",
        "  rpc Peer(PeerRequest) returns (PeerRequest);",
        "message PeerRequest { heros.v1.HeroRef peer = 1 [(heros.v1.hero_ref).interface = \"t.v1.Nowhere\"]; }",
    );
    assert!(matches!(error, Error::Schema(_)), "{error:?}");
    assert_mentions(&error, &["rpc t.v1.Svc.Peer", "field 'peer'", "t.v1.Nowhere", "not in the schema"]);
}

#[test]
fn handle_types_must_not_share_an_associated_type() {
    let error = generate_err_with_core(
        "handle_assoc_clash",
        "  rpc A(HoldsA) returns (HoldsB);",
        "message HoldsA { heros.v1.Handle a = 1 [(heros.v1.handle).type_name = \"lab.Session\"]; }\n\
         message HoldsB { heros.v1.Handle b = 1 [(heros.v1.handle).type_name = \"other.Session\"]; }",
    );
    assert!(matches!(error, Error::Schema(_)), "{error:?}");
    assert_mentions(&error, &["lab.Session", "other.Session", "`Session`"]);
}

#[test]
fn an_rpc_must_not_take_the_name_of_a_handle_description() {
    let error = generate_err_with_core(
        "handle_repr_clash",
        "  rpc Open(Opened) returns (Opened);\n  rpc SessionRepr(Opened) returns (Opened);",
        "message Opened { heros.v1.Handle s = 1 [(heros.v1.handle).type_name = \"lab.Session\"]; }",
    );
    assert_mentions(&error, &["rpc SessionRepr", "session_repr", "lab.Session"]);
}

#[test]
fn handles_come_only_in_shapes_that_are_released() {
    let error = generate_err_with_core(
        "handle_in_a_bigger_reply",
        "  rpc Open(Opened) returns (Opened);",
        "message Opened { heros.v1.Handle s = 1 [(heros.v1.handle).type_name = \"lab.Session\"]; string note = 2; }",
    );
    assert!(matches!(error, Error::Unsupported(_)), "{error:?}");
    assert_mentions(&error, &["rpc t.v1.Svc.Open", "'s'", "only field"]);
    let error = generate_err_with_core(
        "repeated_handle",
        "  rpc Open(Many) returns (Many);",
        "message Many { repeated heros.v1.Handle s = 1 [(heros.v1.handle).type_name = \"lab.Session\"]; }",
    );
    assert_mentions(&error, &["'s'", "single field with (heros.v1.handle).type_name"]);
    let error = generate_err_with_core(
        "untyped_handle",
        "  rpc Use(Untyped) returns (Untyped);",
        "message Untyped { heros.v1.Handle s = 1; }",
    );
    assert_mentions(&error, &["'s'", "type_name"]);
}

//! Generates HEROS skeleton traits and remote stubs from `.proto` interfaces.
//!
//! Use it from `build.rs` like `tonic-build`, with no `protoc` on the machine:
//!
//! ```no_run
//! // build.rs
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     heros_codegen::compile(&["schema/examples/testobject.proto"], &["schema"])?;
//!     Ok(())
//! }
//! ```
//!
//! and include the result with `heros::include_proto!("examples.v1")`. For each service the
//! crate emits, next to prost's messages:
//!
//! - `trait Svc`: the local skeleton. Each method takes the request's fields as arguments and
//!   returns the reply's only field (or the reply, if it has several); each attribute is an
//!   accessor to a `heros::Attribute<T>` cell the object owns.
//! - `SvcServer<T>`: serves a `T: Svc` as a HERO.
//! - `SvcRemote`: the typed stub, with `connect(name)`, the same methods, a getter, a `watch_x`
//!   and (unless read-only) a setter per attribute, and per event `subscribe_x` (a stream),
//!   `connect_x` (a callback) and `observe_x` (the event across a realm).
//!
//! Fields of type `heros.v1.Handle` and `heros.v1.HeroRef` with their options become values kept
//! by the server (an associated type of the skeleton; `heros::Handle` on the stub) and typed stubs
//! of other HEROs; server-streaming rpcs with `(heros.v1.event)` become events, which the skeleton
//! emits through a `heros::Event<T>` it returns from an accessor.
//! - `SVC_INTERFACE`: the interface description the registry reports.
//! - `<PACKAGE>_DESCRIPTOR_SET` (once per package with interfaces): the package's `.proto` files
//!   and their imports, encoded, which `compile` writes as `<package>.descriptor.bin` beside the
//!   code and the server reports through gRPC reflection.
//!
//! The `heros.v1` options (schema/heros/v1/options.proto) say which rpcs are attributes and
//! events; prost drops custom options, so they are read here with prost-reflect.
//!
//! ## Layout
//! - `rust_types`: Rust spellings of protobuf types, mirroring prost-build.
//! - `model`: the HERO view of a service (roles of rpcs, fields as arguments).
//! - `generator`: the code written for each service, one file per thing it writes: `skeleton`
//!   (the trait), `interface` (`SVC_INTERFACE`), `server` (`SvcServer`), `stub` (`SvcRemote`),
//!   and `lints` (the allowances every generated item carries, so that include sites need none).
//! - `descriptors`: the descriptor set of each package, for reflection.

use std::path::{Path, PathBuf};

mod descriptors;
mod generator;
mod model;
mod rust_types;

/// What can stop code generation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A `.proto` file does not compile.
    #[error("protobuf compile error: {0}")]
    Compile(String),
    /// A service breaks a HEROS rule (e.g. an attribute message without a `value` field).
    #[error("HEROS schema error: {0}")]
    Schema(String),
    /// The `.proto` asks for something this version cannot generate yet.
    #[error("not supported: {0}")]
    Unsupported(String),
    /// Reading or writing files.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

/// Compiles `protos` (searched in `includes`) into `$OUT_DIR/<package>.rs`, one per package, and
/// `$OUT_DIR/<package>.descriptor.bin` beside each package with interfaces.
pub fn compile(protos: &[impl AsRef<Path>], includes: &[impl AsRef<Path>]) -> Result<(), Error> {
    Builder::new().compile(protos, includes)
}

/// Settings for less common cases; [`compile`] uses the defaults.
#[derive(Debug, Clone)]
pub struct Builder {
    runtime_path: String,
    extern_paths: Vec<(String, String)>,
    bytes_as_bytes: bool,
    out_dir: Option<PathBuf>,
    emit_rerun_if_changed: bool,
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

impl Builder {
    /// Defaults: runtime at `::heros`, `bytes` fields as `bytes::Bytes`, output to `$OUT_DIR`.
    pub fn new() -> Self {
        Builder {
            runtime_path: "::heros".to_owned(),
            extern_paths: Vec::new(),
            bytes_as_bytes: true,
            out_dir: None,
            emit_rerun_if_changed: true,
        }
    }

    /// Where generated code finds the runtime (default `::heros`).
    pub fn runtime_path(mut self, path: impl Into<String>) -> Self {
        self.runtime_path = path.into();
        self
    }

    /// Use existing Rust types for a protobuf package or type, as `prost_build::Config::extern_path`.
    pub fn extern_path(mut self, proto_path: impl Into<String>, rust_path: impl Into<String>) -> Self {
        self.extern_paths.push((proto_path.into(), rust_path.into()));
        self
    }

    /// `bytes` fields as `Vec<u8>` instead of `bytes::Bytes` (Bytes avoids a copy of large payloads).
    pub fn bytes_as_vec(mut self) -> Self {
        self.bytes_as_bytes = false;
        self
    }

    /// Write to this directory instead of `$OUT_DIR`.
    pub fn out_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.out_dir = Some(dir.into());
        self
    }

    /// Whether to print `cargo:rerun-if-changed` lines (default: yes).
    pub fn emit_rerun_if_changed(mut self, yes: bool) -> Self {
        self.emit_rerun_if_changed = yes;
        self
    }

    /// Compiles `protos`, searched in `includes` (the framework's `heros/v1` files are built in),
    /// and writes the code and the descriptor sets of [`compile`].
    pub fn compile(self, protos: &[impl AsRef<Path>], includes: &[impl AsRef<Path>]) -> Result<(), Error> {
        let out_dir = match &self.out_dir {
            Some(dir) => dir.clone(),
            None => PathBuf::from(std::env::var_os("OUT_DIR").ok_or_else(|| {
                Error::Io(std::io::Error::other(
                    "OUT_DIR is not set: call heros_codegen from build.rs, or set Builder::out_dir",
                ))
            })?),
        };
        let Generated { code, descriptor_sets } = self.generate_all(protos, includes)?;
        std::fs::create_dir_all(&out_dir)?;
        // Unchanged files are left alone, so that cargo does not rebuild what includes them.
        let files = code.into_iter().map(|(file, content)| (file, content.into_bytes())).chain(descriptor_sets);
        for (file, content) in files {
            let path = out_dir.join(file);
            if std::fs::read(&path).ok().as_deref() != Some(content.as_slice()) {
                std::fs::write(path, content)?;
            }
        }
        Ok(())
    }

    /// Generates the code without writing it: `(file name, content)` per protobuf package. The
    /// code of a package with interfaces includes `<package>.descriptor.bin`, which only
    /// [`Builder::compile`] writes.
    pub fn generate(
        &self,
        protos: &[impl AsRef<Path>],
        includes: &[impl AsRef<Path>],
    ) -> Result<Vec<(String, String)>, Error> {
        Ok(self.generate_all(protos, includes)?.code)
    }

    fn generate_all(&self, protos: &[impl AsRef<Path>], includes: &[impl AsRef<Path>]) -> Result<Generated, Error> {
        let framework = TempDir(tempdir_with_framework_schema()?);
        let framework = &framework.0;
        let mut include_dirs: Vec<PathBuf> = includes.iter().map(|p| p.as_ref().to_owned()).collect();
        include_dirs.push(framework.clone());
        let mut compiler = protox::Compiler::new(&include_dirs).map_err(|e| Error::Compile(e.to_string()))?;
        compiler.include_imports(true).include_source_info(true);
        for proto in protos {
            compiler.open_file(proto.as_ref()).map_err(|e| Error::Compile(format!("{e:?}")))?;
            if self.emit_rerun_if_changed {
                println!("cargo:rerun-if-changed={}", proto.as_ref().display());
            }
        }
        let pool = compiler.descriptor_pool();
        let fds = compiler.file_descriptor_set();
        let requested: Vec<String> = compiler.files().filter(|f| !f.is_import()).map(|f| f.name().to_owned()).collect();

        let mut extern_paths = self.extern_paths.clone();
        if !extern_paths.iter().any(|(proto, _)| proto == ".heros.v1") {
            extern_paths.push((".heros.v1".to_owned(), format!("{}::proto", self.runtime_path)));
        }
        let prost_path = format!("{}::codegen::prost", self.runtime_path);
        let prost_types_path = format!("{}::codegen::prost_types", self.runtime_path);
        let types = rust_types::TypeResolver::new(&extern_paths, &prost_path, &prost_types_path, self.bytes_as_bytes);

        let mut interfaces = std::collections::HashMap::new();
        for file in pool.files().filter(|f| requested.iter().any(|r| r == f.name())) {
            for service in file.services() {
                interfaces.insert(service.full_name().to_owned(), model::interface(&pool, &service, &types)?);
            }
        }

        // prost writes a module for every file it is given and needs imported messages in its
        // graph, so it gets them all; only the packages asked for are kept below.
        let prost_fds = fds.clone();

        let error = std::rc::Rc::new(std::cell::RefCell::new(None));
        let generator =
            generator::HerosGenerator { interfaces, runtime: self.runtime_path.clone(), error: error.clone() };
        let scratch = framework.join("out");
        std::fs::create_dir_all(&scratch)?;
        let mut config = prost_build::Config::new();
        config
            .out_dir(&scratch)
            .prost_path(&prost_path)
            .prost_types_path(&prost_types_path)
            .service_generator(Box::new(generator))
            .enable_type_names()
            // `Name::type_url` is what a `google.protobuf.Any` of the message carries (stored
            // values, intermediate results): the domain every protobuf library expects, not
            // prost's bare `/pkg.Message` (grpc-js's Any unpacking refuses that).
            .type_name_domain(["."], "type.googleapis.com");
        if self.bytes_as_bytes {
            config.bytes(["."]);
        }
        for (proto, rust) in &extern_paths {
            config.extern_path(proto, rust);
        }
        config.compile_fds(prost_fds).map_err(|e| Error::Compile(e.to_string()))?;
        if let Some(message) = error.borrow_mut().take() {
            return Err(Error::Schema(message));
        }

        let (mut generated, mut descriptor_sets) = (Vec::new(), Vec::new());
        for entry in std::fs::read_dir(&scratch)? {
            let path = entry?.path();
            let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
            let package = name.strip_suffix(".rs").unwrap_or(&name);
            // prost names the module of files without a `package` `_`.
            let is_requested = |f: &prost_reflect::FileDescriptor| {
                let module = if f.package_name().is_empty() { "_" } else { f.package_name() };
                requested.iter().any(|r| r == f.name()) && module == package
            };
            let files: Vec<String> = pool.files().filter(is_requested).map(|f| f.name().to_owned()).collect();
            if files.is_empty() {
                continue;
            }
            let mut code = std::fs::read_to_string(&path)?;
            let has_interfaces = pool.files().filter(is_requested).any(|f| f.services().next().is_some());
            if has_interfaces {
                code.push_str(&descriptors::declaration(package));
                descriptor_sets.push((descriptors::file_name(package), descriptors::encode_set(&pool, &files)));
            }
            generated.push((name, code));
        }
        generated.sort();
        Ok(Generated { code: generated, descriptor_sets })
    }
}

/// What one generation produces: the Rust code of each package, and the encoded descriptor set
/// of each package with interfaces.
struct Generated {
    code: Vec<(String, String)>,
    descriptor_sets: Vec<(String, Vec<u8>)>,
}

/// The framework's own `.proto` files, compiled into this crate so that users need not copy them.
const FRAMEWORK_SCHEMA: &[(&str, &str)] = &[
    ("heros/v1/options.proto", include_str!("../../schema/heros/v1/options.proto")),
    ("heros/v1/core.proto", include_str!("../../schema/heros/v1/core.proto")),
    ("heros/v1/handles.proto", include_str!("../../schema/heros/v1/handles.proto")),
    ("heros/v1/attributes.proto", include_str!("../../schema/heros/v1/attributes.proto")),
    ("heros/v1/callbacks.proto", include_str!("../../schema/heros/v1/callbacks.proto")),
    ("heros/v1/datasource.proto", include_str!("../../schema/heros/v1/datasource.proto")),
    ("heros/v1/registry.proto", include_str!("../../schema/heros/v1/registry.proto")),
];

/// A scratch folder removed when generation ends, also on errors.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempdir_with_framework_schema() -> Result<PathBuf, Error> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "heros-codegen-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    for (name, content) in FRAMEWORK_SCHEMA {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().expect("schema files live in folders"))?;
        std::fs::write(path, content)?;
    }
    Ok(dir)
}

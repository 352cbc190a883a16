//! # HEROS for Rust
//!
//! A *HERO* is an object living in one process whose methods and attributes can be used from any
//! other process, on this machine or across the network, as if it were local. This is the Rust
//! sibling of Python [HEROS](https://pypi.org/project/heros/): interfaces are declared in
//! protobuf, calls travel over gRPC, HEROs are found by name over mDNS, and any gRPC client in any
//! language can call a HERO with nothing but the `.proto` files.
//!
//! ## A tour
//!
//! 1. Declare the interface in a `.proto` file. Every rpc is a method; `option (heros.v1.attribute)`
//!    makes an rpc an attribute (see `schema/heros/v1/options.proto`).
//! 2. Generate code in `build.rs`: `heros_codegen::compile(&["schema/x.proto"], &["schema"])?;`
//! 3. Include it with [`include_proto!`], implement the generated trait (the *local skeleton*) and
//!    share the object: `heros::share("my_hero", TestObjectServer::new(object)).await?`.
//! 4. Elsewhere, connect the generated *remote stub* by name:
//!    `TestObjectRemote::connect("my_hero").await?.read_temp(0, 10).await?`.
//!
//! ## Layout
//!
//! - [`Server`], [`Hero`], [`LocalHero`], [`share`]: serving HEROs (one server per process, many
//!   HEROs, routed by the `heros-name` header).
//! - [`Target`], [`connect`]: the client side under every typed stub.
//! - [`Observer`]: which HEROs discovery knows, and changes to that.
//! - [`Error`]: the one error type, mapped to and from gRPC status in one place.
//! - [`Config`]: `HEROS_REALM`, `HEROS_BIND`, `HEROS_PEERS`, `HEROS_INTERFACES`, `HEROS_DISCOVERY`.
//! - [`datasource`]: the standard datasource interface, a polled datasource, an observer.
//! - [`proto`]: the framework's own messages (`HeroInfo`, `HeroRef`, `Handle`, `ErrorDetail`) and
//!   the registry service every server hosts.

pub use heros_runtime::*;

// Generated code names this crate `::heros`, also from inside it (the datasource interface).
extern crate self as heros;

pub mod datasource;

/// Includes the code `heros-codegen` generated for a protobuf package, e.g.
/// `heros::include_proto!("examples.v1")`.
#[macro_export]
macro_rules! include_proto {
    ($package:literal) => {
        include!(concat!(env!("OUT_DIR"), "/", $package, ".rs"));
    };
}

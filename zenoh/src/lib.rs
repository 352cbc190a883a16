//! HEROS for Rust on zenoh: native interop with Python HEROS (PyPI `heros`).
//!
//! Python HEROS puts its HEROs on zenoh and encodes everything in CBOR; HEROS for Rust serves
//! them over gRPC. This crate joins the two without changing either:
//!
//! - [`ZenohFace::share`] puts a HERO of a HEROS for Rust server on zenoh exactly as Python
//!   HEROS puts a `LocalHERO` there, so `RemoteHERO("name")` and `HEROObserver` in Python use it
//!   like any other HERO: methods, attributes (read-only ones refuse a set with an
//!   `AttributeError`), events, errors raised as Python's remote exceptions.
//! - [`RemoteHero`] calls a Python HERO from Rust with `serde_json::Value` arguments;
//!   [`HeroObserver`] follows HEROs coming and going (liveliness); [`discover`] lists them.
//! - [`RemoteHero::typed`] makes a generated typed stub (`<Service>Remote`) of a `.proto` that
//!   matches a Python HERO work against it, over zenoh.
//!
//! It is a crate of its own so that a build that does not need zenoh never compiles it.
//!
//! ## Layout
//! - `face`: the server side ([`ZenohFace`], [`ZenohHero`]); `grpc`: its calls into the HERO's
//!   own gRPC server.
//! - `remote`: the client side ([`RemoteHero`], [`HeroObserver`], [`discover`]); `typed`: the
//!   transport of typed stubs on a [`RemoteHero`].
//! - `mapping`: protobuf messages to and from Python's `[args, kwargs]`, replies and capabilities.
//! - `cbor`: HEROS's CBOR tags, its error payload, CBOR to and from JSON.
//! - `keys`: the key space `@object/<realm>/<name>/<member>`. `error`: [`Error`].
//!
//! docs/PROTOCOL.md ("Python HEROS over zenoh") says how each thing maps.

mod cbor;
mod error;
mod face;
mod grpc;
mod keys;
mod mapping;
mod remote;
mod typed;

pub use cbor::{from_json as json_to_cbor, to_json as cbor_to_json};
pub use ciborium::Value as Cbor;
pub use error::{Error, Result};
pub use face::{ZenohFace, ZenohHero, PROTO_VERSION};
pub use mapping::member_name;
pub use remote::{
    discover, Capability, HeroDescriptor, HeroObserver, Presence, RemoteHero, Subscription, CALL_TIMEOUT,
};
pub use zenoh;

//! The HEROS runtime. The `heros` crate re-exports everything here; see it for the tour.
//!
//! ## Layout (docs/ARCHITECTURE.md draws it)
//! - `server/`: the one gRPC server of a process (`Server`, `Hero`, `LocalHero`, graceful
//!   shutdown); `service` and `incoming` (the server's half of the generated-code contract:
//!   `HeroService`, `Call`, and the three ways a call comes in), `call_context` (deadline,
//!   cancel and progress of the call being served), `operations/` (long-running operations),
//!   `routing` (picks the HERO of each call), `registry`, `health`, `reflection` with `descriptor_index`, `attribute_watch`,
//!   `callbacks`, `panic` (a method's panic as its call's error), `this_process` (the servers
//!   in-process stubs can reach), and `serving/` (connections, limits, bytes in and out).
//! - `client/`: `Target` (one remote HERO) and its `Transport` (`network`, `in_process`, or
//!   `foreign`: a `ForeignTransport` another crate gives, e.g. heros-zenoh's),
//!   `streaming_calls` (streaming methods), `operation` (`Operation<T, I>`),
//!   `stub` (the client's half of the contract: `Remote`), finding a HERO by name (`lookup`),
//!   the session cache, `EventStream`, `EventObserver`, attribute streams, `Handle`.
//! - `interface`: what both sides read of an interface (`Interface`, `Member`); `codegen`: the
//!   hidden module generated code refers to.
//! - `events/`: `Event<T>`, what a HERO emits through.
//! - `handles/`: the handle table, client sessions, leases and quotas.
//! - `net/`: connections to servers (one HTTP/2 connection per server, shared).
//! - `discovery/`: the process's cache of HEROs fed by mDNS and etcd (`etcd/`), advertisement
//!   on both, `Observer`.
//! - `refs`: references to HEROs passed by value (nested HEROs, callbacks).
//! - `security/`: TLS and mutual authentication per realm, roles, tokens, the dial policy.
//! - `wire/`: what travels besides messages: `codec`, `metadata` (request headers), `names`.
//! - `attribute`: the `Attribute<T>` cell; `error`: `Error` and its one mapping to and from gRPC
//!   status; `config` and `limits`: the settings and their environment variables.
//!
//! `client` imports `server`, never the reverse; `runtime/tests/layout.rs` keeps it so.

mod attribute;
mod client;
#[doc(hidden)]
pub mod codegen;
mod config;
pub(crate) mod discovery;
mod error;
mod events;
mod handles;
mod interface;
mod limits;
mod net;
pub mod proto;
mod refs;
pub mod security;
mod server;
pub mod wire;

pub use attribute::Attribute;
pub use client::attribute_stream::AttributeStream;
pub use client::event_observer::{EventObserver, HeroFilter, Observed};
pub use client::event_stream::{Connected, EventStream, Received};
pub use client::foreign::{EncodedMessages, ForeignFuture, ForeignTransport};
pub use client::handles::Handle;
pub use client::operation::{Operation, OperationPhase, OperationStatus};
pub use client::stub::Remote;
pub use client::{connect, connect_timeout, use_security, Target, DEFAULT_CONNECT_TIMEOUT};
pub use config::{Config, HeroUrl};
#[doc(hidden)] // not part of the API: the hook of runtime/tests/discovery.rs
pub use discovery::testing as discovery_testing;
pub use discovery::{DiscoveryEvent, EtcdRegistration, Observer};
pub use error::{detail_of, Error, HandleProblem, Result};
pub use events::event::{Delivery, Event, Frame, Payload, Subscription, DEFAULT_EVENT_BUFFER};
pub use interface::{Interface, Member, MemberKind, Streaming};
pub use limits::{Limits, DEFAULT_MAX_MESSAGE_SIZE};
pub use refs::{AsHeroRef, REFERENCE_DISCOVERY_TIMEOUT};
pub use security::{DialPolicy, Role, Token};
pub use server::call_context::CallContext;
pub use server::service::{HeroService, RefScope};
pub use server::{share, Hero, LocalHero, Server, ServerBuilder};
pub use wire::names::{validate_name, validate_realm, DEFAULT_REALM};
pub use wire::version::PROTOCOL_VERSION;

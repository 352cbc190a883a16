//! The HEROS runtime. The `heros` crate re-exports everything here; see it for the tour.
//!
//! ## Layout
//! - `server/`: the one gRPC server of a process (`Server`, `Hero`, `LocalHero`, graceful
//!   shutdown) and what it serves besides HEROs: `routing` (picks the HERO of each call),
//!   `registry`, `health`, `reflection` with `descriptor_index`, `panic` (a method's panic as
//!   its call's error), and `serving/` (connections, limits, bytes in and out).
//! - `client/`: `Target` (one remote HERO), finding a HERO by name, the process's connection
//!   and session caches; `connection` (one HTTP/2 connection per server), `local` (calls to a
//!   HERO of the same process, without a socket).
//! - `interface`: the generated-code contract (`HeroService`, descriptions, `Call`); `codegen`:
//!   the hidden module generated code refers to.
//! - `events/`: `Event<T>` (what a HERO emits through), the subscriber's `EventStream`, the
//!   `EventObserver` across a realm, attribute watches, callbacks to other HEROs.
//! - `handles/`: the handle table, client sessions, leases and quotas, `Handle`.
//! - `discovery/`: mDNS advertisement, the process's browser cache, `Observer`.
//! - `refs`: references to HEROs passed by value (nested HEROs, callbacks).
//! - `security/`: TLS and mutual authentication per realm, roles, tokens, the dial policy.
//! - `wire/`: what travels besides messages: `codec`, `metadata` (request headers), `names`.
//! - `attribute`: the `Attribute<T>` cell; `error`: `Error` and its one mapping to and from gRPC
//!   status; `config` and `limits`: the settings and their environment variables.

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
#[doc(hidden)] // test and demo plumbing (it calls unshare(2)), not part of the API
pub mod netns;
pub mod proto;
mod refs;
pub mod security;
mod server;
pub mod wire;

pub use attribute::Attribute;
pub use client::attribute_stream::AttributeStream;
pub use client::event_observer::{EventObserver, HeroFilter, Observed};
pub use client::event_stream::{Connected, EventStream, Received};
pub use client::handles::Handle;
pub use client::stub::Remote;
pub use client::{connect, connect_timeout, use_security, Target, DEFAULT_CONNECT_TIMEOUT};
pub use config::{Config, HeroUrl};
#[doc(hidden)] // not part of the API: the hook of runtime/tests/discovery.rs
pub use discovery::testing as discovery_testing;
pub use discovery::{DiscoveryEvent, Observer};
pub use error::{detail_of, Error, HandleProblem, Result};
pub use events::event::{Delivery, Event, Frame, Payload, Subscription, DEFAULT_EVENT_BUFFER};
pub use interface::{Interface, Member, MemberKind};
pub use limits::{Limits, DEFAULT_MAX_MESSAGE_SIZE};
pub use refs::{AsHeroRef, REFERENCE_DISCOVERY_TIMEOUT};
pub use security::{DialPolicy, Role, Token};
pub use server::service::{HeroService, RefScope};
pub use server::{share, Hero, LocalHero, Server, ServerBuilder};
pub use wire::names::{validate_name, validate_realm, DEFAULT_REALM};
pub use wire::version::PROTOCOL_VERSION;

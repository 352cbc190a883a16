//! The HEROS runtime. The `heros` crate re-exports everything here; see it for the tour.
//!
//! ## Layout
//! - `server`: the one gRPC server of a process, `Hero` (what to share) and `LocalHero` (a HERO
//!   being served), graceful shutdown.
//! - `routing`: picks the HERO for each call (`heros-name`, realm) and counts calls in flight.
//! - `registry`: the `heros.v1.Registry` service on every server.
//! - `interface`: what generated code hands the runtime (`HeroService`, descriptions, `Call`).
//! - `client`: `Target`, finding a HERO by name, the channel cache.
//! - `local`: calls to a HERO of the same process, without a socket.
//! - `discovery`: mDNS advertisement, the process's browser cache, `Observer`.
//! - `handles`: the handle table, client sessions and leases, `Handle`.
//! - `refs`: references to HEROs passed by value (nested HEROs, callbacks).
//! - `event`, `event_stream`: `Event<T>` (what a HERO emits through) and the subscriber's side.
//! - `attribute`: the `Attribute<T>` cell.
//! - `error`: `Error` and its one mapping to and from gRPC status.
//! - `config`, `names`, `metadata`: environment, naming rules, request headers.

mod attribute;
mod attribute_watch;
mod callbacks;
mod client;
mod codec;
#[doc(hidden)]
pub mod codegen;
pub mod config;
mod connection;
mod descriptor_index;
pub(crate) mod discovery;
mod error;
mod event;
mod event_observer;
mod event_stream;
mod handles;
mod health;
mod interface;
mod limits;
mod local;
mod metadata;
mod names;
pub mod netns;
pub mod proto;
mod reflection;
mod refs;
mod registry;
mod routing;
mod server;

pub use attribute::Attribute;
pub use attribute_watch::AttributeStream;
pub use client::{connect, connect_timeout, Target, DEFAULT_CONNECT_TIMEOUT};
pub use codec::{read_missed_prefix, MissedPrefix};
pub use config::{Config, HeroUrl};
#[doc(hidden)] // not part of the API: the hook of runtime/tests/discovery.rs
pub use discovery::testing as discovery_testing;
pub use discovery::{DiscoveryEvent, Observer};
pub use error::{detail_of, Error, HandleProblem, Result};
pub use event::{Delivery, Event, Frame, Payload, Subscription, DEFAULT_EVENT_BUFFER};
pub use event_observer::{EventObserver, HeroFilter, Observed};
pub use event_stream::{Connected, EventStream, Received};
pub use handles::Handle;
pub use interface::{HeroService, Interface, Member, MemberKind, Remote};
pub use limits::{Limits, DEFAULT_MAX_MESSAGE_SIZE};
pub use metadata::{encode_header, NAME_HEADER, REALM_HEADER, SESSION_HEADER};
pub use names::{validate_name, validate_realm, DEFAULT_REALM};
pub use refs::{AsHeroRef, RefScope, REFERENCE_DISCOVERY_TIMEOUT};
pub use server::{share, Hero, LocalHero, Server, ServerBuilder, PROTOCOL_VERSION};

//! What generated code refers to. Not a stable API: only `heros-codegen` output should use it.

pub use prost;
pub use prost_types;
pub use tokio_stream::{Stream, StreamExt};

pub use crate::attribute::Attribute;
pub use crate::client::handles::{HandlesInFlight, StubSession};
pub use crate::client::stub::{attribute_value, Remote};
pub use crate::client::{connect, connect_timeout};
pub use crate::handles::HandleScope;
pub use crate::interface::{AnyMessage, Interface, Member, MemberKind};
pub use crate::refs::{hero_ref_for, resolve_ref};
pub use crate::server::attribute_watch::{watch_attribute, AttributeWatch};
pub use crate::server::callbacks::{encoded_events, EncodedEvents};
pub use crate::server::incoming::{AsOperation, InProcess, Incoming, OverNetwork, ReplyFuture};
pub use crate::server::service::{AttributeAccess, Call, EventAccess, HeroService, RefScope};

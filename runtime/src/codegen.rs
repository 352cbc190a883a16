//! What generated code refers to. Not a stable API: only `heros-codegen` output should use it.

pub use prost;
pub use prost_types;

pub use crate::attribute::Attribute;
pub use crate::client::handles::StubSession;
pub use crate::client::{connect, connect_timeout};
pub use crate::events::attribute_watch::{watch_attribute, AttributeWatch};
pub use crate::events::callbacks::{encoded_events, EncodedEvents};
pub use crate::handles::HandleScope;
pub use crate::interface::{
    attribute_value, AnyMessage, AttributeAccess, Call, EventAccess, HeroService, Interface, Member, MemberKind,
    Remote, Reply, ResponseFuture,
};
pub use crate::refs::{hero_ref_for, resolve_ref, RefScope};

//! The client's half of the generated-code contract: `Remote`, which a generated
//! `<Service>Remote` stub implements, and what its methods call besides [`crate::Target`].

use crate::error::{Error, Result};

/// A typed remote stub (generated as `<Service>Remote`).
pub trait Remote: Sized {
    /// Full protobuf name of the interface.
    const INTERFACE: &'static str;
    /// Wraps a connection.
    fn from_target(target: crate::client::Target) -> Self;
}

/// The value of an attribute reply; a HEROS server always sends one.
pub fn attribute_value<V>(value: Option<V>, attribute: &str) -> Result<V> {
    value.ok_or_else(|| Error::Rpc {
        code: tonic::Code::Internal,
        message: format!("the reply for attribute '{attribute}' carries no value"),
    })
}

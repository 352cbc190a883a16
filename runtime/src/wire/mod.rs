//! What travels besides the messages themselves: the codecs (undecodable requests are the
//! caller's fault; event frames with their missed counts), the request headers and their
//! encoding, and what a HERO name and a realm may be. The errors' mapping to gRPC status is in
//! `error`.
//!
//! Public for tools that build their own requests or read event frames themselves, such as the
//! `heros` CLI; programs that use stubs need none of it.

/// The protocol's version (one path for it: `heros::PROTOCOL_VERSION`).
pub(crate) mod version {
    /// Version of the wire contract in docs/PROTOCOL.md, advertised in discovery and the registry.
    pub const PROTOCOL_VERSION: u32 = 1;
}
pub(crate) use version::PROTOCOL_VERSION;

pub(crate) mod codec;
pub(crate) mod frame;
pub(crate) mod metadata;
pub(crate) mod names;

pub use codec::{read_missed_prefix, MissedPrefix};
pub use metadata::{encode_header, NAME_HEADER, REALM_HEADER, SESSION_HEADER};

//! Handles: values that cannot (or should not) travel stay in the serving process, and callers
//! get an opaque, typed, unforgeable handle to pass back.
//!
//! - `table`: the server's table, sessions and leases (Cap'n Proto's export table, not weak ids).
//! - `service`: `heros.v1.Sessions` and `heros.v1.Handles` on the wire.
//! - `scope`: what generated skeleton code uses within one call.
//!
//! The client's side (this process's sessions with servers, and `Handle`) is `client/handles.rs`.

pub(crate) mod scope;
pub(crate) mod service;
pub(crate) mod table;

pub use scope::HandleScope;

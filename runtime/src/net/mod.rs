//! Connections to HEROS servers, below both sides: a stub's calls (`client`), a server's
//! callbacks to other HEROs and its name-conflict check (`server`) all dial through here.

pub(crate) mod connection;
pub(crate) mod describe;
pub(crate) mod dial;

pub(crate) use dial::{dial_any, forget_connection};

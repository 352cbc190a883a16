//! Every bound on what one peer can make a server hold: sockets, streams, bytes on their way in
//! and out, sessions and handles. Each is a field of [`Limits`] (in [`crate::Config`]) and an
//! environment variable; README.md lists them in one table with what the caller sees when one
//! bites. This module owns the settings only; the defences are where the resources are
//! (`server/serving/` for connections and bytes, `handles/table.rs` for sessions and handles).

use std::time::Duration;

use crate::error::{Error, Result};

/// Largest message a server accepts or sends unless configured otherwise (tonic's is 4 MiB;
/// HEROs move 64 MiB payloads).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 256 * 1024 * 1024;

/// The limits of one server. The defaults suit a lab network: far above what a well-behaved
/// client needs, far below what would let one client starve the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest message accepted or sent, in bytes (`HEROS_MAX_MESSAGE_SIZE`). Larger ones are
    /// refused with RESOURCE_EXHAUSTED.
    pub max_message_size: usize,
    /// Connections open at once, from everyone (`HEROS_MAX_CONNECTIONS`). The server also keeps
    /// it below its open-files limit, so that accepting can never run out of descriptors.
    pub max_connections: usize,
    /// Connections open at once from one IP address (`HEROS_MAX_CONNECTIONS_PER_PEER`).
    pub max_connections_per_peer: usize,
    /// Time a new connection has to send the HTTP/2 preface and its SETTINGS
    /// (`HEROS_HANDSHAKE_TIMEOUT_MS`); a silent one is closed.
    pub handshake_timeout: Duration,
    /// Time a connection may stay without any call before the server closes it with GOAWAY
    /// (`HEROS_IDLE_TIMEOUT_MS`). Clients reconnect on their next call.
    pub idle_timeout: Duration,
    /// Calls (HTTP/2 streams) open at once on one connection (`HEROS_MAX_CONCURRENT_STREAMS`);
    /// a client queues the ones above it.
    pub max_concurrent_streams: u32,
    /// Time a request has to arrive whole, counted while the server waits for its bytes
    /// (`HEROS_RECEIVE_TIMEOUT_MS`); a slower one fails with DEADLINE_EXCEEDED. Request streams
    /// (reflection) may idle between messages.
    pub receive_timeout: Duration,
    /// Bytes of request messages still arriving, from one IP address (`HEROS_MAX_RECEIVING_BYTES_PER_PEER`),
    /// booked by their announced length; a message that does not fit is refused with
    /// RESOURCE_EXHAUSTED. Never below `max_message_size`.
    pub max_receiving_bytes_per_peer: usize,
    /// Bytes of replies a client has not read yet, per connection (`HEROS_MAX_UNREAD_REPLY_BYTES`).
    /// A reply that would go above it is dropped and the call fails with RESOURCE_EXHAUSTED; a
    /// reply is always sent when nothing else is waiting.
    pub max_unread_reply_bytes: usize,
    /// Client sessions open at once from one IP address (`HEROS_MAX_SESSIONS_PER_PEER`).
    pub max_sessions_per_peer: usize,
    /// Handles one client session may hold (`HEROS_MAX_HANDLES_PER_SESSION`).
    pub max_handles_per_session: usize,
    /// Bytes of values one client session may keep with `Handles/Store` (`HEROS_MAX_STORED_BYTES_PER_SESSION`).
    pub max_stored_bytes_per_session: usize,
    /// Exports one client session may own (`HEROS_MAX_EXPORTS_PER_SESSION`).
    pub max_exports_per_session: usize,
    /// Exports kept past the end of their session, on the whole server (`HEROS_MAX_KEPT_EXPORTS`).
    pub max_kept_exports: usize,
    /// Long-running operations the server holds at once, running or ended and not yet expired
    /// (`HEROS_MAX_OPERATIONS`); `Operations/Start` above it fails with RESOURCE_EXHAUSTED.
    pub max_operations: usize,
    /// How long an operation that has ended is kept, with its result, for anyone who asks by
    /// its id (`HEROS_OPERATION_LIFETIME_MS`). A running operation is kept until it ends, however
    /// the connection that started it fares.
    pub operation_lifetime: Duration,
    /// Whether `HERO_NOT_FOUND` and similar errors list the other HEROs of the server
    /// (`HEROS_LIST_HEROS_IN_ERRORS`). Helpful on a trusted network; turn it off where callers
    /// should not learn what else a server hosts.
    pub list_heros_in_errors: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            max_connections: 4096,
            max_connections_per_peer: 256,
            handshake_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(300),
            max_concurrent_streams: 128,
            receive_timeout: Duration::from_secs(30),
            max_receiving_bytes_per_peer: DEFAULT_MAX_MESSAGE_SIZE,
            max_unread_reply_bytes: DEFAULT_MAX_MESSAGE_SIZE,
            max_sessions_per_peer: 64,
            max_handles_per_session: 1024,
            max_stored_bytes_per_session: 512 * 1024 * 1024,
            max_exports_per_session: 256,
            max_kept_exports: 1024,
            max_operations: 1024,
            operation_lifetime: Duration::from_secs(600),
            list_heros_in_errors: true,
        }
    }
}

/// One setting: its variable, and the field it sets.
struct Setting {
    variable: &'static str,
    field: Field,
}

/// A field of [`Limits`] and how its variable is read.
enum Field {
    /// A positive number.
    Count(fn(&mut Limits) -> &mut usize),
    /// A positive number below 2^32.
    SmallCount(fn(&mut Limits) -> &mut u32),
    /// A positive number of milliseconds.
    Millis(fn(&mut Limits) -> &mut Duration),
    /// `on` or `off`.
    Switch(fn(&mut Limits) -> &mut bool),
}

impl Field {
    fn apply(&self, limits: &mut Limits, text: &str) -> std::result::Result<(), String> {
        let count = || text.parse::<usize>().ok().filter(|n| *n > 0);
        let not_positive = || format!("'{text}' is not a positive number");
        match self {
            Field::Count(field) => *field(limits) = count().ok_or_else(not_positive)?,
            Field::SmallCount(field) => {
                *field(limits) = count().and_then(|n| u32::try_from(n).ok()).ok_or_else(not_positive)?
            }
            Field::Millis(field) => {
                *field(limits) =
                    Duration::from_millis(count().ok_or_else(|| not_positive() + " of milliseconds")? as u64)
            }
            Field::Switch(field) => {
                *field(limits) = match text.to_ascii_lowercase().as_str() {
                    "on" | "1" | "yes" | "true" => true,
                    "off" | "0" | "no" | "false" => false,
                    _ => return Err(format!("'{text}' is neither 'on' nor 'off'")),
                }
            }
        }
        Ok(())
    }
}

const SETTINGS: &[Setting] = &[
    Setting { variable: "HEROS_MAX_MESSAGE_SIZE", field: Field::Count(|l| &mut l.max_message_size) },
    Setting { variable: "HEROS_MAX_CONNECTIONS", field: Field::Count(|l| &mut l.max_connections) },
    Setting { variable: "HEROS_MAX_CONNECTIONS_PER_PEER", field: Field::Count(|l| &mut l.max_connections_per_peer) },
    Setting { variable: "HEROS_HANDSHAKE_TIMEOUT_MS", field: Field::Millis(|l| &mut l.handshake_timeout) },
    Setting { variable: "HEROS_IDLE_TIMEOUT_MS", field: Field::Millis(|l| &mut l.idle_timeout) },
    Setting { variable: "HEROS_MAX_CONCURRENT_STREAMS", field: Field::SmallCount(|l| &mut l.max_concurrent_streams) },
    Setting { variable: "HEROS_RECEIVE_TIMEOUT_MS", field: Field::Millis(|l| &mut l.receive_timeout) },
    Setting {
        variable: "HEROS_MAX_RECEIVING_BYTES_PER_PEER",
        field: Field::Count(|l| &mut l.max_receiving_bytes_per_peer),
    },
    Setting { variable: "HEROS_MAX_UNREAD_REPLY_BYTES", field: Field::Count(|l| &mut l.max_unread_reply_bytes) },
    Setting { variable: "HEROS_MAX_SESSIONS_PER_PEER", field: Field::Count(|l| &mut l.max_sessions_per_peer) },
    Setting { variable: "HEROS_MAX_HANDLES_PER_SESSION", field: Field::Count(|l| &mut l.max_handles_per_session) },
    Setting {
        variable: "HEROS_MAX_STORED_BYTES_PER_SESSION",
        field: Field::Count(|l| &mut l.max_stored_bytes_per_session),
    },
    Setting { variable: "HEROS_MAX_EXPORTS_PER_SESSION", field: Field::Count(|l| &mut l.max_exports_per_session) },
    Setting { variable: "HEROS_MAX_KEPT_EXPORTS", field: Field::Count(|l| &mut l.max_kept_exports) },
    Setting { variable: "HEROS_MAX_OPERATIONS", field: Field::Count(|l| &mut l.max_operations) },
    Setting { variable: "HEROS_OPERATION_LIFETIME_MS", field: Field::Millis(|l| &mut l.operation_lifetime) },
    Setting { variable: "HEROS_LIST_HEROS_IN_ERRORS", field: Field::Switch(|l| &mut l.list_heros_in_errors) },
];

impl Limits {
    /// The defaults, with every `HEROS_*` limit variable that `lookup` has applied.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let mut limits = Limits::default();
        for setting in SETTINGS {
            let Some(value) = lookup(setting.variable).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) else {
                continue;
            };
            setting
                .field
                .apply(&mut limits, &value)
                .map_err(|e| Error::config(format!("{}: {e}", setting.variable)))?;
        }
        Ok(limits)
    }

    /// The names of every limit variable, for documentation checks.
    pub fn variables() -> impl Iterator<Item = &'static str> {
        SETTINGS.iter().map(|s| s.variable)
    }

    /// The per-peer receive budget actually used: one message of the largest size must fit.
    pub(crate) fn receiving_budget(&self) -> usize {
        self.max_receiving_bytes_per_peer.max(self.max_message_size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn limits(vars: &[(&str, &str)]) -> Result<Limits> {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Limits::from_lookup(|key| vars.get(key).cloned())
    }

    #[test]
    fn every_variable_is_read_and_bad_values_name_it() {
        assert_eq!(limits(&[]).unwrap(), Limits::default());
        for variable in Limits::variables() {
            let value = if variable == "HEROS_LIST_HEROS_IN_ERRORS" { "off" } else { "7" };
            let changed = limits(&[(variable, value)]).unwrap();
            assert_ne!(changed, Limits::default(), "{variable} changed nothing");
            let error = limits(&[(variable, "lots")]).unwrap_err().to_string();
            assert!(error.contains(variable), "{error}");
        }
        assert!(limits(&[("HEROS_MAX_CONNECTIONS", "0")]).is_err(), "zero is refused");
        let small =
            limits(&[("HEROS_MAX_RECEIVING_BYTES_PER_PEER", "10"), ("HEROS_MAX_MESSAGE_SIZE", "1000")]).unwrap();
        assert_eq!(small.receiving_budget(), 1000, "one largest message always fits");
    }

    #[test]
    fn the_readme_and_the_protocol_list_every_limit() {
        let readme = include_str!("../../README.md");
        let protocol = include_str!("../../docs/PROTOCOL.md");
        for variable in Limits::variables() {
            assert!(readme.contains(&format!("| `{variable}` |")), "README.md's Limits table lacks {variable}");
            assert!(protocol.contains(variable), "docs/PROTOCOL.md does not mention {variable}");
        }
    }
}

//! The process-wide session cache of the client side: one handle session per server, shared by
//! every stub (the connection cache is `net::dial`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use crate::client::handles::ClientSession;

pub(super) type SessionSlot = Arc<tokio::sync::Mutex<Option<Arc<ClientSession>>>>;
pub(super) type Sessions = Mutex<HashMap<(Option<tokio::runtime::Id>, String), SessionSlot>>;

/// This process's sessions with servers, by runtime (none for in-process) and endpoint: one per
/// server, so that a handle from one HERO can be passed to another HERO of the same server.
pub(super) fn sessions() -> &'static Sessions {
    static SESSIONS: OnceLock<Sessions> = OnceLock::new();
    SESSIONS.get_or_init(Default::default)
}

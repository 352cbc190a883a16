//! The process's connections to servers: one HTTP/2 connection per server and tokio runtime,
//! shared by every stub, callback and name check that talks to that server.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use crate::error::{Error, Result};
use crate::net::connection::Connection;

/// The first of `endpoints` that accepts a connection.
pub(crate) async fn dial_any(endpoints: &[String]) -> Result<(String, Connection)> {
    let mut last_error = Error::unavailable("the HERO record lists no endpoint");
    for endpoint in endpoints {
        match dial(endpoint).await {
            Ok(dialed) => return Ok(dialed),
            Err(error) => last_error = error,
        }
    }
    Err(last_error)
}

type Connections = Mutex<HashMap<(tokio::runtime::Id, String), Connection>>;

/// Connections by runtime and endpoint.
fn connections() -> &'static Connections {
    static CONNECTIONS: OnceLock<Connections> = OnceLock::new();
    CONNECTIONS.get_or_init(Default::default)
}

/// Drops the cached connection to a server that went away, so that the next dial really
/// connects (and a stale discovery record shows up as refused instead of as a dead connection).
pub(crate) fn forget_connection(endpoint: &str) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
    connections().lock().unwrap_or_else(|e| e.into_inner()).remove(&(runtime.id(), endpoint.to_owned()));
}

/// A connection to `endpoint`, shared by all stubs of this tokio runtime (a connection's task
/// lives in the runtime that made it).
pub(crate) async fn dial(endpoint: &str) -> Result<(String, Connection)> {
    let key = (tokio::runtime::Handle::current().id(), endpoint.to_owned());
    let connections = connections();
    if let Some(connection) = connections.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        if !connection.is_closed() {
            return Ok((endpoint.to_owned(), connection.clone()));
        }
    }
    let connection = Connection::open(endpoint).await?;
    connections.lock().unwrap_or_else(|e| e.into_inner()).insert(key, connection.clone());
    Ok((endpoint.to_owned(), connection))
}

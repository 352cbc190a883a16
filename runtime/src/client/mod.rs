//! The client side: `Target` (one remote HERO: its name, realm and a channel to its server),
//! finding a HERO by name (mDNS cache, `HEROS_PEERS`, `heros://` URLs), and a connection cache so
//! that every stub of a process shares one HTTP/2 connection per server.

pub(crate) mod attribute_stream;
pub(crate) mod caches;
pub(crate) mod event_observer;
pub(crate) mod event_stream;
pub(crate) mod foreign;
pub(crate) mod handles;
pub(crate) mod in_process;
pub(crate) mod lookup;
pub(crate) mod network;
pub(crate) mod operation;
pub(crate) mod streaming_calls;
pub(crate) mod stub;
pub(crate) mod target;
pub(crate) mod transport;

pub(crate) use lookup::find_moved;
pub use lookup::{connect, connect_timeout};
pub use target::{Target, DEFAULT_CONNECT_TIMEOUT};

/// Makes this process call over TLS with the credentials of `config` (and send its token), as
/// if they had been in the environment (`HEROS_CREDENTIALS`, `HEROS_TOKEN`). A process has one
/// set of credentials; a server started with credentials sets them too. Connections already
/// open keep theirs.
pub fn use_security(config: &crate::config::Config) -> crate::error::Result<()> {
    crate::security::install(config.security()?);
    Ok(())
}

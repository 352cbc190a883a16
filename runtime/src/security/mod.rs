//! Security of a realm (docs/PROTOCOL.md, "Security"): TLS with mutual authentication against
//! the realm's CA, roles carried in certificates, a shared-token mode, and the policy of where a
//! server may connect on a caller's behalf.
//!
//! - `credentials`: the credentials folder (`HEROS_CREDENTIALS`) and its denylist.
//! - `realm`: making a realm CA and issuing certificates (`heros realm init|issue`).
//! - `tls`: rustls on our own serve loop and client connections.
//! - `roles`: `observe` / `operate` (which calls need which is the server's: `server/access.rs`).
//! - `token`: `HEROS_TOKEN`, the weaker shared secret.
//! - `dial_policy`: no pivoting through a HERO (`HEROS_DIAL`).
//!
//! This module imports nothing of the runtime but `error`: the server, the client, handles and
//! events call into it, never the other way round.
//!
//! Who is calling travels with each call being served as a task-local `Caller`, set by the
//! connection (`server/serving/connection.rs`) around every poll of the call: sessions read it
//! to refuse an id presented by another identity, attributes to refuse an observer's set, the
//! dial policy for the caller's address. Calls from this process carry none.

pub(crate) mod credentials;
pub(crate) mod dial_policy;
pub mod realm;
pub(crate) mod roles;
pub(crate) mod tls;
pub(crate) mod token;

use std::net::IpAddr;
use std::sync::{Arc, RwLock};

pub use dial_policy::DialPolicy;
pub use roles::Role;
pub use token::Token;

use crate::error::Result;

/// An authenticated peer: who (for sessions) and what it may do.
#[derive(Debug)]
pub(crate) struct Authenticated {
    /// `name#serial` for a certificate; `token@ip` for the shared token.
    pub(crate) identity: String,
    pub(crate) role: Role,
}

/// The peer of the call being served. Cheap to clone: an address, and for a secured
/// connection a reference count.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub(crate) peer: IpAddr,
    pub(crate) auth: Option<Arc<Authenticated>>,
}

tokio::task_local! {
    static CALLER: Caller;
}

/// Runs `poll` (one poll of a call's future) with `caller` as the call's peer.
pub(crate) fn with_caller<R>(caller: &Caller, poll: impl FnOnce() -> R) -> R {
    CALLER.sync_scope(caller.clone(), poll)
}

/// The address of the peer whose call is being served, if any.
pub(crate) fn caller_peer() -> Option<IpAddr> {
    CALLER.try_with(|caller| caller.peer).ok()
}

/// The role of the peer whose call is being served: `None` outside a call, or when its
/// connection is not authenticated (an unsecured server).
pub(crate) fn caller_role() -> Option<Role> {
    CALLER.try_with(|caller| caller.auth.as_ref().map(|auth| auth.role)).ok().flatten()
}

/// The identity of the peer whose call is being served (`None`: unsecured, or this process).
pub(crate) fn caller_identity() -> Option<String> {
    CALLER.try_with(|caller| caller.auth.as_ref().map(|auth| auth.identity.clone())).ok().flatten()
}

/// Whether the peer whose call is being served is `owner` (an identity; `None`: unsecured or
/// this process). Compared in place: no allocation per check.
pub(crate) fn caller_is(owner: Option<&str>) -> bool {
    let current = CALLER.try_with(|caller| match (&caller.auth, owner) {
        (Some(auth), Some(owner)) => auth.identity == owner,
        (None, None) => true,
        _ => false,
    });
    // Outside of any call (this process's own use of its table): only sessions without owner.
    current.unwrap_or(owner.is_none())
}

/// The security a process serves and dials with.
pub(crate) struct Security {
    pub(crate) tls: Option<tls::Tls>,
    pub(crate) token: Option<Token>,
}

impl Security {
    /// Loads a credentials folder and takes a token; `None` when there is neither (an
    /// unsecured process).
    pub(crate) fn load(credentials: Option<&std::path::Path>, token: Option<&Token>) -> Result<Option<Arc<Security>>> {
        let tls = credentials.map(tls::Tls::load).transpose()?;
        if tls.is_none() && token.is_none() {
            return Ok(None);
        }
        Ok(Some(Arc::new(Security { tls, token: token.cloned() })))
    }
}

/// `None` until the environment was read or [`use_security`] ran; then the process's.
static PROCESS: RwLock<Option<Option<Arc<Security>>>> = RwLock::new(None);

/// The security this process dials with: what `from_env` loads (`HEROS_CREDENTIALS` and
/// `HEROS_TOKEN`) the first time, unless `use_security` (or a server started with credentials)
/// set it before.
pub(crate) fn process(from_env: impl FnOnce() -> Result<Option<Arc<Security>>>) -> Result<Option<Arc<Security>>> {
    if let Some(security) = PROCESS.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
        return Ok(security.clone());
    }
    let security = from_env()?;
    let mut slot = PROCESS.write().unwrap_or_else(|e| e.into_inner());
    Ok(slot.get_or_insert(security).clone())
}

/// Sets the security this process dials with (`heros::use_security`, a secured server).
pub(crate) fn install(security: Option<Arc<Security>>) {
    *PROCESS.write().unwrap_or_else(|e| e.into_inner()) = Some(security);
}

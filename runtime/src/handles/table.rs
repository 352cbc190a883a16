//! The handle table of one server, after Cap'n Proto's export table rather than Python HEROS's
//! weak `id()` store: entries hold strong references, counted per client session; ids are never
//! reused and carry a random nonce, so a released or forged id cannot reach a value; a session's
//! references go when the session ends (its `Hold` stream closed, or its lease ran out).
//!
//! Exports belong to the session that attached them and go with it, unless attached to be kept.
//! Everything a peer can make the table hold is bounded by a setting of [`Limits`]: sessions per
//! peer address, and per session the distinct values it holds, the bytes it stored and the
//! exports it owns; kept exports for the whole server.
//!
//! One mutex guards sessions, entries and exports together: every operation touches two of them,
//! and only calls that pass or return handles take it.

use std::any::Any;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use crate::error::{Error, HandleProblem, Result};
use crate::limits::Limits;
use crate::proto::{self, HandleStats, SessionStats};

/// A value kept for clients.
pub(crate) type Value = Arc<dyn Any + Send + Sync>;

/// 16 random bytes naming a session; whoever knows them uses the session's handles.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct SessionId([u8; 16]);

impl SessionId {
    pub(crate) fn random() -> Self {
        SessionId(random_bytes())
    }

    /// The `heros-session` header's form: 32 lowercase hex digits.
    pub(crate) fn to_hex(self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    pub(crate) fn parse(text: &str) -> Result<Self> {
        let unknown = || Error::handle(HandleProblem::UnknownSession, "a session id is 32 hexadecimal digits");
        if text.len() != 32 || !text.is_ascii() {
            return Err(unknown());
        }
        let mut id = [0u8; 16];
        for (i, byte) in id.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| unknown())?;
        }
        Ok(SessionId(id))
    }
}

impl std::fmt::Debug for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret itself in logs.
        f.write_str("SessionId(..)")
    }
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // The OS generator fails only on a broken system; handles must not be guessable then either.
    getrandom::fill(&mut bytes).expect("the operating system's random number generator failed");
    bytes
}

/// Length of a handle id: server instance (8 bytes), entry number (8), nonce (16).
const ID_LEN: usize = 32;

/// The table: created with the server, emptied when it shuts down.
pub(crate) struct HandleTable {
    /// Random per server run: a handle from another server or an earlier run is told apart.
    instance: [u8; 8],
    /// Secret keys of the nonces: an entry's nonce is a keyed hash of its number, so it needs
    /// neither a system call per handle nor room in the entry, and cannot be guessed.
    nonce_keys: [std::hash::RandomState; 2],
    default_lease: Duration,
    limits: Limits,
    state: Mutex<State>,
    /// Ends every `Hold` stream when the server shuts down, so graceful shutdown does not wait.
    closing: tokio::sync::watch::Sender<bool>,
}

#[derive(Default)]
struct State {
    /// Next entry number; numbers are never reused.
    next_entry: u64,
    next_session: u64,
    entries: HashMap<u64, Entry>,
    sessions: HashMap<SessionId, Session>,
    exports: BTreeMap<String, Export>,
    /// Sessions open per peer address (sessions opened in this process have none).
    peers: HashMap<IpAddr, usize>,
    /// Exports attached with `keep`, whether their session still lives or not.
    kept: usize,
    /// One shared copy of each type name.
    type_names: HashSet<Arc<str>>,
    closed: bool,
}

struct Entry {
    value: Value,
    type_name: Arc<str>,
    /// The HERO's description; `None` for the default, made when asked.
    repr: Option<Box<str>>,
    /// References per session number (nearly always one session: a list beats a map).
    holders: Vec<(u64, u32)>,
    /// Names this entry is exported under; each keeps it alive.
    exports: u32,
    /// For a message put here by `Handles/Store`: who is charged for its bytes.
    stored: Option<Stored>,
}

/// The bytes of a stored message, counted against the session that stored it for as long as
/// that session keeps the value (holds a reference or owns an export of it).
struct Stored {
    session: u64,
    bytes: usize,
}

/// A named export.
struct Export {
    entry: u64,
    /// The number of the session that attached it; `None` once that session ended (only kept
    /// exports outlive it).
    owner: Option<u64>,
    keep: bool,
}

impl Entry {
    fn holds(&self, session: u64) -> bool {
        self.holders.iter().any(|(s, _)| *s == session)
    }

    fn add_holder(&mut self, session: u64) {
        match self.holders.iter_mut().find(|(s, _)| *s == session) {
            Some((_, count)) => *count += 1,
            None => self.holders.push((session, 1)),
        }
    }

    /// Takes `count` references of `session` away; true when it holds none any more.
    fn remove_holder(&mut self, session: u64, count: u32) -> bool {
        let Some(at) = self.holders.iter().position(|(s, _)| *s == session) else { return false };
        let held = &mut self.holders[at].1;
        *held = held.saturating_sub(count.max(1));
        if *held > 0 {
            return false;
        }
        self.holders.swap_remove(at);
        true
    }

    fn unused(&self) -> bool {
        self.holders.is_empty() && self.exports == 0
    }

    fn repr(&self, number: u64) -> String {
        match &self.repr {
            Some(repr) => repr.to_string(),
            None => format!("{} #{number}", self.type_name),
        }
    }
}

struct Session {
    number: u64,
    /// Open `Hold` streams; while any is open the lease does not run.
    holds: u32,
    lease: Duration,
    expires: Instant,
    /// Entries this session holds references to.
    entries: HashSet<u64>,
    /// Names of the exports this session attached (and owns).
    exports: HashSet<String>,
    /// Bytes of the stored messages charged to this session.
    stored_bytes: usize,
    /// The address the session was opened from; `None` in this process.
    peer: Option<IpAddr>,
    /// The authenticated identity that opened it (a secured server); only it may use the id.
    owner: Option<Box<str>>,
}

/// A resolved handle: the value and what it claims to be.
pub(crate) struct Resolved {
    pub(crate) value: Value,
    pub(crate) type_name: Arc<str>,
}

impl HandleTable {
    pub(crate) fn new(default_lease: Duration, limits: Limits) -> Self {
        HandleTable {
            instance: random_bytes(),
            nonce_keys: [std::hash::RandomState::new(), std::hash::RandomState::new()],
            default_lease,
            limits,
            state: Mutex::new(State::default()),
            closing: tokio::sync::watch::channel(false).0,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts a session with a lease: the client's wish (0 for none) up to the server's default.
    /// `peer` is the address it was asked from (`None` in this process: not counted).
    pub(crate) fn open_session(&self, lease: Duration, peer: Option<IpAddr>) -> Result<(SessionId, Duration)> {
        let lease = if lease.is_zero() { self.default_lease } else { lease.min(self.default_lease) };
        // An IPv4 client of a dual-stack socket is one peer, however its address is written.
        let peer = peer.map(|ip| ip.to_canonical());
        let mut state = self.state();
        if state.closed {
            return Err(Error::unavailable("the server is shutting down"));
        }
        if let Some(ip) = peer {
            let open = state.peers.get(&ip).copied().unwrap_or(0);
            let max = self.limits.max_sessions_per_peer;
            if open >= max {
                return Err(Error::limit_reached(
                    "HEROS_MAX_SESSIONS_PER_PEER",
                    max,
                    format!("a new session refused: {ip} has {open} sessions open; close one first"),
                ));
            }
            *state.peers.entry(ip).or_insert(0) += 1;
        }
        state.next_session += 1;
        let session = Session {
            number: state.next_session,
            holds: 0,
            lease,
            expires: Instant::now() + lease,
            entries: HashSet::new(),
            exports: HashSet::new(),
            stored_bytes: 0,
            peer,
            owner: crate::security::caller_identity().map(String::into_boxed_str),
        };
        let id = SessionId::random();
        state.sessions.insert(id, session);
        Ok((id, lease))
    }

    /// Keeps `session` alive until the returned guard drops.
    pub(crate) fn hold(self: &Arc<Self>, session: SessionId) -> Result<(HoldGuard, Duration)> {
        let mut state = self.state();
        let lease = state.session_mut(session)?.lease;
        state.session_mut(session)?.holds += 1;
        Ok((HoldGuard { table: Arc::downgrade(self), session }, lease))
    }

    /// Renews a session's lease.
    pub(crate) fn renew(&self, session: SessionId) -> Result<Duration> {
        Ok(self.state().session_mut(session)?.lease)
    }

    /// Ends a session and releases its references and its exports (but the kept ones).
    pub(crate) fn close_session(&self, session: SessionId) -> Result<()> {
        let mut state = self.state();
        // Only its owner may end it (a secured server).
        state.session_mut(session)?;
        let dropped = state
            .end_session(session)
            .ok_or_else(|| Error::handle(HandleProblem::UnknownSession, "no such session (it ended)"))?;
        drop(state);
        drop(dropped); // values' own Drop runs outside the lock
        Ok(())
    }

    /// Puts `value` in the table with one reference for `session`, and returns its handle.
    pub(crate) fn export(
        &self,
        session: SessionId,
        value: Value,
        type_name: &str,
        repr: Option<String>,
    ) -> Result<proto::Handle> {
        self.insert(session, value, type_name, repr, 0)
    }

    /// Keeps a protobuf message for `session` (`Handles/Store`), its bytes counted against the
    /// session's quota.
    pub(crate) fn store(&self, session: SessionId, any: prost_types::Any) -> Result<proto::Handle> {
        let type_name = super::scope::message_name(&any.type_url)?.to_owned();
        let bytes = any.value.len();
        let repr = stored_repr(&type_name, bytes);
        self.insert(session, Arc::new(any), &type_name, Some(repr), bytes)
    }

    /// A new entry held once by `session`; `stored_bytes` of it are charged to the session.
    fn insert(
        &self,
        session: SessionId,
        value: Value,
        type_name: &str,
        repr: Option<String>,
        stored_bytes: usize,
    ) -> Result<proto::Handle> {
        let mut state = self.state();
        let number = state.next_entry;
        let holder = state.session_mut(session)?;
        self.admit_handle(holder)?;
        let max = self.limits.max_stored_bytes_per_session;
        if holder.stored_bytes.saturating_add(stored_bytes) > max {
            return Err(Error::limit_reached(
                "HEROS_MAX_STORED_BYTES_PER_SESSION",
                max,
                format!(
                    "storing {stored_bytes} more bytes refused: this session keeps {} bytes of stored messages; \
                     release or detach some first",
                    holder.stored_bytes
                ),
            ));
        }
        holder.stored_bytes += stored_bytes;
        holder.entries.insert(number);
        let session_number = holder.number;
        state.next_entry += 1;
        let type_name = state.intern(type_name);
        let entry = Entry {
            value,
            type_name,
            repr: repr.map(String::into_boxed_str),
            holders: vec![(session_number, 1)],
            exports: 0,
            stored: (stored_bytes > 0).then_some(Stored { session: session_number, bytes: stored_bytes }),
        };
        let handle = self.handle_of(number, &entry);
        state.entries.insert(number, entry);
        Ok(handle)
    }

    /// Refuses a value new to `session` once it holds as many as it may.
    fn admit_handle(&self, session: &Session) -> Result<()> {
        let max = self.limits.max_handles_per_session;
        if session.entries.len() >= max {
            return Err(Error::limit_reached(
                "HEROS_MAX_HANDLES_PER_SESSION",
                max,
                format!(
                    "a new handle refused: this session holds {} handles; release some first",
                    session.entries.len()
                ),
            ));
        }
        Ok(())
    }

    fn handle_of(&self, number: u64, entry: &Entry) -> proto::Handle {
        let mut id = Vec::with_capacity(ID_LEN);
        id.extend_from_slice(&self.instance);
        id.extend_from_slice(&number.to_be_bytes());
        id.extend_from_slice(&self.nonce(number));
        proto::Handle { type_name: entry.type_name.to_string(), repr: entry.repr(number), id: Bytes::from(id) }
    }

    /// The secret part of entry `number`'s id: SipHash, keyed with two random keys, of the number.
    fn nonce(&self, number: u64) -> [u8; 16] {
        let mut nonce = [0u8; 16];
        for (half, key) in nonce.chunks_exact_mut(8).zip(&self.nonce_keys) {
            half.copy_from_slice(&key.hash_one(number).to_le_bytes());
        }
        nonce
    }

    /// The value behind `handle`, if `session` holds it.
    pub(crate) fn resolve(&self, session: SessionId, handle: &proto::Handle) -> Result<Resolved> {
        let mut state = self.state();
        let session_number = state.session_mut(session)?.number;
        let (number, entry) = self.entry(&state, &handle.id)?;
        if !entry.holds(session_number) {
            return Err(Error::handle(
                HandleProblem::Foreign,
                format!(
                    "handle {number} ({}) belongs to another client's session; share it with Attach and Fetch",
                    entry.type_name
                ),
            ));
        }
        Ok(Resolved { value: entry.value.clone(), type_name: entry.type_name.clone() })
    }

    /// The entry an id names, or why it names none.
    fn entry<'s>(&self, state: &'s State, id: &[u8]) -> Result<(u64, &'s Entry)> {
        if id.len() != ID_LEN {
            return Err(Error::handle(
                HandleProblem::Invalid,
                format!("not a handle this server issued: ids are {ID_LEN} bytes, this one has {}", id.len()),
            ));
        }
        if id[..8] != self.instance {
            return Err(Error::handle(
                HandleProblem::Stale,
                "the handle was issued by another server, or by an earlier run of this one",
            ));
        }
        let number = u64::from_be_bytes(id[8..16].try_into().expect("8 bytes"));
        // The nonce first: a forged id is forged, whether or not its number was ever in use.
        if number >= state.next_entry || self.nonce(number)[..] != id[16..] {
            return Err(Error::handle(HandleProblem::Invalid, "not a handle this server issued (forged id)"));
        }
        let entry = state.entries.get(&number).ok_or_else(|| {
            Error::handle(HandleProblem::Released, format!("handle {number} was released; its value is gone"))
        })?;
        Ok((number, entry))
    }

    /// Gives back `count` references of `session` to the entry `id`. Unknown ids are ignored:
    /// a release may cross the end of its session.
    pub(crate) fn release(&self, session: SessionId, id: &[u8], count: u32) -> Result<()> {
        let dropped = {
            let mut state = self.state();
            let session_number = state.session_mut(session)?.number;
            let Ok((number, _)) = self.entry(&state, id) else { return Ok(()) };
            state.unref(number, session, session_number, count)
        };
        drop(dropped);
        Ok(())
    }

    /// Exports the value behind `handle` (held by `session`) under `name`, owned by `session`:
    /// the export goes when the session ends unless `keep`.
    pub(crate) fn attach(&self, session: SessionId, handle: &proto::Handle, name: &str, keep: bool) -> Result<()> {
        if name.is_empty() {
            return Err(Error::invalid_argument("an export needs a name"));
        }
        let mut state = self.state();
        let owner = state.session_mut(session)?;
        let (session_number, owned) = (owner.number, owner.exports.len());
        let (number, entry) = self.entry(&state, &handle.id)?;
        if !entry.holds(session_number) {
            return Err(Error::handle(HandleProblem::Foreign, "only a session that holds a handle may attach it"));
        }
        if state.exports.contains_key(name) {
            return Err(Error::handle(HandleProblem::ExportExists, format!("'{name}' is already exported here")));
        }
        let max = self.limits.max_exports_per_session;
        if owned >= max {
            return Err(Error::limit_reached(
                "HEROS_MAX_EXPORTS_PER_SESSION",
                max,
                format!("exporting '{name}' refused: this session owns {owned} exports; detach some first"),
            ));
        }
        let max = self.limits.max_kept_exports;
        if keep && state.kept >= max {
            return Err(Error::limit_reached(
                "HEROS_MAX_KEPT_EXPORTS",
                max,
                format!("keeping '{name}' refused: this server keeps {} exports; detach some first", state.kept),
            ));
        }
        state.exports.insert(name.to_owned(), Export { entry: number, owner: Some(session_number), keep });
        state.kept += usize::from(keep);
        state.session_mut(session)?.exports.insert(name.to_owned());
        if let Some(entry) = state.entries.get_mut(&number) {
            entry.exports += 1;
        }
        Ok(())
    }

    /// Removes the export `name`, if `session` owns it or its owner has ended; the value goes
    /// when nobody else holds it.
    pub(crate) fn detach(&self, session: SessionId, name: &str) -> Result<()> {
        let dropped = {
            let mut state = self.state();
            let session_number = state.session_mut(session)?.number;
            let export = state.exports.get(name).ok_or_else(|| unknown_export(name))?;
            if export.owner.is_some_and(|owner| owner != session_number) {
                return Err(Error::handle(
                    HandleProblem::ExportNotOwned,
                    format!("'{name}' was exported by another session; only that session may detach it"),
                ));
            }
            let export = state.exports.remove(name).expect("just found");
            state.kept -= usize::from(export.keep);
            if export.owner.is_some() {
                state.session_mut(session)?.exports.remove(name);
            }
            let entry = state.entries.get_mut(&export.entry).expect("exports point at entries");
            entry.exports -= 1;
            state.settle_stored(export.entry, session);
            state.entries[&export.entry].unused().then(|| state.remove_entry(export.entry))
        };
        drop(dropped);
        Ok(())
    }

    /// A new reference for `session` to the value exported as `name`.
    pub(crate) fn fetch(&self, session: SessionId, name: &str) -> Result<proto::Handle> {
        let mut state = self.state();
        let number = state.exports.get(name).ok_or_else(|| unknown_export(name))?.entry;
        let holder = state.session_mut(session)?;
        if !holder.entries.contains(&number) {
            self.admit_handle(holder)?;
        }
        holder.entries.insert(number);
        let session_number = holder.number;
        let entry = state.entries.get_mut(&number).expect("exports point at entries");
        entry.add_holder(session_number);
        Ok(self.handle_of(number, entry))
    }

    /// The exports, by name.
    pub(crate) fn browse(&self) -> Vec<proto::Export> {
        let state = self.state();
        state
            .exports
            .iter()
            .map(|(name, export)| {
                let entry = &state.entries[&export.entry];
                proto::Export {
                    name: name.clone(),
                    type_name: entry.type_name.to_string(),
                    repr: entry.repr(export.entry),
                }
            })
            .collect()
    }

    /// Ends sessions whose lease ran out; returns how many.
    pub(crate) fn expire(&self, now: Instant) -> usize {
        let dropped: Vec<_> = {
            let mut state = self.state();
            let expired: Vec<SessionId> =
                state.sessions.iter().filter(|(_, s)| s.holds == 0 && s.expires <= now).map(|(id, _)| *id).collect();
            expired.into_iter().filter_map(|id| state.end_session(id)).collect()
        };
        dropped.len()
    }

    /// Figures for the registry and `Server::handle_stats`.
    pub(crate) fn stats(&self) -> HandleStats {
        let state = self.state();
        let now = Instant::now();
        let mut sessions: Vec<SessionStats> = state
            .sessions
            .values()
            .map(|s| SessionStats {
                number: s.number,
                entries: s.entries.len() as u64,
                held: s.holds > 0,
                expires_in_ms: if s.holds > 0 {
                    0
                } else {
                    s.expires.saturating_duration_since(now).as_millis() as u64
                },
            })
            .collect();
        sessions.sort_by_key(|s| s.number);
        HandleStats {
            entries: state.entries.len() as u64,
            exports: state.exports.len() as u64,
            references: state.entries.values().flat_map(|e| &e.holders).map(|(_, n)| u64::from(*n)).sum(),
            sessions,
        }
    }

    /// Ends every session and drops every value (the server shut down).
    pub(crate) fn close(&self) {
        let _ = self.closing.send(true);
        let dropped = {
            let mut state = self.state();
            state.closed = true;
            state.sessions.clear();
            state.peers.clear();
            state.exports.clear();
            state.kept = 0;
            std::mem::take(&mut state.entries)
        };
        drop(dropped);
    }

    /// Resolves when the server shuts down.
    pub(crate) fn closing(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut closing = self.closing.subscribe();
        async move {
            let _ = closing.wait_for(|closed| *closed).await;
        }
    }

    pub(crate) fn default_lease(&self) -> Duration {
        self.default_lease
    }
}

/// The `repr` of a stored message.
pub(crate) fn stored_repr(type_name: &str, bytes: usize) -> String {
    format!("{type_name} ({bytes} bytes)")
}

fn unknown_export(name: &str) -> Error {
    Error::handle(HandleProblem::UnknownExport, format!("nothing is exported here as '{name}'"))
}

impl State {
    fn intern(&mut self, type_name: &str) -> Arc<str> {
        if let Some(shared) = self.type_names.get(type_name) {
            return shared.clone();
        }
        let shared: Arc<str> = type_name.into();
        self.type_names.insert(shared.clone());
        shared
    }

    /// Removes an entry, and gives the map's memory back when it has emptied out.
    fn remove_entry(&mut self, number: u64) -> Option<Entry> {
        let entry = self.entries.remove(&number);
        if self.entries.capacity() > 1024 && self.entries.len() < self.entries.capacity() / 4 {
            self.entries.shrink_to(self.entries.len() * 2);
        }
        entry
    }

    /// The session, its lease renewed by this use.
    fn session_mut(&mut self, id: SessionId) -> Result<&mut Session> {
        let unknown = || {
            Error::handle(
                HandleProblem::UnknownSession,
                "the session has ended (its stream closed or its lease ran out) or never existed; open a new one",
            )
        };
        let session = self.sessions.get_mut(&id).ok_or_else(unknown)?;
        // An id presented by another identity than the one that opened the session is answered
        // as if it did not exist: a stolen id is worth nothing, and says nothing.
        if !crate::security::caller_is(session.owner.as_deref()) {
            tracing::info!("a session id was presented by another identity than its owner's; refused");
            return Err(unknown());
        }
        session.expires = Instant::now() + session.lease;
        Ok(session)
    }

    /// Removes `count` references of session `holder` from entry `number`; returns the entry if
    /// that was the last reference of all.
    fn unref(&mut self, number: u64, session: SessionId, holder: u64, count: u32) -> Option<Entry> {
        let entry = self.entries.get_mut(&number)?;
        if !entry.remove_holder(holder, count) {
            return None;
        }
        if let Some(holder) = self.sessions.get_mut(&session) {
            holder.entries.remove(&number);
            if holder.entries.capacity() > 1024 && holder.entries.len() < holder.entries.capacity() / 4 {
                holder.entries.shrink_to(holder.entries.len() * 2);
            }
        }
        self.settle_stored(number, session);
        if self.entries[&number].unused() {
            self.remove_entry(number)
        } else {
            None
        }
    }

    /// Gives the bytes of a stored message back to `session`'s quota once the session keeps it
    /// no more: it holds no reference and owns no export of it.
    fn settle_stored(&mut self, number: u64, session: SessionId) {
        let (Some(entry), Some(holder)) = (self.entries.get_mut(&number), self.sessions.get_mut(&session)) else {
            return;
        };
        let Some(stored) = entry.stored.as_ref().filter(|stored| stored.session == holder.number) else { return };
        let exported = holder.exports.iter().any(|name| self.exports.get(name).is_some_and(|e| e.entry == number));
        if entry.holds(holder.number) || exported {
            return;
        }
        holder.stored_bytes -= stored.bytes;
        entry.stored = None;
    }

    /// Ends a session: gives back its references, removes the exports it owns (the kept ones
    /// stay, detachable by anyone), and returns the values that went with it; `None` if there
    /// is no such session.
    fn end_session(&mut self, id: SessionId) -> Option<Vec<Entry>> {
        let session = self.sessions.remove(&id)?;
        if let Some(ip) = session.peer {
            if let Some(open) = self.peers.get_mut(&ip) {
                *open -= 1;
                if *open == 0 {
                    self.peers.remove(&ip);
                }
            }
        }
        let mut dropped = Vec::new();
        for name in session.exports {
            let export = self.exports.get_mut(&name).expect("a session's exports are in the table");
            if export.keep {
                export.owner = None;
                continue;
            }
            let number = export.entry;
            self.exports.remove(&name);
            let entry = self.entries.get_mut(&number).expect("exports point at entries");
            entry.exports -= 1;
            if entry.unused() {
                dropped.extend(self.remove_entry(number));
            }
        }
        for number in session.entries {
            let Some(entry) = self.entries.get_mut(&number) else { continue };
            entry.remove_holder(session.number, u32::MAX);
            if entry.unused() {
                dropped.extend(self.remove_entry(number));
            }
        }
        Some(dropped)
    }
}

/// Keeps a session alive while a `Hold` stream is open; dropping it ends the session.
pub(crate) struct HoldGuard {
    table: std::sync::Weak<HandleTable>,
    session: SessionId,
}

impl Drop for HoldGuard {
    fn drop(&mut self) {
        let Some(table) = self.table.upgrade() else { return };
        let ended = {
            let mut state = table.state();
            let Some(session) = state.sessions.get_mut(&self.session) else { return };
            session.holds -= 1;
            if session.holds > 0 {
                return;
            }
            state.end_session(self.session).unwrap_or_default()
        };
        tracing::debug!(released = ended.len(), "a client session's stream ended; its handles are released");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Arc<HandleTable> {
        limited(Limits::default())
    }

    fn limited(limits: Limits) -> Arc<HandleTable> {
        Arc::new(HandleTable::new(Duration::from_secs(30), limits))
    }

    /// The setting a refusal names, and its value.
    fn limit(result: Result<impl Sized>) -> (String, u64) {
        match result {
            Err(Error::LimitReached { limit, max, .. }) => (limit, max),
            Err(other) => panic!("not a limit: {other}"),
            Ok(_) => panic!("accepted"),
        }
    }

    fn stored(bytes: usize) -> prost_types::Any {
        prost_types::Any { type_url: "type.googleapis.com/test.Blob".into(), value: vec![7; bytes] }
    }

    fn problem(result: Result<impl Sized>) -> HandleProblem {
        match result {
            Err(Error::Handle { problem, .. }) => problem,
            Err(other) => panic!("not a handle error: {other}"),
            Ok(_) => panic!("accepted"),
        }
    }

    #[test]
    fn a_handle_reaches_its_value_until_released_and_never_after() {
        let table = table();
        let (session, _) = table.open_session(Duration::ZERO, None).unwrap();
        let handle = table.export(session, Arc::new(41_u32), "u32", None).unwrap();
        let value = table.resolve(session, &handle).unwrap().value;
        assert_eq!(value.downcast_ref::<u32>(), Some(&41));
        table.release(session, &handle.id, 1).unwrap();
        assert_eq!(problem(table.resolve(session, &handle)), HandleProblem::Released);
        // A forged id naming that released entry is still forged, not released.
        let mut forged = handle.clone();
        let mut id = forged.id.to_vec();
        id[20] ^= 1;
        forged.id = id.into();
        assert_eq!(problem(table.resolve(session, &forged)), HandleProblem::Invalid);
        // A newer value never answers to the old id.
        let newer = table.export(session, Arc::new(42_u32), "u32", None).unwrap();
        assert_ne!(newer.id, handle.id);
        assert_eq!(problem(table.resolve(session, &handle)), HandleProblem::Released);
        assert_eq!(table.stats().entries, 1);
    }

    #[test]
    fn forged_foreign_and_stale_ids_are_told_apart() {
        let table = table();
        let (mine, _) = table.open_session(Duration::ZERO, None).unwrap();
        let (theirs, _) = table.open_session(Duration::ZERO, None).unwrap();
        let handle = table.export(mine, Arc::new(()), "unit", None).unwrap();
        assert_eq!(problem(table.resolve(theirs, &handle)), HandleProblem::Foreign);
        let mut forged = handle.clone();
        let mut id = forged.id.to_vec();
        id[31] ^= 1;
        forged.id = id.into();
        assert_eq!(problem(table.resolve(mine, &forged)), HandleProblem::Invalid);
        forged.id = Bytes::from_static(b"short");
        assert_eq!(problem(table.resolve(mine, &forged)), HandleProblem::Invalid);
        let other_server = HandleTable::new(Duration::from_secs(1), Limits::default());
        let (session, _) = other_server.open_session(Duration::ZERO, None).unwrap();
        assert_eq!(problem(other_server.resolve(session, &handle)), HandleProblem::Stale);
    }

    #[test]
    fn references_are_counted_and_a_session_end_releases_them() {
        let table = table();
        let (a, _) = table.open_session(Duration::ZERO, None).unwrap();
        let (b, _) = table.open_session(Duration::ZERO, None).unwrap();
        let handle = table.export(a, Arc::new(1_u8), "u8", None).unwrap();
        table.attach(a, &handle, "shared", true).unwrap();
        table.fetch(a, "shared").unwrap(); // a now holds two references
        table.fetch(b, "shared").unwrap();
        table.release(a, &handle.id, 1).unwrap();
        assert!(table.resolve(a, &handle).is_ok(), "one reference of a is left");
        table.close_session(a).unwrap();
        table.detach(b, "shared").unwrap();
        assert!(table.resolve(b, &handle).is_ok(), "b still holds it");
        table.close_session(b).unwrap();
        assert_eq!(table.stats().entries, 0);
    }

    #[test]
    fn leases_run_out_unless_held() {
        let table = table();
        let (leased, lease) = table.open_session(Duration::from_millis(10), None).unwrap();
        assert_eq!(lease, Duration::from_millis(10));
        let (held, _) = table.open_session(Duration::from_millis(10), None).unwrap();
        let (guard, _) = table.hold(held).unwrap();
        table.export(leased, Arc::new(()), "unit", None).unwrap();
        table.export(held, Arc::new(()), "unit", None).unwrap();
        assert_eq!(table.expire(Instant::now() + Duration::from_secs(1)), 1);
        assert_eq!(table.stats().entries, 1);
        drop(guard);
        assert_eq!(table.stats().entries, 0);
        assert_eq!(problem(table.renew(held)), HandleProblem::UnknownSession);
    }

    #[test]
    fn session_ids_round_trip_as_hex_and_reject_junk() {
        let id = SessionId::random();
        assert_eq!(SessionId::parse(&id.to_hex()).unwrap(), id);
        assert!(SessionId::parse("zz").is_err());
        assert!(SessionId::parse(&"g".repeat(32)).is_err());
    }

    #[test]
    fn a_session_holds_no_more_distinct_values_than_its_quota() {
        let table = limited(Limits { max_handles_per_session: 3, ..Limits::default() });
        let (greedy, _) = table.open_session(Duration::ZERO, None).unwrap();
        let (other, _) = table.open_session(Duration::ZERO, None).unwrap();
        let held: Vec<_> = (0..3).map(|n| table.export(greedy, Arc::new(n), "n", None).unwrap()).collect();
        let refused = table.export(greedy, Arc::new(3), "n", None);
        assert_eq!(limit(refused), ("HEROS_MAX_HANDLES_PER_SESSION".into(), 3));
        assert_eq!(limit(table.store(greedy, stored(1))).0, "HEROS_MAX_HANDLES_PER_SESSION");
        // Fetching a new value counts; another reference to a value it holds does not.
        table.attach(greedy, &held[0], "mine", false).unwrap();
        table.fetch(greedy, "mine").unwrap();
        let theirs = table.export(other, Arc::new(9), "n", None).unwrap();
        table.attach(other, &theirs, "theirs", false).unwrap();
        assert_eq!(limit(table.fetch(greedy, "theirs")).0, "HEROS_MAX_HANDLES_PER_SESSION");
        assert_eq!(table.stats().entries, 4, "the refused value was never kept");
        table.release(greedy, &held[1].id, 1).unwrap();
        table.fetch(greedy, "theirs").unwrap();
    }

    #[test]
    fn stored_bytes_count_while_the_session_keeps_them() {
        let table = limited(Limits { max_stored_bytes_per_session: 100, ..Limits::default() });
        let (session, _) = table.open_session(Duration::ZERO, None).unwrap();
        let big = table.store(session, stored(60)).unwrap();
        assert_eq!(limit(table.store(session, stored(41))), ("HEROS_MAX_STORED_BYTES_PER_SESSION".into(), 100));
        let small = table.store(session, stored(40)).unwrap();
        table.release(session, &small.id, 1).unwrap();
        table.store(session, stored(40)).unwrap();
        // An export the session owns keeps the bytes counted after its handle is released.
        table.attach(session, &big, "big", false).unwrap();
        table.release(session, &big.id, 1).unwrap();
        assert_eq!(limit(table.store(session, stored(60))).0, "HEROS_MAX_STORED_BYTES_PER_SESSION");
        table.detach(session, "big").unwrap();
        table.store(session, stored(60)).unwrap();
        // A HERO's values are not stored messages.
        table.export(session, Arc::new([0u8; 1000]), "blob", None).unwrap();
    }

    #[test]
    fn exports_belong_to_their_session_and_go_with_it_unless_kept() {
        let table = table();
        let (owner, _) = table.open_session(Duration::ZERO, None).unwrap();
        let (other, _) = table.open_session(Duration::ZERO, None).unwrap();
        let owned = table.export(owner, Arc::new(1_u8), "u8", None).unwrap();
        let kept = table.export(owner, Arc::new(2_u8), "u8", None).unwrap();
        let alone = table.export(owner, Arc::new(3_u8), "u8", None).unwrap();
        table.attach(owner, &owned, "owned", false).unwrap();
        table.attach(owner, &kept, "kept", true).unwrap();
        table.attach(owner, &alone, "alone", false).unwrap();
        table.release(owner, &alone.id, 1).unwrap();
        let fetched = table.fetch(other, "owned").unwrap();
        for name in ["owned", "kept"] {
            assert_eq!(problem(table.detach(other, name)), HandleProblem::ExportNotOwned);
        }
        table.close_session(owner).unwrap();
        let names: Vec<String> = table.browse().into_iter().map(|e| e.name).collect();
        assert_eq!(names, ["kept"]);
        assert!(table.resolve(other, &fetched).is_ok(), "a value fetched from an export stays with its holder");
        assert_eq!(table.stats().entries, 2, "the owned exports' values went, but the one still held");
        table.detach(other, "kept").unwrap();
        assert_eq!(table.stats().entries, 1);
        assert_eq!(problem(table.detach(other, "kept")), HandleProblem::UnknownExport);
    }

    #[test]
    fn exports_per_session_and_kept_exports_have_quotas() {
        let table = limited(Limits { max_exports_per_session: 2, max_kept_exports: 1, ..Limits::default() });
        let (a, _) = table.open_session(Duration::ZERO, None).unwrap();
        let (b, _) = table.open_session(Duration::ZERO, None).unwrap();
        let value = table.export(a, Arc::new(()), "unit", None).unwrap();
        table.attach(a, &value, "one", false).unwrap();
        table.attach(a, &value, "two", true).unwrap();
        assert_eq!(limit(table.attach(a, &value, "three", false)), ("HEROS_MAX_EXPORTS_PER_SESSION".into(), 2));
        table.detach(a, "one").unwrap();
        table.attach(a, &value, "three", false).unwrap();
        // The kept one counts for the whole server, and after its session ended.
        let theirs = table.export(b, Arc::new(()), "unit", None).unwrap();
        assert_eq!(limit(table.attach(b, &theirs, "mine too", true)), ("HEROS_MAX_KEPT_EXPORTS".into(), 1));
        table.close_session(a).unwrap();
        assert_eq!(limit(table.attach(b, &theirs, "mine too", true)).0, "HEROS_MAX_KEPT_EXPORTS");
        table.detach(b, "two").unwrap();
        table.attach(b, &theirs, "mine too", true).unwrap();
    }

    #[test]
    fn sessions_per_peer_are_counted_until_they_end() {
        let table = limited(Limits { max_sessions_per_peer: 2, ..Limits::default() });
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        let (first, _) = table.open_session(Duration::from_millis(10), Some(peer)).unwrap();
        let (second, _) = table.open_session(Duration::ZERO, Some(mapped)).unwrap();
        let refused = table.open_session(Duration::ZERO, Some(peer));
        assert_eq!(limit(refused), ("HEROS_MAX_SESSIONS_PER_PEER".into(), 2));
        table.open_session(Duration::ZERO, Some("10.0.0.2".parse().unwrap())).unwrap();
        table.open_session(Duration::ZERO, None).unwrap();
        // Each way a session ends gives its place back: close, lease, hold stream.
        table.close_session(first).unwrap();
        let (third, _) = table.open_session(Duration::from_millis(10), Some(peer)).unwrap();
        let (guard, _) = table.hold(second).unwrap();
        assert!(table.open_session(Duration::ZERO, Some(peer)).is_err());
        assert_eq!(table.expire(Instant::now() + Duration::from_secs(1)), 1);
        assert_eq!(problem(table.renew(third)), HandleProblem::UnknownSession);
        let (fourth, _) = table.open_session(Duration::ZERO, Some(peer)).unwrap();
        drop(guard);
        table.open_session(Duration::ZERO, Some(peer)).unwrap();
        assert!(table.open_session(Duration::ZERO, Some(peer)).is_err());
        table.close();
        assert!(table.renew(fourth).is_err());
    }
}

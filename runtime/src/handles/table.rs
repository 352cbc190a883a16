//! The handle table of one server, after Cap'n Proto's export table rather than Python HEROS's
//! weak `id()` store: entries hold strong references, counted per client session; ids are never
//! reused and carry a random nonce, so a released or forged id cannot reach a value; a session's
//! references go when the session ends (its `Hold` stream closed, or its lease ran out).
//!
//! One mutex guards sessions, entries and exports together: every operation touches two of them,
//! and only calls that pass or return handles take it.

use std::any::Any;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use crate::error::{Error, HandleProblem, Result};
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
    exports: BTreeMap<String, u64>,
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
}

/// A resolved handle: the value and what it claims to be.
pub(crate) struct Resolved {
    pub(crate) value: Value,
    pub(crate) type_name: Arc<str>,
}

impl HandleTable {
    pub(crate) fn new(default_lease: Duration) -> Self {
        HandleTable {
            instance: random_bytes(),
            nonce_keys: [std::hash::RandomState::new(), std::hash::RandomState::new()],
            default_lease,
            state: Mutex::new(State::default()),
            closing: tokio::sync::watch::channel(false).0,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts a session with a lease: the client's wish (0 for none) up to the server's default.
    pub(crate) fn open_session(&self, lease: Duration) -> Result<(SessionId, Duration)> {
        let lease = if lease.is_zero() { self.default_lease } else { lease.min(self.default_lease) };
        let mut state = self.state();
        if state.closed {
            return Err(Error::unavailable("the server is shutting down"));
        }
        state.next_session += 1;
        let session = Session {
            number: state.next_session,
            holds: 0,
            lease,
            expires: Instant::now() + lease,
            entries: HashSet::new(),
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

    /// Ends a session and releases its references.
    pub(crate) fn close_session(&self, session: SessionId) -> Result<()> {
        let dropped = {
            let mut state = self.state();
            let removed = state.sessions.remove(&session);
            let session =
                removed.ok_or_else(|| Error::handle(HandleProblem::UnknownSession, "no such session (it ended)"))?;
            state.drop_session(session)
        };
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
        let mut state = self.state();
        let number = state.next_entry;
        let session_number = state.session_mut(session)?.number;
        state.next_entry += 1;
        let type_name = state.intern(type_name);
        let entry = Entry {
            value,
            type_name,
            repr: repr.map(String::into_boxed_str),
            holders: vec![(session_number, 1)],
            exports: 0,
        };
        let handle = self.handle_of(number, &entry);
        state.entries.insert(number, entry);
        state.session_mut(session)?.entries.insert(number);
        Ok(handle)
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

    /// Exports the value behind `handle` (held by `session`) under `name`.
    pub(crate) fn attach(&self, session: SessionId, handle: &proto::Handle, name: &str) -> Result<()> {
        if name.is_empty() {
            return Err(Error::invalid_argument("an export needs a name"));
        }
        let mut state = self.state();
        let session_number = state.session_mut(session)?.number;
        let (number, entry) = self.entry(&state, &handle.id)?;
        if !entry.holds(session_number) {
            return Err(Error::handle(HandleProblem::Foreign, "only a session that holds a handle may attach it"));
        }
        if state.exports.contains_key(name) {
            return Err(Error::handle(HandleProblem::ExportExists, format!("'{name}' is already exported here")));
        }
        state.exports.insert(name.to_owned(), number);
        if let Some(entry) = state.entries.get_mut(&number) {
            entry.exports += 1;
        }
        Ok(())
    }

    /// Removes the export `name`; the value goes when nobody else holds it.
    pub(crate) fn detach(&self, session: SessionId, name: &str) -> Result<()> {
        let dropped = {
            let mut state = self.state();
            state.session_mut(session)?;
            let number = state.exports.remove(name).ok_or_else(|| unknown_export(name))?;
            let entry = state.entries.get_mut(&number).expect("exports point at entries");
            entry.exports -= 1;
            entry.unused().then(|| state.remove_entry(number))
        };
        drop(dropped);
        Ok(())
    }

    /// A new reference for `session` to the value exported as `name`.
    pub(crate) fn fetch(&self, session: SessionId, name: &str) -> Result<proto::Handle> {
        let mut state = self.state();
        let session_number = state.session_mut(session)?.number;
        let number = *state.exports.get(name).ok_or_else(|| unknown_export(name))?;
        let entry = state.entries.get_mut(&number).expect("exports point at entries");
        entry.add_holder(session_number);
        let handle = self.handle_of(number, entry);
        state.session_mut(session)?.entries.insert(number);
        Ok(handle)
    }

    /// The exports, by name.
    pub(crate) fn browse(&self) -> Vec<proto::Export> {
        let state = self.state();
        state
            .exports
            .iter()
            .map(|(name, number)| {
                let entry = &state.entries[number];
                proto::Export { name: name.clone(), type_name: entry.type_name.to_string(), repr: entry.repr(*number) }
            })
            .collect()
    }

    /// Ends sessions whose lease ran out; returns how many.
    pub(crate) fn expire(&self, now: Instant) -> usize {
        let dropped: Vec<_> = {
            let mut state = self.state();
            let expired: Vec<SessionId> =
                state.sessions.iter().filter(|(_, s)| s.holds == 0 && s.expires <= now).map(|(id, _)| *id).collect();
            let mut dropped = Vec::new();
            for id in expired {
                if let Some(session) = state.sessions.remove(&id) {
                    dropped.push(state.drop_session(session));
                }
            }
            dropped
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
            state.exports.clear();
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
        let session = self.sessions.get_mut(&id).ok_or_else(|| {
            Error::handle(
                HandleProblem::UnknownSession,
                "the session has ended (its stream closed or its lease ran out) or never existed; open a new one",
            )
        })?;
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
        let unused = entry.unused();
        if let Some(session) = self.sessions.get_mut(&session) {
            session.entries.remove(&number);
            if session.entries.capacity() > 1024 && session.entries.len() < session.entries.capacity() / 4 {
                session.entries.shrink_to(session.entries.len() * 2);
            }
        }
        if unused {
            self.remove_entry(number)
        } else {
            None
        }
    }

    /// Drops every reference of a session that ended; returns the values that went with it.
    fn drop_session(&mut self, session: Session) -> Vec<Entry> {
        let mut dropped = Vec::new();
        for number in session.entries {
            let Some(entry) = self.entries.get_mut(&number) else { continue };
            entry.remove_holder(session.number, u32::MAX);
            if entry.unused() {
                dropped.extend(self.remove_entry(number));
            }
        }
        dropped
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
            let session = state.sessions.remove(&self.session).expect("present");
            state.drop_session(session)
        };
        tracing::debug!(released = ended.len(), "a client session's stream ended; its handles are released");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Arc<HandleTable> {
        Arc::new(HandleTable::new(Duration::from_secs(30)))
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
        let (session, _) = table.open_session(Duration::ZERO).unwrap();
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
        let (mine, _) = table.open_session(Duration::ZERO).unwrap();
        let (theirs, _) = table.open_session(Duration::ZERO).unwrap();
        let handle = table.export(mine, Arc::new(()), "unit", None).unwrap();
        assert_eq!(problem(table.resolve(theirs, &handle)), HandleProblem::Foreign);
        let mut forged = handle.clone();
        let mut id = forged.id.to_vec();
        id[31] ^= 1;
        forged.id = id.into();
        assert_eq!(problem(table.resolve(mine, &forged)), HandleProblem::Invalid);
        forged.id = Bytes::from_static(b"short");
        assert_eq!(problem(table.resolve(mine, &forged)), HandleProblem::Invalid);
        let other_server = HandleTable::new(Duration::from_secs(1));
        let (session, _) = other_server.open_session(Duration::ZERO).unwrap();
        assert_eq!(problem(other_server.resolve(session, &handle)), HandleProblem::Stale);
    }

    #[test]
    fn references_are_counted_and_a_session_end_releases_them() {
        let table = table();
        let (a, _) = table.open_session(Duration::ZERO).unwrap();
        let (b, _) = table.open_session(Duration::ZERO).unwrap();
        let handle = table.export(a, Arc::new(1_u8), "u8", None).unwrap();
        table.attach(a, &handle, "shared").unwrap();
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
        let (leased, lease) = table.open_session(Duration::from_millis(10)).unwrap();
        assert_eq!(lease, Duration::from_millis(10));
        let (held, _) = table.open_session(Duration::from_millis(10)).unwrap();
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
}

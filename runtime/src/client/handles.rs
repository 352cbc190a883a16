//! The client side of handles: one session per server a process holds handles on, kept alive by
//! a `Hold` stream (so the server releases everything when this process goes away), and
//! [`Handle`], whose last clone dropping gives the reference back (releases go out in batches).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

use bytes::Bytes;
use http::HeaderValue;
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::handles::table::{HandleTable, HoldGuard, SessionId};
use crate::net::connection::Connection;
use crate::proto::{
    self, handles_client::HandlesClient, sessions_client::SessionsClient, AttachRequest, ExportName,
    OpenSessionRequest, Release, ReleaseRequest, SessionRequest,
};
use crate::wire::metadata::SESSION_HEADER;

/// This process's session with one server.
pub(crate) struct ClientSession {
    header: HeaderValue,
    transport: Transport,
    /// The server ended the session (it restarted, or shut down); the next call opens another.
    dead: AtomicBool,
}

enum Transport {
    /// Releases go to a task that batches them into `Handles/Release` calls.
    Remote { connection: Connection, releases: mpsc::UnboundedSender<Bytes> },
    /// The server is in this process: releases go straight to its table.
    Local { table: Weak<HandleTable>, id: SessionId, _hold: HoldGuard },
}

impl ClientSession {
    /// Opens a session on the server behind `connection` and holds it with a stream.
    pub(crate) async fn open_remote(connection: &Connection) -> Result<Arc<Self>> {
        let mut sessions = SessionsClient::with_origin(connection.clone(), connection.origin());
        let session = sessions.open(OpenSessionRequest { lease_ms: 0 }).await?.into_inner();
        let mut hold = sessions.hold(SessionRequest { id: session.id.clone() }).await?.into_inner();
        // The first notice says the server holds the session for this stream.
        hold.message().await?.ok_or_else(|| Error::unavailable("the server closed the session stream at once"))?;
        let header = HeaderValue::from_str(&session.id).map_err(|_| Error::Rpc {
            code: tonic::Code::Internal,
            message: "the server sent a bad session id".into(),
        })?;
        let (releases, pending) = mpsc::unbounded_channel();
        let client = Arc::new(ClientSession {
            header: header.clone(),
            transport: Transport::Remote { connection: connection.clone(), releases },
            dead: AtomicBool::new(false),
        });
        tokio::spawn(release_in_batches(connection.clone(), header, pending));
        let watcher = Arc::downgrade(&client);
        tokio::spawn(async move {
            while let Ok(Some(_)) = hold.message().await {}
            if let Some(client) = watcher.upgrade() {
                tracing::debug!("the server ended our session; handles of it are gone");
                client.dead.store(true, Ordering::Release);
            }
        });
        Ok(client)
    }

    /// A session on a server of this process, held for as long as the session lives.
    pub(crate) fn open_local(table: &Arc<HandleTable>) -> Result<Arc<Self>> {
        let (id, _) = table.open_session(std::time::Duration::ZERO, None)?;
        let (hold, _) = table.hold(id)?;
        let header = HeaderValue::from_str(&id.to_hex()).expect("hex is a valid header value");
        Ok(Arc::new(ClientSession {
            header,
            transport: Transport::Local { table: Arc::downgrade(table), id, _hold: hold },
            dead: AtomicBool::new(false),
        }))
    }

    /// The `heros-session` header of this session.
    pub(crate) fn header(&self) -> &HeaderValue {
        &self.header
    }

    pub(crate) fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Acquire)
    }

    /// Notes that the server no longer knows the session.
    pub(crate) fn mark_dead(&self) {
        self.dead.store(true, Ordering::Release);
    }

    fn release(&self, id: Bytes) {
        match &self.transport {
            Transport::Remote { releases, .. } => {
                let _ = releases.send(id);
            }
            Transport::Local { table, id: session, .. } => {
                if let Some(table) = table.upgrade() {
                    let _ = table.release(*session, &id, 1);
                }
            }
        }
    }

    /// Wraps a handle the server just gave this session.
    pub(crate) fn adopt(self: &Arc<Self>, message: proto::Handle) -> Handle {
        Handle { inner: Arc::new(Held { message, session: self.clone() }) }
    }

    fn local(&self) -> Option<(Arc<HandleTable>, SessionId)> {
        match &self.transport {
            Transport::Local { table, id, .. } => match table.upgrade() {
                Some(table) => Some((table, *id)),
                None => {
                    self.mark_dead();
                    None
                }
            },
            Transport::Remote { .. } => None,
        }
    }

    fn handles_client(&self) -> Result<HandlesClient<Connection>> {
        match &self.transport {
            Transport::Remote { connection, .. } => {
                Ok(HandlesClient::with_origin(connection.clone(), connection.origin()))
            }
            Transport::Local { .. } => Err(Error::unavailable("the server (in this process) has shut down")),
        }
    }

    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.metadata_mut().as_mut().insert(SESSION_HEADER, self.header.clone());
        request
    }

    /// `Handles/Store`: puts a message on the server.
    pub(crate) async fn store(self: &Arc<Self>, any: prost_types::Any) -> Result<Handle> {
        let message = match self.local() {
            Some((table, id)) => table.store(id, any)?,
            None => self.handles_client()?.store(self.request(any)).await?.into_inner(),
        };
        Ok(self.adopt(message))
    }

    /// `Handles/Attach`: exports a handle under a name, for as long as this session lasts or,
    /// with `keep`, until detached.
    pub(crate) async fn attach(&self, handle: &Handle, name: &str, keep: bool) -> Result<()> {
        match self.local() {
            Some((table, id)) => table.attach(id, &handle.inner.message, name, keep),
            None => {
                let request = AttachRequest { handle: Some(handle.to_message()), name: name.to_owned(), keep };
                self.handles_client()?.attach(self.request(request)).await.map(drop).map_err(Error::from)
            }
        }
    }

    /// `Handles/Detach`: removes an export.
    pub(crate) async fn detach(&self, name: &str) -> Result<()> {
        match self.local() {
            Some((table, id)) => table.detach(id, name),
            None => {
                let request = self.request(ExportName { name: name.to_owned() });
                self.handles_client()?.detach(request).await.map(drop).map_err(Error::from)
            }
        }
    }

    /// `Handles/Fetch`: a handle to the value exported as `name`.
    pub(crate) async fn fetch(self: &Arc<Self>, name: &str) -> Result<Handle> {
        let message = match self.local() {
            Some((table, id)) => table.fetch(id, name)?,
            None => {
                self.handles_client()?.fetch(self.request(ExportName { name: name.to_owned() })).await?.into_inner()
            }
        };
        Ok(self.adopt(message))
    }

    /// `Handles/Browse`: the exports of the server.
    pub(crate) async fn browse(&self) -> Result<Vec<proto::Export>> {
        match self.local() {
            Some((table, _)) => Ok(table.browse()),
            None => Ok(self.handles_client()?.browse(self.request(())).await?.into_inner().exports),
        }
    }
}

/// The session a stub call ran in, so that generated code can wrap the handles it returned.
#[derive(Clone)]
pub struct StubSession(pub(crate) Arc<ClientSession>);

impl StubSession {
    /// The handle in a reply field (`what` names it in the error when it is missing).
    pub fn adopt(&self, handle: Option<proto::Handle>, what: &str) -> Result<Handle> {
        let handle = handle.ok_or_else(|| Error::Rpc {
            code: tonic::Code::Internal,
            message: format!("the reply carries no handle in '{what}'"),
        })?;
        Ok(self.0.adopt(handle))
    }
}

/// How long releases gather before they go out together.
const RELEASE_BATCH_WINDOW: std::time::Duration = std::time::Duration::from_millis(2);

/// Sends releases in batches: one call per [`RELEASE_BATCH_WINDOW`] at most.
async fn release_in_batches(connection: Connection, session: HeaderValue, mut pending: mpsc::UnboundedReceiver<Bytes>) {
    let mut handles = HandlesClient::with_origin(connection.clone(), connection.origin());
    while let Some(first) = pending.recv().await {
        // Gather what drops in the next moment (a loop dropping one handle per call, or a Vec
        // going out of scope) into one call: releases are not urgent, calls are.
        tokio::time::sleep(RELEASE_BATCH_WINDOW).await;
        let mut counts: HashMap<Bytes, u32> = HashMap::from([(first, 1)]);
        while let Ok(next) = pending.try_recv() {
            *counts.entry(next).or_insert(0) += 1;
        }
        let releases = counts.into_iter().map(|(id, count)| Release { id, count }).collect();
        let mut request = tonic::Request::new(ReleaseRequest { releases });
        request.metadata_mut().as_mut().insert(SESSION_HEADER, session.clone());
        if let Err(status) = handles.release(request).await {
            // The session is gone (and with it every reference), or the server is: nothing leaks.
            tracing::debug!("release not delivered: {}", status.message());
        }
    }
}

/// A handle to a value that stays in the serving process: its type name, a description, and an
/// id only that server understands. Pass it back as an argument to use the value. The reference
/// is given back when the last clone drops.
#[derive(Clone)]
pub struct Handle {
    inner: Arc<Held>,
}

struct Held {
    message: proto::Handle,
    session: Arc<ClientSession>,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.session.release(self.message.id.clone());
    }
}

impl Handle {
    /// The type of the value, as the server names it (e.g. `lab.DeviceSession`).
    pub fn type_name(&self) -> &str {
        &self.inner.message.type_name
    }

    /// The server's description of the value.
    pub fn repr(&self) -> &str {
        &self.inner.message.repr
    }

    /// The wire form, e.g. to put in a message by hand. It stays valid while this handle lives.
    pub fn to_message(&self) -> proto::Handle {
        self.inner.message.clone()
    }
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle").field("type_name", &self.type_name()).field("repr", &self.repr()).finish()
    }
}

/// The handles a stub's caller streams to a HERO, kept alive until the call is over: a handle's
/// wire form is valid only while the handle lives, and the HERO reads each request when it gets
/// to it, after the caller's stream has let go of it.
#[derive(Clone, Default)]
pub struct HandlesInFlight(Arc<std::sync::Mutex<Vec<Handle>>>);

impl HandlesInFlight {
    /// The wire form of `handle`, which is kept until every clone of `self` is dropped.
    pub fn send(&self, handle: Handle) -> proto::Handle {
        let message = handle.to_message();
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(handle);
        message
    }
}

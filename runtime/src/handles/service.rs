//! The `heros.v1.Sessions` and `heros.v1.Handles` services every server hosts: the wire face of
//! the handle table, for stubs and for clients in any language.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tonic::{Request, Response, Status};

use super::table::{HandleTable, HoldGuard, SessionId};
use crate::error::{Error, HandleProblem};
use crate::proto::{
    handles_server::Handles, sessions_server::Sessions, AttachRequest, BrowseReply, ExportName, Handle,
    OpenSessionRequest, ReleaseRequest, Session, SessionNotice, SessionRequest,
};
use crate::wire::metadata::SESSION_HEADER;

/// Full names of the two services; the router sends their calls here without a `heros-name`.
pub(crate) const SESSIONS_SERVICE: &str = "heros.v1.Sessions";
pub(crate) const HANDLES_SERVICE: &str = "heros.v1.Handles";

#[derive(Clone)]
pub(crate) struct HandleService {
    pub(crate) table: Arc<HandleTable>,
}

fn session_of<T>(request: &Request<T>) -> Result<SessionId, Status> {
    let header = request.metadata().get(SESSION_HEADER).ok_or_else(|| {
        Error::handle(
            HandleProblem::NoSession,
            format!("this call needs the '{SESSION_HEADER}' header; open a session with heros.v1.Sessions/Open"),
        )
        .to_status()
    })?;
    let text = header.to_str().map_err(|_| Error::handle(HandleProblem::UnknownSession, "unreadable session id"))?;
    Ok(SessionId::parse(text)?)
}

fn session_message(id: SessionId, lease: Duration) -> Session {
    Session { id: id.to_hex(), lease_ms: lease.as_millis().min(u128::from(u32::MAX)) as u32 }
}

#[tonic::async_trait]
impl Sessions for HandleService {
    async fn open(&self, request: Request<OpenSessionRequest>) -> Result<Response<Session>, Status> {
        // The server loop puts the TCP peer into every request; in-process calls have none.
        let peer = request.remote_addr().map(|address| address.ip());
        let lease = Duration::from_millis(request.into_inner().lease_ms.into());
        let (id, lease) = self.table.open_session(lease, peer)?;
        Ok(Response::new(session_message(id, lease)))
    }

    type HoldStream = HoldStream;

    async fn hold(&self, request: Request<SessionRequest>) -> Result<Response<HoldStream>, Status> {
        let id = SessionId::parse(&request.into_inner().id)?;
        let (guard, lease) = self.table.hold(id)?;
        let notice = SessionNotice { session: Some(session_message(id, lease)) };
        Ok(Response::new(HoldStream { first: Some(notice), closing: Box::pin(self.table.closing()), _guard: guard }))
    }

    async fn renew(&self, request: Request<SessionRequest>) -> Result<Response<Session>, Status> {
        let id = SessionId::parse(&request.into_inner().id)?;
        let lease = self.table.renew(id)?;
        Ok(Response::new(session_message(id, lease)))
    }

    async fn close(&self, request: Request<SessionRequest>) -> Result<Response<()>, Status> {
        let id = SessionId::parse(&request.into_inner().id)?;
        self.table.close_session(id)?;
        Ok(Response::new(()))
    }
}

/// The `Hold` reply: one notice, then open until the client goes away or the server shuts down.
/// Dropping it (h2 drops it when the stream or the connection ends) ends the session.
pub(crate) struct HoldStream {
    first: Option<SessionNotice>,
    closing: Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
    _guard: HoldGuard,
}

impl tokio_stream::Stream for HoldStream {
    type Item = Result<SessionNotice, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(Ok(first)));
        }
        self.closing.as_mut().poll(cx).map(|()| None)
    }
}

#[tonic::async_trait]
impl Handles for HandleService {
    async fn store(&self, request: Request<prost_types::Any>) -> Result<Response<Handle>, Status> {
        let session = session_of(&request)?;
        Ok(Response::new(self.table.store(session, request.into_inner())?))
    }

    async fn attach(&self, request: Request<AttachRequest>) -> Result<Response<()>, Status> {
        let session = session_of(&request)?;
        let AttachRequest { handle, name, keep } = request.into_inner();
        let handle = handle.ok_or_else(|| Error::invalid_argument("Attach needs a handle"))?;
        self.table.attach(session, &handle, &name, keep)?;
        Ok(Response::new(()))
    }

    async fn detach(&self, request: Request<ExportName>) -> Result<Response<()>, Status> {
        let session = session_of(&request)?;
        self.table.detach(session, &request.into_inner().name)?;
        Ok(Response::new(()))
    }

    async fn fetch(&self, request: Request<ExportName>) -> Result<Response<Handle>, Status> {
        let session = session_of(&request)?;
        Ok(Response::new(self.table.fetch(session, &request.into_inner().name)?))
    }

    async fn browse(&self, _request: Request<()>) -> Result<Response<BrowseReply>, Status> {
        Ok(Response::new(BrowseReply { exports: self.table.browse() }))
    }

    async fn release(&self, request: Request<ReleaseRequest>) -> Result<Response<()>, Status> {
        let session = session_of(&request)?;
        for release in request.into_inner().releases {
            self.table.release(session, &release.id, release.count)?;
        }
        Ok(Response::new(()))
    }
}

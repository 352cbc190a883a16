//! Remote methods as event callbacks, peer to peer (`heros.v1.Callbacks`): HERO A is told to
//! call a method of HERO B with every message of one of its events, and from then on A's server
//! calls B directly; the client that connected them is not involved.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::uri::PathAndQuery;
use http::HeaderValue;
use tokio_stream::StreamExt;
use tonic::{Request, Response, Status};

use crate::error::{Error, Result};
use crate::net::connection::Connection;
use crate::proto::callbacks_server::Callbacks;
use crate::proto::{CallbackId, CallbackInfo, CallbackList, ConnectCallbackRequest};
use crate::server::routing::{HeroEntry, HeroTable};
use crate::wire::metadata::{decode_value, encode_header, NAME_HEADER, REALM_HEADER};

/// Full name of the service; the router sends its calls here.
pub(crate) const SERVICE_NAME: &str = "heros.v1.Callbacks";

/// An event's messages, each encoded (what generated code gives for callbacks).
pub type EncodedEvents = Pin<Box<dyn tokio_stream::Stream<Item = Bytes> + Send>>;

/// The messages of a subscription, encoded; missed counts are only logged (a method call has
/// no place for them).
pub fn encoded_events<M: prost::Message + Send + Sync + 'static>(
    subscription: crate::events::event::Subscription<M>,
) -> EncodedEvents {
    Box::pin(subscription.filter_map(|frame| {
        if frame.missed > 0 {
            tracing::warn!(missed = frame.missed, "an event callback fell behind; messages were dropped");
        }
        frame.message.map(|message| Bytes::from(message.encode_to_vec()))
    }))
}

/// The callbacks connected to one HERO's events. Dropped with the HERO, which stops them.
#[derive(Default)]
pub(crate) struct HeroCallbacks {
    next_id: AtomicU64,
    connected: Mutex<Vec<Connected>>,
}

struct Connected {
    info: CallbackInfo,
    delivered: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    task: tokio::task::AbortHandle,
}

impl Connected {
    fn info(&self) -> CallbackInfo {
        CallbackInfo {
            delivered: self.delivered.load(Ordering::Acquire),
            failed: self.failed.load(Ordering::Acquire),
            ..self.info.clone()
        }
    }
}

impl Drop for HeroCallbacks {
    fn drop(&mut self) {
        for connected in self.connected.get_mut().unwrap_or_else(|e| e.into_inner()).drain(..) {
            connected.task.abort();
        }
    }
}

impl HeroEntry {
    /// Starts calling `request.method` of `request.target` with each message of the event.
    pub(crate) async fn connect_callback(&self, request: ConnectCallbackRequest) -> Result<CallbackInfo> {
        let ConnectCallbackRequest { interface, event, target, method } = request;
        let target = target.ok_or_else(|| Error::invalid_argument("ConnectCallback needs a target HERO"))?;
        if target.realm != self.realm() {
            return Err(Error::RealmMismatch {
                hero: target.name.clone(),
                hero_realm: target.realm.clone(),
                caller_realm: self.realm().to_owned(),
            });
        }
        let path = PathAndQuery::try_from(method.as_str())
            .ok()
            .filter(|p| crate::server::routing::split_path(p.path()).is_some())
            .ok_or_else(|| {
                Error::invalid_argument(format!("'{method}' is not a gRPC path '/package.Service/Method'"))
            })?;
        let service = self.implementation(&interface)?;
        let messages = service.subscribe_encoded(&event).ok_or_else(|| {
            let events = service.interface().members.iter();
            let events = events.filter(|m| matches!(m.kind, crate::interface::MemberKind::Event { .. }));
            self.no_member_of_kind(service, &event, "event", events.map(|m| m.name.to_owned()).collect())
        })?;
        // Over the network even within one process: the message is already encoded.
        // Only where the dial policy allows: the caller names the target (no pivoting).
        let endpoints = crate::security::dial_policy::permitted(&target.endpoints)?;
        let (_, connection) = crate::net::dial_any(&endpoints).await?;
        let call = RawCall {
            connection: tokio::sync::Mutex::new(connection),
            endpoints,
            path,
            name: encode_header(&target.name),
            realm: encode_header(&target.realm),
        };
        let (delivered, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let task =
            tokio::spawn(forward(messages, call, delivered.clone(), failed.clone(), Box::pin(self.left_signal())));
        let id = self.callbacks.next_id.fetch_add(1, Ordering::AcqRel) + 1;
        let info = CallbackInfo { id, interface, event, target: Some(target), method, delivered: 0, failed: 0 };
        let connected = Connected { info, delivered, failed, task: task.abort_handle() };
        let reply = connected.info();
        self.callbacks.connected.lock().unwrap_or_else(|e| e.into_inner()).push(connected);
        Ok(reply)
    }

    pub(crate) fn list_callbacks(&self) -> Vec<CallbackInfo> {
        self.callbacks.connected.lock().unwrap_or_else(|e| e.into_inner()).iter().map(Connected::info).collect()
    }

    pub(crate) fn disconnect_callback(&self, id: u64) -> Result<()> {
        let mut connected = self.callbacks.connected.lock().unwrap_or_else(|e| e.into_inner());
        let at = connected.iter().position(|c| c.info.id == id).ok_or_else(|| Error::Rpc {
            code: tonic::Code::NotFound,
            message: format!("HERO '{}' has no callback {id}", self.name),
        })?;
        connected.remove(at).task.abort();
        Ok(())
    }
}

/// How long one callback call may take before it counts as failed (and the next goes on).
const CALLBACK_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

/// One method of one HERO, called with bytes that are already its request message.
struct RawCall {
    /// Dialled again when the target's server went away (it may be back at the same address).
    connection: tokio::sync::Mutex<Connection>,
    endpoints: Vec<String>,
    path: PathAndQuery,
    name: HeaderValue,
    realm: HeaderValue,
}

impl RawCall {
    async fn call(&self, message: Bytes) -> Result<()> {
        let mut connection = self.connection.lock().await;
        if connection.is_closed() {
            *connection = crate::net::dial_any(&self.endpoints).await?.1;
        }
        let mut grpc = connection.grpc();
        drop(connection);
        let mut request = tonic::Request::new(message);
        request.set_timeout(CALLBACK_DEADLINE);
        let headers = request.metadata_mut().as_mut();
        headers.insert(NAME_HEADER, self.name.clone());
        headers.insert(REALM_HEADER, self.realm.clone());
        let call = async {
            grpc.ready().await?;
            grpc.unary(request, self.path.clone(), crate::wire::codec::BytesCodec).await
        };
        match tokio::time::timeout(CALLBACK_DEADLINE, call).await {
            Ok(reply) => reply.map(drop).map_err(|status| Error::from_status(&status)),
            Err(_) => Err(Error::Timeout { message: format!("{} took longer than {CALLBACK_DEADLINE:?}", self.path) }),
        }
    }
}

/// Calls the target with each message, in order, until the HERO leaves or the callback is
/// disconnected. A failed call is counted and logged; the next message is tried all the same.
async fn forward(
    mut messages: EncodedEvents,
    call: RawCall,
    delivered: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    mut leaving: Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
) {
    loop {
        let message = tokio::select! {
            message = messages.next() => match message { Some(message) => message, None => return },
            () = &mut leaving => return,
        };
        let outcome = tokio::select! {
            outcome = call.call(message) => outcome,
            () = &mut leaving => return,
        };
        match outcome {
            Ok(()) => delivered.fetch_add(1, Ordering::AcqRel),
            Err(error) => {
                tracing::debug!(path = %call.path, "event callback failed: {error}");
                failed.fetch_add(1, Ordering::AcqRel)
            }
        };
    }
}

pub(crate) struct CallbackService {
    pub(crate) table: Arc<HeroTable>,
}

impl CallbackService {
    fn entry<T>(&self, request: &Request<T>) -> Result<Arc<HeroEntry>> {
        let headers = request.metadata().clone().into_headers();
        let name = decode_value(headers.get(NAME_HEADER), NAME_HEADER)?.ok_or_else(|| {
            Error::invalid_argument(format!("{SERVICE_NAME} calls name their HERO with '{NAME_HEADER}'"))
        })?;
        let realm = decode_value(headers.get(REALM_HEADER), REALM_HEADER)?;
        self.table.entry(&name, realm.as_deref())
    }
}

#[tonic::async_trait]
impl Callbacks for CallbackService {
    async fn connect_callback(
        &self,
        request: Request<ConnectCallbackRequest>,
    ) -> Result<Response<CallbackInfo>, Status> {
        let entry = self.entry(&request)?;
        Ok(Response::new(entry.connect_callback(request.into_inner()).await?))
    }

    async fn list_callbacks(&self, request: Request<()>) -> Result<Response<CallbackList>, Status> {
        Ok(Response::new(CallbackList { callbacks: self.entry(&request)?.list_callbacks() }))
    }

    async fn disconnect_callback(&self, request: Request<CallbackId>) -> Result<Response<()>, Status> {
        let entry = self.entry(&request)?;
        entry.disconnect_callback(request.into_inner().id)?;
        Ok(Response::new(()))
    }
}

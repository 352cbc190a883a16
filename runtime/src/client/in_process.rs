//! [`InProcessTransport`]: calls from a stub to a HERO served by the same process. The stub hands
//! its request message to the HERO's service directly: no encoding, no socket, no task hop; the
//! same routing rules, realm check and errors as over the network, behind the same typed API.
//!
//! Every server of the process registers its endpoints (`server::this_process`); a stub whose
//! HERO record lists one of them calls through the server's HERO table instead of dialling it.

use std::sync::{Arc, Weak};

use crate::client::handles::ClientSession;
use crate::client::transport::{
    Addressee, BoxFuture, Decode, EncodedValues, OpenStream, OpenStreaming, OperationCall, Outgoing, OutgoingMessage,
    SessionKey, Transport,
};
use crate::error::{Error, Result};
use crate::handles::table::HandleTable;
use crate::interface::AnyMessage;
use crate::proto::{CallbackInfo, ConnectCallbackRequest, HandleStats, Operation};
use crate::server::incoming::InProcess;
use crate::server::panic::{panicked, CatchPanic};
use crate::server::routing::{split_path, Dispatched, HeroEntry, HeroTable};

/// How a stub reaches a HERO of its own process: the HERO table of the server that hosts it.
pub(crate) struct InProcessTransport {
    table: Weak<HeroTable>,
    endpoint: String,
}

impl InProcessTransport {
    /// The transport to the server of this process that listens at one of `endpoints` and
    /// hosts `name` in `realm`, if any. Checking the HERO too keeps a look-alike address (another
    /// network namespace or container with the same IP and port) from being taken for ours.
    pub(crate) fn find(endpoints: &[String], name: &str, realm: &str) -> Option<InProcessTransport> {
        let (table, endpoint) = crate::server::this_process::hosting(endpoints, name, realm)?;
        Some(InProcessTransport { table: Arc::downgrade(&table), endpoint })
    }

    /// The server's HERO table, unless the server has shut down (then calls fail as they
    /// would over the network).
    fn live_table(&self) -> Result<Arc<HeroTable>> {
        let table = self.table.upgrade().filter(|table| !table.is_closed());
        table.ok_or_else(|| {
            Error::unavailable(format!("the server at {} (in this process) has shut down", self.endpoint))
        })
    }

    /// The handle table of the server, unless it has shut down.
    fn handles(&self) -> Result<Arc<HandleTable>> {
        Ok(self.live_table()?.handles.clone())
    }

    /// The entry of the HERO on this server.
    fn entry(&self, hero: &Addressee) -> Result<Arc<HeroEntry>> {
        self.live_table()?.entry(&hero.name, Some(&hero.realm))
    }

    /// Calls `call.path` of the HERO with `request`: the reply message, or a stream's items.
    fn call(&self, call: Outgoing<'_>, request: AnyMessage) -> BoxFuture<'static, Result<AnyMessage>> {
        let dispatched = self.live_table().and_then(|table| {
            let path = call.path;
            let (interface, method) = split_path(path).ok_or_else(|| {
                Error::invalid_argument(format!("'{path}' is not a gRPC path '/package.Service/Method'"))
            })?;
            let deadline = call.timeout.map(|timeout| std::time::Instant::now() + timeout);
            let incoming = InProcess { message: request, session: call.session, deadline };
            table.dispatch(Some(&call.hero.name), Some(&call.hero.realm), interface, method, incoming)
        });
        let (path, timeout) = (call.path, call.timeout);
        Box::pin(async move {
            let Dispatched { reply, in_flight } = dispatched?;
            let reply = CatchPanic(reply);
            let reply = match timeout {
                None => reply.await,
                Some(timeout) => tokio::time::timeout(timeout, reply)
                    .await
                    .map_err(|_| Error::Timeout { message: format!("{path} took longer than {timeout:?}") })?,
            };
            let reply = reply.map_err(|payload| panicked(in_flight.hero(), path, payload))?;
            drop(in_flight);
            reply
        })
    }
}

/// A future that is ready at once.
fn ready<T: Send + 'static>(value: T) -> BoxFuture<'static, T> {
    Box::pin(std::future::ready(value))
}

impl Transport for InProcessTransport {
    fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn is_in_process(&self) -> bool {
        true
    }

    fn unary<'a>(
        &'a self,
        call: Outgoing<'a>,
        request: Box<dyn OutgoingMessage>,
        _decode: Decode,
    ) -> BoxFuture<'a, Result<AnyMessage>> {
        self.call(call, request.into_any())
    }

    fn server_stream<'a>(
        &'a self,
        call: Outgoing<'a>,
        request: Box<dyn OutgoingMessage>,
        _open: OpenStream,
    ) -> BoxFuture<'a, Result<AnyMessage>> {
        // The HERO's server made the typed item stream itself (`server::incoming::InProcess`).
        self.call(call, request.into_any())
    }

    fn streaming<'a>(
        &'a self,
        call: Outgoing<'a>,
        requests: AnyMessage,
        _open: OpenStreaming,
    ) -> BoxFuture<'a, Result<AnyMessage>> {
        // The HERO's server reads the caller's stream itself: one item at a time, as it asks.
        self.call(call, requests)
    }

    fn watch<'a>(
        &'a self,
        hero: &'a Addressee,
        interface: &str,
        attribute: &str,
    ) -> BoxFuture<'a, Result<EncodedValues>> {
        let values = self
            .live_table()
            .and_then(|table| table.watch(Some(&hero.name), Some(&hero.realm), interface, attribute))
            .map(|values| Box::pin(tokio_stream::StreamExt::map(values, Ok)) as EncodedValues);
        ready(values)
    }

    fn connect_callback<'a>(
        &'a self,
        hero: &'a Addressee,
        request: ConnectCallbackRequest,
    ) -> BoxFuture<'a, Result<CallbackInfo>> {
        Box::pin(async move { self.entry(hero)?.connect_callback(request).await })
    }

    fn list_callbacks<'a>(&'a self, hero: &'a Addressee) -> BoxFuture<'a, Result<Vec<CallbackInfo>>> {
        ready(self.entry(hero).map(|entry| entry.list_callbacks()))
    }

    fn disconnect_callback<'a>(&'a self, hero: &'a Addressee, id: u64) -> BoxFuture<'a, Result<()>> {
        ready(self.entry(hero).and_then(|entry| entry.disconnect_callback(id)))
    }

    fn operation<'a>(&'a self, hero: &'a Addressee, call: OperationCall) -> BoxFuture<'a, Result<Operation>> {
        Box::pin(async move {
            let table = self.live_table()?;
            let entry = table.entry(&hero.name, Some(&hero.realm))?;
            let operations = &table.operations;
            Ok(match call {
                OperationCall::Start(request) => {
                    operations.start(&entry, &request.interface, &request.method, request.request)?.describe()
                }
                OperationCall::Get(id) => operations.get(&entry.name, &id)?.describe(),
                OperationCall::Wait(id) => operations.get(&entry.name, &id)?.ended().await,
                OperationCall::Cancel(id) => {
                    let operation = operations.get(&entry.name, &id)?;
                    operation.cancel("cancelled by a caller");
                    operation.describe()
                }
            })
        })
    }

    fn watch_operation<'a>(
        &'a self,
        hero: &'a Addressee,
        id: String,
    ) -> BoxFuture<'a, Result<crate::interface::ItemStream<Operation>>> {
        let changes = self.live_table().and_then(|table| {
            let entry = table.entry(&hero.name, Some(&hero.realm))?;
            table.operations.get(&entry.name, &id)
        });
        ready(changes.map(|operation| {
            Box::pin(tokio_stream::StreamExt::map(operation.changes(), Ok)) as crate::interface::ItemStream<Operation>
        }))
    }

    fn session_key(&self) -> SessionKey {
        (None, self.endpoint.clone())
    }

    fn open_session(&self) -> BoxFuture<'_, Result<Arc<ClientSession>>> {
        ready(self.handles().and_then(|table| ClientSession::open_local(&table)))
    }

    fn handle_stats(&self) -> BoxFuture<'_, Result<HandleStats>> {
        ready(self.handles().map(|table| table.stats()))
    }
}

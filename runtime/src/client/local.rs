//! Calls from a stub to a HERO served by the same process. The stub hands its request message to
//! the HERO's service directly: no encoding, no socket, no task hop; the same routing rules, realm
//! check and errors as over the network, behind the same typed API.
//!
//! Every server of the process registers its endpoints here; a stub whose HERO record lists one
//! of them calls through the server's HERO table instead of dialling it.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::handles::table::HandleTable;
use crate::interface::Request;
use crate::server::panic::{panicked, CatchPanic};
use crate::server::routing::{split_path, Dispatched, HeroTable};

/// The servers of this process: the endpoints each listens on, and its HERO table.
static SERVERS: Mutex<Vec<(Vec<String>, Weak<HeroTable>)>> = Mutex::new(Vec::new());

/// Makes the server at `endpoints` reachable by in-process stubs.
pub(crate) fn register(endpoints: &[String], table: &Arc<HeroTable>) {
    let mut servers = SERVERS.lock().unwrap_or_else(|e| e.into_inner());
    servers.retain(|(_, table)| table.strong_count() > 0);
    servers.push((endpoints.to_vec(), Arc::downgrade(table)));
}

/// Takes a stopped server out (its stubs' next calls fail as they would over the network).
pub(crate) fn unregister(table: &Arc<HeroTable>) {
    table.close();
    SERVERS.lock().unwrap_or_else(|e| e.into_inner()).retain(|(_, t)| !std::ptr::eq(t.as_ptr(), Arc::as_ptr(table)));
}

/// How a stub reaches a HERO of its own process.
#[derive(Clone)]
pub(crate) struct LocalRoute {
    table: Weak<HeroTable>,
    endpoint: String,
}

impl LocalRoute {
    /// The route to the server of this process that listens at one of `endpoints` and hosts
    /// `name` in `realm`, if any. Checking the HERO too keeps a look-alike address (another
    /// network namespace or container with the same IP and port) from being taken for ours.
    pub(crate) fn find(endpoints: &[String], name: &str, realm: &str) -> Option<LocalRoute> {
        let servers = SERVERS.lock().unwrap_or_else(|e| e.into_inner());
        endpoints.iter().find_map(|endpoint| {
            servers.iter().find_map(|(listening, table)| {
                let table = table.upgrade().filter(|_| listening.contains(endpoint))?;
                let hosted = table.get(name).is_some_and(|hero| hero.realm() == realm);
                hosted.then(|| LocalRoute { table: Arc::downgrade(&table), endpoint: endpoint.clone() })
            })
        })
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
    pub(crate) fn handles(&self) -> Result<Arc<HandleTable>> {
        Ok(self.live_table()?.handles.clone())
    }

    /// The values of an attribute of the HERO `name`, as encoded value messages.
    pub(crate) fn watch(
        &self,
        name: &str,
        realm: &str,
        interface: &str,
        attribute: &str,
    ) -> Result<crate::events::attribute_watch::AttributeWatch> {
        let table = self.live_table()?;
        table.watch(Some(name), Some(realm), interface, attribute)
    }

    /// The entry of the HERO `name` on this server.
    pub(crate) fn entry(&self, name: &str, realm: &str) -> Result<Arc<crate::server::routing::HeroEntry>> {
        let table = self.live_table()?;
        table.entry(name, Some(realm))
    }

    /// The endpoint the server would be dialled at.
    pub(crate) fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Calls `path` (`/package.Service/Method`) of the HERO `name` with `request`.
    pub(crate) async fn unary<Req, Rep>(
        &self,
        name: &str,
        realm: &str,
        path: &str,
        request: Req,
        session: Option<http::HeaderValue>,
        timeout: Option<Duration>,
    ) -> Result<Rep>
    where
        Req: Send + 'static,
        Rep: 'static,
    {
        let table = self.live_table()?;
        let (interface, method) = split_path(path)
            .ok_or_else(|| Error::invalid_argument(format!("'{path}' is not a gRPC path '/package.Service/Method'")))?;
        let Dispatched { reply, in_flight } = table.dispatch(
            Some(name),
            Some(realm),
            interface,
            method,
            Request::Local { message: Box::new(request), session },
        )?;
        drop(table);
        let reply = CatchPanic(reply);
        let reply = match timeout {
            None => reply.await,
            Some(timeout) => tokio::time::timeout(timeout, reply)
                .await
                .map_err(|_| Error::Timeout { message: format!("{path} took longer than {timeout:?}") })?,
        };
        let reply = reply.map_err(|payload| panicked(in_flight.hero(), path, payload))?;
        drop(in_flight);
        let reply = reply.into_local()?;
        reply.downcast::<Rep>().map(|reply| *reply).map_err(|_| Error::Rpc {
            code: tonic::Code::Internal,
            message: format!("the in-process reply of {path} is not of the stub's reply type"),
        })
    }
}

//! Long-running operations (`heros.v1.Operations`, docs/PROTOCOL.md "Operations"): a method marked
//! `long_running` started so that it runs on in the server, whatever happens to the connection
//! that started it, with progress, cancel and a result kept for its lifetime.
//!
//! - [`OperationTable`] (here): the server's operations by id, within `HEROS_MAX_OPERATIONS`; an
//!   ended one is kept for `HEROS_OPERATION_LIFETIME_MS`, then purged at the next start or
//!   lookup.
//! - `service`: the gRPC face, for any client.
//!
//! An operation runs as a task of its own, so a caller dropping its connection cancels nothing;
//! `Cancel` aborts the task, which drops the method's future (and fires its `CallContext`).

pub(crate) mod service;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::watch;

use crate::error::{Error, Result};
use crate::proto::{Operation, OperationState};
use crate::server::call_context::{CallScope, ProgressSink};
use crate::server::incoming::AsOperation;
use crate::server::panic::{panicked, CatchPanic};
use crate::server::routing::HeroEntry;
use crate::server::service::{Call, Dispatch};

/// The long-running operations of one server.
pub(crate) struct OperationTable {
    operations: Mutex<HashMap<String, Arc<OperationEntry>>>,
    max_operations: usize,
    lifetime: Duration,
}

/// One operation: what it runs, and its state as watchers see it.
pub(crate) struct OperationEntry {
    id: String,
    hero: Arc<str>,
    interface: String,
    method: String,
    started: Instant,
    state: watch::Sender<Snapshot>,
    /// The task running the method, until it ends.
    task: Mutex<Option<tokio::task::AbortHandle>>,
    lifetime: Duration,
}

/// An operation's state at one moment.
#[derive(Clone)]
struct Snapshot {
    state: OperationState,
    progress: f64,
    message: String,
    intermediate: Option<prost_types::Any>,
    result: Bytes,
    error: Option<Error>,
    ended: Option<Instant>,
}

impl OperationTable {
    pub(crate) fn new(max_operations: usize, lifetime: Duration) -> Self {
        OperationTable { operations: Mutex::default(), max_operations, lifetime }
    }

    fn locked(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<OperationEntry>>> {
        let mut operations = self.operations.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        operations.retain(|_, operation| !operation.expired(now));
        operations
    }

    /// Starts `method` of `interface` of the HERO `entry` with `request` (encoded), as an
    /// operation; refuses a method that is not long-running.
    pub(crate) fn start(
        &self,
        entry: &Arc<HeroEntry>,
        interface: &str,
        method: &str,
        request: Bytes,
    ) -> Result<Arc<OperationEntry>> {
        let service = entry.implementation(interface)?;
        let member = service.interface().members.iter().find(|m| m.name == method);
        match member {
            None => return Err(entry.no_member(service, method, service.interface().member_names())),
            Some(member) if !member.long_running => {
                return Err(Error::invalid_argument(format!(
                    "{interface}/{method} is not a long-running method (option (heros.v1.method) = {{ long_running: true }}); call it directly"
                )))
            }
            Some(_) => {}
        }
        let mut operations = self.locked();
        if operations.len() >= self.max_operations {
            return Err(Error::limit_reached(
                "HEROS_MAX_OPERATIONS",
                self.max_operations,
                format!("this server holds {} operations, running or ended within their lifetime", operations.len()),
            ));
        }
        let operation = Arc::new(OperationEntry {
            id: new_id(),
            hero: entry.name.clone(),
            interface: interface.to_owned(),
            method: method.to_owned(),
            started: Instant::now(),
            state: watch::Sender::new(Snapshot {
                state: OperationState::OperationRunning,
                progress: 0.0,
                message: String::new(),
                intermediate: None,
                result: Bytes::new(),
                error: None,
                ended: None,
            }),
            task: Mutex::default(),
            lifetime: self.lifetime,
        });
        let sink: Arc<dyn ProgressSink> =
            Arc::new(Progress { operation: Arc::downgrade(&operation), id: operation.id.clone() });
        let incoming = AsOperation { request, scope: CallScope::new(None, Some(sink)) };
        let Some(reply) = AsOperation::dispatch(service, method, Call { entry: entry.clone(), incoming }) else {
            return Err(entry.no_member(service, method, service.interface().member_names()));
        };
        let path = format!("/{interface}/{method}");
        let hero = entry.name.clone();
        let running = operation.clone();
        let task = tokio::spawn(async move {
            let result = CatchPanic(reply).await.unwrap_or_else(|payload| Err(panicked(&hero, &path, payload)));
            running.end(result);
        });
        *operation.task.lock().unwrap_or_else(|e| e.into_inner()) = Some(task.abort_handle());
        operations.insert(operation.id.clone(), operation.clone());
        Ok(operation)
    }

    /// The operation `id` of the HERO `hero`.
    pub(crate) fn get(&self, hero: &str, id: &str) -> Result<Arc<OperationEntry>> {
        let operations = self.locked();
        operations
            .get(id)
            .filter(|operation| &*operation.hero == hero)
            .cloned()
            .ok_or_else(|| Error::OperationNotFound { id: id.to_owned() })
    }

    /// The operations of the HERO `hero`, oldest first.
    pub(crate) fn of_hero(&self, hero: &str) -> Vec<Arc<OperationEntry>> {
        let mut found: Vec<_> = self.locked().values().filter(|o| &*o.hero == hero).cloned().collect();
        found.sort_by_key(|operation| operation.started);
        found
    }

    /// Cancels every running operation (the server is shutting down).
    pub(crate) fn close(&self) {
        for operation in self.operations.lock().unwrap_or_else(|e| e.into_inner()).values() {
            operation.cancel("the server shut down");
        }
    }
}

/// 128 random bits, in hex: an id nobody can guess, so that holding it is the right to it.
fn new_id() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system's random number generator failed");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl OperationEntry {
    fn expired(&self, now: Instant) -> bool {
        self.state.borrow().ended.is_some_and(|ended| now.saturating_duration_since(ended) > self.lifetime)
    }

    /// Records the end, unless it has ended already (cancelled first).
    fn end(&self, result: Result<Bytes>) {
        self.state.send_if_modified(|snapshot| {
            if snapshot.ended.is_some() {
                return false;
            }
            match result {
                Ok(reply) => {
                    snapshot.state = OperationState::OperationSucceeded;
                    snapshot.progress = 1.0;
                    snapshot.result = reply;
                }
                Err(Error::Cancelled { message }) => {
                    snapshot.state = OperationState::OperationCancelled;
                    snapshot.error = Some(Error::Cancelled { message });
                }
                Err(error) => {
                    snapshot.state = OperationState::OperationFailed;
                    snapshot.error = Some(error);
                }
            }
            snapshot.ended = Some(Instant::now());
            true
        });
        self.task.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    /// Cancels the operation if it still runs: its method's future is dropped.
    pub(crate) fn cancel(&self, why: &str) {
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(task) = task {
            self.end(Err(Error::Cancelled { message: format!("operation {} was cancelled: {why}", self.id) }));
            task.abort();
        }
    }

    /// The operation as it is now.
    pub(crate) fn describe(&self) -> Operation {
        let snapshot = self.state.borrow().clone();
        self.describe_snapshot(&snapshot)
    }

    fn describe_snapshot(&self, snapshot: &Snapshot) -> Operation {
        let (error_code, error_message, error_detail) = match &snapshot.error {
            Some(error) => {
                let status = error.to_status();
                (status.code() as i32, status.message().to_owned(), crate::error::detail_of(&status))
            }
            None => (0, String::new(), None),
        };
        Operation {
            id: self.id.clone(),
            hero: self.hero.to_string(),
            interface: self.interface.clone(),
            method: self.method.clone(),
            state: snapshot.state as i32,
            progress: snapshot.progress,
            message: snapshot.message.clone(),
            intermediate: snapshot.intermediate.clone(),
            result: snapshot.result.clone(),
            error_code,
            error_message,
            error_detail,
            elapsed_ms: snapshot.ended.unwrap_or_else(Instant::now).duration_since(self.started).as_millis() as u64,
            lifetime_ms: self.lifetime.as_millis() as u64,
        }
    }

    /// Resolves when the operation has ended; then the operation.
    pub(crate) async fn ended(&self) -> Operation {
        let mut state = self.state.subscribe();
        let snapshot = match state.wait_for(|snapshot| snapshot.ended.is_some()).await {
            Ok(snapshot) => snapshot.clone(),
            // The sender lives in `self`: it cannot be gone while we hold `self`.
            Err(_) => self.state.borrow().clone(),
        };
        self.describe_snapshot(&snapshot)
    }

    /// The operation now, then at every change, until it has ended.
    pub(crate) fn changes(self: Arc<Self>) -> Changes {
        let states = tokio_stream::wrappers::WatchStream::new(self.state.subscribe());
        Changes { operation: self, states, done: false }
    }
}

/// The states of one operation, as [`OperationEntry::changes`] gives them.
pub(crate) struct Changes {
    operation: Arc<OperationEntry>,
    states: tokio_stream::wrappers::WatchStream<Snapshot>,
    done: bool,
}

impl tokio_stream::Stream for Changes {
    type Item = Operation;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Operation>> {
        use std::task::Poll;
        if self.done {
            return Poll::Ready(None);
        }
        match std::pin::Pin::new(&mut self.states).poll_next(cx) {
            Poll::Ready(Some(snapshot)) => {
                self.done = snapshot.ended.is_some();
                Poll::Ready(Some(self.operation.describe_snapshot(&snapshot)))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Where a running operation's `CallContext` reports progress.
struct Progress {
    operation: Weak<OperationEntry>,
    id: String,
}

impl ProgressSink for Progress {
    fn report(&self, fraction: f64, message: String, intermediate: Option<prost_types::Any>) {
        let Some(operation) = self.operation.upgrade() else { return };
        operation.state.send_if_modified(|snapshot| {
            if snapshot.ended.is_some() {
                return false;
            }
            snapshot.progress = fraction;
            snapshot.message = message;
            if intermediate.is_some() {
                snapshot.intermediate = intermediate;
            }
            true
        });
    }

    fn operation_id(&self) -> &str {
        &self.id
    }
}

//! The HEROs this process registers in etcd: one lease for the whole process, kept alive by a
//! task of the backend's runtime, and one key per HERO bound to it.
//!
//! A name is taken by a transaction that creates the key only if it does not exist, so of two
//! HEROs started at the same instant with the same name in one realm exactly one wins, wherever
//! they run. A key that exists belongs to a living process (etcd deletes it when its lease
//! expires); when none of its endpoints answers, its process was probably killed, and the new
//! HERO waits up to one lease time for the key to go before it gives up.
//!
//! When etcd cannot be reached the HEROs go on serving; the keep-alive is retried with backoff.
//! If the lease expired meanwhile (etcd stayed up, this process was cut off), a new lease is
//! granted and every key is claimed again; a name another process took meanwhile is logged and
//! claimed again as soon as it is free.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tracing::{debug, warn};

use super::proto::{self, compare, request_op, response_op};
use super::{record, Cluster, BACKOFF_FIRST, BACKOFF_LAST, REQUEST_TIMEOUT};
use crate::error::{Error, Result};
use crate::proto::HeroInfo;

/// How often a name held by a process that does not answer is tried again.
const RETRY_HELD: Duration = Duration::from_millis(250);

/// How long sharing a HERO waits for etcd to answer before it fails.
const REGISTER_PATIENCE: Duration = Duration::from_secs(4);

#[derive(Clone)]
pub(super) struct Registrar {
    inner: Arc<Inner>,
}

struct Inner {
    cluster: Cluster,
    runtime: tokio::runtime::Handle,
    ttl: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The process's lease, once granted.
    lease: Option<i64>,
    /// Every key this process registers, with its value, claimed or not.
    keys: BTreeMap<String, Vec<u8>>,
    /// Keys another process took while this one had lost its lease: claimed again when free.
    unclaimed: BTreeSet<String>,
    keeping_alive: bool,
}

/// What a create-if-absent transaction found.
enum Claim {
    Won,
    /// Someone holds the key: their record, and whether its lease is this process's.
    Held(Option<HeroInfo>),
}

impl Registrar {
    pub(super) fn new(cluster: Cluster, runtime: tokio::runtime::Handle, ttl: Duration) -> Registrar {
        Registrar { inner: Arc::new(Inner { cluster, runtime, ttl, state: Mutex::new(State::default()) }) }
    }

    /// Claims `info`'s name in its realm and keeps it under the process's lease.
    pub(super) async fn register(&self, info: &HeroInfo) -> Result<Registration> {
        let key = record::key(&info.realm, &info.name);
        let value = record::encode(info)?;
        // A holder that does not answer may have been killed: its key goes within its lease time.
        let deadline = tokio::time::Instant::now() + self.inner.ttl + Duration::from_secs(1);
        // etcd that does not answer (not started yet, just restarted, electing a leader) gets a
        // little time; then sharing fails, saying so.
        let patience = tokio::time::Instant::now() + REGISTER_PATIENCE;
        let mut backoff = BACKOFF_FIRST;
        loop {
            let claimed = match self.inner.lease().await {
                Ok(lease) => self.inner.claim(&key, &value, lease).await,
                Err(e) => Err(e),
            };
            let holder = match claimed {
                Ok(Claim::Won) => break,
                Ok(Claim::Held(holder)) => holder,
                Err(Error::Unavailable { message }) if tokio::time::Instant::now() + backoff < patience => {
                    debug!(hero = %info.name, "discovery: cannot register in etcd yet ({message}); trying again");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(BACKOFF_LAST);
                    continue;
                }
                Err(e) => return Err(e),
            };
            let conflict =
                |endpoint: String| Error::NameConflict { name: info.name.clone(), realm: info.realm.clone(), endpoint };
            let endpoints = holder.map(|h| h.endpoints).unwrap_or_default();
            for endpoint in &endpoints {
                if crate::net::describe::hosts_hero(endpoint, &info.name, &info.realm).await {
                    return Err(conflict(endpoint.clone()));
                }
            }
            if tokio::time::Instant::now() >= deadline {
                let endpoint = endpoints.first().cloned().unwrap_or_else(|| "an unknown endpoint".into());
                return Err(conflict(format!("{endpoint} (registered in etcd; its lease is still kept alive)")));
            }
            debug!(hero = %info.name, realm = %info.realm, "discovery: the etcd key is held by a HERO that does not answer; waiting for its lease to expire");
            tokio::time::sleep(RETRY_HELD).await;
        }
        self.inner.state.lock().await.keys.insert(key.clone(), value);
        debug!(%key, "discovery: registered in etcd");
        Ok(Registration { registrar: Some(self.clone()), key })
    }
}

impl Inner {
    /// The process's lease, granted on first use (and then kept alive).
    async fn lease(self: &Arc<Self>) -> Result<i64> {
        let mut state = self.state.lock().await;
        if let Some(lease) = state.lease {
            return Ok(lease);
        }
        let lease = self.grant().await?;
        state.lease = Some(lease);
        if !state.keeping_alive {
            state.keeping_alive = true;
            self.runtime.spawn(self.clone().keep_alive());
        }
        Ok(lease)
    }

    async fn grant(&self) -> Result<i64> {
        let ttl = self.ttl.as_secs() as i64;
        let request = proto::LeaseGrantRequest { ttl, id: 0 };
        let granted = self
            .cluster
            .call("grant a lease", request, |c, request| async move {
                proto::lease_client::LeaseClient::new(c).lease_grant(request).await
            })
            .await?;
        if !granted.error.is_empty() {
            return Err(self.cluster.unavailable("grant a lease", &granted.error));
        }
        debug!(lease = granted.id, ttl = granted.ttl, "discovery: etcd lease granted");
        Ok(granted.id)
    }

    /// Creates `key` under `lease` if it does not exist; else reads who holds it.
    async fn claim(&self, key: &str, value: &[u8], lease: i64) -> Result<Claim> {
        let request = proto::TxnRequest {
            compare: vec![proto::Compare {
                result: compare::CompareResult::Equal as i32,
                target: compare::CompareTarget::Create as i32,
                key: key.as_bytes().to_vec(),
                target_union: Some(compare::TargetUnion::CreateRevision(0)),
                ..Default::default()
            }],
            success: vec![proto::RequestOp {
                request: Some(request_op::Request::RequestPut(proto::PutRequest {
                    key: key.as_bytes().to_vec(),
                    value: value.to_vec(),
                    lease,
                    ..Default::default()
                })),
            }],
            failure: vec![proto::RequestOp {
                request: Some(request_op::Request::RequestRange(proto::RangeRequest {
                    key: key.as_bytes().to_vec(),
                    ..Default::default()
                })),
            }],
        };
        let reply = self
            .cluster
            .call(
                "register",
                request,
                |c, request| async move { proto::kv_client::KvClient::new(c).txn(request).await },
            )
            .await?;
        if reply.succeeded {
            return Ok(Claim::Won);
        }
        let holder = reply.responses.into_iter().find_map(|r| match r.response {
            Some(response_op::Response::ResponseRange(range)) => range.kvs.into_iter().next(),
            _ => None,
        });
        Ok(Claim::Held(holder.and_then(|kv| record::decode(&kv.key, &kv.value).ok())))
    }

    /// Deletes `key` if it is still bound to this process's lease.
    async fn delete(&self, key: &str) -> Result<()> {
        let Some(lease) = self.state.lock().await.lease else { return Ok(()) };
        let request = proto::TxnRequest {
            compare: vec![proto::Compare {
                result: compare::CompareResult::Equal as i32,
                target: compare::CompareTarget::Lease as i32,
                key: key.as_bytes().to_vec(),
                target_union: Some(compare::TargetUnion::Lease(lease)),
                ..Default::default()
            }],
            success: vec![proto::RequestOp {
                request: Some(request_op::Request::RequestDeleteRange(proto::DeleteRangeRequest {
                    key: key.as_bytes().to_vec(),
                    ..Default::default()
                })),
            }],
            failure: vec![],
        };
        self.cluster
            .call(
                "withdraw",
                request,
                |c, request| async move { proto::kv_client::KvClient::new(c).txn(request).await },
            )
            .await
            .map(drop)
    }

    /// Keeps the lease alive until the process ends, renewing it (and every key) if it was lost.
    async fn keep_alive(self: Arc<Self>) {
        let mut backoff = BACKOFF_FIRST;
        let mut reported = false;
        loop {
            let lease = self.state.lock().await.lease;
            let outcome = match lease {
                Some(lease) => self.keep(lease, &mut backoff).await,
                None => Kept::Gone,
            };
            match outcome {
                Kept::Gone => match self.renew().await {
                    Ok(()) => continue,
                    Err(e) => {
                        if !reported {
                            warn!("discovery: cannot register again in etcd ({e}); HEROs keep serving, retrying");
                            reported = true;
                        }
                    }
                },
                Kept::Lost(why) => {
                    if !reported {
                        warn!("discovery: etcd keep-alive failed ({why}); HEROs keep serving, retrying with backoff");
                        reported = true;
                    }
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(BACKOFF_LAST);
        }
    }

    /// One keep-alive stream: a request every third of the lease, until it fails.
    async fn keep(&self, lease: i64, backoff: &mut Duration) -> Kept {
        let (requests, receiver) = tokio::sync::mpsc::channel(1);
        let (at, channel) = self.cluster.channel();
        let mut client = proto::lease_client::LeaseClient::new(channel);
        let stream = tokio_stream::wrappers::ReceiverStream::new(receiver);
        let send = requests.send(proto::LeaseKeepAliveRequest { id: lease });
        let (sent, opened) = tokio::join!(send, tokio::time::timeout(REQUEST_TIMEOUT, client.lease_keep_alive(stream)));
        let mut responses = match (sent, opened) {
            (Ok(()), Ok(Ok(responses))) => responses.into_inner(),
            (_, Ok(Err(status))) => {
                self.cluster.failed(at);
                return Kept::Lost(status.message().to_owned());
            }
            _ => {
                self.cluster.failed(at);
                return Kept::Lost(format!("no answer within {REQUEST_TIMEOUT:?}"));
            }
        };
        loop {
            match tokio::time::timeout(REQUEST_TIMEOUT, responses.message()).await {
                Ok(Ok(Some(response))) if response.ttl <= 0 => {
                    warn!(
                        lease,
                        "discovery: the etcd lease expired while this process could not reach etcd; registering again"
                    );
                    self.state.lock().await.lease = None;
                    return Kept::Gone;
                }
                Ok(Ok(Some(_))) => {
                    *backoff = BACKOFF_FIRST;
                    self.claim_unclaimed(lease).await;
                }
                Ok(Ok(None)) => return Kept::Lost("the keep-alive stream ended".into()),
                Ok(Err(status)) => {
                    self.cluster.failed(at);
                    return Kept::Lost(status.message().to_owned());
                }
                Err(_) => {
                    self.cluster.failed(at);
                    return Kept::Lost(format!("no keep-alive answer within {REQUEST_TIMEOUT:?}"));
                }
            }
            tokio::time::sleep(self.ttl / 3).await;
            if requests.send(proto::LeaseKeepAliveRequest { id: lease }).await.is_err() {
                return Kept::Lost("the keep-alive stream closed".into());
            }
        }
    }

    /// A new lease, and every key claimed again under it.
    async fn renew(&self) -> Result<()> {
        let lease = self.grant().await?;
        let mut state = self.state.lock().await;
        state.lease = Some(lease);
        state.unclaimed = state.keys.keys().cloned().collect();
        drop(state);
        self.claim_unclaimed(lease).await;
        Ok(())
    }

    /// Claims the keys lost with an expired lease, as far as they are free.
    async fn claim_unclaimed(&self, lease: i64) {
        let pending: Vec<(String, Vec<u8>)> = {
            let state = self.state.lock().await;
            state.unclaimed.iter().filter_map(|key| Some((key.clone(), state.keys.get(key)?.clone()))).collect()
        };
        for (key, value) in pending {
            match self.claim(&key, &value, lease).await {
                Ok(Claim::Won) => {
                    debug!(%key, "discovery: registered in etcd again");
                    self.state.lock().await.unclaimed.remove(&key);
                }
                Ok(Claim::Held(holder)) => warn!(
                    %key, holder = ?holder.map(|h| h.endpoints),
                    "discovery: another process took this HERO's name while this one was cut off from etcd; \
                     claiming it again when it is free"
                ),
                Err(e) => return debug!(%key, "discovery: cannot register again yet: {e}"),
            }
        }
    }
}

enum Kept {
    /// The lease no longer exists: grant a new one.
    Gone,
    /// etcd could not be reached.
    Lost(String),
}

/// One HERO's key in etcd. [`Registration::withdraw`] (or dropping it) deletes it.
#[must_use = "dropping the registration deletes the HERO's key at once"]
pub(crate) struct Registration {
    registrar: Option<Registrar>,
    key: String,
}

impl Registration {
    /// The HERO's key, e.g. `/heros/v1/lab/oven`.
    pub(crate) fn key(&self) -> &str {
        &self.key
    }

    /// Deletes the key and waits for etcd to confirm (bounded by the request timeout). Best
    /// effort: a failure is logged; the key goes with the lease anyway.
    pub(crate) async fn withdraw(mut self) {
        if let Some(registrar) = self.registrar.take() {
            forget_and_delete(registrar, std::mem::take(&mut self.key)).await;
        }
    }
}

async fn forget_and_delete(registrar: Registrar, key: String) {
    let inner = &registrar.inner;
    {
        let mut state = inner.state.lock().await;
        state.keys.remove(&key);
        state.unclaimed.remove(&key);
    }
    match inner.delete(&key).await {
        Ok(()) => debug!(%key, "discovery: withdrawn from etcd"),
        Err(e) => warn!(%key, "discovery: cannot delete the etcd key ({e}); it goes when the lease expires"),
    }
}

impl Drop for Registration {
    /// Queues the deletion on the backend's runtime without waiting for it.
    fn drop(&mut self) {
        if let Some(registrar) = self.registrar.take() {
            let runtime = registrar.inner.runtime.clone();
            runtime.spawn(forget_and_delete(registrar, std::mem::take(&mut self.key)));
        }
    }
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration").field("key", &self.key).finish()
    }
}

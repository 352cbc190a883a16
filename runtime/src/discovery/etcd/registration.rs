//! The HEROs this process registers in etcd: one lease for the whole process, kept alive by a
//! task of the backend's runtime, and one key per HERO bound to it.
//!
//! A name is taken by a transaction that creates the key only if it does not exist, so of two
//! HEROs started at the same instant with the same name in one realm exactly one wins, wherever
//! they run. A key that exists belongs to a living process (etcd deletes it when its lease
//! expires); when none of its endpoints answers, its process was probably killed, and the new
//! HERO waits up to one lease time for the key to go before it gives up.
//!
//! etcd is not needed to serve. When it cannot be reached while a HERO is shared, sharing
//! succeeds and the HERO serves (by address, and over mDNS when that is on) while the task that
//! keeps the lease retries with backoff and registers it as soon as etcd answers
//! ([`EtcdRegistration::Pending`] until then). When the connection is lost later, the keep-alive
//! is retried the same way; if the lease expired meanwhile (etcd stayed up, this process was cut
//! off), a new lease is granted and every key is claimed again. One warning per outage.
//!
//! A name found taken when a HERO registers late (after an outage) cannot fail the `share` that
//! returned long ago. The choice: the HERO keeps serving where it is (stubs connected to it keep
//! working) but is not listed in etcd, an error is logged once, [`EtcdRegistration::Conflict`]
//! says so, and the name is claimed as soon as the other's key goes (it left, or its lease
//! expired). The realm never lists two HEROs of one name: the transaction still decides. When
//! etcd answers at share time, the same conflict fails `share` with [`Error::NameConflict`], as
//! over mDNS.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Mutex};
use tracing::{debug, error, info, warn};

use super::backoff::Backoff;
use super::proto::{self, compare, request_op, response_op};
use super::{record, Cluster, REQUEST_TIMEOUT};
use crate::error::{Error, Result};
use crate::proto::HeroInfo;

/// How often a name held by a process that does not answer is tried again.
const RETRY_HELD: Duration = Duration::from_millis(250);

/// Where a HERO stands in etcd ([`LocalHero::etcd_registration`](crate::LocalHero::etcd_registration)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EtcdRegistration {
    /// Its key is in etcd, bound to the process's lease: observers through etcd list it.
    Registered,
    /// Not in etcd yet, or no longer: etcd could not be reached, or the lease expired while this
    /// process was cut off. Retried with backoff; the HERO serves meanwhile.
    Pending {
        /// The last error, or what happened.
        why: String,
    },
    /// Another HERO holds the name in the realm: it registered while this one could not reach
    /// etcd. This one keeps serving at its address but is not listed in etcd; it takes the name
    /// when the other's key goes.
    Conflict {
        /// The other HERO's endpoints, as its key says.
        holder: Vec<String>,
    },
}

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
    /// Every key this process registers, claimed or not.
    keys: BTreeMap<String, Key>,
    /// Whether the task that keeps the lease (and claims pending keys) runs.
    maintained: bool,
    /// Why etcd cannot be reached, while the task that keeps the lease finds it so: one warning
    /// per outage, and HEROs shared meanwhile do not try again what just failed.
    outage: Option<String>,
}

struct Key {
    value: Vec<u8>,
    status: watch::Sender<EtcdRegistration>,
}

impl Key {
    fn claimed(&self) -> bool {
        *self.status.borrow() == EtcdRegistration::Registered
    }
}

/// What a create-if-absent transaction found.
enum Claim {
    /// The key is this process's now (or already was, under its lease).
    Won,
    /// Another process holds the key: its record.
    Held(Option<HeroInfo>),
}

/// How the first attempt to register, while sharing, ended (when it did not fail sharing).
enum FirstClaim {
    Won { lease: i64 },
    Unreachable(String),
}

impl Registrar {
    pub(super) fn new(cluster: Cluster, runtime: tokio::runtime::Handle, ttl: Duration) -> Registrar {
        Registrar { inner: Arc::new(Inner { cluster, runtime, ttl, state: Mutex::new(State::default()) }) }
    }

    /// Claims `info`'s name in its realm and keeps it under the process's lease. Fails with
    /// [`Error::NameConflict`] when another HERO holds the name; when etcd cannot be reached,
    /// succeeds with the registration pending (see the module docs).
    pub(super) async fn register(&self, info: &HeroInfo) -> Result<Registration> {
        let key = record::key(&info.realm, &info.name);
        let value = record::encode(info)?;
        let known_outage = self.inner.state.lock().await.outage.clone();
        let first = match known_outage {
            Some(why) => FirstClaim::Unreachable(why),
            None => self.first_claim(info, &key, &value).await?,
        };
        let mut state = self.inner.state.lock().await;
        let status = match first {
            FirstClaim::Won { lease } if state.lease == Some(lease) => {
                debug!(%key, "discovery: registered in etcd");
                EtcdRegistration::Registered
            }
            FirstClaim::Won { .. } => {
                EtcdRegistration::Pending { why: "the etcd lease was lost while registering".into() }
            }
            FirstClaim::Unreachable(why) => {
                self.inner.report_outage(&mut state, &why);
                info!(hero = %info.name, realm = %info.realm,
                    "discovery: serving without etcd for now; registered there as soon as it answers");
                EtcdRegistration::Pending { why }
            }
        };
        let (status, receiver) = watch::channel(status);
        state.keys.insert(key.clone(), Key { value, status });
        if !std::mem::replace(&mut state.maintained, true) {
            self.inner.runtime.spawn(self.inner.clone().maintain());
        }
        Ok(Registration { registrar: Some(self.clone()), key, status: receiver })
    }

    /// The attempt made while sharing: it waits for a holder that does not answer to lose its
    /// lease, but not for etcd.
    async fn first_claim(&self, info: &HeroInfo, key: &str, value: &[u8]) -> Result<FirstClaim> {
        // A holder that does not answer may have been killed: its key goes within its lease time.
        let deadline = tokio::time::Instant::now() + self.inner.ttl + Duration::from_secs(1);
        loop {
            let claimed = match self.inner.lease().await {
                Ok(lease) => self.inner.claim(key, value, lease).await.map(|claim| (lease, claim)),
                Err(e) => Err(e),
            };
            let holder = match claimed {
                Ok((lease, Claim::Won)) => return Ok(FirstClaim::Won { lease }),
                Ok((_, Claim::Held(holder))) => holder,
                Err(Error::Unavailable { message }) => return Ok(FirstClaim::Unreachable(message)),
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
    }
}

impl Inner {
    /// The process's lease, granted on first use (and after one expired).
    async fn lease(&self) -> Result<i64> {
        let mut state = self.state.lock().await;
        if let Some(lease) = state.lease {
            return Ok(lease);
        }
        let lease = self.grant().await?;
        state.lease = Some(lease);
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
        match holder {
            // An earlier attempt that seemed to fail (its answer was lost) had created it.
            Some(kv) if kv.lease == lease && kv.value == value => Ok(Claim::Won),
            holder => Ok(Claim::Held(holder.and_then(|kv| record::decode(&kv.key, &kv.value).ok()))),
        }
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

    /// Keeps the lease alive until the process ends, and claims the keys not claimed yet (shared
    /// during an outage, lost with an expired lease, or held by another HERO), with backoff while
    /// etcd cannot be reached.
    async fn maintain(self: Arc<Self>) {
        let mut backoff = Backoff::new();
        loop {
            let why = match self.lease().await {
                Ok(lease) => {
                    self.report_reachable().await;
                    self.claim_unclaimed(lease).await;
                    match self.keep(lease, &mut backoff).await {
                        // At once: a new lease, and the keys claimed again.
                        Kept::Gone => continue,
                        Kept::Lost(why) => why,
                    }
                }
                Err(e) => e.to_string(),
            };
            let mut state = self.state.lock().await;
            self.report_outage(&mut state, &why);
            drop(state);
            backoff.wait().await;
        }
    }

    /// One keep-alive stream: a request every third of the lease, until it fails.
    async fn keep(&self, lease: i64, backoff: &mut Backoff) -> Kept {
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
                return Kept::Lost(self.cluster.unavailable("keep the lease alive", &status.message()).to_string());
            }
            _ => {
                self.cluster.failed(at);
                let why = format!("no answer within {REQUEST_TIMEOUT:?}");
                return Kept::Lost(self.cluster.unavailable("keep the lease alive", &why).to_string());
            }
        };
        loop {
            let lost = match tokio::time::timeout(REQUEST_TIMEOUT, responses.message()).await {
                Ok(Ok(Some(response))) if response.ttl <= 0 => {
                    warn!(
                        lease,
                        "discovery: the etcd lease expired while this process could not reach etcd; registering again"
                    );
                    let mut state = self.state.lock().await;
                    state.lease = None;
                    let why = "the etcd lease expired while this process could not reach etcd";
                    for key in state.keys.values() {
                        key.status.send_replace(EtcdRegistration::Pending { why: why.into() });
                    }
                    return Kept::Gone;
                }
                Ok(Ok(Some(_))) => {
                    backoff.reset();
                    self.report_reachable().await;
                    self.claim_unclaimed(lease).await;
                    None
                }
                Ok(Ok(None)) => Some("the keep-alive stream ended".to_owned()),
                Ok(Err(status)) => Some(status.message().to_owned()),
                Err(_) => Some(format!("no keep-alive answer within {REQUEST_TIMEOUT:?}")),
            };
            if let Some(why) = lost {
                self.cluster.failed(at);
                return Kept::Lost(self.cluster.unavailable("keep the lease alive", &why).to_string());
            }
            tokio::time::sleep(self.ttl / 3).await;
            if requests.send(proto::LeaseKeepAliveRequest { id: lease }).await.is_err() {
                return Kept::Lost("the keep-alive stream closed".into());
            }
        }
    }

    /// Claims the keys not claimed under `lease` yet, as far as they are free.
    async fn claim_unclaimed(&self, lease: i64) {
        let pending: Vec<(String, Vec<u8>)> = {
            let state = self.state.lock().await;
            state.keys.iter().filter(|(_, k)| !k.claimed()).map(|(key, k)| (key.clone(), k.value.clone())).collect()
        };
        for (key, value) in pending {
            let status = match self.claim(&key, &value, lease).await {
                Ok(Claim::Won) => EtcdRegistration::Registered,
                Ok(Claim::Held(holder)) => {
                    EtcdRegistration::Conflict { holder: holder.map(|h| h.endpoints).unwrap_or_default() }
                }
                Err(e) => {
                    let mut state = self.state.lock().await;
                    return self.report_outage(&mut state, &e.to_string());
                }
            };
            let state = self.state.lock().await;
            // Withdrawn meanwhile, or claimed under a lease that is gone: nothing to say.
            let Some(entry) = state.keys.get(&key).filter(|_| state.lease == Some(lease)) else { continue };
            let changed = entry.status.send_if_modified(|now| std::mem::replace(now, status.clone()) != status);
            match (&status, changed) {
                (EtcdRegistration::Registered, true) => info!(%key, "discovery: registered in etcd"),
                (EtcdRegistration::Conflict { holder }, true) => error!(
                    %key, ?holder,
                    "discovery: another HERO took this HERO's name in etcd while this process could not reach it; \
                     this one keeps serving at its address but is not listed in etcd, and takes the name when \
                     the other's key goes"
                ),
                _ => {}
            }
        }
    }

    /// etcd could not be reached: logged once per outage, and the pending keys say why.
    fn report_outage(&self, state: &mut State, why: &str) {
        for key in state.keys.values() {
            key.status.send_if_modified(|status| match status {
                EtcdRegistration::Pending { why: was } if was != why => {
                    *was = why.to_owned();
                    true
                }
                _ => false,
            });
        }
        if state.outage.replace(why.to_owned()).is_none() {
            warn!("discovery: cannot register in etcd ({why}); HEROs keep serving, retrying with backoff");
        }
    }

    /// etcd answered: the next outage is logged again.
    async fn report_reachable(&self) {
        let mut state = self.state.lock().await;
        if state.outage.take().is_some() {
            info!(endpoints = %self.cluster.describe(), "discovery: etcd reachable again");
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
    status: watch::Receiver<EtcdRegistration>,
}

impl Registration {
    /// The HERO's key, e.g. `/heros/v1/lab/oven`.
    pub(crate) fn key(&self) -> &str {
        &self.key
    }

    /// Where the HERO stands in etcd now.
    pub(crate) fn status(&self) -> EtcdRegistration {
        self.status.borrow().clone()
    }

    /// Deletes the key and waits for etcd to confirm (bounded by the request timeout), unless
    /// etcd is known not to answer now. Best effort: a failure is logged; the key goes with the
    /// lease anyway.
    pub(crate) async fn withdraw(mut self) {
        if let Some(registrar) = self.registrar.take() {
            forget_and_delete(registrar, std::mem::take(&mut self.key)).await;
        }
    }
}

async fn forget_and_delete(registrar: Registrar, key: String) {
    let inner = &registrar.inner;
    let outage = {
        let mut state = inner.state.lock().await;
        state.keys.remove(&key);
        state.outage.clone()
    };
    // etcd does not answer now: deleting would wait out the request timeout at each endpoint (a
    // HERO stopping during an outage took 3 s per endpoint), and the key goes with the lease.
    if let Some(why) = outage {
        warn!(%key, "discovery: etcd cannot be reached ({why}); the etcd key goes when the lease expires");
        return;
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
        f.debug_struct("Registration").field("key", &self.key).field("status", &*self.status.borrow()).finish()
    }
}

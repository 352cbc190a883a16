//! One watch of a realm's keys (or of every realm's): lists them, then follows their changes into
//! the process's discovery cache, and resumes from the last revision it saw after a lost
//! connection, so that nothing that happened meanwhile is missed. Only when etcd has compacted
//! that revision away does it list again and report the difference.
//!
//! While etcd cannot be reached, the HEROs it listed stay in the cache (they are most likely
//! alive: their servers do not need etcd to serve) and observers are told about the outage
//! instead ([`DiscoveryEvent::Outage`](crate::DiscoveryEvent::Outage)).

use std::sync::Arc;

use tokio_stream::StreamExt;
use tracing::{debug, warn};

use super::backoff::Backoff;
use super::proto::{self, mvccpb::event::EventType, watch_request::RequestUnion};
use super::{record, Cluster};
use crate::discovery::Shared;

/// A Range of a realm with thousands of HEROs is larger than tonic's 4 MiB default.
const MAX_LISTING: usize = 256 * 1024 * 1024;

pub(super) struct Watch {
    cluster: Cluster,
    shared: Arc<Shared>,
    realm: Option<String>,
    synced: tokio::sync::watch::Sender<bool>,
    /// The last revision applied; 0 before the first listing and after a compaction.
    revision: i64,
}

/// Why a watch session ended.
enum Ended {
    /// The connection failed: say so, wait, resume.
    Lost(String),
    /// etcd no longer has the revision to resume from: list again at once.
    Compacted,
}

impl Watch {
    pub(super) fn new(
        cluster: Cluster,
        shared: Arc<Shared>,
        realm: Option<String>,
        synced: tokio::sync::watch::Sender<bool>,
    ) -> Watch {
        Watch { cluster, shared, realm, synced, revision: 0 }
    }

    fn scope(&self) -> &str {
        self.realm.as_deref().unwrap_or("every realm")
    }

    /// Runs until the process ends.
    pub(super) async fn run(mut self) {
        let mut backoff = Backoff::new();
        loop {
            match self.session(&mut backoff).await {
                Ended::Compacted => {
                    debug!(realm = self.scope(), "discovery: etcd compacted past the watch; listing again");
                    self.revision = 0;
                }
                Ended::Lost(why) => {
                    if self.shared.set_outage(Some(format!("etcd at {}: {why}", self.cluster.describe()))) {
                        warn!(
                            realm = self.scope(),
                            "discovery: etcd unreachable ({why}); HEROs listed stay listed until it is back"
                        );
                    }
                    // The first listing failed: waiting callers should not wait for it.
                    self.synced.send_if_modified(|synced| !std::mem::replace(synced, true));
                    backoff.wait().await;
                }
            }
        }
    }

    /// Lists (when there is no revision to resume from), then watches until the stream ends.
    async fn session(&mut self, backoff: &mut Backoff) -> Ended {
        if self.revision == 0 {
            if let Err(why) = self.list().await {
                return Ended::Lost(why);
            }
        }
        let prefix = record::prefix(self.realm.as_deref());
        let create = proto::WatchCreateRequest {
            range_end: record::range_end(&prefix),
            key: prefix.into_bytes(),
            start_revision: self.revision + 1,
            ..Default::default()
        };
        let request = proto::WatchRequest { request_union: Some(RequestUnion::CreateRequest(create)) };
        // The request stream stays open: etcd ends a watch whose client closed its side.
        let requests = tokio_stream::once(request).chain(tokio_stream::pending());
        let (at, channel) = self.cluster.channel();
        let mut client = proto::watch_client::WatchClient::new(channel).max_decoding_message_size(MAX_LISTING);
        let mut responses = match client.watch(requests).await {
            Ok(responses) => responses.into_inner(),
            Err(status) => {
                self.cluster.failed(at);
                return Ended::Lost(status.message().to_owned());
            }
        };
        loop {
            let response = match responses.message().await {
                Ok(Some(response)) => response,
                Ok(None) => return Ended::Lost("the watch stream ended".into()),
                Err(status) => {
                    self.cluster.failed(at);
                    return Ended::Lost(status.message().to_owned());
                }
            };
            if response.compact_revision > 0 {
                return Ended::Compacted;
            }
            if response.canceled {
                return Ended::Lost(format!("watch canceled: {}", response.cancel_reason));
            }
            if response.created {
                backoff.reset();
                if self.shared.set_outage(None) {
                    warn!(
                        realm = self.scope(),
                        "discovery: etcd reachable again; caught up from revision {}", self.revision
                    );
                }
                continue;
            }
            self.apply(response.events);
        }
    }

    /// Reads every key of the scope and makes the cache agree with it.
    async fn list(&mut self) -> Result<(), String> {
        let prefix = record::prefix(self.realm.as_deref());
        let request = proto::RangeRequest {
            range_end: record::range_end(&prefix),
            key: prefix.into_bytes(),
            ..Default::default()
        };
        let response = self
            .cluster
            .call("list", request, |channel, request| async move {
                proto::kv_client::KvClient::new(channel).max_decoding_message_size(MAX_LISTING).range(request).await
            })
            .await
            .map_err(|e| e.to_string())?;
        let heros = response
            .kvs
            .iter()
            .filter_map(|kv| match record::decode(&kv.key, &kv.value) {
                Ok(info) => Some(info),
                Err(why) => {
                    debug!(key = %String::from_utf8_lossy(&kv.key), "discovery: ignoring etcd key: {why}");
                    None
                }
            })
            .collect();
        self.revision = response.header.map(|h| h.revision).unwrap_or(0).max(1);
        let realm = self.realm.clone();
        self.shared.apply_all(|cache| cache.etcd_resync(realm.as_deref(), heros));
        self.synced.send_replace(true);
        debug!(realm = self.scope(), revision = self.revision, keys = response.kvs.len(), "discovery: etcd listing");
        Ok(())
    }

    fn apply(&mut self, events: Vec<super::proto::mvccpb::Event>) {
        for event in events {
            let kind = event.r#type();
            let Some(kv) = event.kv else { continue };
            self.revision = self.revision.max(kv.mod_revision);
            match kind {
                EventType::Put => match record::decode(&kv.key, &kv.value) {
                    Ok(info) => drop(self.shared.apply(|cache| cache.etcd_put(info))),
                    Err(why) => debug!(key = %String::from_utf8_lossy(&kv.key), "discovery: ignoring etcd key: {why}"),
                },
                EventType::Delete => {
                    if let Some((realm, name)) = record::parse_key(&kv.key) {
                        self.shared.apply(|cache| cache.etcd_removed(&realm, &name));
                    }
                }
            }
        }
    }
}

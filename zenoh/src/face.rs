//! The server side: HEROs of a HEROS for Rust server put on zenoh as Python HEROS puts a
//! `LocalHERO` there (`heros/heros.py`): one queryable per member at `@object/<realm>/<name>/
//! <member>`, `_discover` and `_capabilities` built from the interfaces' descriptors, events
//! published at their member's key, and a liveliness token at `_health`.
//!
//! Every call is made through the HERO's own gRPC server (`grpc.rs` says why), so the HERO needs
//! nothing to be on zenoh too, and leaving zenoh does not take it off its server.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ciborium::Value as Cbor;
use heros_runtime::{Interface, MemberKind, Server};
use prost_reflect::{DescriptorPool, MessageDescriptor};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use zenoh::bytes::Encoding;
use zenoh::liveliness::LivelinessToken;
use zenoh::query::{Query, Queryable};
use zenoh::Session;

use crate::cbor::{self, text, SET_TAG};
use crate::error::{Error, Result};
use crate::grpc::{event_message, HeroChannel};
use crate::keys;
use crate::mapping;

/// The Python HEROS protocol version this face speaks (`heros.__proto_version__`).
pub const PROTO_VERSION: f64 = 1.0;

/// A zenoh session that HEROs of this process are shared on.
///
/// ```no_run
/// # async fn run(server: heros_runtime::Server, iface: &'static heros_runtime::Interface) -> heros_zenoh::Result<()> {
/// let face = heros_zenoh::ZenohFace::open().await?;
/// let on_zenoh = face.share(&server, "my_hero", &[iface]).await?;
/// // ... Python: RemoteHERO("my_hero").read_temp(0, 10)
/// on_zenoh.leave().await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ZenohFace {
    session: Session,
}

impl ZenohFace {
    /// Opens a zenoh session configured as Python HEROS configures its own: from the JSON5 in
    /// `HEROS_ZENOH_CONFIG` when set, else zenoh's defaults (a peer that finds others by
    /// multicast scouting).
    pub async fn open() -> Result<Self> {
        Ok(ZenohFace { session: open_session().await? })
    }

    /// Shares on an existing zenoh session.
    pub fn with_session(session: Session) -> Self {
        ZenohFace { session }
    }

    /// The zenoh session (to use it for a [`crate::RemoteHero`] too).
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Puts the HERO `name`, already shared on `server`, on zenoh with the members of
    /// `interfaces` (the generated `<SERVICE>_INTERFACE` constants; each must be one the HERO
    /// implements). Refused when the HERO is not on that server, when an interface is not one of
    /// its, when two members would have the same Python name, and for a secured server (its
    /// calls need credentials the face does not hold).
    pub async fn share(&self, server: &Server, name: &str, interfaces: &[&'static Interface]) -> Result<ZenohHero> {
        let info = server.heros().into_iter().find(|hero| hero.name == name).ok_or_else(|| {
            let known: Vec<String> = server.heros().into_iter().map(|hero| hero.name).collect();
            Error::InvalidArgument(format!("no HERO '{name}' on this server (it has: {})", known.join(", ")))
        })?;
        if server.config().credentials.is_some() || server.config().token.is_some() {
            return Err(Error::Unsupported(format!(
                "HERO '{name}' is on a secured server; the zenoh face calls it without credentials, so it shares \
                 only HEROs of servers without TLS or token"
            )));
        }
        if interfaces.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "give the interfaces of HERO '{name}' to share (its generated <SERVICE>_INTERFACE constants): it \
                 implements {}",
                info.interfaces.join(", ")
            )));
        }
        let base = keys::base(&info.realm, name)?;
        let members = members(name, &info.interfaces, interfaces)?;
        let channel = HeroChannel::connect(server.local_addr(), name, &info.realm).await?;

        let mut implements: Vec<String> = interfaces.iter().map(|i| i.name.to_owned()).collect();
        implements.sort();
        let mut tags = vec![format!("_proto_version:{PROTO_VERSION:.1}"), format!("_zid:{}", self.session.zid())];
        tags.extend(info.tags.iter().cloned());
        let class = interfaces[0].name.rsplit('.').next().unwrap_or(interfaces[0].name);
        let versions = serde_json::json!({ "heros-rust": env!("CARGO_PKG_VERSION") }).to_string();
        let descriptor = Cbor::Map(vec![
            (text("proto_version"), Cbor::Float(PROTO_VERSION)),
            (text("name"), text(name)),
            (text("class"), text(class)),
            (text("implements"), set(implements)),
            (text("tags"), set(tags)),
            (text("extra_metadata"), Cbor::Map(vec![(text("pkg_versions"), text(&versions))])),
        ]);
        let capabilities = Cbor::Array(members.iter().map(|m| m.capability.clone()).collect::<Vec<_>>());

        let (queries, incoming) = mpsc::unbounded_channel();
        let mut queryables = Vec::new();
        let fixed =
            [(keys::DISCOVER, cbor::to_bytes(&descriptor)), (keys::CAPABILITIES, cbor::to_bytes(&capabilities))];
        for (endpoint, answer) in fixed {
            let key = format!("{base}/{endpoint}");
            queryables.push(self.queryable(&key, Route::Fixed(Arc::new(answer)), &queries).await?);
        }
        let members: Vec<Arc<Served>> = members.into_iter().map(Arc::new).collect();
        let mut tasks = Vec::new();
        for member in &members {
            let key = format!("{base}/{}", member.python_name);
            match member.kind {
                MemberKind::Event { .. } => {
                    tasks.push(self.publish_events(&key, member.clone(), channel.clone()).await?)
                }
                _ => queryables.push(self.queryable(&key, Route::Member(member.clone()), &queries).await?),
            }
        }
        tasks.insert(0, tokio::spawn(answer_queries(incoming, channel, base.clone())));
        let token =
            self.session.liveliness().declare_token(format!("{base}/{}", keys::HEALTH)).await.map_err(Error::zenoh)?;
        tracing::debug!(hero = name, key = %base, "shared on zenoh");
        Ok(ZenohHero { name: name.to_owned(), realm: info.realm, queryables, token: Some(token), tasks })
    }

    async fn queryable(
        &self,
        key: &str,
        route: Route,
        queries: &mpsc::UnboundedSender<(Route, Query)>,
    ) -> Result<Queryable<()>> {
        let queries = queries.clone();
        self.session
            .declare_queryable(key.to_owned())
            .callback(move |query| {
                let _ = queries.send((route.clone(), query));
            })
            .await
            .map_err(Error::zenoh)
    }

    /// Publishes every message of the event `member` at `key`, subscribing through the HERO's
    /// server again (after 50 ms, doubling to 2 s) when the stream ends, until the face leaves.
    /// The first subscription is made before this returns, so that an event the HERO emits once
    /// it is on zenoh is not lost.
    async fn publish_events(&self, key: &str, member: Arc<Served>, channel: HeroChannel) -> Result<JoinHandle<()>> {
        let publisher = self.session.declare_publisher(key.to_owned()).await.map_err(Error::zenoh)?;
        let key = key.to_owned();
        let mut first = Some(channel.subscribe(&member.path, &member.request).await);
        Ok(tokio::spawn(async move {
            let mut pause = Duration::from_millis(50);
            loop {
                let subscribed = match first.take() {
                    Some(subscribed) => subscribed,
                    None => channel.subscribe(&member.path, &member.request).await,
                };
                match subscribed {
                    Ok(mut stream) => {
                        pause = Duration::from_millis(50);
                        while let Ok(Some(bytes)) = stream.message().await {
                            let value = event_message(&bytes, &member.reply)
                                .and_then(|m| m.map(|m| mapping::reply_value(&m)).transpose());
                            match value {
                                Ok(Some(value)) => {
                                    let put =
                                        publisher.put(cbor::to_bytes(&value)).encoding(Encoding::APPLICATION_CBOR);
                                    if let Err(error) = put.await {
                                        tracing::warn!(%key, %error, "an event could not be published");
                                    }
                                }
                                Ok(None) => {} // only a count of dropped events: nothing to publish
                                Err(error) => tracing::warn!(%key, %error, "an event was not published"),
                            }
                        }
                    }
                    Err(error) => tracing::debug!(%key, %error, "event subscription failed; retrying"),
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
        }))
    }
}

/// Opens a zenoh session from `HEROS_ZENOH_CONFIG` (JSON5) or zenoh's defaults.
pub(crate) async fn open_session() -> Result<Session> {
    let config = match std::env::var("HEROS_ZENOH_CONFIG") {
        Ok(json5) => zenoh::Config::from_json5(&json5)
            .map_err(|e| Error::InvalidArgument(format!("HEROS_ZENOH_CONFIG is not a zenoh configuration: {e}")))?,
        Err(_) => zenoh::Config::default(),
    };
    zenoh::open(config).await.map_err(Error::zenoh)
}

fn set(items: Vec<String>) -> Cbor {
    Cbor::Tag(SET_TAG, Box::new(Cbor::Array(items.into_iter().map(Cbor::Text).collect())))
}

/// A HERO on zenoh. It leaves zenoh (and only zenoh) with [`ZenohHero::leave`] or when dropped.
pub struct ZenohHero {
    name: String,
    realm: String,
    queryables: Vec<Queryable<()>>,
    token: Option<LivelinessToken>,
    tasks: Vec<JoinHandle<()>>,
}

impl ZenohHero {
    /// The HERO's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its realm (Python HEROS's realm; `heros` by default on both sides).
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// Leaves zenoh: the queryables go first, then the liveliness token, so that an observer
    /// that asks `_discover` when the token goes finds the HERO gone (as `HEROObserver` does).
    pub async fn leave(mut self) {
        for queryable in std::mem::take(&mut self.queryables) {
            let _ = queryable.undeclare().await;
        }
        if let Some(token) = self.token.take() {
            let _ = token.undeclare().await;
        }
        for task in self.tasks.drain(..) {
            task.abort();
        }
    }
}

impl Drop for ZenohHero {
    fn drop(&mut self) {
        self.queryables.clear();
        self.token = None;
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// What a queryable answers: fixed bytes (`_discover`, `_capabilities`) or a member.
#[derive(Clone)]
enum Route {
    Fixed(Arc<Vec<u8>>),
    Member(Arc<Served>),
}

/// One member of a shared HERO, as the face serves it.
struct Served {
    python_name: String,
    kind: MemberKind,
    /// `/<service>/<rpc>`.
    path: String,
    request: MessageDescriptor,
    reply: MessageDescriptor,
    capability: Cbor,
}

/// The members of `interfaces`, checked against what the HERO implements.
fn members(hero: &str, implemented: &[String], interfaces: &[&'static Interface]) -> Result<Vec<Served>> {
    let mut served: Vec<Served> = Vec::new();
    let mut owners: HashMap<String, String> = HashMap::new();
    for interface in interfaces {
        if !implemented.iter().any(|name| name == interface.name) {
            return Err(Error::InvalidArgument(format!(
                "HERO '{hero}' does not implement {} (it implements {})",
                interface.name,
                implemented.join(", ")
            )));
        }
        let pool = DescriptorPool::decode(interface.descriptor_set)
            .map_err(|e| Error::Protocol(format!("the descriptors of {} do not decode: {e}", interface.name)))?;
        let message = |name: &str| {
            pool.get_message_by_name(name)
                .ok_or_else(|| Error::Protocol(format!("{name} is not in the descriptors of {}", interface.name)))
        };
        for member in interface.members {
            let is_event = matches!(member.kind, MemberKind::Event { .. });
            if member.streams_requests || (member.streams_replies && !is_event) {
                // Python HEROS has no streams: a streaming method stays gRPC-only.
                tracing::debug!(hero, member = member.name, "a streaming method is not shared on zenoh");
                continue;
            }
            let python_name = mapping::member_name(member.name);
            if let Some(other) = owners.insert(python_name.clone(), interface.name.to_owned()) {
                return Err(Error::InvalidArgument(format!(
                    "HERO '{hero}': {} and {other} both have a member '{python_name}'; share them separately",
                    interface.name
                )));
            }
            let (request, reply) = (message(member.request_type)?, message(member.reply_type)?);
            let capability = match member.kind {
                MemberKind::Attribute { readonly } => mapping::attribute_capability(&python_name, &reply, readonly)?,
                MemberKind::Event { .. } => mapping::event_capability(&python_name),
                _ => mapping::method_capability(&python_name, &request, &reply),
            };
            served.push(Served {
                path: format!("/{}/{}", interface.name, member.name),
                python_name,
                kind: member.kind,
                request,
                reply,
                capability,
            });
        }
    }
    Ok(served)
}

/// Answers the HERO's queries, each in a task of its own (a slow method holds up no other).
async fn answer_queries(mut incoming: mpsc::UnboundedReceiver<(Route, Query)>, channel: HeroChannel, base: String) {
    while let Some((route, query)) = incoming.recv().await {
        let (channel, base) = (channel.clone(), base.clone());
        tokio::spawn(async move {
            let (key, answer) = match route {
                Route::Fixed(bytes) => (query.key_expr().to_string(), Ok(bytes.as_ref().clone())),
                Route::Member(member) => {
                    let key = format!("{base}/{}", member.python_name);
                    let payload = query.payload().map(|p| p.to_bytes().into_owned());
                    (key, call(&member, &channel, payload).await.map(|value| cbor::to_bytes(&value)))
                }
            };
            let sent = match answer {
                Ok(bytes) => query.reply(key, bytes).encoding(Encoding::APPLICATION_CBOR).await,
                Err(error) => {
                    tracing::debug!(%key, %error, "a zenoh call failed");
                    query.reply_err(cbor::error_payload(&error)).encoding(Encoding::APPLICATION_CBOR).await
                }
            };
            if let Err(error) = sent {
                tracing::debug!(%error, "a zenoh reply could not be sent");
            }
        });
    }
}

/// One call of a method, or a get or set of an attribute, through the HERO's server.
async fn call(member: &Served, channel: &HeroChannel, payload: Option<Vec<u8>>) -> Result<Cbor> {
    let payload = payload.filter(|p| !p.is_empty()).map(|p| cbor::from_bytes(&p, "the call's payload")).transpose()?;
    match member.kind {
        MemberKind::Attribute { .. } => {
            // A read-only attribute is refused by the HERO's server (READ_ONLY), which Python
            // raises as an AttributeError, as for a property without a setter.
            let request = mapping::attribute_request(&member.request, payload.as_ref())?;
            let reply = channel.unary(&member.path, request, &member.reply).await?;
            // A set answers None, as a Python HERO's does.
            if payload.is_some() {
                Ok(Cbor::Null)
            } else {
                mapping::reply_value(&reply)
            }
        }
        _ => {
            let payload = payload.ok_or_else(|| {
                Error::InvalidArgument(format!("{}() was called without a payload [args, kwargs]", member.python_name))
            })?;
            let request = mapping::request_from_call(&member.request, &member.python_name, &payload)?;
            let reply = channel.unary(&member.path, request, &member.reply).await?;
            mapping::reply_value(&reply)
        }
    }
}

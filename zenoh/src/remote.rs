//! The client side: any HERO on zenoh (a Python `LocalHERO`, or a Rust HERO shared with
//! [`crate::ZenohFace`]) as Python's `RemoteHERO` sees it: found by `_discover`, described by
//! `_capabilities`, called with `[args, kwargs]`, its events taken from its member's key, its
//! coming and going seen through its liveliness token (`HEROObserver`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use ciborium::Value as Cbor;
use heros_runtime::proto::HeroInfo;
use heros_runtime::{Interface, Remote, Target};
use serde_json::{Map, Value as Json};
use zenoh::bytes::Encoding;
use zenoh::handlers::FifoChannelHandler;
use zenoh::pubsub::Subscriber;
use zenoh::query::QueryTarget;
use zenoh::sample::{Sample, SampleKind};
use zenoh::Session;

use crate::cbor::{self, get};
use crate::error::{Error, Result};
use crate::keys;

/// How long a call waits for its reply (zenoh's default query timeout, as in Python HEROS).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// What a HERO says of itself in `_discover`.
#[derive(Debug, Clone)]
pub struct HeroDescriptor {
    /// Its name.
    pub name: String,
    /// Its realm (the one it was found in).
    pub realm: String,
    /// Its Python class (for a Rust HERO: its first interface's service name).
    pub class: String,
    /// The interfaces it says it implements.
    pub implements: Vec<String>,
    /// Its tags (Python HEROS adds `_proto_version:<v>` and `_zid:<zenoh id>`).
    pub tags: Vec<String>,
    /// The protocol version it speaks (0.1 when it does not say).
    pub proto_version: f64,
    /// The whole answer, as JSON.
    pub raw: Json,
}

impl HeroDescriptor {
    fn from_cbor(value: &Cbor, realm: &str) -> Result<Self> {
        let name = get(value, "name")
            .and_then(Cbor::as_text)
            .ok_or_else(|| Error::Protocol("a _discover answer without a name".into()))?;
        let texts = |key: &str| -> Vec<String> {
            let items = match get(value, key) {
                Some(Cbor::Tag(_, inner)) => inner.as_array().cloned().unwrap_or_default(),
                Some(Cbor::Array(items)) => items.clone(),
                _ => Vec::new(),
            };
            let mut texts: Vec<String> = items.iter().filter_map(Cbor::as_text).map(str::to_owned).collect();
            texts.sort();
            texts
        };
        let proto_version = match get(value, "proto_version") {
            Some(Cbor::Float(v)) => *v,
            Some(Cbor::Integer(v)) => i128::from(*v) as f64,
            Some(Cbor::Text(v)) => v.parse().unwrap_or(0.1),
            _ => 0.1,
        };
        Ok(HeroDescriptor {
            name: name.to_owned(),
            realm: realm.to_owned(),
            class: get(value, "class").and_then(Cbor::as_text).unwrap_or_default().to_owned(),
            implements: texts("implements"),
            tags: texts("tags"),
            proto_version,
            raw: cbor::to_json(value),
        })
    }
}

/// One member of a remote HERO, from its `_capabilities`.
#[derive(Debug, Clone, PartialEq)]
pub struct Capability {
    /// The member's name (`read_temp`).
    pub name: String,
    /// `method`, `attribute` or `event`.
    pub flavor: String,
    /// A method's parameter names, in order.
    pub parameters: Vec<String>,
    /// An attribute's type, or a method's return type, as Python names it (`int`, `str`, ...).
    pub type_name: Option<String>,
    /// An attribute that can be set (`access` `rw`).
    pub writable: bool,
}

impl Capability {
    fn from_cbor(value: &Cbor) -> Option<Self> {
        let field = |key: &str| get(value, key).and_then(Cbor::as_text).map(str::to_owned);
        let flavor = field("flavor")?;
        let parameters = get(value, "parameters")
            .and_then(Cbor::as_array)
            .map(|ps| ps.iter().filter_map(|p| get(p, "name").and_then(Cbor::as_text)).map(str::to_owned).collect())
            .unwrap_or_default();
        Some(Capability {
            name: field("name")?,
            type_name: if flavor == "method" { field("return_type") } else { field("type") },
            writable: field("access").is_some_and(|a| a.contains('w')),
            parameters,
            flavor,
        })
    }
}

/// Lists the HEROs of `realm` that answer `_discover` within `wait`, by name. It asks again
/// every 250 ms until `wait` has passed: a session that just opened is still connecting to the
/// peers it scouted, and a query reaches only the HEROs its session already knows of.
pub async fn discover(session: &Session, realm: &str, wait: Duration) -> Result<Vec<HeroDescriptor>> {
    keys::base(realm, "x")?;
    let selector = format!("{}/{realm}/*/{}/**", keys::OBJECTS, keys::DISCOVER);
    let started = Instant::now();
    let mut heros: Vec<HeroDescriptor> = Vec::new();
    loop {
        let left = wait.saturating_sub(started.elapsed()).max(Duration::from_millis(100));
        for reply in query(session, &selector, None, left.min(Duration::from_secs(1))).await? {
            let answer = reply.and_then(|bytes| cbor::from_bytes(&bytes, "a _discover answer"));
            match answer.and_then(|value| HeroDescriptor::from_cbor(&value, realm)) {
                Ok(hero) if !heros.iter().any(|known| known.name == hero.name) => heros.push(hero),
                Ok(_) => {}
                Err(error) => tracing::debug!(%error, "a _discover answer was skipped"),
            }
        }
        if started.elapsed() >= wait {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250).min(wait.saturating_sub(started.elapsed()))).await;
    }
    heros.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(heros)
}

/// Sends one query and collects its replies: the payload of each, or the error it carried.
async fn query(
    session: &Session,
    selector: &str,
    payload: Option<Vec<u8>>,
    timeout: Duration,
) -> Result<Vec<Result<Vec<u8>>>> {
    let mut get = session.get(selector).target(QueryTarget::All).timeout(timeout);
    if let Some(payload) = payload {
        get = get.payload(payload).encoding(Encoding::APPLICATION_CBOR);
    }
    let replies = get.await.map_err(Error::zenoh)?;
    let mut out = Vec::new();
    while let Ok(reply) = replies.recv_async().await {
        out.push(match reply.result() {
            Ok(sample) => Ok(sample.payload().to_bytes().into_owned()),
            Err(error) => Err(cbor::error_from_payload(&error.payload().to_bytes())),
        });
    }
    Ok(out)
}

/// A HERO on zenoh, called by name with JSON values (see the crate's `cbor` module for how
/// bytes, HERO references and objects Python could not send are spelled in JSON).
pub struct RemoteHero {
    session: Session,
    descriptor: HeroDescriptor,
    capabilities: Vec<Capability>,
    base: String,
    timeout: Duration,
}

impl RemoteHero {
    /// Finds the HERO `name` in `realm` (waiting up to `timeout` for it to answer `_discover`)
    /// and reads its capabilities.
    pub async fn connect(session: &Session, realm: &str, name: &str, timeout: Duration) -> Result<Self> {
        let base = keys::base(realm, name)?;
        let started = Instant::now();
        let descriptor = loop {
            let selector = format!("{base}/{}/**", keys::DISCOVER);
            let left = timeout.saturating_sub(started.elapsed()).max(Duration::from_millis(100));
            let answers = query(session, &selector, None, left.min(Duration::from_secs(1))).await?;
            if let Some(answer) = answers.into_iter().find_map(|a| a.ok()) {
                break HeroDescriptor::from_cbor(&cbor::from_bytes(&answer, "a _discover answer")?, realm)?;
            }
            if started.elapsed() >= timeout {
                return Err(Error::NotFound {
                    name: name.to_owned(),
                    realm: realm.to_owned(),
                    waited_ms: started.elapsed().as_millis(),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let selector = format!("{base}/{}", keys::CAPABILITIES);
        let answer = query(session, &selector, None, CALL_TIMEOUT)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| Error::Protocol(format!("HERO '{name}' did not answer _capabilities")))??;
        let capabilities = match cbor::from_bytes(&answer, "a _capabilities answer")? {
            Cbor::Array(items) => items.iter().filter_map(Capability::from_cbor).collect(),
            _ => return Err(Error::Protocol(format!("HERO '{name}' answered _capabilities with no list"))),
        };
        Ok(RemoteHero { session: session.clone(), descriptor, capabilities, base, timeout: CALL_TIMEOUT })
    }

    /// How long each call waits for its reply ([`CALL_TIMEOUT`] unless changed).
    pub fn with_call_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// What the HERO said of itself.
    pub fn descriptor(&self) -> &HeroDescriptor {
        &self.descriptor
    }

    /// Its methods, attributes and events.
    pub fn capabilities(&self) -> &[Capability] {
        &self.capabilities
    }

    /// `@object/<realm>/<name>`.
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// A generated typed stub (`<Service>Remote`) on this HERO: `interface` is the generated
    /// `<SERVICE>_INTERFACE` of the same `.proto`, which says what each rpc is. Methods are called
    /// with the request's fields as keyword arguments (by name), attributes read and set, events
    /// subscribed to; streaming methods, handles, callbacks, operations and attribute watches
    /// answer `Unimplemented`. An rpc the HERO does not have fails when called, naming the
    /// members it has.
    pub fn typed<R: Remote>(self, interface: &'static Interface) -> Result<R> {
        if interface.name != R::INTERFACE {
            return Err(Error::InvalidArgument(format!(
                "the stub is of {}, the interface given is {}: give the stub's own <SERVICE>_INTERFACE",
                R::INTERFACE,
                interface.name
            )));
        }
        let info = HeroInfo {
            name: self.descriptor.name.clone(),
            realm: self.descriptor.realm.clone(),
            interfaces: vec![interface.name.to_owned()],
            tags: self.descriptor.tags.clone(),
            ..Default::default()
        };
        let transport = crate::typed::ZenohTransport::new(self, interface)?;
        Ok(R::from_target(Target::foreign(info, Arc::new(transport))))
    }

    pub(crate) fn member(&self, name: &str, flavor: &'static str) -> Result<&Capability> {
        self.capabilities.iter().find(|c| c.name == name && c.flavor == flavor).ok_or_else(|| {
            let available: Vec<&str> =
                self.capabilities.iter().filter(|c| c.flavor == flavor).map(|c| c.name.as_str()).collect();
            Error::NoSuchMember {
                hero: self.descriptor.name.clone(),
                kind: flavor,
                member: name.to_owned(),
                available: available.join(", "),
            }
        })
    }

    /// Sends one query to a member and returns its one reply, or the error the HERO raised;
    /// waits `timeout`, else the call timeout.
    pub(crate) async fn ask(&self, member: &str, payload: Option<Cbor>, timeout: Option<Duration>) -> Result<Cbor> {
        let selector = format!("{}/{member}/**", self.base);
        let timeout = timeout.unwrap_or(self.timeout);
        let replies = query(&self.session, &selector, payload.map(|p| cbor::to_bytes(&p)), timeout).await?;
        let reply = replies
            .into_iter()
            .next()
            .ok_or_else(|| Error::Zenoh(format!("{}.{member}: no reply within {timeout:?}", self.descriptor.name)))??;
        cbor::from_bytes(&reply, "a reply")
    }

    /// Calls the method `method` with positional and keyword arguments, as Python would
    /// (`hero.method(*args, **kwargs)`); an exception the HERO raises is [`Error::Remote`].
    pub async fn call(&self, method: &str, args: Vec<Json>, kwargs: Map<String, Json>) -> Result<Json> {
        self.member(method, "method")?;
        let args = args.iter().map(cbor::from_json).collect::<Result<Vec<_>>>()?;
        let kwargs =
            kwargs.iter().map(|(k, v)| Ok((Cbor::Text(k.clone()), cbor::from_json(v)?))).collect::<Result<_>>()?;
        let reply = self.ask(method, Some(Cbor::Array(vec![Cbor::Array(args), Cbor::Map(kwargs)])), None).await?;
        Ok(cbor::to_json(&reply))
    }

    /// Reads the attribute `attribute`.
    pub async fn get(&self, attribute: &str) -> Result<Json> {
        self.member(attribute, "attribute")?;
        Ok(cbor::to_json(&self.ask(attribute, None, None).await?))
    }

    /// Sets the attribute `attribute` (the HERO refuses it for a read-only one).
    pub async fn set(&self, attribute: &str, value: &Json) -> Result<()> {
        self.member(attribute, "attribute")?;
        self.ask(attribute, Some(cbor::from_json(value)?), None).await.map(drop)
    }

    /// Subscribes to the event `event`: every value the HERO emits from now on.
    pub async fn subscribe(&self, event: &str) -> Result<Subscription> {
        self.member(event, "event")?;
        let key = format!("{}/{event}", self.base);
        let subscriber = self.session.declare_subscriber(key).await.map_err(Error::zenoh)?;
        Ok(Subscription { subscriber })
    }
}

/// The values of one event of a remote HERO, in the order they arrive.
pub struct Subscription {
    subscriber: Subscriber<FifoChannelHandler<Sample>>,
}

impl Subscription {
    /// The next value; `None` when the session closed. A value that is not CBOR is skipped.
    pub async fn recv(&self) -> Option<Json> {
        self.recv_cbor().await.map(|value| cbor::to_json(&value))
    }

    /// The next value as it came.
    pub(crate) async fn recv_cbor(&self) -> Option<Cbor> {
        loop {
            let sample = self.subscriber.recv_async().await.ok()?;
            match cbor::from_bytes(&sample.payload().to_bytes(), "an event") {
                Ok(value) => return Some(value),
                Err(error) => tracing::debug!(%error, "an event was skipped"),
            }
        }
    }
}

/// A HERO coming or going.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presence {
    /// Its liveliness token appeared (or was there when the observer started).
    Joined(String),
    /// Its liveliness token went away.
    Left(String),
}

/// Follows the HEROs of a realm through their liveliness tokens, as `HEROObserver` does.
pub struct HeroObserver {
    realm: String,
    subscriber: Subscriber<FifoChannelHandler<Sample>>,
}

impl HeroObserver {
    /// Starts observing `realm`; the HEROs already there come first, as [`Presence::Joined`].
    pub async fn new(session: &Session, realm: &str) -> Result<Self> {
        keys::base(realm, "x")?;
        let key = format!("{}/{realm}/*/{}", keys::OBJECTS, keys::HEALTH);
        let subscriber = session.liveliness().declare_subscriber(key).history(true).await.map_err(Error::zenoh)?;
        Ok(HeroObserver { realm: realm.to_owned(), subscriber })
    }

    /// The next change; `None` when the session closed.
    pub async fn next(&self) -> Option<Presence> {
        loop {
            let sample = self.subscriber.recv_async().await.ok()?;
            let Some(name) = keys::name_of(sample.key_expr().as_str(), &self.realm) else { continue };
            return Some(match sample.kind() {
                SampleKind::Put => Presence::Joined(name),
                SampleKind::Delete => Presence::Left(name),
            });
        }
    }
}

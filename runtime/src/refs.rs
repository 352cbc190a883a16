//! References to HEROs, passed by value: a method may return one (nested HEROs) or take one (a
//! callback into the caller, a HERO in a third process). The receiver turns a reference into a
//! typed stub: by its endpoints first, with no discovery; by name when those no longer answer;
//! and directly, without a socket, when the HERO lives in the receiver's own process.

use std::time::Duration;

use crate::client::stub::Remote;
use crate::client::Target;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::proto::{HeroInfo, HeroRef};
use crate::server::service::RefScope;
use crate::server::LocalHero;
use crate::wire::PROTOCOL_VERSION;

/// How long a reference whose endpoints do not answer waits for discovery to find it by name.
pub const REFERENCE_DISCOVERY_TIMEOUT: Duration = Duration::from_secs(3);

/// Anything that can be passed as a reference to a HERO: a [`LocalHero`] of this process, a stub
/// of a remote one, a [`Target`], or a [`HeroRef`] itself.
pub trait AsHeroRef {
    /// The reference (its `interface` may be empty; the stub that sends it fills it in).
    fn hero_ref(&self) -> HeroRef;
}

impl Target {
    /// How references this stub receives are resolved: in its realm, with discovery if the
    /// stub itself may rediscover its HERO.
    pub fn ref_scope(&self) -> RefScope {
        RefScope { realm: self.realm().to_owned(), discover: self.is_rediscoverable() }
    }
}

impl AsHeroRef for HeroRef {
    fn hero_ref(&self) -> HeroRef {
        self.clone()
    }
}

impl AsHeroRef for LocalHero {
    fn hero_ref(&self) -> HeroRef {
        let info = self.info();
        HeroRef {
            name: info.name.clone(),
            realm: info.realm.clone(),
            interface: String::new(),
            endpoints: info.endpoints.clone(),
        }
    }
}

impl Target {
    /// Makes the HERO call `method` (a gRPC path, e.g. `/examples.v1.AlarmLog/Record`) of
    /// `target` with every message of its event `event` of `interface`, peer to peer: the HERO's
    /// server calls the target itself. The method's request type must be the event's message type.
    pub async fn connect_callback(
        &self,
        interface: &str,
        event: &str,
        target: &(impl AsHeroRef + ?Sized),
        method: &str,
    ) -> Result<crate::proto::CallbackInfo> {
        let request = crate::proto::ConnectCallbackRequest {
            interface: interface.to_owned(),
            event: event.to_owned(),
            target: Some(target.hero_ref()),
            method: method.to_owned(),
        };
        self.connect_callback_request(request).await
    }
}

impl AsHeroRef for Target {
    fn hero_ref(&self) -> HeroRef {
        let info = self.info();
        let mut endpoints = info.endpoints.clone();
        // The endpoint that answered first, so that receivers try it first too.
        let current = self.endpoint();
        endpoints.retain(|e| *e != current);
        endpoints.insert(0, current);
        HeroRef { name: info.name.clone(), realm: info.realm.clone(), interface: String::new(), endpoints }
    }
}

impl<T: AsHeroRef + ?Sized> AsHeroRef for std::sync::Arc<T> {
    fn hero_ref(&self) -> HeroRef {
        (**self).hero_ref()
    }
}

/// The reference `of` makes, used through `interface`.
pub fn hero_ref_for(of: &(impl AsHeroRef + ?Sized), interface: &str) -> HeroRef {
    let mut reference = of.hero_ref();
    if reference.interface.is_empty() {
        reference.interface = interface.to_owned();
    }
    reference
}

/// A typed stub for the reference passed as `argument` (or returned), which must point into
/// the receiver's realm.
pub async fn resolve_ref<R: Remote>(reference: Option<HeroRef>, argument: &str, scope: &RefScope) -> Result<R> {
    let reference =
        reference.ok_or_else(|| Error::invalid_argument(format!("'{argument}' needs a reference to a HERO")))?;
    Ok(R::from_target(Target::from_ref(&reference, scope).await?))
}

impl Target {
    /// A target for a HERO reference: at the endpoints it carries, else (if `scope` allows)
    /// found again by name. A reference into another realm than the scope's is refused.
    pub async fn from_ref(reference: &HeroRef, scope: &RefScope) -> Result<Target> {
        let realm = scope.realm.as_str();
        if reference.realm != realm {
            return Err(Error::RealmMismatch {
                hero: reference.name.clone(),
                hero_realm: reference.realm.clone(),
                caller_realm: realm.to_owned(),
            });
        }
        crate::wire::names::validate_name(&reference.name, &reference.realm)?;
        let mut config = Config::from_env()?;
        if !scope.discover {
            config.discovery_off();
            config.peers.clear();
        }
        // Serving a call, only where the dial policy allows (no pivoting through this HERO).
        let permitted = crate::security::dial_policy::permitted(&reference.endpoints);
        let rediscover = config.discovery_on() || !config.peers.is_empty();
        let info = HeroInfo {
            name: reference.name.clone(),
            realm: reference.realm.clone(),
            interfaces: if reference.interface.is_empty() { vec![] } else { vec![reference.interface.clone()] },
            protocol_version: PROTOCOL_VERSION,
            endpoints: permitted.clone().unwrap_or_default(),
            ..Default::default()
        };
        let unreachable = match &permitted {
            Ok(_) => match Target::from_info(info.clone(), config.discovery_on()).await {
                Ok(target) => return Ok(target),
                Err(Error::Unavailable { message }) if rediscover => message,
                Err(error) => return Err(error),
            },
            // Discovery may still know the HERO by name somewhere the policy allows.
            Err(_) if rediscover => "no endpoint the dial policy allows".to_owned(),
            Err(refused) => return Err(refused.clone()),
        };
        // The HERO moved (restarted elsewhere): look it up by name, as `connect` would.
        tracing::debug!(hero = %reference.name, "reference endpoints do not answer ({unreachable}); finding it by name");
        let found = crate::client::find_moved(&config, &info, REFERENCE_DISCOVERY_TIMEOUT).await.ok_or_else(|| {
            if permitted.is_err() {
                return Error::DialRefused;
            }
            Error::unavailable(format!(
                "HERO '{}' is gone: its endpoints {:?} do not answer ({unreachable}), and discovery knows it nowhere else",
                reference.name, reference.endpoints
            ))
        })?;
        Target::from_info(found, config.discovery_on()).await
    }
}

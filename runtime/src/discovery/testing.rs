//! Not part of the API: a hook that lets `runtime/tests/discovery.rs` drive the process-wide
//! `Discovery` directly. It may change or vanish in any release; use [`crate::Observer`] and the
//! server instead.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

pub use super::Advertisement;
use super::{Discovery, Liveness};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::proto::HeroInfo;

/// The process-wide discovery, seen from a test.
#[derive(Clone)]
pub struct Hook(Arc<Discovery>);

/// Starts (or joins) the process-wide discovery with [`Config::from_env`]; when this call starts
/// it, `ttl` replaces `HEROS_MDNS_TTL` (at least 4 s).
pub fn start(ttl: Option<Duration>) -> Result<Hook> {
    let liveness = match ttl {
        Some(ttl) => Liveness::with_ttl(ttl).ok_or_else(|| Error::config(format!("ttl {ttl:?} is below 4 s")))?,
        None => Liveness::from_env()?,
    };
    Ok(Hook(Discovery::global_with(&Config::from_env()?, liveness)?))
}

impl Hook {
    /// See `Discovery::advertise`.
    pub async fn advertise(&self, info: &HeroInfo, port: u16, bind_ip: IpAddr) -> Result<Advertisement> {
        self.0.advertise(info, port, bind_ip).await
    }

    /// See `Discovery::resolve`.
    pub async fn resolve(&self, realm: &str, name: &str, timeout: Duration) -> Result<HeroInfo> {
        self.0.resolve(realm, name, timeout).await
    }

    /// See `Discovery::lookup`.
    pub fn lookup(&self, realm: &str, name: &str) -> Option<HeroInfo> {
        self.0.lookup(realm, name)
    }

    /// See `Discovery::known`.
    pub fn known(&self) -> Vec<HeroInfo> {
        self.0.known()
    }

    /// See `Discovery::settled`.
    pub async fn settled(&self, window: Duration) {
        self.0.settled(window).await
    }
}

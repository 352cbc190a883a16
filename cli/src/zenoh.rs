//! The HEROs on zenoh for `heros list --zenoh`: Python HEROS's, and Rust HEROs put there with
//! heros-zenoh's `ZenohFace`, as their `_discover` answers describe them. Only listing: calling
//! them over zenoh is the `heros-zenoh` tool's. Built with the feature `zenoh`; without it, the
//! flag says how to get it, and the tool compiles no zenoh.

use std::time::Duration;

use anyhow::Result;
use serde_json::json;

/// One HERO found on zenoh.
pub(crate) struct ZenohHero {
    pub(crate) name: String,
    pub(crate) realm: String,
    /// Its Python class (a Rust HERO: its first interface).
    pub(crate) class: String,
    /// The interfaces it says it implements (a Python HERO often says none).
    pub(crate) interfaces: Vec<String>,
    /// Its tags, but the ones Python HEROS adds for itself (`_proto_version:..`, `_zid:..`).
    pub(crate) tags: Vec<String>,
    /// The zenoh id of its session (from the `_zid:` tag), where it can be told.
    pub(crate) zid: Option<String>,
}

impl ZenohHero {
    /// As `list --json` prints it: the fields of a gRPC HERO where they mean the same.
    pub(crate) fn json(&self) -> serde_json::Value {
        json!({
            "world": "zenoh",
            "name": self.name,
            "realm": self.realm,
            "class": self.class,
            "interfaces": self.interfaces,
            "tags": self.tags,
            "zid": self.zid,
        })
    }

    /// The table row: the columns of a gRPC HERO's; the class stands in for interfaces it does not
    /// name, the zenoh id for an endpoint.
    pub(crate) fn row(&self) -> Vec<String> {
        let interfaces = match self.interfaces.is_empty() {
            true => self.class.clone(),
            false => self.interfaces.join(","),
        };
        let endpoint = self.zid.as_ref().map(|zid| format!("zenoh:{zid}")).unwrap_or_else(|| "zenoh".into());
        vec![self.name.clone(), self.realm.clone(), interfaces, self.tags.join(","), endpoint]
    }
}

/// The HEROs of `realm` on zenoh that answer within `wait`; opens a zenoh session for it
/// (`HEROS_ZENOH_CONFIG`, else zenoh's defaults).
#[cfg(feature = "zenoh")]
pub(crate) async fn list(realm: &str, wait: Duration) -> Result<Vec<ZenohHero>> {
    let face = heros_zenoh::ZenohFace::open().await?;
    let found = heros_zenoh::discover(face.session(), realm, wait).await?;
    Ok(found
        .into_iter()
        .map(|hero| {
            let zid = hero.tags.iter().find_map(|tag| tag.strip_prefix("_zid:")).map(str::to_owned);
            ZenohHero {
                tags: hero.tags.into_iter().filter(|tag| !tag.starts_with('_')).collect(),
                name: hero.name,
                realm: hero.realm,
                class: hero.class,
                interfaces: hero.implements,
                zid,
            }
        })
        .collect())
}

/// Without the feature: says how to get it.
#[cfg(not(feature = "zenoh"))]
pub(crate) async fn list(_realm: &str, _wait: Duration) -> Result<Vec<ZenohHero>> {
    anyhow::bail!(
        "this heros was built without zenoh: install it with `cargo install heros-cli --features zenoh` \
         (or list with the heros-zenoh tool)"
    )
}

//! Asking a server about its HEROs, through its registry.

use crate::error::Result;
use crate::net::connection::{Connection, DIAL_TIMEOUT};
use crate::net::dial::dial;
use crate::proto::registry_client::RegistryClient;
use crate::proto::{DescribeHeroRequest, HeroInfo, ListHerosRequest};

/// The registry of the server at `endpoint`.
async fn registry(endpoint: &str) -> Result<RegistryClient<Connection>> {
    let connection = dial(endpoint).await?.1;
    let origin = connection.origin();
    Ok(RegistryClient::with_origin(connection, origin))
}

pub(crate) async fn list_heros(endpoint: &str, realm: &str) -> Result<Vec<HeroInfo>> {
    let reply = registry(endpoint).await?.list_heros(ListHerosRequest { realm: realm.to_owned() }).await?;
    Ok(reply.into_inner().heros)
}

pub(crate) async fn describe_hero(endpoint: &str, name: &str) -> Result<crate::proto::HeroDescription> {
    let reply = registry(endpoint).await?.describe_hero(DescribeHeroRequest { name: name.to_owned() }).await?;
    Ok(reply.into_inner())
}

/// Whether the server at `endpoint` answers that it hosts `name` in `realm` (used to tell a
/// living HERO from a stale mDNS record).
pub(crate) async fn hosts_hero(endpoint: &str, name: &str, realm: &str) -> bool {
    match tokio::time::timeout(DIAL_TIMEOUT, describe_hero(endpoint, name)).await {
        Ok(Ok(description)) => description.info.is_some_and(|info| info.realm == realm),
        _ => false,
    }
}

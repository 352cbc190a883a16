//! `grpc.health.v1.Health`: the server, each HERO and each interface, and a HERO reporting
//! NOT_SERVING before it leaves.

mod common;

use std::time::Duration;

use tokio_stream::StreamExt;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

async fn status(
    client: &mut HealthClient<tonic::transport::Channel>,
    service: &str,
) -> Result<ServingStatus, tonic::Code> {
    match client.check(HealthCheckRequest { service: service.into() }).await {
        Ok(reply) => Ok(reply.into_inner().status()),
        Err(status) => Err(status.code()),
    }
}

async fn client_of(server: &heros::Server) -> HealthClient<tonic::transport::Channel> {
    let endpoint = format!("http://{}", server.local_addr());
    HealthClient::new(tonic::transport::Endpoint::from_shared(endpoint).unwrap().connect().await.unwrap())
}

#[tokio::test]
async fn the_server_its_heros_and_their_interfaces_report_their_health() {
    let server = common::local_server().await;
    let hero = common::share_test_hero(&server, "healthy", 0).await;
    let _other = common::share_test_hero(&server, "other", 0).await;
    let mut client = client_of(&server).await;
    assert_eq!(status(&mut client, "").await, Ok(ServingStatus::Serving));
    assert_eq!(status(&mut client, "healthy").await, Ok(ServingStatus::Serving));
    assert_eq!(status(&mut client, "examples.v1.TestObject").await, Ok(ServingStatus::Serving));
    assert_eq!(status(&mut client, "nobody").await, Err(tonic::Code::NotFound));

    // Watching the HERO: NOT_SERVING arrives while it leaves.
    let mut watch = client.watch(HealthCheckRequest { service: "healthy".into() }).await.unwrap().into_inner();
    assert_eq!(watch.next().await.unwrap().unwrap().status(), ServingStatus::Serving);
    let leaving = tokio::spawn(hero.shutdown());
    let update = common::within(10, watch.next()).await.unwrap().unwrap();
    assert_eq!(update.status(), ServingStatus::NotServing);
    common::within(10, leaving).await.unwrap();
    // Another HERO still implements the interface.
    assert_eq!(status(&mut client, "examples.v1.TestObject").await, Ok(ServingStatus::Serving));

    // A server shutting down reports it, and open watches do not hold it up.
    let mut overall = client.watch(HealthCheckRequest { service: String::new() }).await.unwrap().into_inner();
    assert_eq!(overall.next().await.unwrap().unwrap().status(), ServingStatus::Serving);
    common::within(10, server.shutdown()).await;
    let mut seen = Vec::new();
    while let Ok(Some(Ok(update))) = tokio::time::timeout(Duration::from_secs(5), overall.next()).await {
        seen.push(update.status());
    }
    assert_eq!(seen.first(), Some(&ServingStatus::NotServing), "{seen:?}");
}

#[tokio::test]
async fn an_interface_goes_not_serving_with_its_last_hero() {
    let server = common::local_server().await;
    let hero = common::share_test_hero(&server, "only", 0).await;
    let mut client = client_of(&server).await;
    hero.shutdown().await;
    assert_eq!(status(&mut client, "examples.v1.TestObject").await, Ok(ServingStatus::NotServing));
    assert_eq!(status(&mut client, "only").await, Ok(ServingStatus::NotServing));
    assert_eq!(status(&mut client, "").await, Ok(ServingStatus::Serving));
}

//! `grpc.health.v1.Health` on every server, so that load balancers, grpcurl and other-language
//! clients can ask whether a server, a HERO or an interface is serving. The service names are:
//!
//! - `""`: the server as a whole;
//! - a HERO's name: that HERO (NOT_SERVING as soon as it starts leaving, before it is gone);
//! - an interface's full name, e.g. `examples.v1.TestObject`: SERVING while any HERO here
//!   implements it.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use tonic_health::server::{HealthReporter, HealthService};
use tonic_health::ServingStatus;

/// Full name of the service; the router sends its calls here.
pub(crate) const SERVICE_NAME: &str = "grpc.health.v1.Health";

pub(crate) type HealthServer = tonic_health::pb::health_server::HealthServer<HealthService>;

/// What the server reports, and the names it has reported on (to end their watches at shutdown).
#[derive(Clone)]
pub(crate) struct Health {
    reporter: HealthReporter,
    names: Arc<Mutex<BTreeSet<String>>>,
}

impl Health {
    /// A reporter and the service that serves what it reports; the server is SERVING.
    pub(crate) async fn start() -> (Health, HealthServer) {
        let reporter = HealthReporter::new();
        let server = HealthServer::new(HealthService::from_health_reporter(reporter.clone()));
        let health = Health { reporter, names: Arc::default() };
        health.set("", true).await;
        (health, server)
    }

    pub(crate) async fn set(&self, name: &str, serving: bool) {
        self.names.lock().unwrap_or_else(|e| e.into_inner()).insert(name.to_owned());
        let status = if serving { ServingStatus::Serving } else { ServingStatus::NotServing };
        self.reporter.set_service_status(name, status).await;
    }

    /// NOT_SERVING for everything, then forgets the names so that open watches end (they would
    /// otherwise keep graceful shutdown waiting).
    pub(crate) async fn stop(&self) {
        let names: Vec<String> =
            std::mem::take(&mut *self.names.lock().unwrap_or_else(|e| e.into_inner())).into_iter().collect();
        let mut reporter = self.reporter.clone();
        for name in &names {
            reporter.set_service_status(name, ServingStatus::NotServing).await;
        }
        for name in &names {
            reporter.clear_service_status(name).await;
        }
    }
}

//! `heros.v1.Operations` over gRPC: start, read, watch, wait for and cancel the long-running
//! operations of the HERO named by the `heros-name` header (docs/PROTOCOL.md, "Operations").

use std::pin::Pin;
use std::sync::Arc;

use tokio_stream::StreamExt;
use tonic::{Request, Response, Status};

use crate::error::{Error, Result};
use crate::proto::operations_server::Operations;
use crate::proto::{Operation, OperationId, OperationList, StartOperationRequest};
use crate::server::routing::{HeroEntry, HeroTable};
use crate::wire::metadata::{decode_value, NAME_HEADER, REALM_HEADER};

/// Full name of the service.
pub(crate) const SERVICE_NAME: &str = "heros.v1.Operations";

pub(crate) struct OperationService {
    pub(crate) table: Arc<HeroTable>,
}

impl OperationService {
    /// The HERO the call names, after the realm check.
    fn entry<T>(&self, request: &Request<T>) -> Result<Arc<HeroEntry>> {
        let headers = request.metadata().clone().into_headers();
        let name = decode_value(headers.get(NAME_HEADER), NAME_HEADER)?.ok_or_else(|| {
            Error::invalid_argument(format!("{SERVICE_NAME} calls name their HERO with '{NAME_HEADER}'"))
        })?;
        let realm = decode_value(headers.get(REALM_HEADER), REALM_HEADER)?;
        self.table.entry(&name, realm.as_deref())
    }

    fn operation(&self, request: &Request<OperationId>) -> Result<Arc<super::OperationEntry>> {
        let entry = self.entry(request)?;
        self.table.operations.get(&entry.name, &request.get_ref().id)
    }
}

type OperationStream = Pin<Box<dyn tokio_stream::Stream<Item = Result<Operation, Status>> + Send>>;

#[tonic::async_trait]
impl Operations for OperationService {
    async fn start(&self, request: Request<StartOperationRequest>) -> Result<Response<Operation>, Status> {
        let entry = self.entry(&request)?;
        let StartOperationRequest { interface, method, request } = request.into_inner();
        let operation = self.table.operations.start(&entry, &interface, &method, request)?;
        Ok(Response::new(operation.describe()))
    }

    async fn get(&self, request: Request<OperationId>) -> Result<Response<Operation>, Status> {
        Ok(Response::new(self.operation(&request)?.describe()))
    }

    type WatchStream = OperationStream;

    async fn watch(&self, request: Request<OperationId>) -> Result<Response<OperationStream>, Status> {
        let changes = self.operation(&request)?.changes();
        Ok(Response::new(Box::pin(changes.map(Ok))))
    }

    async fn wait(&self, request: Request<OperationId>) -> Result<Response<Operation>, Status> {
        // The connection cuts this wait at the caller's deadline; the operation runs on.
        Ok(Response::new(self.operation(&request)?.ended().await))
    }

    async fn cancel(&self, request: Request<OperationId>) -> Result<Response<Operation>, Status> {
        let operation = self.operation(&request)?;
        operation.cancel("cancelled by a caller");
        Ok(Response::new(operation.describe()))
    }

    async fn list(&self, request: Request<()>) -> Result<Response<OperationList>, Status> {
        let entry = self.entry(&request)?;
        let operations = self.table.operations.of_hero(&entry.name).iter().map(|o| o.describe()).collect();
        Ok(Response::new(OperationList { operations }))
    }
}

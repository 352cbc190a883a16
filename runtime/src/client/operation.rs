//! `Operation<T, I>`: a long-running operation on a HERO's server (`heros.v1.Operations`), as a
//! typed stub's `start_<method>` returns it or `<method>_operation(id)` finds it again (from
//! another process too: the id is all it takes). `T` is what the method returns, `I` the
//! intermediate result its progress reports carry (`()` for none).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio_stream::StreamExt;

use crate::client::target::Target;
use crate::client::transport::OperationCall;
use crate::error::{Error, Result};
use crate::interface::Streaming;
use crate::proto::{OperationState, StartOperationRequest};

/// A long-running operation of a HERO: read its progress, wait for its result, cancel it.
pub struct Operation<T, I = ()> {
    target: Target,
    id: String,
    decode: Arc<dyn Fn(Bytes) -> Result<T> + Send + Sync>,
    _intermediate: std::marker::PhantomData<fn() -> I>,
}

impl<T, I> Clone for Operation<T, I> {
    fn clone(&self) -> Self {
        Operation {
            target: self.target.clone(),
            id: self.id.clone(),
            decode: self.decode.clone(),
            _intermediate: std::marker::PhantomData,
        }
    }
}

impl<T, I> std::fmt::Debug for Operation<T, I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Operation").field("id", &self.id).field("hero", &self.target.name()).finish()
    }
}

/// Where an operation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperationPhase {
    /// Still running.
    Running,
    /// Ended with a result.
    Succeeded,
    /// Ended with an error.
    Failed,
    /// Cancelled before it ended.
    Cancelled,
}

/// An operation's state at one moment.
#[derive(Debug, Clone)]
pub struct OperationStatus<I> {
    /// Running or how it ended.
    pub phase: OperationPhase,
    /// How far it has come, 0 to 1, as the method last reported.
    pub progress: f64,
    /// What the method last said it was doing.
    pub message: String,
    /// The intermediate result the method last reported, if any.
    pub intermediate: Option<I>,
    /// Time since it started (until it ended, once it has).
    pub elapsed: Duration,
    /// How the operation failed, once it has.
    pub error: Option<Error>,
}

impl<T: Send + 'static, I: prost::Message + Default + 'static> Operation<T, I> {
    /// Starts `method` of `interface` on the HERO of `target` with `request`, as an operation;
    /// `unwrap` takes the method's result out of its reply message.
    pub async fn start<Req, Rep>(
        target: &Target,
        interface: &str,
        method: &str,
        request: Req,
        unwrap: fn(Rep) -> T,
    ) -> Result<Self>
    where
        Req: prost::Message,
        Rep: prost::Message + Default + 'static,
    {
        let start = StartOperationRequest {
            interface: interface.to_owned(),
            method: method.to_owned(),
            request: request.encode_to_vec().into(),
        };
        let operation = target.operation_call(OperationCall::Start(start)).await?;
        Ok(Self::find(target, &operation.id, unwrap))
    }

    /// The operation `id` of the HERO of `target` (started by anyone, from any process). Nothing
    /// is asked of the server until it is used: an unknown id fails then, with
    /// `Error::OperationNotFound`.
    pub fn find<Rep>(target: &Target, id: &str, unwrap: fn(Rep) -> T) -> Self
    where
        Rep: prost::Message + Default + 'static,
    {
        let decode = move |bytes: Bytes| {
            Rep::decode(bytes).map(unwrap).map_err(|error| Error::Rpc {
                code: tonic::Code::Internal,
                message: format!("the operation's result does not decode: {error}"),
            })
        };
        Operation {
            target: target.clone(),
            id: id.to_owned(),
            decode: Arc::new(decode),
            _intermediate: Default::default(),
        }
    }

    /// The operation's id: give it to another process to follow the same operation.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Where the operation stands now.
    pub async fn status(&self) -> Result<OperationStatus<I>> {
        status_of(self.target.operation_call(OperationCall::Get(self.id.clone())).await?)
    }

    /// Waits until the operation has ended, and gives its result (or its error; a cancelled
    /// operation gives `Error::Cancelled`).
    pub async fn wait(&self) -> Result<T> {
        let operation = self.target.operation_call(OperationCall::Wait(self.id.clone())).await?;
        match OperationState::try_from(operation.state) {
            Ok(OperationState::OperationSucceeded) => (self.decode)(operation.result),
            _ => Err(status_of::<I>(operation)?.error.unwrap_or_else(|| Error::Rpc {
                code: tonic::Code::Internal,
                message: "the operation ended without a result or an error".into(),
            })),
        }
    }

    /// Cancels the operation (its method's future is dropped on the server); the state after.
    pub async fn cancel(&self) -> Result<OperationStatus<I>> {
        status_of(self.target.operation_call(OperationCall::Cancel(self.id.clone())).await?)
    }

    /// The operation's state now, then at every change (progress, end); ends after it has ended.
    pub async fn progress(&self) -> Result<Streaming<OperationStatus<I>>>
    where
        I: Send,
    {
        let states = self.target.watch_operation(self.id.clone()).await?;
        Ok(Box::pin(states.map(|state| state.and_then(status_of::<I>))))
    }
}

/// The typed view of a `heros.v1.Operation`.
fn status_of<I: prost::Message + Default>(operation: crate::proto::Operation) -> Result<OperationStatus<I>> {
    let phase = match OperationState::try_from(operation.state) {
        Ok(OperationState::OperationRunning) => OperationPhase::Running,
        Ok(OperationState::OperationSucceeded) => OperationPhase::Succeeded,
        Ok(OperationState::OperationFailed) => OperationPhase::Failed,
        Ok(OperationState::OperationCancelled) => OperationPhase::Cancelled,
        _ => {
            return Err(Error::Rpc {
                code: tonic::Code::Internal,
                message: format!("operation {} is in an unknown state {}", operation.id, operation.state),
            })
        }
    };
    let intermediate = match operation.intermediate {
        Some(any) => Some(I::decode(any.value.as_slice()).map_err(|error| Error::Rpc {
            code: tonic::Code::Internal,
            message: format!("the operation's intermediate result ({}) does not decode: {error}", any.type_url),
        })?),
        None => None,
    };
    let error = (operation.error_code != 0).then(|| {
        let code = tonic::Code::from_i32(operation.error_code);
        let from_detail = operation.error_detail.as_ref().and_then(|detail| Error::from_detail(code, detail));
        from_detail.unwrap_or_else(|| Error::from_status(&tonic::Status::new(code, operation.error_message)))
    });
    Ok(OperationStatus {
        phase,
        progress: operation.progress,
        message: operation.message,
        intermediate,
        elapsed: Duration::from_millis(operation.elapsed_ms),
        error,
    })
}

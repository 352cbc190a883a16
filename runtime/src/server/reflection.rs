//! gRPC server reflection (`grpc.reflection.v1` and `v1alpha`; many grpcurl builds speak only
//! the latter) on every server, so that grpcurl, Postman, the `heros` CLI and other-language
//! tools call HEROs with nothing but the server: it reports the framework's services, health,
//! reflection itself, and every interface a HERO serves here, with each interface's `.proto`
//! files as codegen encoded them (comments and `heros.v1` options included).
//!
//! Our own service rather than tonic-reflection's: HEROs come and go while the server runs, and
//! reflection has to follow them; and, as gRPC's Go and C++ servers do, a lookup that fails is
//! an `ErrorResponse` on a stream that stays open, and a file comes with the imports the stream
//! has not sent yet. The index is built at the first reflection request after the set of served
//! interfaces changed: reflection calls are rare, and sharing a HERO costs nothing here.

use std::collections::{BTreeMap, HashSet};
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use prost::Message;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};
use tonic_reflection::pb::{v1, v1alpha};
use v1::server_reflection_request::MessageRequest;
use v1::server_reflection_response::MessageResponse;

use crate::server::descriptor_index::DescriptorIndex;
use crate::server::routing::HeroTable;

/// Full names of the two services; the router sends their calls here.
pub(crate) const V1_SERVICE: &str = "grpc.reflection.v1.ServerReflection";
pub(crate) const V1ALPHA_SERVICE: &str = "grpc.reflection.v1alpha.ServerReflection";

/// The framework's own services, always listed.
const FRAMEWORK_SERVICES: &[&str] = &[
    crate::server::registry::SERVICE_NAME,
    crate::server::health::SERVICE_NAME,
    crate::server::callbacks::SERVICE_NAME,
    crate::server::attribute_watch::SERVICE_NAME,
    crate::handles::service::SESSIONS_SERVICE,
    crate::handles::service::HANDLES_SERVICE,
    V1_SERVICE,
    V1ALPHA_SERVICE,
];

pub(crate) type V1Server = v1::server_reflection_server::ServerReflectionServer<Reflection>;
pub(crate) type V1AlphaServer = v1alpha::server_reflection_server::ServerReflectionServer<Reflection>;

/// Reflection over one server's HEROs; a clone shares the index.
#[derive(Clone)]
pub(crate) struct Reflection {
    table: Arc<HeroTable>,
    built: Arc<Mutex<Option<Built>>>,
}

/// The index built for one set of interfaces.
struct Built {
    /// Interface name → its descriptor set: what the index was built for.
    interfaces: BTreeMap<&'static str, &'static [u8]>,
    index: Arc<DescriptorIndex>,
}

type ResponseStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

impl Reflection {
    pub(crate) fn new(table: Arc<HeroTable>) -> Self {
        Reflection { table, built: Arc::default() }
    }

    /// The v1 and v1alpha services, sharing this reflection.
    pub(crate) fn servers(&self) -> (V1Server, V1AlphaServer) {
        (V1Server::new(self.clone()), V1AlphaServer::new(self.clone()))
    }

    /// The index for the interfaces served right now.
    fn index(&self) -> Arc<DescriptorIndex> {
        let entries = self.table.all();
        let interfaces = entries.iter().flat_map(|entry| entry.services.iter().map(|service| service.interface()));
        let interfaces: BTreeMap<&'static str, &'static [u8]> =
            interfaces.map(|interface| (interface.name, interface.descriptor_set)).collect();
        let mut built = self.built.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(built) = built.as_ref().filter(|b| b.interfaces == interfaces) {
            return built.index.clone();
        }
        let index = Arc::new(build(&interfaces));
        *built = Some(Built { interfaces, index: index.clone() });
        index
    }

    /// Answers each request of one stream in turn; the stream stays open after a failed lookup.
    fn answer(
        &self,
        requests: impl Stream<Item = Result<v1::ServerReflectionRequest, Status>> + Send + 'static,
    ) -> ResponseStream<v1::ServerReflectionResponse> {
        let reflection = self.clone();
        let mut sent = HashSet::new();
        let responses = requests.map(move |request| {
            let request = request?;
            let index = reflection.index();
            let message_response = respond(&index, request.message_request.clone(), &mut sent);
            Ok(v1::ServerReflectionResponse {
                valid_host: request.host.clone(),
                original_request: Some(request),
                message_response: Some(message_response),
            })
        });
        Box::pin(responses)
    }
}

fn build(interfaces: &BTreeMap<&'static str, &'static [u8]>) -> DescriptorIndex {
    // The first copy of a file wins: the framework's own first, since they describe the services
    // this server runs (an interface built against another heros version may carry older
    // copies of `heros/v1/*.proto`).
    let mut sets: Vec<&'static [u8]> = vec![
        crate::proto::FILE_DESCRIPTOR_SET,
        tonic_health::pb::FILE_DESCRIPTOR_SET,
        v1::FILE_DESCRIPTOR_SET,
        v1alpha::FILE_DESCRIPTOR_SET,
    ];
    // Interfaces of one package share one set.
    for set in interfaces.values() {
        if !sets.contains(set) {
            sets.push(set);
        }
    }
    // Only what is served is listed: an interface's file may declare other services.
    let services = FRAMEWORK_SERVICES.iter().chain(interfaces.keys()).map(|name| (*name).to_owned());
    DescriptorIndex::new(sets, services)
}

/// The answer to one request; `sent` holds the files this stream has already sent.
fn respond(index: &DescriptorIndex, request: Option<MessageRequest>, sent: &mut HashSet<String>) -> MessageResponse {
    let files = |file: Option<&str>, what: String, sent: &mut HashSet<String>| match file
        .and_then(|file| index.file_with_imports(file, sent))
    {
        Some(files) => MessageResponse::FileDescriptorResponse(v1::FileDescriptorResponse {
            file_descriptor_proto: files.iter().map(|bytes| bytes.to_vec()).collect(),
        }),
        None => error(tonic::Code::NotFound, format!("{what} is not known to this server")),
    };
    match request {
        None => error(tonic::Code::InvalidArgument, "the request names no question".into()),
        Some(MessageRequest::ListServices(_)) => MessageResponse::ListServicesResponse(v1::ListServiceResponse {
            service: index.services().iter().map(|name| v1::ServiceResponse { name: name.clone() }).collect(),
        }),
        Some(MessageRequest::FileByFilename(name)) => files(Some(&name), format!("file '{name}'"), sent),
        Some(MessageRequest::FileContainingSymbol(symbol)) => {
            files(index.file_of_symbol(&symbol), format!("symbol '{symbol}'"), sent)
        }
        Some(MessageRequest::FileContainingExtension(v1::ExtensionRequest { containing_type, extension_number })) => {
            let file = index.file_of_extension(&containing_type, extension_number);
            files(file, format!("extension {extension_number} of '{containing_type}'"), sent)
        }
        Some(MessageRequest::AllExtensionNumbersOfType(message)) => match index.extension_numbers(&message) {
            Some(extension_number) => MessageResponse::AllExtensionNumbersResponse(v1::ExtensionNumberResponse {
                base_type_name: message,
                extension_number,
            }),
            None => error(tonic::Code::NotFound, format!("message type '{message}' is not known to this server")),
        },
    }
}

fn error(code: tonic::Code, message: String) -> MessageResponse {
    MessageResponse::ErrorResponse(v1::ErrorResponse { error_code: code as i32, error_message: message })
}

#[tonic::async_trait]
impl v1::server_reflection_server::ServerReflection for Reflection {
    type ServerReflectionInfoStream = ResponseStream<v1::ServerReflectionResponse>;

    async fn server_reflection_info(
        &self,
        request: Request<Streaming<v1::ServerReflectionRequest>>,
    ) -> Result<Response<Self::ServerReflectionInfoStream>, Status> {
        Ok(Response::new(self.answer(request.into_inner())))
    }
}

/// v1alpha is v1 under another package name, field for field: its messages are converted
/// through their encoding rather than by hand.
#[tonic::async_trait]
impl v1alpha::server_reflection_server::ServerReflection for Reflection {
    type ServerReflectionInfoStream = ResponseStream<v1alpha::ServerReflectionResponse>;

    async fn server_reflection_info(
        &self,
        request: Request<Streaming<v1alpha::ServerReflectionRequest>>,
    ) -> Result<Response<Self::ServerReflectionInfoStream>, Status> {
        let requests = request.into_inner().map(|request| request.and_then(|request| same_message(&request)));
        let responses = self.answer(requests).map(|response| response.and_then(|response| same_message(&response)));
        Ok(Response::new(Box::pin(responses)))
    }
}

fn same_message<From: Message, To: Message + Default>(message: &From) -> Result<To, Status> {
    To::decode(message.encode_to_vec().as_slice())
        .map_err(|error| Status::internal(format!("reflection v1alpha and v1 messages differ: {error}")))
}

//! Fetches a server's descriptors over gRPC server reflection (`grpc.reflection.v1`, falling back
//! to `v1alpha`) into a `prost_reflect::DescriptorPool`, so the tool can call HEROs whose
//! `.proto` files it never saw.
//!
//! Files are kept as the bytes the server sent: decoding them into `prost_types` would drop the
//! `heros.v1` options (extensions), which tell attributes and events from methods.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::hero::HeroChannel;
use anyhow::{anyhow, bail, Context, Result};
use http::uri::PathAndQuery;
use prost::Message;
use prost_reflect::DescriptorPool;
use prost_types::FileDescriptorProto;
use tokio_stream::wrappers::ReceiverStream;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::{ServerReflectionRequest, ServerReflectionResponse};

/// The two versions' messages are the same on the wire, so one set of types serves both paths.
const V1_PATH: &str = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo";
const V1ALPHA_PATH: &str = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";

/// The descriptors of `symbols` (full service or message names) and of every file they import.
pub(crate) async fn descriptors(channel: HeroChannel, endpoint: &str, symbols: &[String]) -> Result<DescriptorPool> {
    let files = match fetch(channel.clone(), V1_PATH, symbols).await {
        Err(Fetch::Unimplemented) => fetch(channel, V1ALPHA_PATH, symbols).await,
        other => other,
    };
    let files = match files {
        Ok(files) => files,
        Err(Fetch::Unimplemented) => bail!(
            "the server at {endpoint} does not offer gRPC reflection (grpc.reflection.v1 or v1alpha), \
             so its interfaces cannot be read"
        ),
        Err(Fetch::Failed(error)) => return Err(error.context(format!("gRPC reflection at {endpoint}"))),
    };
    pool_of(files)
}

enum Fetch {
    /// The server has no such reflection service.
    Unimplemented,
    Failed(anyhow::Error),
}

impl From<anyhow::Error> for Fetch {
    fn from(error: anyhow::Error) -> Self {
        Fetch::Failed(error)
    }
}

/// File name → the file's encoded `FileDescriptorProto`.
type Files = BTreeMap<String, Vec<u8>>;

/// Asks for the file of each symbol, then by name for every import not yet seen, one request at a
/// time on one stream.
async fn fetch(channel: HeroChannel, path: &'static str, symbols: &[String]) -> Result<Files, Fetch> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.map_err(|e| anyhow!("cannot reach the server: {e}"))?;
    let (requests, outgoing) = tokio::sync::mpsc::channel::<ServerReflectionRequest>(4);
    let mut wanted: VecDeque<MessageRequest> =
        symbols.iter().map(|symbol| MessageRequest::FileContainingSymbol(symbol.clone())).collect();
    let Some(first) = wanted.pop_front() else { return Ok(Files::new()) };
    // Queued before the call, so the stream opens with a request in it.
    let _ = requests.send(ask(first.clone())).await;
    let codec = tonic_prost::ProstCodec::<ServerReflectionRequest, ServerReflectionResponse>::default();
    let response = grpc
        .streaming(tonic::Request::new(ReceiverStream::new(outgoing)), PathAndQuery::from_static(path), codec)
        .await;
    let mut responses = match response {
        Ok(response) => response.into_inner(),
        Err(status) if status.code() == tonic::Code::Unimplemented => return Err(Fetch::Unimplemented),
        Err(status) => return Err(anyhow!("{}: {}", crate::remote::code_name(status.code()), status.message()).into()),
    };

    let mut files = Files::new();
    let mut requested: BTreeSet<String> = BTreeSet::new();
    let mut current = Some(first);
    while let Some(request) = current.take() {
        let reply = match responses.message().await {
            Ok(Some(reply)) => reply,
            Ok(None) => return Err(anyhow!("the reflection stream ended early").into()),
            Err(status) if status.code() == tonic::Code::Unimplemented => return Err(Fetch::Unimplemented),
            Err(status) => return Err(anyhow!("{}", status.message()).into()),
        };
        match reply.message_response {
            Some(MessageResponse::FileDescriptorResponse(found)) => {
                for bytes in found.file_descriptor_proto {
                    let file = FileDescriptorProto::decode(bytes.as_slice())
                        .map_err(|e| anyhow!("a file descriptor does not decode: {e}"))?;
                    let name = file.name().to_owned();
                    for import in &file.dependency {
                        if !files.contains_key(import) && name != *import && requested.insert(import.clone()) {
                            wanted.push_back(MessageRequest::FileByFilename(import.clone()));
                        }
                    }
                    files.entry(name).or_insert(bytes);
                }
            }
            Some(MessageResponse::ErrorResponse(error)) => match &request {
                MessageRequest::FileContainingSymbol(symbol) => {
                    return Err(anyhow!("the server does not describe {symbol}: {}", error.error_message).into());
                }
                // A server may leave out files every tool has; the built-in copy stands in.
                MessageRequest::FileByFilename(name) => match built_in(name) {
                    Some(bytes) => {
                        files.insert(name.clone(), bytes);
                    }
                    None => return Err(anyhow!("the server does not send {name}: {}", error.error_message).into()),
                },
                _ => {}
            },
            other => return Err(anyhow!("unexpected reflection reply {other:?}").into()),
        }
        // Imports already received as part of an earlier reply need no request of their own.
        while let Some(next) = wanted.pop_front() {
            if matches!(&next, MessageRequest::FileByFilename(name) if files.contains_key(name)) {
                continue;
            }
            if requests.send(ask(next.clone())).await.is_err() {
                return Err(anyhow!("the reflection stream closed early").into());
            }
            current = Some(next);
            break;
        }
    }
    Ok(files)
}

fn ask(request: MessageRequest) -> ServerReflectionRequest {
    ServerReflectionRequest { host: String::new(), message_request: Some(request) }
}

/// The well-known types and the framework's own files, as this tool was built with them.
fn built_in(name: &str) -> Option<Vec<u8>> {
    let global = DescriptorPool::global();
    if let Some(file) = global.get_file_by_name(name) {
        return Some(file.file_descriptor_proto().encode_to_vec());
    }
    let framework = prost_types::FileDescriptorSet::decode(heros_runtime::proto::FILE_DESCRIPTOR_SET).ok()?;
    framework.file.into_iter().find(|file| file.name() == name).map(|file| file.encode_to_vec())
}

/// A pool of `files`, in any order, with their extension options kept.
pub(crate) fn pool_of(files: Files) -> Result<DescriptorPool> {
    // A FileDescriptorSet is its files as field 1: built from the bytes themselves, so nothing
    // of them is lost on the way.
    let mut set = Vec::new();
    for bytes in files.values() {
        prost::encoding::encode_key(1, prost::encoding::WireType::LengthDelimited, &mut set);
        prost::encoding::encode_varint(bytes.len() as u64, &mut set);
        set.extend_from_slice(bytes);
    }
    let mut pool = DescriptorPool::new();
    pool.decode_file_descriptor_set(set.as_slice()).context("the server's descriptors do not fit together")?;
    Ok(pool)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server with no HERO still describes the framework's services.
    async fn server() -> (heros::Server, HeroChannel) {
        let server = heros::Server::builder().bind("127.0.0.1:0".parse().unwrap()).mdns(false).start().await.unwrap();
        let endpoint = format!("http://{}", server.local_addr());
        let (_, channel) = crate::hero::dial(&[endpoint], std::time::Duration::from_secs(3)).await.unwrap();
        (server, channel)
    }

    #[tokio::test]
    async fn both_versions_bring_a_file_and_its_imports() {
        let (_server, channel) = server().await;
        for path in [V1_PATH, V1ALPHA_PATH] {
            let Ok(files) = fetch(channel.clone(), path, &["heros.v1.Registry".to_owned()]).await else {
                panic!("{path} failed");
            };
            assert!(files.contains_key("heros/v1/core.proto"), "imports come along: {:?}", files.keys());
            let pool = pool_of(files).unwrap();
            let registry = pool.get_service_by_name("heros.v1.Registry").unwrap();
            assert!(registry.methods().any(|m| m.name() == "DescribeHero"));
            // The options file came along, and with it the extensions HERO interfaces use.
            assert!(pool.get_extension_by_name("heros.v1.attribute").is_some());
        }
    }

    #[tokio::test]
    async fn an_unknown_symbol_or_service_is_reported() {
        let (_server, channel) = server().await;
        match fetch(channel.clone(), V1_PATH, &["no.such.Service".to_owned()]).await {
            Err(Fetch::Failed(error)) => assert!(error.to_string().contains("no.such.Service"), "{error}"),
            _ => panic!("an unknown symbol must fail"),
        }
        let missing = "/grpc.reflection.v9.ServerReflection/ServerReflectionInfo";
        assert!(matches!(fetch(channel, missing, &["heros.v1.Registry".to_owned()]).await, Err(Fetch::Unimplemented)));
    }
}

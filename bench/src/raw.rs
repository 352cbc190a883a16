//! The baseline: a plain tonic service answering the same rpc paths with the same messages,
//! without anything HEROS adds (no routing by name, no realm check, no skeleton). Bytes are
//! `Vec<u8>`, which is what tonic users get from prost by default.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::uri::PathAndQuery;
use tonic::transport::Channel;

use crate::proto::{AddReply, AddRequest};

/// The message size limit on both ends, as high as the HERO server's (tonic's default is 4 MiB).
const MAX_MESSAGE: usize = heros::DEFAULT_MAX_MESSAGE_SIZE;

/// `bench.v1.EchoRequest` / `EchoReply` as prost generates them without `bytes = "."`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct RawEcho {
    #[prost(bytes = "vec", tag = "1")]
    pub(crate) data: Vec<u8>,
}

#[derive(Clone)]
struct RawBench;

impl tonic::server::NamedService for RawBench {
    const NAME: &'static str = "bench.v1.Bench";
}

struct Add;

impl tonic::server::UnaryService<AddRequest> for Add {
    type Response = AddReply;
    type Future = std::future::Ready<Result<tonic::Response<AddReply>, tonic::Status>>;
    fn call(&mut self, request: tonic::Request<AddRequest>) -> Self::Future {
        let AddRequest { a, b } = request.into_inner();
        std::future::ready(Ok(tonic::Response::new(AddReply { sum: a + b })))
    }
}

struct Echo;

impl tonic::server::UnaryService<RawEcho> for Echo {
    type Response = RawEcho;
    type Future = std::future::Ready<Result<tonic::Response<RawEcho>, tonic::Status>>;
    fn call(&mut self, request: tonic::Request<RawEcho>) -> Self::Future {
        std::future::ready(Ok(tonic::Response::new(request.into_inner())))
    }
}

/// What tonic-build would generate for the service, minus the parts the benchmark does not use.
impl tower::Service<http::Request<tonic::body::Body>> for RawBench {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        Box::pin(async move {
            Ok(match request.uri().path() {
                "/bench.v1.Bench/Add" => {
                    let codec = tonic_prost::ProstCodec::<AddReply, AddRequest>::default();
                    tonic::server::Grpc::new(codec).unary(Add, request).await
                }
                "/bench.v1.Bench/Echo" => {
                    let codec = tonic_prost::ProstCodec::<RawEcho, RawEcho>::default();
                    let mut grpc = tonic::server::Grpc::new(codec)
                        .apply_max_message_size_config(Some(MAX_MESSAGE), Some(MAX_MESSAGE));
                    grpc.unary(Echo, request).await
                }
                _ => tonic::Status::unimplemented("not a benchmark method").into_http(),
            })
        })
    }
}

/// Starts the raw tonic server on loopback (nodelay on, as on the HERO server).
pub(crate) async fn serve() -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    tokio::spawn(tonic::transport::Server::builder().add_service(RawBench).serve_with_incoming(incoming));
    Ok(address)
}

/// A tonic client on one channel, as a tonic user would write it.
#[derive(Clone)]
pub(crate) struct RawClient {
    grpc: tonic::client::Grpc<Channel>,
}

impl RawClient {
    pub(crate) async fn connect(address: SocketAddr) -> anyhow::Result<RawClient> {
        let channel =
            tonic::transport::Endpoint::from_shared(format!("http://{address}"))?.tcp_nodelay(true).connect().await?;
        let grpc = tonic::client::Grpc::new(channel)
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE);
        Ok(RawClient { grpc })
    }

    pub(crate) async fn add(&self, a: f64, b: f64) -> f64 {
        let mut grpc = self.grpc.clone();
        grpc.ready().await.expect("raw tonic channel ready");
        let path = PathAndQuery::from_static("/bench.v1.Bench/Add");
        let codec = tonic_prost::ProstCodec::<AddRequest, AddReply>::default();
        let reply = grpc.unary(tonic::Request::new(AddRequest { a, b }), path, codec).await;
        reply.expect("raw tonic Add").into_inner().sum
    }

    pub(crate) async fn echo(&self, data: Vec<u8>) -> Vec<u8> {
        let mut grpc = self.grpc.clone();
        grpc.ready().await.expect("raw tonic channel ready");
        let path = PathAndQuery::from_static("/bench.v1.Bench/Echo");
        let codec = tonic_prost::ProstCodec::<RawEcho, RawEcho>::default();
        let reply = grpc.unary(tonic::Request::new(RawEcho { data }), path, codec).await;
        reply.expect("raw tonic Echo").into_inner().data
    }
}

//! The baseline: a plain tonic service answering the same rpc paths with the same messages,
//! without anything HEROS adds (no routing by name, no realm check, no skeleton). Bytes are
//! `Vec<u8>`, which is what tonic users get from prost by default. Its event is what a tonic user
//! would write for one that loses nothing: a server stream per subscriber, fed through a bounded
//! channel (as deep as the HERO's), the emitter waiting for room in each. Its streaming methods
//! are tonic's server-, client- and bidirectional streams with the same messages.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use http::uri::PathAndQuery;
use tokio::sync::mpsc;
use tonic::transport::Channel;

use crate::cancel::DropNote;
use crate::proto::{
    AddReply, AddRequest, BurstReply, BurstRequest, DropTime, HoldReply, HoldRequest, Ping, Place, PlacesRequest,
    SubscribersReply, UploadReply,
};

/// The message size limit on both ends, as high as the HERO server's (tonic's default is 4 MiB).
const MAX_MESSAGE: usize = heros::DEFAULT_MAX_MESSAGE_SIZE;

/// `bench.v1.EchoRequest` / `EchoReply` as prost generates them without `bytes = "."`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct RawEcho {
    #[prost(bytes = "vec", tag = "1")]
    pub(crate) data: Vec<u8>,
}

/// `bench.v1.Tick` as prost generates it without `bytes = "."`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct RawTick {
    #[prost(uint64, tag = "1")]
    pub(crate) sequence: u64,
    #[prost(uint64, tag = "2")]
    pub(crate) emitted_unix_ns: u64,
    #[prost(bytes = "vec", tag = "3")]
    pub(crate) payload: Vec<u8>,
}

/// `bench.v1.Chunk` as prost generates it without `bytes = "."`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct RawChunk {
    #[prost(bytes = "vec", tag = "1")]
    pub(crate) data: Vec<u8>,
}

/// Ticks buffered per subscriber: the HERO's `buffer: 1024`.
const TICK_BUFFER: usize = 1024;

/// The subscribers of `Ticks`.
type Subscribers = Arc<Mutex<Vec<mpsc::Sender<RawTick>>>>;

#[derive(Clone, Default)]
struct RawBench {
    ticks: Subscribers,
    /// When the last `Hold` was dropped before its end.
    dropped: Arc<DropNote>,
}

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

/// Emits a burst of ticks to every subscriber, waiting for room in each (nothing is lost).
struct EmitBurst(Subscribers);

impl tonic::server::UnaryService<BurstRequest> for EmitBurst {
    type Response = BurstReply;
    type Future = Pin<Box<dyn Future<Output = Result<tonic::Response<BurstReply>, tonic::Status>> + Send>>;
    fn call(&mut self, request: tonic::Request<BurstRequest>) -> Self::Future {
        let subscribers = self.0.clone();
        Box::pin(async move {
            let BurstRequest { count, payload_bytes } = request.into_inner();
            let payload = vec![7u8; payload_bytes as usize];
            let mut reached = 0;
            for sequence in 0..u64::from(count) {
                let tick = RawTick { sequence, emitted_unix_ns: crate::hero::unix_nanos(), payload: payload.clone() };
                let senders = subscribers.lock().expect("subscribers").clone();
                reached = 0;
                for sender in &senders {
                    if sender.send(tick.clone()).await.is_ok() {
                        reached += 1;
                    }
                }
                if reached < senders.len() {
                    subscribers.lock().expect("subscribers").retain(|s| !s.is_closed());
                }
            }
            Ok(tonic::Response::new(BurstReply { reached: reached as u32 }))
        })
    }
}

struct TickSubscribers(Subscribers);

impl tonic::server::UnaryService<()> for TickSubscribers {
    type Response = SubscribersReply;
    type Future = std::future::Ready<Result<tonic::Response<SubscribersReply>, tonic::Status>>;
    fn call(&mut self, _: tonic::Request<()>) -> Self::Future {
        let count = self.0.lock().expect("subscribers").iter().filter(|s| !s.is_closed()).count();
        std::future::ready(Ok(tonic::Response::new(SubscribersReply { count: count as u32 })))
    }
}

/// A new subscriber's channel, registered before the reply's headers go out.
struct Ticks(Subscribers);

/// One subscriber's ticks as a stream.
struct TickStream(mpsc::Receiver<RawTick>);

impl tokio_stream::Stream for TickStream {
    type Item = Result<RawTick, tonic::Status>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx).map(|tick| tick.map(Ok))
    }
}

impl tonic::server::ServerStreamingService<()> for Ticks {
    type Response = RawTick;
    type ResponseStream = TickStream;
    type Future = std::future::Ready<Result<tonic::Response<TickStream>, tonic::Status>>;
    fn call(&mut self, _: tonic::Request<()>) -> Self::Future {
        let (sender, receiver) = mpsc::channel(TICK_BUFFER);
        let mut subscribers = self.0.lock().expect("subscribers");
        subscribers.retain(|s| !s.is_closed());
        subscribers.push(sender);
        std::future::ready(Ok(tonic::Response::new(TickStream(receiver))))
    }
}

/// A boxed stream of replies, as tonic users write a server stream's type.
type ReplyStream<T> = Pin<Box<dyn tokio_stream::Stream<Item = Result<T, tonic::Status>> + Send>>;

/// `count` places, made as the caller takes them (the HERO's `Places`).
struct Places;

impl tonic::server::ServerStreamingService<PlacesRequest> for Places {
    type Response = Place;
    type ResponseStream = ReplyStream<Place>;
    type Future = std::future::Ready<Result<tonic::Response<ReplyStream<Place>>, tonic::Status>>;
    fn call(&mut self, request: tonic::Request<PlacesRequest>) -> Self::Future {
        let count = u64::from(request.into_inner().count);
        let places: ReplyStream<Place> = Box::pin(tokio_stream::iter((0..count).map(|n| Ok(crate::hero::place(n)))));
        std::future::ready(Ok(tonic::Response::new(places)))
    }
}

/// Counts the chunks and bytes of an upload (the HERO's `Upload`).
struct Upload;

impl tonic::server::ClientStreamingService<RawChunk> for Upload {
    type Response = UploadReply;
    type Future = Pin<Box<dyn Future<Output = Result<tonic::Response<UploadReply>, tonic::Status>> + Send>>;
    fn call(&mut self, request: tonic::Request<tonic::Streaming<RawChunk>>) -> Self::Future {
        Box::pin(async move {
            let mut chunks = request.into_inner();
            let mut reply = UploadReply::default();
            while let Some(chunk) = chunks.message().await? {
                reply.chunks += 1;
                reply.bytes += chunk.data.len() as u64;
            }
            Ok(tonic::Response::new(reply))
        })
    }
}

/// Answers each ping with itself, as it comes (the HERO's `PingPong`).
struct PingPong;

impl tonic::server::StreamingService<Ping> for PingPong {
    type Response = Ping;
    type ResponseStream = tonic::Streaming<Ping>;
    type Future = std::future::Ready<Result<tonic::Response<tonic::Streaming<Ping>>, tonic::Status>>;
    fn call(&mut self, request: tonic::Request<tonic::Streaming<Ping>>) -> Self::Future {
        std::future::ready(Ok(tonic::Response::new(request.into_inner())))
    }
}

/// Waits, noting when it is dropped first (the HERO's `Hold`).
struct Hold(Arc<DropNote>);

impl tonic::server::UnaryService<HoldRequest> for Hold {
    type Response = HoldReply;
    type Future = Pin<Box<dyn Future<Output = Result<tonic::Response<HoldReply>, tonic::Status>> + Send>>;
    fn call(&mut self, request: tonic::Request<HoldRequest>) -> Self::Future {
        let dropped = self.0.clone();
        Box::pin(async move {
            dropped.hold(request.into_inner().milliseconds).await;
            Ok(tonic::Response::new(HoldReply {}))
        })
    }
}

/// When the last `Hold` was dropped (the HERO's `LastDrop`).
struct LastDrop(Arc<DropNote>);

impl tonic::server::UnaryService<()> for LastDrop {
    type Response = DropTime;
    type Future = std::future::Ready<Result<tonic::Response<DropTime>, tonic::Status>>;
    fn call(&mut self, _: tonic::Request<()>) -> Self::Future {
        std::future::ready(Ok(tonic::Response::new(DropTime { dropped_unix_ns: self.0.last() })))
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
        let ticks = self.ticks.clone();
        let dropped = self.dropped.clone();
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
                "/bench.v1.Bench/EmitBurst" => {
                    let codec = tonic_prost::ProstCodec::<BurstReply, BurstRequest>::default();
                    tonic::server::Grpc::new(codec).unary(EmitBurst(ticks), request).await
                }
                "/bench.v1.Bench/TickSubscribers" => {
                    let codec = tonic_prost::ProstCodec::<SubscribersReply, ()>::default();
                    tonic::server::Grpc::new(codec).unary(TickSubscribers(ticks), request).await
                }
                "/bench.v1.Bench/Ticks" => {
                    let codec = tonic_prost::ProstCodec::<RawTick, ()>::default();
                    tonic::server::Grpc::new(codec).server_streaming(Ticks(ticks), request).await
                }
                "/bench.v1.Bench/Places" => {
                    let codec = tonic_prost::ProstCodec::<Place, PlacesRequest>::default();
                    tonic::server::Grpc::new(codec).server_streaming(Places, request).await
                }
                "/bench.v1.Bench/Upload" => {
                    let codec = tonic_prost::ProstCodec::<UploadReply, RawChunk>::default();
                    tonic::server::Grpc::new(codec).client_streaming(Upload, request).await
                }
                "/bench.v1.Bench/PingPong" => {
                    let codec = tonic_prost::ProstCodec::<Ping, Ping>::default();
                    tonic::server::Grpc::new(codec).streaming(PingPong, request).await
                }
                "/bench.v1.Bench/Hold" => {
                    let codec = tonic_prost::ProstCodec::<HoldReply, HoldRequest>::default();
                    tonic::server::Grpc::new(codec).unary(Hold(dropped), request).await
                }
                "/bench.v1.Bench/LastDrop" => {
                    let codec = tonic_prost::ProstCodec::<DropTime, ()>::default();
                    tonic::server::Grpc::new(codec).unary(LastDrop(dropped), request).await
                }
                _ => tonic::Status::unimplemented("not a benchmark method").into_http(),
            })
        })
    }
}

/// Starts the raw tonic server on loopback (nodelay on, as on the HERO server).
pub(crate) async fn serve() -> std::io::Result<SocketAddr> {
    serve_with(tonic::transport::Server::builder()).await
}

/// [`serve`] with TLS (the benchmark of a secured realm).
pub(crate) async fn serve_tls(tls: tonic::transport::ServerTlsConfig) -> anyhow::Result<SocketAddr> {
    Ok(serve_with(tonic::transport::Server::builder().tls_config(tls)?).await?)
}

async fn serve_with(mut builder: tonic::transport::Server) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    tokio::spawn(builder.add_service(RawBench::default()).serve_with_incoming(incoming));
    Ok(address)
}

/// A tonic client on one channel, as a tonic user would write it.
#[derive(Clone)]
pub(crate) struct RawClient {
    grpc: tonic::client::Grpc<Channel>,
}

impl RawClient {
    pub(crate) async fn connect(address: SocketAddr) -> anyhow::Result<RawClient> {
        let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{address}"))?;
        RawClient::on(endpoint).await
    }

    /// Over TLS with `tls` (the benchmark of a secured realm).
    pub(crate) async fn connect_tls(
        address: SocketAddr,
        tls: tonic::transport::ClientTlsConfig,
    ) -> anyhow::Result<RawClient> {
        let endpoint = tonic::transport::Endpoint::from_shared(format!("https://{address}"))?.tls_config(tls)?;
        RawClient::on(endpoint).await
    }

    async fn on(endpoint: tonic::transport::Endpoint) -> anyhow::Result<RawClient> {
        let channel = endpoint.tcp_nodelay(true).connect().await?;
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

    /// `add` with extra request headers (the probe calls a HERO server this way, naming the HERO).
    pub(crate) async fn add_with_headers(&self, a: f64, b: f64, headers: &http::HeaderMap) -> f64 {
        let mut grpc = self.grpc.clone();
        grpc.ready().await.expect("raw tonic channel ready");
        let path = PathAndQuery::from_static("/bench.v1.Bench/Add");
        let codec = tonic_prost::ProstCodec::<AddRequest, AddReply>::default();
        let mut request = tonic::Request::new(AddRequest { a, b });
        *request.metadata_mut() = tonic::metadata::MetadataMap::from_headers(headers.clone());
        let reply = grpc.unary(request, path, codec).await;
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

    pub(crate) async fn emit_burst(&self, count: u32, payload_bytes: u32) -> u32 {
        let mut grpc = self.grpc.clone();
        grpc.ready().await.expect("raw tonic channel ready");
        let path = PathAndQuery::from_static("/bench.v1.Bench/EmitBurst");
        let codec = tonic_prost::ProstCodec::<BurstRequest, BurstReply>::default();
        let reply = grpc.unary(tonic::Request::new(BurstRequest { count, payload_bytes }), path, codec).await;
        reply.expect("raw tonic EmitBurst").into_inner().reached
    }

    pub(crate) async fn tick_subscribers(&self) -> u32 {
        let mut grpc = self.grpc.clone();
        grpc.ready().await.expect("raw tonic channel ready");
        let path = PathAndQuery::from_static("/bench.v1.Bench/TickSubscribers");
        let codec = tonic_prost::ProstCodec::<(), SubscribersReply>::default();
        let reply = grpc.unary(tonic::Request::new(()), path, codec).await;
        reply.expect("raw tonic TickSubscribers").into_inner().count
    }

    /// `Places`: `count` small messages as they come.
    pub(crate) async fn places(&self, count: u32) -> tonic::Streaming<Place> {
        let mut grpc = self.grpc.clone();
        grpc.ready().await.expect("raw tonic channel ready");
        let path = PathAndQuery::from_static("/bench.v1.Bench/Places");
        let codec = tonic_prost::ProstCodec::<PlacesRequest, Place>::default();
        let reply = grpc.server_streaming(tonic::Request::new(PlacesRequest { count }), path, codec).await;
        reply.expect("raw tonic Places").into_inner()
    }

    /// `Upload`: sends `chunks` as the server takes them, returns its count.
    pub(crate) async fn upload(
        &self,
        chunks: impl tokio_stream::Stream<Item = RawChunk> + Send + 'static,
    ) -> UploadReply {
        let mut grpc = self.grpc.clone();
        grpc.ready().await.expect("raw tonic channel ready");
        let path = PathAndQuery::from_static("/bench.v1.Bench/Upload");
        let codec = tonic_prost::ProstCodec::<RawChunk, UploadReply>::default();
        let reply = grpc.client_streaming(tonic::Request::new(chunks), path, codec).await;
        reply.expect("raw tonic Upload").into_inner()
    }

    /// `PingPong`: the pongs to `pings`, as they come.
    pub(crate) async fn ping_pong(
        &self,
        pings: impl tokio_stream::Stream<Item = Ping> + Send + 'static,
    ) -> tonic::Streaming<Ping> {
        let mut grpc = self.grpc.clone();
        grpc.ready().await.expect("raw tonic channel ready");
        let path = PathAndQuery::from_static("/bench.v1.Bench/PingPong");
        let codec = tonic_prost::ProstCodec::<Ping, Ping>::default();
        let reply = grpc.streaming(tonic::Request::new(pings), path, codec).await;
        reply.expect("raw tonic PingPong").into_inner()
    }

    /// `Hold`: waits `milliseconds` on the server (the benchmark drops this future to cancel it).
    pub(crate) async fn hold(&self, milliseconds: u32) {
        let mut grpc = self.grpc.clone();
        grpc.ready().await.expect("raw tonic channel ready");
        let path = PathAndQuery::from_static("/bench.v1.Bench/Hold");
        let codec = tonic_prost::ProstCodec::<HoldRequest, HoldReply>::default();
        grpc.unary(tonic::Request::new(HoldRequest { milliseconds }), path, codec).await.expect("raw tonic Hold");
    }

    /// `LastDrop`: when the server last dropped a `Hold` before its end.
    pub(crate) async fn last_drop(&self) -> u64 {
        let mut grpc = self.grpc.clone();
        grpc.ready().await.expect("raw tonic channel ready");
        let path = PathAndQuery::from_static("/bench.v1.Bench/LastDrop");
        let codec = tonic_prost::ProstCodec::<(), DropTime>::default();
        let reply = grpc.unary(tonic::Request::new(()), path, codec).await;
        reply.expect("raw tonic LastDrop").into_inner().dropped_unix_ns
    }

    /// A subscription to `Ticks`: its stream has begun (and the server counts it) on return.
    pub(crate) async fn subscribe_ticks(&self) -> tonic::Streaming<RawTick> {
        let mut grpc = self.grpc.clone();
        grpc.ready().await.expect("raw tonic channel ready");
        let path = PathAndQuery::from_static("/bench.v1.Bench/Ticks");
        let codec = tonic_prost::ProstCodec::<(), RawTick>::default();
        let reply = grpc.server_streaming(tonic::Request::new(()), path, codec).await;
        reply.expect("raw tonic Ticks").into_inner()
    }
}

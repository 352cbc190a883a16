//! One HERO the tool talks to: its record, a channel to its server, its interfaces as the server
//! describes them (reflection), and calls of every kind (unary, streaming either way or both)
//! with the `heros-name` / `heros-realm` headers.

use std::time::Duration;

use anyhow::{anyhow, Result};
use heros_runtime::proto::HeroInfo;
use http::uri::PathAndQuery;
use prost_reflect::{DescriptorPool, DynamicMessage, MethodDescriptor};
use tokio_stream::Stream;
use tonic::metadata::AsciiMetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::codec::{DynamicCodec, Received};
use crate::interface::Member;
use crate::remote::RemoteError;

/// HEROs may send large replies; the runtime's own limit (256 MiB) applies here too.
const MAX_MESSAGE_SIZE: usize = heros_runtime::DEFAULT_MAX_MESSAGE_SIZE;

pub(crate) struct Hero {
    pub(crate) info: HeroInfo,
    /// The endpoint the channel is connected to.
    pub(crate) endpoint: String,
    pub(crate) channel: HeroChannel,
    pub(crate) pool: DescriptorPool,
    pub(crate) members: Vec<Member>,
    timeout: Duration,
}

impl Hero {
    /// Connects to the first endpoint of `info` that accepts, and reads its interfaces.
    pub(crate) async fn connect(info: HeroInfo, timeout: Duration) -> Result<Hero> {
        let (endpoint, channel) = dial(&info.endpoints, timeout).await?;
        let pool = crate::reflection::descriptors(channel.clone(), &endpoint, &info.interfaces).await?;
        let members = crate::interface::members(&pool, &info.interfaces)?;
        Ok(Hero { info, endpoint, channel, pool, members, timeout })
    }

    /// A request to this HERO: its name and realm in the headers, the tool's deadline.
    pub(crate) fn request<T>(&self, message: T, deadline: bool) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        let metadata = request.metadata_mut();
        metadata.insert(heros_runtime::wire::NAME_HEADER, encode_header(&self.info.name));
        metadata.insert(heros_runtime::wire::REALM_HEADER, encode_header(&self.info.realm));
        if deadline {
            request.set_timeout(self.timeout);
        }
        request
    }

    fn grpc(&self) -> tonic::client::Grpc<HeroChannel> {
        tonic::client::Grpc::new(self.channel.clone())
            .max_decoding_message_size(MAX_MESSAGE_SIZE)
            .max_encoding_message_size(MAX_MESSAGE_SIZE)
    }

    /// Calls a unary rpc.
    pub(crate) async fn unary(&self, method: &MethodDescriptor, request: DynamicMessage) -> Result<DynamicMessage> {
        let mut grpc = self.grpc();
        grpc.ready().await.map_err(|e| anyhow!("cannot reach {}: {e}", self.endpoint))?;
        let call = grpc.unary(self.request(request, true), path(method)?, DynamicCodec::new(method.output()));
        // The deadline travels as grpc-timeout; this also covers a server that stopped answering.
        let reply = tokio::time::timeout(self.timeout + Duration::from_secs(1), call)
            .await
            .map_err(|_| anyhow!("{} did not answer within {:?}", self.info.name, self.timeout))?;
        reply.map_err(|status| RemoteError::from_status(&status))?.into_inner().into_reply(method)
    }

    /// Calls a server-streaming rpc: an event to subscribe to, or a method that streams its
    /// replies. No deadline: it runs until the stream ends or the tool is stopped.
    pub(crate) async fn server_streaming(
        &self,
        method: &MethodDescriptor,
        request: DynamicMessage,
    ) -> Result<tonic::Streaming<Received>> {
        let mut grpc = self.grpc();
        grpc.ready().await.map_err(|e| anyhow!("cannot reach {}: {e}", self.endpoint))?;
        let call =
            grpc.server_streaming(self.request(request, false), path(method)?, DynamicCodec::new(method.output()));
        Ok(call.await.map_err(|status| RemoteError::from_status(&status))?.into_inner())
    }

    /// Calls a client-streaming method: each of `requests` is sent when HTTP/2 has room for it,
    /// and the one reply comes back. No deadline: the requests may come as slowly as a person
    /// types them.
    pub(crate) async fn client_streaming(
        &self,
        method: &MethodDescriptor,
        requests: impl Stream<Item = DynamicMessage> + Send + 'static,
    ) -> Result<DynamicMessage> {
        let mut grpc = self.grpc();
        grpc.ready().await.map_err(|e| anyhow!("cannot reach {}: {e}", self.endpoint))?;
        let call =
            grpc.client_streaming(self.request(requests, false), path(method)?, DynamicCodec::new(method.output()));
        call.await.map_err(|status| RemoteError::from_status(&status))?.into_inner().into_reply(method)
    }

    /// Calls a bidirectional method: `requests` go out as they come, while the replies are read.
    pub(crate) async fn bidi_streaming(
        &self,
        method: &MethodDescriptor,
        requests: impl Stream<Item = DynamicMessage> + Send + 'static,
    ) -> Result<tonic::Streaming<Received>> {
        let mut grpc = self.grpc();
        grpc.ready().await.map_err(|e| anyhow!("cannot reach {}: {e}", self.endpoint))?;
        let call = grpc.streaming(self.request(requests, false), path(method)?, DynamicCodec::new(method.output()));
        Ok(call.await.map_err(|status| RemoteError::from_status(&status))?.into_inner())
    }
}

/// `/<package>.<Service>/<Method>`.
fn path(method: &MethodDescriptor) -> Result<PathAndQuery> {
    let path = format!("/{}/{}", method.parent_service().full_name(), method.name());
    PathAndQuery::try_from(path.as_str()).map_err(|e| anyhow!("bad rpc path {path}: {e}"))
}

/// A connection to a server, every request carrying the realm's shared token if one is set.
pub(crate) type HeroChannel = InterceptedService<Channel, WithToken>;

/// The shared token of a token-secured realm (`--token`, `HEROS_TOKEN`), set once at start.
static TOKEN: std::sync::OnceLock<tonic::metadata::AsciiMetadataValue> = std::sync::OnceLock::new();

/// Every call of the tool carries `authorization: Bearer <token>` (docs/PROTOCOL.md, "Security").
pub(crate) fn use_token(token: &str) -> Result<()> {
    let value = format!("Bearer {token}")
        .parse()
        .map_err(|_| anyhow!("--token / HEROS_TOKEN: not a valid header value (visible ASCII only)"))?;
    let _ = TOKEN.set(value);
    Ok(())
}

/// Adds the token to each request (nothing without one).
#[derive(Clone, Copy)]
pub(crate) struct WithToken;

impl tonic::service::Interceptor for WithToken {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(token) = TOKEN.get() {
            request.metadata_mut().insert("authorization", token.clone());
        }
        Ok(request)
    }
}

/// TLS for a secured realm (`--credentials`), set once at start.
static TLS: std::sync::OnceLock<ClientTlsConfig> = std::sync::OnceLock::new();

/// Calls go over TLS with the credentials folder `dir` (`ca.pem`, `cert.pem`, `key.pem`).
pub(crate) fn use_credentials(dir: &std::path::Path) -> Result<()> {
    let read = |file: &str| {
        std::fs::read_to_string(dir.join(file))
            .map_err(|e| anyhow!("--credentials: {}: {e} (made by `heros realm issue`)", dir.join(file).display()))
    };
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(read("ca.pem")?))
        .identity(Identity::from_pem(read("cert.pem")?, read("key.pem")?))
        // Every certificate of a realm carries this name: servers are reached by address.
        .domain_name(heros_runtime::security::realm::SERVER_NAME);
    let _ = TLS.set(tls);
    Ok(())
}

/// The first of `endpoints` (`http://host:port`) that accepts a connection.
pub(crate) async fn dial(endpoints: &[String], timeout: Duration) -> Result<(String, HeroChannel)> {
    let mut failures = Vec::new();
    for endpoint in endpoints {
        let mut target = Endpoint::from_shared(match TLS.get() {
            Some(_) => endpoint.replacen("http://", "https://", 1),
            None => endpoint.clone(),
        })
        .map_err(|e| anyhow!("bad endpoint '{endpoint}': {e}"))?;
        if let Some(tls) = TLS.get() {
            target = target.tls_config(tls.clone()).map_err(|e| anyhow!("TLS for '{endpoint}': {e}"))?;
        }
        let connecting = target
            .connect_timeout(timeout.min(Duration::from_secs(3)))
            // Reflection, a call and a watch share one connection.
            .http2_keep_alive_interval(Duration::from_secs(20))
            .connect()
            .await;
        match connecting {
            Ok(channel) => return Ok((endpoint.clone(), InterceptedService::new(channel, WithToken))),
            Err(error) => failures.push(format!("{endpoint}: {}", source_text(&error))),
        }
    }
    if failures.is_empty() {
        return Err(anyhow!("no endpoint to connect to"));
    }
    Err(anyhow!("cannot connect: {}", failures.join("; ")))
}

/// The innermost cause, which says what happened ("Connection refused").
fn source_text(error: &(dyn std::error::Error + 'static)) -> String {
    let mut inner = error;
    while let Some(source) = inner.source() {
        inner = source;
    }
    inner.to_string()
}

/// A HERO name or realm as the runtime writes it into a header (percent-encoded ASCII).
fn encode_header(value: &str) -> AsciiMetadataValue {
    let value = heros_runtime::wire::encode_header(value);
    AsciiMetadataValue::try_from(value.as_bytes()).expect("the runtime writes visible ASCII")
}

#[cfg(test)]
mod tests {
    #[test]
    fn header_values_are_percent_encoded() {
        assert_eq!(super::encode_header("Öfen-3").to_str().unwrap(), "%C3%96fen-3");
        assert_eq!(super::encode_header("a%b").to_str().unwrap(), "a%25b");
    }
}

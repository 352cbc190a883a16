//! The server's codec: prost, except that a request whose bytes do not decode is the caller's
//! fault (INVALID_ARGUMENT naming the expected message), not the server's (tonic says INTERNAL).

use std::marker::PhantomData;

use prost::Message;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder};
use tonic::Status;
use tonic_prost::ProstEncoder;

use crate::error::Error;

/// Encodes replies `E`, decodes requests `D` (full protobuf name `request_type`).
pub(crate) struct ServerCodec<E, D> {
    request_type: &'static str,
    _types: PhantomData<fn(E) -> D>,
}

impl<E, D> ServerCodec<E, D> {
    pub(crate) fn new(request_type: &'static str) -> Self {
        ServerCodec { request_type, _types: PhantomData }
    }
}

impl<E, D> Codec for ServerCodec<E, D>
where
    E: Message + Send + 'static,
    D: Message + Default + Send + 'static,
{
    type Encode = E;
    type Decode = D;
    type Encoder = ProstEncoder<E>;
    type Decoder = RequestDecoder<D>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::new(BufferSettings::default())
    }

    fn decoder(&mut self) -> Self::Decoder {
        RequestDecoder { request_type: self.request_type, _type: PhantomData }
    }
}

pub(crate) struct RequestDecoder<D> {
    request_type: &'static str,
    _type: PhantomData<fn() -> D>,
}

impl<D: Message + Default> Decoder for RequestDecoder<D> {
    type Item = D;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<D>, Status> {
        D::decode(buf).map(Some).map_err(|error| {
            Error::invalid_argument(format!("request bytes do not decode as {}: {error}", self.request_type))
                .to_status()
        })
    }
}

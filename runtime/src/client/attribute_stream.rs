//! The watcher's side of an attribute: [`AttributeStream`], the values a stub's `watch_x()`
//! yields, decoded from the encoded value messages either transport delivers.

use std::pin::Pin;

use bytes::Bytes;
use tokio_stream::{Stream, StreamExt};

use crate::error::{Error, Result};

/// What a stub's `watch_x()` returns: the attribute's current value, then each new one (the
/// latest, for a watcher that falls behind). It ends when the HERO leaves, with an `Err` when
/// its server goes away.
pub type AttributeStream<V> = Pin<Box<dyn Stream<Item = Result<V>> + Send>>;

/// Decodes encoded value messages into values.
pub(crate) fn decode_values<M, V>(
    messages: impl Stream<Item = Result<Bytes>> + Send + 'static,
    unwrap: fn(M) -> Option<V>,
    attribute: &'static str,
) -> AttributeStream<V>
where
    M: prost::Message + Default + 'static,
    V: 'static,
{
    Box::pin(messages.map(move |message| {
        let message = M::decode(message?).map_err(|e| Error::Rpc {
            code: tonic::Code::Internal,
            message: format!("a value of attribute '{attribute}' does not decode: {e}"),
        })?;
        crate::client::stub::attribute_value(unwrap(message), attribute)
    }))
}

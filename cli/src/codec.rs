//! A tonic codec for messages known only at run time (`prost_reflect::DynamicMessage`), which
//! also reads the missed-events count a best-effort event stream may carry (docs/PROTOCOL.md,
//! Events): a key for field 536870911 before the message's own fields, or a message of only
//! field 536870910.

use bytes::Buf;
use heros_runtime::wire::MissedPrefix;
use prost::Message;
use prost_reflect::{DynamicMessage, MessageDescriptor};
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::Status;

/// One message received: a reply, or a stream message with the count of events missed before it.
#[derive(Debug, Clone)]
pub(crate) enum Received {
    /// A message, after `missed` messages that were dropped (always 0 for replies).
    Message { missed: u64, message: DynamicMessage },
    /// Only a count of dropped messages; no message.
    Missed(u64),
}

impl Received {
    /// The message of a method's reply: methods do not drop messages, so a missed-events count
    /// is not an answer.
    pub(crate) fn into_reply(self, method: &prost_reflect::MethodDescriptor) -> anyhow::Result<DynamicMessage> {
        match self {
            Received::Message { message, .. } => Ok(message),
            Received::Missed(_) => Err(anyhow::anyhow!("a reply of {} was a missed-events notice", method.full_name())),
        }
    }
}

/// Encodes any `DynamicMessage`, decodes the reply as `reply`.
#[derive(Debug, Clone)]
pub(crate) struct DynamicCodec {
    reply: MessageDescriptor,
}

impl DynamicCodec {
    pub(crate) fn new(reply: MessageDescriptor) -> Self {
        DynamicCodec { reply }
    }
}

impl Codec for DynamicCodec {
    type Encode = DynamicMessage;
    type Decode = Received;
    type Encoder = DynamicEncoder;
    type Decoder = DynamicDecoder;

    fn encoder(&mut self) -> DynamicEncoder {
        DynamicEncoder
    }

    fn decoder(&mut self) -> DynamicDecoder {
        DynamicDecoder { reply: self.reply.clone() }
    }
}

#[derive(Debug)]
pub(crate) struct DynamicEncoder;

impl Encoder for DynamicEncoder {
    type Item = DynamicMessage;
    type Error = Status;

    fn encode(&mut self, item: DynamicMessage, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.encode(dst).map_err(|e| Status::internal(format!("cannot encode the request: {e}")))
    }

    fn buffer_settings(&self) -> BufferSettings {
        BufferSettings::default()
    }
}

#[derive(Debug)]
pub(crate) struct DynamicDecoder {
    reply: MessageDescriptor,
}

impl Decoder for DynamicDecoder {
    type Item = Received;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Received>, Status> {
        let bytes = src.copy_to_bytes(src.remaining());
        decode(&self.reply, &bytes).map(Some)
    }
}

/// Decodes one message of type `reply`, reading a leading missed count first.
pub(crate) fn decode(reply: &MessageDescriptor, mut bytes: &[u8]) -> Result<Received, Status> {
    let bad = |e: &dyn std::fmt::Display| {
        Status::internal(format!("the reply does not decode as {}: {e}", reply.full_name()))
    };
    let missed = match heros_runtime::wire::read_missed_prefix(&mut bytes).map_err(|e| bad(&e))? {
        MissedPrefix::Only(count) => return Ok(Received::Missed(count)),
        MissedPrefix::Before(count) => count,
        MissedPrefix::None => 0,
    };
    let message = DynamicMessage::decode(reply.clone(), bytes).map_err(|e| bad(&e))?;
    Ok(Received::Message { missed, message })
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost_reflect::{DescriptorPool, Value};

    fn empty_like() -> MessageDescriptor {
        // google.protobuf.Duration: two varint fields, in prost-reflect's built-in pool.
        DescriptorPool::global().get_message_by_name("google.protobuf.Duration").unwrap()
    }

    #[test]
    fn a_missed_count_before_a_message_is_read_and_skipped() {
        let mut bytes = vec![0xF8, 0xFF, 0xFF, 0xFF, 0x0F]; // the key of field 536870911, varint
        prost::encoding::encode_varint(3, &mut bytes);
        bytes.extend_from_slice(&[0x08, 0x07]); // seconds = 7
        match decode(&empty_like(), &bytes).unwrap() {
            Received::Message { missed, message } => {
                assert_eq!(missed, 3);
                assert_eq!(message.get_field_by_name("seconds").unwrap().into_owned(), Value::I64(7));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_missed_notice_is_not_a_message() {
        let mut bytes = vec![0xF0, 0xFF, 0xFF, 0xFF, 0x0F]; // the key of field 536870910, varint
        prost::encoding::encode_varint(300, &mut bytes);
        assert!(matches!(decode(&empty_like(), &bytes).unwrap(), Received::Missed(300)));
    }

    #[test]
    fn a_plain_message_has_nothing_missed() {
        assert!(matches!(decode(&empty_like(), &[0x08, 0x01]).unwrap(), Received::Message { missed: 0, .. }));
    }
}

//! Generated typed stubs on HEROs found over zenoh: a [`ForeignTransport`] that sends each call of
//! a `<Service>Remote` stub as the query Python's `RemoteHERO` would send, guided by the
//! interface's descriptors. A method's request goes out as keyword arguments by field name and
//! its reply value comes back into the reply message (`mapping`); an attribute's request without
//! a value reads it, with one sets it; an event's values come as its messages.
//!
//! What Python HEROS has no counterpart for is refused with `Unimplemented`: streaming methods,
//! handles, callbacks, operations and attribute watches (the runtime refuses the last four).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use heros_runtime::{EncodedMessages, ForeignFuture, ForeignTransport, Interface, MemberKind};
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor};

use crate::error::{Error, Result};
use crate::mapping;
use crate::remote::RemoteHero;

/// One rpc of the stub's interface, as the HERO on zenoh has it.
struct Member {
    /// Its name on zenoh (`read_temp`).
    python_name: String,
    kind: MemberKind,
    /// A streaming method (no counterpart in Python HEROS).
    streams: bool,
    request: MessageDescriptor,
    reply: MessageDescriptor,
}

/// A typed stub's transport to a HERO on zenoh.
pub(crate) struct ZenohTransport {
    hero: RemoteHero,
    /// By gRPC path, `/package.Service/Method`.
    members: HashMap<String, Arc<Member>>,
    endpoint: String,
}

impl ZenohTransport {
    pub(crate) fn new(hero: RemoteHero, interface: &'static Interface) -> Result<Self> {
        let pool = DescriptorPool::decode(interface.descriptor_set)
            .map_err(|e| Error::Protocol(format!("the descriptors of {} do not decode: {e}", interface.name)))?;
        let message = |name: &str| {
            pool.get_message_by_name(name)
                .ok_or_else(|| Error::Protocol(format!("{name} is not in the descriptors of {}", interface.name)))
        };
        let mut members = HashMap::new();
        for member in interface.members {
            let entry = Member {
                python_name: mapping::member_name(member.name),
                kind: member.kind,
                streams: member.streams_requests
                    || (member.streams_replies && !matches!(member.kind, MemberKind::Event { .. })),
                request: message(member.request_type)?,
                reply: message(member.reply_type)?,
            };
            members.insert(format!("/{}/{}", interface.name, member.name), Arc::new(entry));
        }
        let endpoint = format!("zenoh:{}", hero.base());
        Ok(ZenohTransport { hero, members, endpoint })
    }

    fn member(&self, path: &str) -> Result<&Arc<Member>, heros_runtime::Error> {
        self.members.get(path).ok_or_else(|| heros_runtime::Error::Rpc {
            code: tonic::Code::Unimplemented,
            message: format!("{path} is not an rpc of the stub's interface"),
        })
    }

    async fn call(&self, member: &Member, request: Bytes, timeout: Option<Duration>) -> Result<Bytes> {
        let name = &member.python_name;
        let request = DynamicMessage::decode(member.request.clone(), request)
            .map_err(|e| Error::InvalidArgument(format!("{name}: the request does not decode: {e}")))?;
        let reply = match member.kind {
            MemberKind::Attribute { .. } => {
                self.hero.member(name, "attribute")?;
                let value = member.request.get_field_by_name("value").filter(|f| request.has_field(f));
                match value {
                    // A set answers nothing worth reading: the stub takes the request's value back.
                    Some(_) => {
                        self.hero.ask(name, Some(mapping::reply_value(&request)?), timeout).await?;
                        return Ok(request.encode_to_vec().into());
                    }
                    None => self.hero.ask(name, None, timeout).await?,
                }
            }
            MemberKind::Event { .. } => {
                return Err(Error::Unsupported(format!("'{name}' is an event: subscribe to it, do not call it")))
            }
            _ if member.streams => {
                return Err(Error::Unsupported(format!("'{name}' is a streaming method; Python HEROS has no streams")))
            }
            _ => {
                self.hero.member(name, "method")?;
                self.hero.ask(name, Some(mapping::call_from_request(&request)?), timeout).await?
            }
        };
        let reply = mapping::reply_message(&member.reply, &reply).map_err(|e| {
            Error::Protocol(format!("the reply of {name} does not fit {}: {e}", member.reply.full_name()))
        })?;
        Ok(reply.encode_to_vec().into())
    }

    async fn subscribe(&self, member: Arc<Member>) -> Result<EncodedMessages> {
        if !matches!(member.kind, MemberKind::Event { .. }) {
            return Err(Error::Unsupported(format!(
                "'{}' is a streaming method; Python HEROS has no streams",
                member.python_name
            )));
        }
        let subscription = self.hero.subscribe(&member.python_name).await?;
        let messages = futures_util::stream::unfold((subscription, member), |(subscription, member)| async move {
            let value = subscription.recv_cbor().await?;
            let message = mapping::reply_message(&member.reply, &value)
                .map(|message| Bytes::from(message.encode_to_vec()))
                .map_err(|e| {
                    heros_runtime::Error::from(Error::Protocol(format!(
                        "an event of {} does not fit {}: {e}",
                        member.python_name,
                        member.reply.full_name()
                    )))
                });
            Some((message, (subscription, member)))
        });
        Ok(Box::pin(messages))
    }
}

impl ForeignTransport for ZenohTransport {
    fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn unary<'a>(&'a self, path: &'static str, request: Bytes, timeout: Option<Duration>) -> ForeignFuture<'a, Bytes> {
        Box::pin(async move { Ok(self.call(self.member(path)?, request, timeout).await?) })
    }

    fn subscribe<'a>(&'a self, path: &'static str) -> ForeignFuture<'a, EncodedMessages> {
        Box::pin(async move { Ok(self.subscribe(self.member(path)?.clone()).await?) })
    }
}

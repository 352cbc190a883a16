//! What a generated interface is, as both sides of the runtime see it: its description
//! (`Interface`, `Member`, `MemberKind`: the registry, reflection and the CLI read these) and
//! `AnyMessage`, the form a message of a generated type takes when it passes within the process.
//! The server's half of the generated-code contract is `server::service`, the client's half is
//! `client::stub`; this file imports neither, so each half can be read on its own.

use std::any::Any;

/// A message of some generated type, passed within the process (an in-process call's request
/// and reply): the stub and the HERO's server were generated from the same `.proto`, so each
/// side knows the type by the rpc's path and takes it back out with a checked downcast.
pub type AnyMessage = Box<dyn Any + Send>;

/// A stream of messages that a streaming HERO method takes (a client-streaming or
/// bidirectional rpc) or returns (a server-streaming or bidirectional rpc), on either side: an
/// `Err` item says the stream broke (the caller went away, the HERO failed), and ends it.
pub type Streaming<T> = std::pin::Pin<Box<dyn tokio_stream::Stream<Item = crate::error::Result<T>> + Send>>;

/// The items of a server stream, typed (for an event subscription `(missed, Option<message>)`
/// per frame), as either transport hands it to the stub: inside an [`AnyMessage`], so one
/// downcast per subscription and none per item.
pub(crate) type ItemStream<T> = Streaming<T>;

/// The messages a stub sends on a client stream, as it hands them to its transport inside an
/// [`AnyMessage`]: the network encodes them as they come, a HERO of this process takes them as
/// they are.
pub(crate) type RequestItems<T> = std::pin::Pin<Box<dyn tokio_stream::Stream<Item = T> + Send>>;

/// A HERO interface as the registry describes it (generated as `<SERVICE>_INTERFACE`).
#[derive(Debug)]
pub struct Interface {
    /// Full protobuf service name.
    pub name: &'static str,
    /// The service's `.proto` comment.
    pub doc: &'static str,
    /// Tags from `option (heros.v1.interface)`.
    pub tags: &'static [&'static str],
    /// Methods, attributes and events, in `.proto` order.
    pub members: &'static [Member],
    /// The encoded `FileDescriptorSet` of the interface's package and its imports, for gRPC
    /// reflection (generated beside the code).
    pub descriptor_set: &'static [u8],
}

/// One rpc of an interface.
#[derive(Debug)]
pub struct Member {
    /// The rpc name, e.g. `ReadTemp`.
    pub name: &'static str,
    /// What the rpc is to the HERO.
    pub kind: MemberKind,
    /// Full protobuf name of the request message.
    pub request_type: &'static str,
    /// Full protobuf name of the reply message.
    pub reply_type: &'static str,
    /// The rpc's `.proto` comment.
    pub doc: &'static str,
    /// The caller sends a stream of requests (a client-streaming or bidirectional method).
    pub streams_requests: bool,
    /// The HERO answers with a stream of replies (a server-streaming or bidirectional method;
    /// an event, too).
    pub streams_replies: bool,
    /// A method that can be started as an operation (`option (heros.v1.method) = { long_running:
    /// true }`).
    pub long_running: bool,
}

/// Method, attribute or event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MemberKind {
    /// A method: request in, reply out.
    Method,
    /// An attribute: request and reply are the value message.
    Attribute {
        /// Setting is refused.
        readonly: bool,
    },
    /// An event: a server stream of every message the HERO emits.
    Event {
        /// Nothing is dropped (else best-effort).
        reliable: bool,
    },
}

impl Interface {
    /// Names of all members, for error messages.
    pub fn member_names(&self) -> Vec<String> {
        self.members.iter().map(|m| m.name.to_owned()).collect()
    }
}

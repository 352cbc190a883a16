//! Watching attributes (`heros.v1.Attributes/Watch`): the current value, then every new one. The
//! HERO's `Attribute<T>` cell already tells watchers of each change; this puts those changes on a
//! server stream, routed to the HERO like any of its calls.

use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};

use crate::error::Result;
use crate::interface::MemberKind;
use crate::proto::{attributes_server::Attributes, AttributeValue, WatchRequest};
use crate::server::routing::HeroTable;
use crate::wire::metadata::{decode_value, NAME_HEADER, REALM_HEADER};

/// Full name of the service; the router sends its calls here.
pub(crate) const SERVICE_NAME: &str = "heros.v1.Attributes";

/// An attribute's values, each as its encoded value message.
pub type AttributeWatch = Pin<Box<dyn Stream<Item = Bytes> + Send>>;

/// The values of an attribute cell from now on, encoded (used by generated code).
pub fn watch_attribute<V, M>(mut values: tokio::sync::watch::Receiver<V>, wrap: fn(V) -> M) -> AttributeWatch
where
    V: Clone + Send + Sync + 'static,
    M: prost::Message + 'static,
{
    let encode = move |value: V| Bytes::from(wrap(value).encode_to_vec());
    let first = encode(values.borrow_and_update().clone());
    // Each later value, until the cell itself is dropped; a watcher that falls behind gets the
    // latest value, not every one in between.
    let changes = tokio_stream::wrappers::WatchStream::from_changes(values).map(encode);
    Box::pin(tokio_stream::once(first).chain(changes))
}

/// A stream that ends when its HERO leaves.
struct UntilLeft<S> {
    values: S,
    left: Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
}

impl<S: Stream + Unpin> Stream for UntilLeft<S> {
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<S::Item>> {
        if self.left.as_mut().poll(cx).is_ready() {
            return std::task::Poll::Ready(None);
        }
        Pin::new(&mut self.values).poll_next(cx)
    }
}

pub(crate) struct AttributeService {
    pub(crate) table: Arc<HeroTable>,
}

impl HeroTable {
    /// The values of `attribute` of `interface` of the HERO a call names, ending when the HERO
    /// leaves.
    pub(crate) fn watch(
        &self,
        name: Option<&str>,
        caller_realm: Option<&str>,
        interface: &str,
        attribute: &str,
    ) -> Result<AttributeWatch> {
        let entry = self.select(name, caller_realm, interface)?;
        let service = entry.implementation(interface)?;
        let values = service.watch(attribute).ok_or_else(|| {
            let attributes =
                service.interface().members.iter().filter(|m| matches!(m.kind, MemberKind::Attribute { .. }));
            entry.no_member_of_kind(service, attribute, "attribute", attributes.map(|m| m.name.to_owned()).collect())
        })?;
        Ok(Box::pin(UntilLeft { values, left: Box::pin(entry.leaving()) }))
    }
}

#[tonic::async_trait]
impl Attributes for AttributeService {
    type WatchStream = Pin<Box<dyn Stream<Item = Result<AttributeValue, Status>> + Send>>;

    async fn watch(&self, request: Request<WatchRequest>) -> Result<Response<Self::WatchStream>, Status> {
        let headers = request.metadata().clone().into_headers();
        let name = decode_value(headers.get(NAME_HEADER), NAME_HEADER)?;
        let realm = decode_value(headers.get(REALM_HEADER), REALM_HEADER)?;
        let WatchRequest { interface, attribute } = request.into_inner();
        let values = crate::server::routing::from_network(|| {
            self.table.watch(name.as_deref(), realm.as_deref(), &interface, &attribute)
        })?;
        Ok(Response::new(Box::pin(values.map(|message| Ok(AttributeValue { message })))))
    }
}

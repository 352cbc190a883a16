//! The `heros.v1.Registry` service every server hosts: which HEROs live here and what they offer.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use crate::interface::{Interface, MemberKind};
use crate::proto::{
    registry_server::Registry, AttributeDescription, Delivery, DescribeHeroRequest, EventDescription, HandleStats,
    HandleStatsRequest, HeroDescription, InterfaceDescription, ListHerosReply, ListHerosRequest, MethodDescription,
};
use crate::server::routing::HeroTable;

/// Full name of the registry service; the router sends its calls here without a `heros-name`.
pub(crate) const SERVICE_NAME: &str = "heros.v1.Registry";

pub(crate) struct RegistryService {
    pub(crate) table: Arc<HeroTable>,
}

#[tonic::async_trait]
impl Registry for RegistryService {
    async fn list_heros(&self, request: Request<ListHerosRequest>) -> Result<Response<ListHerosReply>, Status> {
        let realm = request.into_inner().realm;
        let heros = self
            .table
            .all()
            .into_iter()
            .filter(|h| realm.is_empty() || h.realm() == realm)
            .map(|h| h.info.clone())
            .collect();
        Ok(Response::new(ListHerosReply { heros }))
    }

    async fn describe_hero(&self, request: Request<DescribeHeroRequest>) -> Result<Response<HeroDescription>, Status> {
        // Any realm: the registry describes every HERO of the server.
        let entry = self.table.entry(&request.into_inner().name, None).map_err(|error| error.to_status())?;
        let interfaces = entry.services.iter().map(|s| describe(s.interface())).collect();
        Ok(Response::new(HeroDescription { info: Some(entry.info.clone()), interfaces }))
    }

    async fn get_handle_stats(&self, _request: Request<HandleStatsRequest>) -> Result<Response<HandleStats>, Status> {
        Ok(Response::new(self.table.handles.stats()))
    }
}

/// The wire form of a generated interface description.
pub(crate) fn describe(interface: &Interface) -> InterfaceDescription {
    let mut description =
        InterfaceDescription { name: interface.name.to_owned(), doc: interface.doc.to_owned(), ..Default::default() };
    for member in interface.members {
        match member.kind {
            MemberKind::Method => description.methods.push(MethodDescription {
                name: member.name.to_owned(),
                request_type: member.request_type.to_owned(),
                reply_type: member.reply_type.to_owned(),
                doc: member.doc.to_owned(),
            }),
            MemberKind::Attribute { readonly } => description.attributes.push(AttributeDescription {
                name: member.name.to_owned(),
                value_type: member.request_type.to_owned(),
                readonly,
                doc: member.doc.to_owned(),
            }),
            MemberKind::Event { reliable } => description.events.push(EventDescription {
                name: member.name.to_owned(),
                request_type: member.request_type.to_owned(),
                message_type: member.reply_type.to_owned(),
                delivery: if reliable { Delivery::Reliable } else { Delivery::BestEffort } as i32,
                doc: member.doc.to_owned(),
            }),
        }
    }
    description
}

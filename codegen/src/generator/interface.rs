//! The interface description: `static SVC_INTERFACE`, what the registry reports of the interface
//! (name, docs, tags, members and their kinds, and the package's descriptor set).

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::{doc_text, MemberCode, Service};
use crate::model::Role;

/// `static SVC_INTERFACE: Interface = ..`.
pub(super) fn generate(svc: &Service) -> TokenStream {
    let rt = &svc.rt;
    let members: Vec<TokenStream> = svc.members.iter().map(|code| member(code, rt)).collect();
    let full_name = &svc.interface.full_name;
    let description_name = &svc.description_name;
    let description_doc = format!(" What `{full_name}` offers, as the registry describes it.");
    let service_doc = doc_text(&svc.service.comments.leading);
    let tags = &svc.interface.tags;
    let descriptor_set = format_ident!("{}", crate::descriptors::static_name(&svc.service.package));
    quote! {
        #[doc = #description_doc]
        pub static #description_name: #rt::codegen::Interface = #rt::codegen::Interface {
            name: #full_name,
            doc: #service_doc,
            tags: &[#(#tags),*],
            members: &[#(#members),*],
            descriptor_set: #descriptor_set,
        };
    }
}

/// One member's description; only its kind differs between methods, attributes and events.
fn member(code: &MemberCode, rt: &TokenStream) -> TokenStream {
    let member = code.member;
    let kind = match &member.role {
        Role::Method { .. } => quote!(#rt::codegen::MemberKind::Method),
        Role::Event { reliable, .. } => quote!(#rt::codegen::MemberKind::Event { reliable: #reliable }),
        Role::Attribute { readonly, .. } => quote!(#rt::codegen::MemberKind::Attribute { readonly: #readonly }),
    };
    let (streams_requests, streams_replies, long_running) = match &member.role {
        Role::Method { streams_requests, streams_replies, long_running, .. } => {
            (*streams_requests, *streams_replies, *long_running)
        }
        Role::Event { .. } => (false, true, false),
        Role::Attribute { .. } => (false, false, false),
    };
    let proto_name = &member.proto_name;
    let request_full = &member.request.full_name;
    let reply_full = &member.reply.full_name;
    let doc = &code.doc;
    quote! {
        #rt::codegen::Member {
            name: #proto_name,
            kind: #kind,
            request_type: #request_full,
            reply_type: #reply_full,
            doc: #doc,
            streams_requests: #streams_requests,
            streams_replies: #streams_replies,
            long_running: #long_running,
        }
    }
}

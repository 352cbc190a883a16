//! The local skeleton: `trait Svc`, which the object implements. Methods take the request's
//! fields and return the reply's; attributes and events are accessors to cells the object owns;
//! handle types are associated types with a provided method that describes their values.

use proc_macro2::TokenStream;
use quote::quote;

use super::{ident, path, reply, repr_method, MemberCode, Service};
use crate::model::{Field, Interface, Role, Special};
use crate::rust_types::to_snake;

/// `trait Svc { .. }`.
pub(super) fn generate(svc: &Service) -> TokenStream {
    let rt = &svc.rt;
    let mut items: Vec<TokenStream> = svc.interface.handle_types.iter().map(|(a, t)| handle_type(a, t)).collect();
    for code in &svc.members {
        items.push(match &code.member.role {
            Role::Method { streams_requests, streams_replies, .. } if *streams_requests || *streams_replies => {
                super::streaming::skeleton(code, *streams_requests, *streams_replies, rt)
            }
            Role::Method { .. } => method(code, rt),
            Role::Event { .. } => event(code, rt),
            Role::Attribute { value_type, .. } => attribute(code, value_type, rt),
        });
    }
    let service_docs = super::docs(&svc.service.comments.leading);
    let trait_name = &svc.trait_name;
    quote! {
        #service_docs
        pub trait #trait_name: ::core::marker::Send + ::core::marker::Sync + 'static {
            #(#items)*
        }
    }
}

/// A handle type's associated type and the provided method that describes its values.
fn handle_type(assoc: &str, type_name: &str) -> TokenStream {
    let assoc = ident(assoc);
    let doc = format!(" The value this HERO keeps behind `{type_name}` handles (any `Send + Sync` type).");
    let repr = repr_method(&assoc.to_string());
    let repr_doc =
        format!(" How handles to `{type_name}` describe their value to callers (default: the type name and a number).");
    quote! {
        #[doc = #doc]
        type #assoc: ::core::marker::Send + ::core::marker::Sync + 'static;
        #[doc = #repr_doc]
        fn #repr(&self, value: &Self::#assoc) -> ::core::option::Option<::std::string::String> {
            let _ = value;
            ::core::option::Option::None
        }
    }
}

/// An async method with the request's fields as arguments.
fn method(code: &MemberCode, rt: &TokenStream) -> TokenStream {
    let MemberCode { member, reply_ty, rust_name, docs, .. } = code;
    let fields = &member.request.fields;
    let arg_idents: Vec<_> = fields.iter().map(|f| ident(&f.ident)).collect();
    let arg_types: Vec<_> = fields.iter().map(|f| skeleton_type(f, rt)).collect();
    let reply = reply(&member.reply, reply_ty);
    let returns = reply.special_field.map(|f| skeleton_return_type(f, rt)).unwrap_or(reply.returns);
    quote! {
        #docs
        fn #rust_name(&self, #(#arg_idents: #arg_types),*)
            -> impl ::core::future::Future<Output = #rt::Result<#returns>> + ::core::marker::Send;
    }
}

/// The accessor to the object's `Attribute` cell.
fn attribute(code: &MemberCode, value_type: &str, rt: &TokenStream) -> TokenStream {
    let MemberCode { rust_name, docs, .. } = code;
    let value_ty = path(value_type);
    quote! {
        #docs
        fn #rust_name(&self) -> &#rt::Attribute<#value_ty>;
    }
}

/// The accessor to the object's `Event`, through which it emits.
fn event(code: &MemberCode, rt: &TokenStream) -> TokenStream {
    let MemberCode { reply_ty: message_ty, rust_name, docs, .. } = code;
    quote! {
        #docs
        fn #rust_name(&self) -> &#rt::Event<#message_ty>;
    }
}

/// A field's type in the skeleton's signature.
pub(super) fn skeleton_type(field: &Field, rt: &TokenStream) -> TokenStream {
    match &field.special {
        Special::None => path(&field.ty),
        Special::Handle { assoc, .. } => {
            let assoc = ident(assoc);
            quote!(::std::sync::Arc<Self::#assoc>)
        }
        Special::StoredMessage { rust_path, .. } => path(rust_path),
        Special::HeroRef { remote_path, .. } => {
            let _ = rt;
            path(remote_path)
        }
    }
}

/// What a skeleton returns for a special reply field.
pub(super) fn skeleton_return_type(field: &Field, rt: &TokenStream) -> TokenStream {
    match &field.special {
        Special::HeroRef { .. } => quote!(#rt::proto::HeroRef),
        _ => skeleton_type(field, rt),
    }
}

/// The provided method that describes a handle type's values must not clash with an rpc's method.
pub(super) fn check_repr_names(interface: &Interface) -> Result<(), String> {
    let full_name = &interface.full_name;
    for (assoc, type_name) in &interface.handle_types {
        let repr = repr_method(assoc).to_string();
        if let Some(member) = interface.members.iter().find(|m| to_snake(&m.proto_name) == repr) {
            return Err(format!(
                "{full_name}: rpc {} clashes with `{repr}`, the skeleton's description of {type_name} handles; rename it",
                member.proto_name
            ));
        }
    }
    Ok(())
}

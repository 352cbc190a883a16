//! The server adapter: `SvcServer<T>`, which wraps an object implementing the skeleton, and its
//! `HeroService` impl, which dispatches calls by rpc name to the skeleton (unpacking requests,
//! resolving handles and HERO references, packing replies), and serves attribute watches and
//! event subscriptions (the latter also for callbacks).

use proc_macro2::TokenStream;
use quote::quote;

use super::{ident, path, reply, repr_method, MemberCode, ReplyShape, Service};
use crate::model::{Field, Role, Special};

/// The match arms of `HeroService`'s methods, by rpc name.
#[derive(Default)]
struct Arms {
    /// `call`: every member.
    call: Vec<TokenStream>,
    /// `watch`: attributes.
    watch: Vec<TokenStream>,
    /// `subscribe_encoded`: events.
    events: Vec<TokenStream>,
}

/// `struct SvcServer<T>`, its constructors and its `HeroService` impl.
pub(super) fn generate(svc: &Service) -> TokenStream {
    let rt = &svc.rt;
    let mut arms = Arms::default();
    for code in &svc.members {
        match &code.member.role {
            Role::Method { streams_requests, streams_replies, .. } if *streams_requests || *streams_replies => {
                arms.call.push(super::streaming::server_arm(code, *streams_requests, *streams_replies, rt))
            }
            Role::Method { .. } => method(code, rt, &mut arms),
            Role::Event { reliable, buffer } => event(code, *reliable, *buffer, rt, &mut arms),
            Role::Attribute { readonly, .. } => attribute(code, *readonly, rt, &mut arms),
        }
    }
    let Arms { call: dispatch_arms, watch: watch_arms, events: event_arms } = arms;
    // Interfaces without attributes keep HeroService's default (no attribute to watch).
    let watch_fn = (!watch_arms.is_empty()).then(|| {
        quote! {
            fn watch(&self, attribute: &str) -> ::core::option::Option<#rt::codegen::AttributeWatch> {
                match attribute {
                    #(#watch_arms)*
                    _ => ::core::option::Option::None,
                }
            }
        }
    });
    // Interfaces without events keep HeroService's default (no event to forward).
    let events_fn = (!event_arms.is_empty()).then(|| {
        quote! {
            fn subscribe_encoded(&self, event: &str) -> ::core::option::Option<#rt::codegen::EncodedEvents> {
                match event {
                    #(#event_arms)*
                    _ => ::core::option::Option::None,
                }
            }
        }
    });
    let Service { trait_name, server_name, description_name, .. } = svc;
    let server_doc = format!(
        " Serves a [`{}`] as a HERO: pass it to `heros::Hero::new(name).interface(..)` or `heros::share`.",
        svc.service.name
    );
    quote! {
        #[doc = #server_doc]
        pub struct #server_name<T> {
            hero: ::std::sync::Arc<T>,
        }

        impl<T: #trait_name> #server_name<T> {
            /// Wraps the object that implements the interface.
            pub fn new(hero: T) -> Self {
                Self::from_arc(::std::sync::Arc::new(hero))
            }

            /// Wraps an object shared with other interfaces or with local code.
            pub fn from_arc(hero: ::std::sync::Arc<T>) -> Self {
                Self { hero }
            }
        }

        impl<T: #trait_name> #rt::codegen::HeroService for #server_name<T> {
            fn interface(&self) -> &'static #rt::codegen::Interface {
                &#description_name
            }

            fn call<I: #rt::codegen::Incoming>(
                &self,
                method: &str,
                call: #rt::codegen::Call<I>,
            ) -> ::core::option::Option<#rt::codegen::ReplyFuture<I::Reply>> {
                match method {
                    #(#dispatch_arms)*
                    _ => ::core::option::Option::None,
                }
            }

            #watch_fn

            #events_fn
        }
    }
}

/// A unary call: unpack the request, resolve special arguments, call the skeleton, export a
/// special reply, pack the reply.
fn method(code: &MemberCode, rt: &TokenStream, arms: &mut Arms) {
    let MemberCode { member, request_ty, reply_ty, rust_name, .. } = code;
    let proto_name = &member.proto_name;
    let request_full = &member.request.full_name;
    let fields = &member.request.fields;
    let arg_idents: Vec<_> = fields.iter().map(|f| ident(&f.ident)).collect();
    let reply = reply(&member.reply, reply_ty);
    let unpack = if member.request.is_unit {
        quote!(let () = __request;)
    } else {
        quote!(let #request_ty { #(#arg_idents),* } = __request;)
    };
    let wrap_reply = match reply.shape {
        ReplyShape::Unit => quote!(()),
        ReplyShape::EmptyMessage => quote!(#reply_ty {}),
        ReplyShape::Field { ident } => quote!(#reply_ty { #ident: __value }),
        ReplyShape::Message => quote!(__value),
    };
    let bind_value = match member.reply.is_unit || member.reply.fields.is_empty() {
        true => quote!(let () = __hero.#rust_name(#(#arg_idents),*).await?;),
        false => quote!(let __value = __hero.#rust_name(#(#arg_idents),*).await?;),
    };
    let export_value = reply.special_field.map(|f| skeleton_export(f, rt));
    let resolve_args: Vec<_> = fields.iter().filter_map(|f| skeleton_resolve(f, rt)).collect();
    let takes_refs = fields.iter().any(|f| matches!(f.special, Special::HeroRef { .. }));
    let scope = member.uses_session.then(|| quote!(let __scope = call.handles();));
    let check_session = member.uses_session.then(|| quote!(__scope.check_session()?;));
    let realm = takes_refs.then(|| quote!(let __refs = call.ref_scope();));
    arms.call.push(quote! {
        #proto_name => {
            let __hero = ::std::sync::Arc::clone(&self.hero);
            #scope
            #realm
            ::core::option::Option::Some(call.unary(#request_full, move |__request: #request_ty| async move {
                #check_session
                #unpack
                #(#resolve_args)*
                #bind_value
                #export_value
                ::core::result::Result::Ok(#wrap_reply)
            }))
        }
    });
}

/// Get and set through the object's `Attribute` cell, and watch it.
fn attribute(code: &MemberCode, readonly: bool, rt: &TokenStream, arms: &mut Arms) {
    let MemberCode { member, request_ty, rust_name, .. } = code;
    let proto_name = &member.proto_name;
    let request_full = &member.request.full_name;
    // The name in messages: the snake-case name without a raw-identifier `r#`.
    let attr_name = heck::ToSnakeCase::to_snake_case(member.proto_name.as_str());
    arms.call.push(quote! {
        #proto_name => ::core::option::Option::Some(call.attribute(
            ::std::sync::Arc::clone(&self.hero),
            #rt::codegen::AttributeAccess {
                name: #attr_name,
                message_type: #request_full,
                readonly: #readonly,
                cell: |__hero: &T| __hero.#rust_name(),
                unwrap: |__message: #request_ty| __message.value,
                wrap: |__value| #request_ty { value: ::core::option::Option::Some(__value) },
            },
        )),
    });
    arms.watch.push(quote! {
        #proto_name => ::core::option::Option::Some(#rt::codegen::watch_attribute(
            self.hero.#rust_name().watch(),
            |__value| #request_ty { value: ::core::option::Option::Some(__value) },
        )),
    });
}

/// Subscriptions to the object's `Event`, as a stream to the caller and encoded for callbacks.
fn event(code: &MemberCode, reliable: bool, buffer: u32, rt: &TokenStream, arms: &mut Arms) {
    let MemberCode { member, request_ty, reply_ty: message_ty, rust_name, .. } = code;
    let proto_name = &member.proto_name;
    let request_full = &member.request.full_name;
    let delivery = if reliable { quote!(#rt::Delivery::Reliable) } else { quote!(#rt::Delivery::BestEffort) };
    let buffer = buffer as usize;
    arms.call.push(quote! {
        #proto_name => ::core::option::Option::Some(call.event::<T, #request_ty, #message_ty>(
            #request_full,
            ::std::sync::Arc::clone(&self.hero),
            #rt::codegen::EventAccess {
                delivery: #delivery,
                buffer: #buffer,
                cell: |__hero: &T| __hero.#rust_name(),
            },
        )),
    });
    // Callbacks are best-effort whatever the event's delivery: a slow or hung target
    // must never hold up the HERO's `emit`.
    arms.events.push(quote! {
        #proto_name => ::core::option::Option::Some(#rt::codegen::encoded_events(
            self.hero.#rust_name().subscribe(#rt::Delivery::BestEffort, #buffer),
        )),
    });
}

/// The conversion of a special request field into what the skeleton takes.
pub(super) fn skeleton_resolve(field: &Field, rt: &TokenStream) -> Option<TokenStream> {
    let id = ident(&field.ident);
    let name = field.ident.trim_start_matches("r#");
    Some(match &field.special {
        Special::None => return None,
        Special::Handle { type_name, assoc } => {
            let assoc = ident(assoc);
            quote!(let #id = __scope.resolve::<T::#assoc>(#id, #name, #type_name)?;)
        }
        Special::StoredMessage { type_name, rust_path } => {
            let ty = path(rust_path);
            quote!(let #id = __scope.resolve_message::<#ty>(#id, #name, #type_name)?;)
        }
        Special::HeroRef { remote_path, .. } => {
            let ty = path(remote_path);
            quote!(let #id = #rt::codegen::resolve_ref::<#ty>(#id, #name, &__refs).await?;)
        }
    })
}

/// The conversion of what the skeleton returned into the reply field.
pub(super) fn skeleton_export(field: &Field, rt: &TokenStream) -> TokenStream {
    match &field.special {
        Special::None => quote!(),
        Special::Handle { type_name, assoc } => {
            let repr = repr_method(assoc);
            quote! {
                let __repr = __hero.#repr(&__value);
                let __value = ::core::option::Option::Some(__scope.export(__value, #type_name, __repr)?);
            }
        }
        Special::StoredMessage { .. } => {
            quote!(let __value = ::core::option::Option::Some(__scope.export_message(&__value)?);)
        }
        Special::HeroRef { interface, .. } => {
            quote!(let __value = ::core::option::Option::Some(#rt::codegen::hero_ref_for(&__value, #interface));)
        }
    }
}

//! Streaming methods in all three sections: server-streaming (one request, a stream of replies),
//! client-streaming (a stream of requests, one reply) and bidirectional. A streamed message is
//! seen by the skeleton and the stub as its unary reply would be: `()` without fields, the field's
//! value for one field, the message itself for more; the skeleton takes and returns
//! `heros::Streaming<T>`, the stub takes any `Stream<Item = T>` and returns `heros::Streaming<T>`.
//! A one-request side is spelled as a unary method's: its fields are arguments, and a single reply
//! is returned as a unary method returns it.
//!
//! A streamed message whose one field is a handle or a HERO reference is converted item by item,
//! as a unary reply's is: the skeleton takes and yields values (`Arc<Self::T>`, a stored message,
//! a typed stub or a `HeroRef`), the stub sends and receives `heros::Handle`s and typed stubs.

use proc_macro2::TokenStream;
use quote::quote;

use super::server::{skeleton_export, skeleton_resolve};
use super::skeleton::{skeleton_return_type, skeleton_type};
use super::stub::{stub_arg_type, stub_convert_arg, stub_return_type, stub_unwrap};
use super::{ident, path, reply, repr_method, MemberCode, ReplyShape};
use crate::model::{Field, Message, Special};

/// How one streamed message type appears in Rust: the item type, and the conversions between an
/// item (`__value`) and the message (`__message`).
struct Item<'a> {
    ty: TokenStream,
    /// `__value` -> the message.
    wrap: TokenStream,
    /// `__message` -> the item.
    unwrap: TokenStream,
    /// The item is the message: no conversion to write.
    identity: bool,
    /// The message's one field, when it is a handle or a reference (converted item by item).
    special: Option<&'a Field>,
}

fn item<'a>(message: &'a Message, message_ty: &TokenStream) -> Item<'a> {
    let shape = reply(message, message_ty);
    let special = shape.special_field;
    match shape.shape {
        // `()` is `google.protobuf.Empty` itself, which prost declares as `()`.
        ReplyShape::Unit => Item { ty: quote!(()), wrap: quote!(()), unwrap: quote!(()), identity: true, special },
        ReplyShape::EmptyMessage => Item {
            ty: quote!(()),
            wrap: quote!(#message_ty {}),
            unwrap: quote!({
                let _ = __message;
            }),
            identity: false,
            special,
        },
        ReplyShape::Field { ident } => Item {
            ty: shape.returns,
            wrap: quote!(#message_ty { #ident: __value }),
            unwrap: quote!(__message.#ident),
            identity: false,
            special,
        },
        ReplyShape::Message => {
            Item { ty: message_ty.clone(), wrap: quote!(__value), unwrap: quote!(__message), identity: true, special }
        }
    }
}

/// The name of a field in error messages: without a raw identifier's `r#`.
fn field_name(field: &Field) -> &str {
    field.ident.trim_start_matches("r#")
}

fn takes_refs(code: &MemberCode) -> bool {
    code.member.request.fields.iter().any(|f| matches!(f.special, Special::HeroRef { .. }))
}

/// Which `Call` and `Target` method serves the rpc kind.
fn kind(streams_requests: bool, streams_replies: bool) -> TokenStream {
    match (streams_requests, streams_replies) {
        (false, true) => quote!(server_streaming),
        (true, false) => quote!(client_streaming),
        _ => quote!(bidi_streaming),
    }
}

/// The skeleton's method.
pub(super) fn skeleton(
    code: &MemberCode,
    streams_requests: bool,
    streams_replies: bool,
    rt: &TokenStream,
) -> TokenStream {
    let MemberCode { member, request_ty, reply_ty, rust_name, docs, .. } = code;
    let inputs = if streams_requests {
        let requests = item(&member.request, request_ty);
        let ty = requests.special.map(|f| skeleton_type(f, rt)).unwrap_or(requests.ty);
        quote!(requests: #rt::Streaming<#ty>)
    } else {
        let fields = &member.request.fields;
        let arg_idents: Vec<_> = fields.iter().map(|f| ident(&f.ident)).collect();
        let arg_types: Vec<_> = fields.iter().map(|f| skeleton_type(f, rt)).collect();
        quote!(#(#arg_idents: #arg_types),*)
    };
    let output = if streams_replies {
        let replies = item(&member.reply, reply_ty);
        let ty = replies.special.map(|f| skeleton_return_type(f, rt)).unwrap_or(replies.ty);
        quote!(#rt::Streaming<#ty>)
    } else {
        let reply = reply(&member.reply, reply_ty);
        reply.special_field.map(|f| skeleton_return_type(f, rt)).unwrap_or(reply.returns)
    };
    quote! {
        #docs
        fn #rust_name(&self, #inputs)
            -> impl ::core::future::Future<Output = #rt::Result<#output>> + ::core::marker::Send;
    }
}

/// The server's dispatch arm.
pub(super) fn server_arm(
    code: &MemberCode,
    streams_requests: bool,
    streams_replies: bool,
    rt: &TokenStream,
) -> TokenStream {
    let MemberCode { member, request_ty, reply_ty, rust_name, .. } = code;
    let proto_name = &member.proto_name;
    let request_full = &member.request.full_name;
    let scope = member.uses_session.then(|| quote!(let __scope = call.handles();));
    let check_session = member.uses_session.then(|| quote!(__scope.check_session()?;));
    let refs = takes_refs(code).then(|| quote!(let __refs = call.ref_scope();));
    // What the skeleton is called with.
    let (closure_input, prepare, call_args) = if streams_requests {
        let prepare = server_requests(&item(&member.request, request_ty), request_ty, rt);
        (quote!(__requests: #rt::Streaming<#request_ty>), prepare, quote!(__requests))
    } else {
        let fields = &member.request.fields;
        let arg_idents: Vec<_> = fields.iter().map(|f| ident(&f.ident)).collect();
        let unpack = if member.request.is_unit {
            quote!(let () = __request;)
        } else {
            quote!(let #request_ty { #(#arg_idents),* } = __request;)
        };
        let resolve: Vec<_> = fields.iter().filter_map(|f| skeleton_resolve(f, rt)).collect();
        (quote!(__request: #request_ty), quote!(#unpack #(#resolve)*), quote!(#(#arg_idents),*))
    };
    // What the call answers with.
    let answer = if streams_replies {
        let replies = server_replies(&item(&member.reply, reply_ty), reply_ty, rt);
        quote! {
            let __replies = ::std::sync::Arc::clone(&__hero).#rust_name(#call_args).await?;
            ::core::result::Result::Ok(#replies)
        }
    } else {
        let reply = reply(&member.reply, reply_ty);
        let export = reply.special_field.map(|f| skeleton_export(f, rt));
        let (bind, wrap) = match reply.shape {
            ReplyShape::Unit => (quote!(let () =), quote!(())),
            ReplyShape::EmptyMessage => (quote!(let () =), quote!(#reply_ty {})),
            ReplyShape::Field { ident } => (quote!(let __value =), quote!(#reply_ty { #ident: __value })),
            ReplyShape::Message => (quote!(let __value =), quote!(__value)),
        };
        quote! {
            #bind __hero.#rust_name(#call_args).await?;
            #export
            ::core::result::Result::Ok(#wrap)
        }
    };
    let serve = kind(streams_requests, streams_replies);
    quote! {
        #proto_name => {
            let __hero = ::std::sync::Arc::clone(&self.hero);
            #scope
            #refs
            ::core::option::Option::Some(call.#serve(#request_full, move |#closure_input| async move {
                #check_session
                #prepare
                #answer
            }))
        }
    }
}

/// The caller's requests (`__requests`, a stream of messages) as the skeleton takes them.
fn server_requests(requests: &Item, request_ty: &TokenStream, rt: &TokenStream) -> TokenStream {
    let map = quote!(#rt::codegen::StreamExt::map);
    let Some(field) = requests.special else {
        if requests.identity {
            return quote!();
        }
        let unwrap = &requests.unwrap;
        return quote! {
            let __requests = ::std::boxed::Box::pin(#map(
                __requests,
                |__request| __request.map(|__message: #request_ty| #unwrap),
            ));
        };
    };
    let (f, name) = (ident(&field.ident), field_name(field));
    match &field.special {
        Special::None => unreachable!("a special field"),
        Special::Handle { type_name, assoc } => {
            let assoc = ident(assoc);
            quote! {
                let __requests = {
                    let __scope = __scope.clone();
                    ::std::boxed::Box::pin(#map(__requests, move |__request| {
                        __request.and_then(|__message: #request_ty| __scope.resolve::<T::#assoc>(__message.#f, #name, #type_name))
                    }))
                };
            }
        }
        Special::StoredMessage { type_name, rust_path } => {
            let ty = path(rust_path);
            quote! {
                let __requests = {
                    let __scope = __scope.clone();
                    ::std::boxed::Box::pin(#map(__requests, move |__request| {
                        __request.and_then(|__message: #request_ty| __scope.resolve_message::<#ty>(__message.#f, #name, #type_name))
                    }))
                };
            }
        }
        Special::HeroRef { remote_path, .. } => {
            let ty = path(remote_path);
            quote! {
                let __requests = {
                    let __refs = __refs.clone();
                    ::std::boxed::Box::pin(#rt::codegen::StreamExt::then(__requests, move |__request| {
                        let __refs = __refs.clone();
                        async move { #rt::codegen::resolve_ref::<#ty>(__request?.#f, #name, &__refs).await }
                    }))
                };
            }
        }
    }
}

/// The skeleton's replies (`__replies`) as the messages that go out.
fn server_replies(replies: &Item, reply_ty: &TokenStream, rt: &TokenStream) -> TokenStream {
    let map = quote!(#rt::codegen::StreamExt::map);
    let Some(field) = replies.special else {
        if replies.identity {
            return quote!(__replies);
        }
        let wrap = &replies.wrap;
        return quote!(#map(__replies, |__reply| __reply.map(|__value| #wrap)));
    };
    let f = ident(&field.ident);
    match &field.special {
        Special::None => unreachable!("a special field"),
        Special::Handle { type_name, assoc } => {
            let repr = repr_method(assoc);
            quote! {{
                let (__scope, __hero) = (__scope.clone(), ::std::sync::Arc::clone(&__hero));
                #map(__replies, move |__reply| {
                    __reply.and_then(|__value| {
                        let __repr = __hero.#repr(&__value);
                        ::core::result::Result::Ok(#reply_ty {
                            #f: ::core::option::Option::Some(__scope.export(__value, #type_name, __repr)?),
                        })
                    })
                })
            }}
        }
        Special::StoredMessage { .. } => quote! {{
            let __scope = __scope.clone();
            #map(__replies, move |__reply| {
                __reply.and_then(|__value| {
                    ::core::result::Result::Ok(#reply_ty {
                        #f: ::core::option::Option::Some(__scope.export_message(&__value)?),
                    })
                })
            })
        }},
        Special::HeroRef { interface, .. } => quote! {
            #map(__replies, |__reply| {
                __reply.map(|__value| #reply_ty {
                    #f: ::core::option::Option::Some(#rt::codegen::hero_ref_for(&__value, #interface)),
                })
            })
        },
    }
}

/// The stub's method.
pub(super) fn stub(
    code: &MemberCode,
    streams_requests: bool,
    streams_replies: bool,
    timeout: TokenStream,
    rt: &TokenStream,
) -> TokenStream {
    let MemberCode { member, request_ty, reply_ty, rust_name, docs, rpc_path, .. } = code;
    let requests = item(&member.request, request_ty);
    // Handles the caller streams stay alive until the call is over (`HandlesInFlight`).
    let streams_handles = streams_requests
        && requests
            .special
            .is_some_and(|f| matches!(f.special, Special::Handle { .. } | Special::StoredMessage { .. }));
    let (inputs, convert_args, request) = if streams_requests {
        let (item_ty, request) = stub_requests(&requests, request_ty, rt);
        let in_flight = streams_handles
            .then(|| quote!(let __in_flight = <#rt::codegen::HandlesInFlight as ::core::default::Default>::default();));
        (
            quote!(requests: impl #rt::codegen::Stream<Item = #item_ty> + ::core::marker::Send + 'static),
            quote!(#in_flight),
            request,
        )
    } else {
        let fields = &member.request.fields;
        let arg_idents: Vec<_> = fields.iter().map(|f| ident(&f.ident)).collect();
        let arg_types: Vec<_> = fields.iter().map(|f| stub_arg_type(f, rt)).collect();
        let convert: Vec<_> = fields.iter().filter_map(|f| stub_convert_arg(f, rt)).collect();
        let pack = if member.request.is_unit { quote!(()) } else { quote!(#request_ty { #(#arg_idents),* }) };
        (quote!(#(#arg_idents: #arg_types),*), quote!(#(#convert)*), pack)
    };
    let call = kind(streams_requests, streams_replies);
    let (call, session) = match member.uses_session {
        true => (quote::format_ident!("{call}_in_session"), quote!(__session)),
        false => (quote::format_ident!("{call}"), quote!(_)),
    };
    // The reply, or the stream of replies, and the session handles in it belong to.
    let bind = |value: TokenStream, ty: TokenStream| match member.uses_session {
        true => quote!(let (#value, #session): (#ty, _) = self.target.#call(#rpc_path, #request, #timeout).await?;),
        false => quote!(let #value: #ty = self.target.#call(#rpc_path, #request, #timeout).await?;),
    };
    if streams_replies {
        let replies = item(&member.reply, reply_ty);
        let (item_ty, convert) = stub_replies(&replies, reply_ty, rt);
        // The replies keep the handles sent until they are dropped.
        let convert = match streams_handles {
            true => quote! {
                ::std::boxed::Box::pin(#rt::codegen::StreamExt::map(#convert, move |__item| {
                    let _ = &__in_flight;
                    __item
                }))
            },
            false => convert,
        };
        let bind = bind(quote!(__replies), quote!(#rt::Streaming<#reply_ty>));
        quote! {
            #docs
            pub async fn #rust_name(&self, #inputs) -> #rt::Result<#rt::Streaming<#item_ty>> {
                #convert_args
                #bind
                ::core::result::Result::Ok(#convert)
            }
        }
    } else {
        let reply = reply(&member.reply, reply_ty);
        let returns = reply.special_field.map(|f| stub_return_type(f, rt)).unwrap_or(reply.returns);
        let unwrap = match reply.shape {
            ReplyShape::Unit | ReplyShape::EmptyMessage => quote!(::core::result::Result::Ok(())),
            ReplyShape::Field { ident } => match reply.special_field {
                Some(field) => stub_unwrap(field, quote!(__reply.#ident), rt),
                None => quote!(::core::result::Result::Ok(__reply.#ident)),
            },
            ReplyShape::Message => quote!(::core::result::Result::Ok(__reply)),
        };
        let bind = bind(quote!(__reply), quote!(#reply_ty));
        quote! {
            #docs
            pub async fn #rust_name(&self, #inputs) -> #rt::Result<#returns> {
                #convert_args
                #[allow(unused_variables)]
                #bind
                #unwrap
            }
        }
    }
}

/// The item type the stub's caller streams, and its `requests` as a stream of messages.
fn stub_requests(requests: &Item, request_ty: &TokenStream, rt: &TokenStream) -> (TokenStream, TokenStream) {
    let map = quote!(#rt::codegen::StreamExt::map);
    let Some(field) = requests.special else {
        let ty = requests.ty.clone();
        if requests.identity {
            return (ty, quote!(requests));
        }
        let wrap = &requests.wrap;
        return (ty.clone(), quote!(#map(requests, |__value: #ty| -> #request_ty { #wrap })));
    };
    let f = ident(&field.ident);
    match &field.special {
        Special::None => unreachable!("a special field"),
        Special::Handle { .. } | Special::StoredMessage { .. } => (
            quote!(#rt::Handle),
            quote! {
                #map(requests, {
                    let __in_flight = __in_flight.clone();
                    move |__value: #rt::Handle| #request_ty {
                        #f: ::core::option::Option::Some(__in_flight.send(__value)),
                    }
                })
            },
        ),
        Special::HeroRef { interface, .. } => (
            quote!(impl #rt::AsHeroRef + ::core::marker::Send + 'static),
            quote! {
                #map(requests, |__value| #request_ty {
                    #f: ::core::option::Option::Some(#rt::codegen::hero_ref_for(&__value, #interface)),
                })
            },
        ),
    }
}

/// The item type the stub's caller receives, and `__replies` (a stream of messages) as those.
fn stub_replies(replies: &Item, reply_ty: &TokenStream, rt: &TokenStream) -> (TokenStream, TokenStream) {
    let map = quote!(#rt::codegen::StreamExt::map);
    let Some(field) = replies.special else {
        let ty = replies.ty.clone();
        if replies.identity {
            return (ty, quote!(__replies));
        }
        let unwrap = &replies.unwrap;
        return (
            ty,
            quote!(::std::boxed::Box::pin(#map(__replies, |__reply| __reply.map(|__message: #reply_ty| #unwrap)))),
        );
    };
    let (f, name) = (ident(&field.ident), field_name(field));
    match &field.special {
        Special::None => unreachable!("a special field"),
        Special::Handle { .. } | Special::StoredMessage { .. } => (
            quote!(#rt::Handle),
            quote! {
                ::std::boxed::Box::pin(#map(__replies, move |__reply| {
                    __reply.and_then(|__message: #reply_ty| __session.adopt(__message.#f, #name))
                }))
            },
        ),
        Special::HeroRef { remote_path, .. } => {
            let ty = path(remote_path);
            (
                ty.clone(),
                quote! {{
                    let __refs = self.target.ref_scope();
                    ::std::boxed::Box::pin(#rt::codegen::StreamExt::then(__replies, move |__reply| {
                        let __refs = __refs.clone();
                        async move { #rt::codegen::resolve_ref::<#ty>(__reply?.#f, #name, &__refs).await }
                    }))
                }},
            )
        }
    }
}

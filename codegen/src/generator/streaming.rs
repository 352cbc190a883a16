//! Streaming methods in all three sections: server-streaming (one request, a stream of replies),
//! client-streaming (a stream of requests, one reply) and bidirectional. A streamed message is
//! seen by the skeleton and the stub as its unary reply would be: `()` without fields, the field's
//! value for one field, the message itself for more; the skeleton takes and returns
//! `heros::Streaming<T>`, the stub takes any `Stream<Item = T>` and returns `heros::Streaming<T>`.
//! A one-request side is spelled as a unary method's: its fields are arguments.

use proc_macro2::TokenStream;
use quote::quote;

use super::{ident, reply, MemberCode, ReplyShape};
use crate::model::Message;

/// How one streamed message type appears in Rust: the item type, and the conversions between an
/// item (`__value`) and the message (`__message`).
struct Item {
    ty: TokenStream,
    /// `__value` -> the message.
    wrap: TokenStream,
    /// `__message` -> the item.
    unwrap: TokenStream,
    /// The item is the message: no conversion to write.
    identity: bool,
}

fn item(message: &Message, message_ty: &TokenStream) -> Item {
    let shape = reply(message, message_ty);
    match shape.shape {
        // `()` is `google.protobuf.Empty` itself, which prost declares as `()`.
        ReplyShape::Unit => Item { ty: quote!(()), wrap: quote!(()), unwrap: quote!(()), identity: true },
        ReplyShape::EmptyMessage => Item {
            ty: quote!(()),
            wrap: quote!(#message_ty {}),
            unwrap: quote!({
                let _ = __message;
            }),
            identity: false,
        },
        ReplyShape::Field { ident } => Item {
            ty: shape.returns,
            wrap: quote!(#message_ty { #ident: __value }),
            unwrap: quote!(__message.#ident),
            identity: false,
        },
        ReplyShape::Message => {
            Item { ty: message_ty.clone(), wrap: quote!(__value), unwrap: quote!(__message), identity: true }
        }
    }
}

/// The request's fields as arguments (one-request side).
fn arguments(code: &MemberCode) -> (Vec<syn::Ident>, Vec<TokenStream>) {
    let fields = &code.member.request.fields;
    (fields.iter().map(|f| ident(&f.ident)).collect(), fields.iter().map(|f| super::path(&f.ty)).collect())
}

/// The skeleton's method.
pub(super) fn skeleton(
    code: &MemberCode,
    streams_requests: bool,
    streams_replies: bool,
    rt: &TokenStream,
) -> TokenStream {
    let MemberCode { member, request_ty, reply_ty, rust_name, docs, .. } = code;
    let requests = item(&member.request, request_ty);
    let replies = item(&member.reply, reply_ty);
    let (arg_idents, arg_types) = arguments(code);
    let inputs = if streams_requests {
        let ty = requests.ty;
        quote!(requests: #rt::Streaming<#ty>)
    } else {
        quote!(#(#arg_idents: #arg_types),*)
    };
    let output = if streams_replies {
        let ty = replies.ty;
        quote!(#rt::Streaming<#ty>)
    } else {
        reply(&member.reply, reply_ty).returns
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
    let requests = item(&member.request, request_ty);
    let replies = item(&member.reply, reply_ty);
    let (arg_idents, _) = arguments(code);
    // What the skeleton is called with.
    let (closure_input, prepare, call_args) = if streams_requests {
        let unwrap = &requests.unwrap;
        let prepare = (!requests.identity).then(|| {
            quote! {
                let __requests = ::std::boxed::Box::pin(#rt::codegen::StreamExt::map(
                    __requests,
                    |__request| __request.map(|__message: #request_ty| #unwrap),
                ));
            }
        });
        (quote!(__requests: #rt::Streaming<#request_ty>), quote!(#prepare), quote!(__requests))
    } else {
        let unpack = if member.request.is_unit {
            quote!(let () = __request;)
        } else {
            quote!(let #request_ty { #(#arg_idents),* } = __request;)
        };
        (quote!(__request: #request_ty), unpack, quote!(#(#arg_idents),*))
    };
    // What the call answers with.
    let answer = if streams_replies && replies.identity {
        quote!(__hero.#rust_name(#call_args).await)
    } else if streams_replies {
        let wrap = &replies.wrap;
        quote! {
            let __replies = __hero.#rust_name(#call_args).await?;
            ::core::result::Result::Ok(#rt::codegen::StreamExt::map(
                __replies,
                |__reply| __reply.map(|__value| #wrap),
            ))
        }
    } else {
        let shape = reply(&member.reply, reply_ty).shape;
        let (bind, wrap) = match shape {
            ReplyShape::Unit => (quote!(let () =), quote!(())),
            ReplyShape::EmptyMessage => (quote!(let () =), quote!(#reply_ty {})),
            ReplyShape::Field { ident } => (quote!(let __value =), quote!(#reply_ty { #ident: __value })),
            ReplyShape::Message => (quote!(let __value =), quote!(__value)),
        };
        quote! {
            #bind __hero.#rust_name(#call_args).await?;
            ::core::result::Result::Ok(#wrap)
        }
    };
    let serve = match (streams_requests, streams_replies) {
        (false, true) => quote!(server_streaming),
        (true, false) => quote!(client_streaming),
        _ => quote!(bidi_streaming),
    };
    quote! {
        #proto_name => {
            let __hero = ::std::sync::Arc::clone(&self.hero);
            ::core::option::Option::Some(call.#serve(#request_full, move |#closure_input| async move {
                #prepare
                #answer
            }))
        }
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
    let replies = item(&member.reply, reply_ty);
    let (arg_idents, arg_types) = arguments(code);
    let (inputs, request) = if streams_requests {
        let (ty, wrap) = (&requests.ty, &requests.wrap);
        let request = match requests.identity {
            true => quote!(requests),
            false => quote!(#rt::codegen::StreamExt::map(requests, |__value: #ty| -> #request_ty { #wrap })),
        };
        (quote!(requests: impl #rt::codegen::Stream<Item = #ty> + ::core::marker::Send + 'static), request)
    } else {
        let pack = if member.request.is_unit { quote!(()) } else { quote!(#request_ty { #(#arg_idents),* }) };
        (quote!(#(#arg_idents: #arg_types),*), pack)
    };
    let call = match (streams_requests, streams_replies) {
        (false, true) => quote!(server_streaming),
        (true, false) => quote!(client_streaming),
        _ => quote!(bidi_streaming),
    };
    if streams_replies && replies.identity {
        let ty = &replies.ty;
        quote! {
            #docs
            pub async fn #rust_name(&self, #inputs) -> #rt::Result<#rt::Streaming<#ty>> {
                self.target.#call(#rpc_path, #request, #timeout).await
            }
        }
    } else if streams_replies {
        let (ty, unwrap) = (&replies.ty, &replies.unwrap);
        quote! {
            #docs
            pub async fn #rust_name(&self, #inputs) -> #rt::Result<#rt::Streaming<#ty>> {
                let __replies: #rt::Streaming<#reply_ty> = self.target.#call(#rpc_path, #request, #timeout).await?;
                ::core::result::Result::Ok(::std::boxed::Box::pin(#rt::codegen::StreamExt::map(
                    __replies,
                    |__reply| __reply.map(|__message: #reply_ty| #unwrap),
                )))
            }
        }
    } else {
        let returns = reply(&member.reply, reply_ty).returns;
        let unwrap = match reply(&member.reply, reply_ty).shape {
            ReplyShape::Unit | ReplyShape::EmptyMessage => quote!(::core::result::Result::Ok(())),
            ReplyShape::Field { ident } => quote!(::core::result::Result::Ok(__reply.#ident)),
            ReplyShape::Message => quote!(::core::result::Result::Ok(__reply)),
        };
        quote! {
            #docs
            pub async fn #rust_name(&self, #inputs) -> #rt::Result<#returns> {
                #[allow(unused_variables)]
                let __reply: #reply_ty = self.target.#call(#rpc_path, #request, #timeout).await?;
                #unwrap
            }
        }
    }
}

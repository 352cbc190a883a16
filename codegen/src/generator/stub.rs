//! The typed remote stub: `SvcRemote`, which finds and connects to a HERO and calls it. Per
//! method the same method; per attribute a getter, `watch_x` and (unless read-only) `set_x`; per
//! event `subscribe_x`, `observe_x` and `connect_x`. Handles and HERO references become
//! `heros::Handle` and typed stubs.

use std::collections::HashMap;

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::{ident, path, reply, MemberCode, ReplyShape, Service};
use crate::model::{Field, Interface, Role, Special};

/// `struct SvcRemote`, its methods and its `AsHeroRef` and `Remote` impls.
pub(super) fn generate(svc: &Service) -> TokenStream {
    let rt = &svc.rt;
    let full_name = &svc.interface.full_name;
    let stub_methods: Vec<TokenStream> = svc
        .members
        .iter()
        .map(|code| match &code.member.role {
            Role::Method { timeout_ms, streams_requests, streams_replies, .. }
                if *streams_requests || *streams_replies =>
            {
                super::streaming::stub(code, *streams_requests, *streams_replies, timeout_of(*timeout_ms), rt)
            }
            Role::Method { timeout_ms, long_running: true, intermediate, .. } => {
                let mut code_ = method(code, *timeout_ms, rt);
                code_.extend(operation(code, intermediate.as_deref(), svc, rt));
                code_
            }
            Role::Method { timeout_ms, .. } => method(code, *timeout_ms, rt),
            Role::Event { .. } => event(code, svc, rt),
            Role::Attribute { readonly, value_type } => attribute(code, *readonly, value_type, svc, rt),
        })
        .collect();
    let remote_name = &svc.remote_name;
    let remote_doc = format!(" Typed remote stub of a HERO implementing `{full_name}`; see [`{}`].", svc.service.name);
    quote! {
        #[doc = #remote_doc]
        #[derive(Clone, Debug)]
        pub struct #remote_name {
            target: #rt::Target,
        }

        impl #remote_name {
            /// Finds the HERO by name (mDNS in the process realm, `HEROS_PEERS`, or a
            /// `heros://host:port/name` URL) and connects to it.
            pub async fn connect(name: &str) -> #rt::Result<Self> {
                #rt::codegen::connect(name).await
            }

            /// Like [`Self::connect`], waiting at most `timeout` for discovery.
            pub async fn connect_timeout(name: &str, timeout: ::core::time::Duration) -> #rt::Result<Self> {
                #rt::codegen::connect_timeout(name, timeout).await
            }

            /// The untyped connection (name, realm, endpoint) this stub calls through.
            pub fn target(&self) -> &#rt::Target {
                &self.target
            }

            #(#stub_methods)*
        }

        impl #rt::AsHeroRef for #remote_name {
            fn hero_ref(&self) -> #rt::proto::HeroRef {
                #rt::codegen::hero_ref_for(&self.target, #full_name)
            }
        }

        impl #rt::codegen::Remote for #remote_name {
            const INTERFACE: &'static str = #full_name;

            fn from_target(target: #rt::Target) -> Self {
                Self { target }
            }
        }
    }
}

/// The method, with the request's fields as arguments and the reply's field as result.
fn method(code: &MemberCode, timeout_ms: u32, rt: &TokenStream) -> TokenStream {
    let MemberCode { member, request_ty, reply_ty, rust_name, docs, rpc_path, .. } = code;
    let fields = &member.request.fields;
    let arg_idents: Vec<_> = fields.iter().map(|f| ident(&f.ident)).collect();
    let arg_types: Vec<_> = fields.iter().map(|f| stub_arg_type(f, rt)).collect();
    let reply = reply(&member.reply, reply_ty);
    let returns = reply.special_field.map(|f| stub_return_type(f, rt)).unwrap_or(reply.returns);
    let pack_request = if member.request.is_unit { quote!(()) } else { quote!(#request_ty { #(#arg_idents),* }) };
    let unwrap_reply = match reply.shape {
        ReplyShape::Unit | ReplyShape::EmptyMessage => quote!(::core::result::Result::Ok(())),
        ReplyShape::Field { ident } => match reply.special_field {
            // Already a Result: returned as it is.
            Some(field) => stub_unwrap(field, quote!(__reply.#ident), rt),
            None => quote!(::core::result::Result::Ok(__reply.#ident)),
        },
        ReplyShape::Message => quote!(::core::result::Result::Ok(__reply)),
    };
    let timeout = timeout_of(timeout_ms);
    let convert_args: Vec<_> = fields.iter().filter_map(|f| stub_convert_arg(f, rt)).collect();
    let reply_binding =
        if member.reply.is_unit || member.reply.fields.is_empty() { quote!(_) } else { quote!(__reply) };
    let bind_reply = if member.uses_session {
        quote!(let (#reply_binding, __session): (#reply_ty, _) = self.target.unary_in_session(#rpc_path, #pack_request, #timeout).await?;)
    } else {
        quote!(let #reply_binding: #reply_ty = self.target.unary(#rpc_path, #pack_request, #timeout).await?;)
    };
    quote! {
        #docs
        pub async fn #rust_name(&self, #(#arg_idents: #arg_types),*) -> #rt::Result<#returns> {
            #(#convert_args)*
            #bind_reply
            #unwrap_reply
        }
    }
}

/// `start_x`, which starts a long-running method as an operation, and `x_operation`, which
/// finds one by its id.
fn operation(code: &MemberCode, intermediate: Option<&str>, svc: &Service, rt: &TokenStream) -> TokenStream {
    let MemberCode { member, request_ty, reply_ty, rust_name, .. } = code;
    let full_name = &svc.interface.full_name;
    let proto_name = &member.proto_name;
    let fields = &member.request.fields;
    let arg_idents: Vec<_> = fields.iter().map(|f| ident(&f.ident)).collect();
    let arg_types: Vec<_> = fields.iter().map(|f| stub_arg_type(f, rt)).collect();
    let pack_request = if member.request.is_unit { quote!(()) } else { quote!(#request_ty { #(#arg_idents),* }) };
    let reply = reply(&member.reply, reply_ty);
    let returns = reply.returns;
    let unwrap = match reply.shape {
        ReplyShape::Unit => quote!(|_: ()| ()),
        ReplyShape::EmptyMessage => quote!(|_: #reply_ty| ()),
        ReplyShape::Field { ident } => quote!(|__reply: #reply_ty| __reply.#ident),
        ReplyShape::Message => quote!(|__reply: #reply_ty| __reply),
    };
    let intermediate = intermediate.map(path).unwrap_or_else(|| quote!(()));
    let name = heck::ToSnakeCase::to_snake_case(member.proto_name.as_str());
    let start = format_ident!("start_{}", name);
    let find = format_ident!("{}_operation", name);
    let start_doc = format!(
        " Starts [`Self::{rust_name}`] as a long-running operation and returns at once: wait for its result, read \
         its progress or cancel it through the operation returned; it runs on if this process goes."
    );
    let find_doc = format!(" The `{name}` operation `id` of this HERO, started by this or any other process.");
    quote! {
        #[doc = #start_doc]
        pub async fn #start(&self, #(#arg_idents: #arg_types),*) -> #rt::Result<#rt::Operation<#returns, #intermediate>> {
            #rt::Operation::start(&self.target, #full_name, #proto_name, #pack_request, #unwrap).await
        }

        #[doc = #find_doc]
        pub fn #find(&self, id: &str) -> #rt::Operation<#returns, #intermediate> {
            #rt::Operation::find(&self.target, id, #unwrap)
        }
    }
}

/// The stub's deadline for a method's calls, from `(heros.v1.method).timeout_ms`.
fn timeout_of(timeout_ms: u32) -> TokenStream {
    if timeout_ms == 0 {
        quote!(::core::option::Option::None)
    } else {
        quote!(::core::option::Option::Some(::core::time::Duration::from_millis(#timeout_ms as u64)))
    }
}

/// The getter, `watch_x` and, unless read-only, `set_x`.
fn attribute(code: &MemberCode, readonly: bool, value_type: &str, svc: &Service, rt: &TokenStream) -> TokenStream {
    let MemberCode { member, request_ty, rust_name, docs, rpc_path, .. } = code;
    let full_name = &svc.interface.full_name;
    let proto_name = &member.proto_name;
    let value_ty = path(value_type);
    // The name in docs: the snake-case name without a raw-identifier `r#`.
    let attr_name = heck::ToSnakeCase::to_snake_case(member.proto_name.as_str());
    let watcher = format_ident!("watch_{}", attr_name);
    let watch_doc = format!(" `{attr_name}` now, then each new value whenever it is set; see [`Self::{}`].", rust_name);
    let setter = (!readonly).then(|| {
        let setter = format_ident!("set_{}", attr_name);
        let set_doc = format!(" Sets `{attr_name}`; see [`Self::{}`].", rust_name);
        quote! {
            #[doc = #set_doc]
            pub async fn #setter(&self, value: #value_ty) -> #rt::Result<()> {
                let _: #request_ty = self.target.unary(#rpc_path, #request_ty { value: ::core::option::Option::Some(value) }, ::core::option::Option::None).await?;
                ::core::result::Result::Ok(())
            }
        }
    });
    quote! {
        #docs
        pub async fn #rust_name(&self) -> #rt::Result<#value_ty> {
            let __reply: #request_ty = self.target.unary(#rpc_path, #request_ty { value: ::core::option::Option::None }, ::core::option::Option::None).await?;
            #rt::codegen::attribute_value(__reply.value, #attr_name)
        }

        #[doc = #watch_doc]
        pub async fn #watcher(&self) -> #rt::Result<#rt::AttributeStream<#value_ty>> {
            self.target.watch(#full_name, #proto_name, |__message: #request_ty| __message.value).await
        }

        #setter
    }
}

/// `subscribe_x` (a stream), `observe_x` (across a realm) and `connect_x` (a callback).
fn event(code: &MemberCode, svc: &Service, rt: &TokenStream) -> TokenStream {
    let MemberCode { member, request_ty, reply_ty: message_ty, rust_name, rpc_path, .. } = code;
    let full_name = &svc.interface.full_name;
    let proto_name = &member.proto_name;
    let trait_name = &svc.trait_name;
    let event_name = heck::ToSnakeCase::to_snake_case(member.proto_name.as_str());
    let subscribe = format_ident!("subscribe_{}", event_name);
    let connect = format_ident!("connect_{}", event_name);
    let request_value =
        if member.request.is_unit { quote!(()) } else { quote!(<#request_ty as ::core::default::Default>::default()) };
    let subscribe_doc = format!(
        " Subscribes to `{event_name}`: every message emitted from now on; see [`{}::{}`].",
        trait_name, rust_name
    );
    let connect_doc = format!(" Calls `callback` with every `{event_name}` message (and word of missed ones) until the returned value is dropped.");
    let observe = format_ident!("observe_{}", event_name);
    let observe_doc = format!(" `{event_name}` of every HERO of `realm` that implements this interface and passes `filter`, as HEROs come and go.");
    quote! {
        #[doc = #subscribe_doc]
        pub async fn #subscribe(&self) -> #rt::Result<#rt::EventStream<#message_ty>> {
            self.target.subscribe(#rpc_path, #request_value).await
        }

        #[doc = #observe_doc]
        pub fn #observe(realm: &str, filter: #rt::HeroFilter) -> #rt::Result<#rt::EventObserver<#message_ty>> {
            #rt::EventObserver::new(realm, filter, #full_name, #proto_name)
        }

        #[doc = #connect_doc]
        pub async fn #connect(
            &self,
            callback: impl ::core::ops::FnMut(#rt::Received<#message_ty>) + ::core::marker::Send + 'static,
        ) -> #rt::Result<#rt::Connected> {
            ::core::result::Result::Ok(self.#subscribe().await?.connect(callback))
        }
    }
}

/// A field's type in the stub's signature.
pub(super) fn stub_arg_type(field: &Field, rt: &TokenStream) -> TokenStream {
    match &field.special {
        Special::None => path(&field.ty),
        Special::Handle { .. } | Special::StoredMessage { .. } => quote!(&#rt::Handle),
        Special::HeroRef { .. } => quote!(&(impl #rt::AsHeroRef + ?::core::marker::Sized)),
    }
}

/// What a stub returns for a special reply field.
pub(super) fn stub_return_type(field: &Field, rt: &TokenStream) -> TokenStream {
    match &field.special {
        Special::None => path(&field.ty),
        Special::Handle { .. } | Special::StoredMessage { .. } => quote!(#rt::Handle),
        Special::HeroRef { remote_path, .. } => path(remote_path),
    }
}

/// The conversion of a special argument into the request field.
pub(super) fn stub_convert_arg(field: &Field, rt: &TokenStream) -> Option<TokenStream> {
    let id = ident(&field.ident);
    Some(match &field.special {
        Special::None => return None,
        Special::Handle { .. } | Special::StoredMessage { .. } => {
            quote!(let #id = ::core::option::Option::Some(#id.to_message());)
        }
        Special::HeroRef { interface, .. } => {
            quote!(let #id = ::core::option::Option::Some(#rt::codegen::hero_ref_for(#id, #interface));)
        }
    })
}

/// The conversion of a special reply field into what the stub returns.
pub(super) fn stub_unwrap(field: &Field, value: TokenStream, rt: &TokenStream) -> TokenStream {
    let name = field.ident.trim_start_matches("r#");
    match &field.special {
        Special::None => value,
        Special::Handle { .. } | Special::StoredMessage { .. } => quote!(__session.adopt(#value, #name)),
        Special::HeroRef { remote_path, .. } => {
            let ty = path(remote_path);
            quote!(#rt::codegen::resolve_ref::<#ty>(#value, #name, &self.target.ref_scope()).await)
        }
    }
}

/// Stub method names must not collide with each other or with the stub's own methods; a clash
/// would otherwise surface as a compile error deep in generated code.
pub(super) fn check_names(interface: &Interface) -> Result<(), String> {
    let mut taken: HashMap<String, String> = ["connect", "connect_timeout", "target", "from_target"]
        .iter()
        .map(|n| (n.to_string(), "the stub itself".to_owned()))
        .collect();
    for member in &interface.members {
        let snake = heck::ToSnakeCase::to_snake_case(member.proto_name.as_str());
        let mut names = vec![snake.clone()];
        match member.role {
            Role::Attribute { readonly, .. } => {
                names.push(format!("watch_{snake}"));
                if !readonly {
                    names.push(format!("set_{snake}"));
                }
            }
            Role::Event { .. } => {
                names = vec![format!("subscribe_{snake}"), format!("connect_{snake}"), format!("observe_{snake}")]
            }
            Role::Method { long_running: true, .. } => {
                names.extend([format!("start_{snake}"), format!("{snake}_operation")]);
            }
            _ => {}
        }
        for name in names {
            let owner = format!("rpc {}", member.proto_name);
            if let Some(other) = taken.insert(name.clone(), owner.clone()) {
                return Err(format!(
                    "{}: {owner} and {other} both become the stub method `{name}`; rename one of them",
                    interface.full_name
                ));
            }
        }
    }
    Ok(())
}

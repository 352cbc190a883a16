//! The prost-build `ServiceGenerator` that writes, for each HERO interface, the local skeleton
//! (a trait), the server adapter that serves it, the remote stub, and the interface description.

use std::collections::HashMap;

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::model::{Field, Interface, Member, Message, Role, Special};
use crate::rust_types::to_snake;

/// Writes HERO code after prost's messages, for the services of the files asked for.
pub(crate) struct HerosGenerator {
    /// Models by full service name; services not in here (imports) are skipped.
    pub(crate) interfaces: HashMap<String, Interface>,
    /// Path of the runtime facade in generated code, e.g. `::heros`.
    pub(crate) runtime: String,
    /// First error met; prost's trait cannot return one.
    pub(crate) error: std::rc::Rc<std::cell::RefCell<Option<String>>>,
}

impl prost_build::ServiceGenerator for HerosGenerator {
    fn generate(&mut self, service: prost_build::Service, buf: &mut String) {
        let full_name = if service.package.is_empty() {
            service.proto_name.clone()
        } else {
            format!("{}.{}", service.package, service.proto_name)
        };
        let Some(interface) = self.interfaces.get(&full_name) else { return };
        match generate_interface(interface, &service, &self.runtime) {
            Ok(code) => buf.push_str(&code),
            Err(error) => {
                self.error.borrow_mut().get_or_insert(error);
            }
        }
    }
}

fn path(text: &str) -> TokenStream {
    syn::parse_str::<syn::Type>(text).map(|t| quote!(#t)).unwrap_or_else(|e| panic!("bad type path {text}: {e}"))
}

fn docs(lines: &[String]) -> TokenStream {
    let lines = lines.iter().map(|l| format!(" {}", l.trim()));
    quote!(#(#[doc = #lines])*)
}

fn doc_text(lines: &[String]) -> String {
    lines.iter().map(|l| l.trim()).collect::<Vec<_>>().join("\n").trim().to_owned()
}

fn ident(name: &str) -> syn::Ident {
    syn::parse_str::<syn::Ident>(name).unwrap_or_else(|_| format_ident!("{}", name))
}

/// What a method returns to its caller: `()` for no fields, the field for one, the message else.
enum ReplyShape {
    Unit,
    EmptyMessage,
    Field { ident: syn::Ident },
    Message,
}

fn reply_shape(reply: &Message, reply_ty: &TokenStream) -> (ReplyShape, TokenStream) {
    if reply.is_unit {
        return (ReplyShape::Unit, quote!(()));
    }
    match reply.fields.as_slice() {
        [] => (ReplyShape::EmptyMessage, quote!(())),
        [field] => (ReplyShape::Field { ident: ident(&field.ident) }, path(&field.ty)),
        _ => (ReplyShape::Message, reply_ty.clone()),
    }
}

/// A field's type in the skeleton's signature.
fn skeleton_type(field: &Field, rt: &TokenStream) -> TokenStream {
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
fn skeleton_return_type(field: &Field, rt: &TokenStream) -> TokenStream {
    match &field.special {
        Special::HeroRef { .. } => quote!(#rt::proto::HeroRef),
        _ => skeleton_type(field, rt),
    }
}

/// The server adapter's conversion of a special request field into what the skeleton takes.
fn skeleton_resolve(field: &Field, rt: &TokenStream) -> Option<TokenStream> {
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

/// The server adapter's conversion of what the skeleton returned into the reply field.
fn skeleton_export(field: &Field, rt: &TokenStream) -> TokenStream {
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

/// The skeleton's provided method that describes values of a handle type.
fn repr_method(assoc: &str) -> syn::Ident {
    format_ident!("{}_repr", heck::ToSnakeCase::to_snake_case(assoc))
}

/// A field's type in the stub's signature.
fn stub_arg_type(field: &Field, rt: &TokenStream) -> TokenStream {
    match &field.special {
        Special::None => path(&field.ty),
        Special::Handle { .. } | Special::StoredMessage { .. } => quote!(&#rt::Handle),
        Special::HeroRef { .. } => quote!(&(impl #rt::AsHeroRef + ?::core::marker::Sized)),
    }
}

/// What a stub returns for a special reply field.
fn stub_return_type(field: &Field, rt: &TokenStream) -> TokenStream {
    match &field.special {
        Special::None => path(&field.ty),
        Special::Handle { .. } | Special::StoredMessage { .. } => quote!(#rt::Handle),
        Special::HeroRef { remote_path, .. } => path(remote_path),
    }
}

/// The stub's conversion of a special argument into the request field.
fn stub_convert_arg(field: &Field, rt: &TokenStream) -> Option<TokenStream> {
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

/// The stub's conversion of a special reply field into what it returns.
fn stub_unwrap(field: &Field, value: TokenStream, rt: &TokenStream) -> TokenStream {
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

pub(crate) fn generate_interface(
    interface: &Interface,
    service: &prost_build::Service,
    runtime: &str,
) -> Result<String, String> {
    let rt = path(runtime);
    let trait_name = ident(&service.name);
    let server_name = format_ident!("{}Server", service.name);
    let remote_name = format_ident!("{}Remote", service.name);
    let description_name =
        format_ident!("{}_INTERFACE", heck::ToShoutySnakeCase::to_shouty_snake_case(service.name.as_str()));
    let full_name = &interface.full_name;
    let descriptor_set = format_ident!("{}", crate::descriptors::static_name(&service.package));
    check_stub_names(interface)?;
    for (assoc, type_name) in &interface.handle_types {
        let repr = repr_method(assoc).to_string();
        if let Some(member) = interface.members.iter().find(|m| to_snake(&m.proto_name) == repr) {
            return Err(format!(
                "{full_name}: rpc {} clashes with `{repr}`, the skeleton's description of {type_name} handles; rename it",
                member.proto_name
            ));
        }
    }
    let service_docs = docs(&service.comments.leading);

    let mut trait_items: Vec<TokenStream> = interface
        .handle_types
        .iter()
        .map(|(assoc, type_name)| {
            let assoc = ident(assoc);
            let doc = format!(" The value this HERO keeps behind `{type_name}` handles (any `Send + Sync` type).");
            let repr = repr_method(&assoc.to_string());
            let repr_doc = format!(
                " How handles to `{type_name}` describe their value to callers (default: the type name and a number)."
            );
            quote! {
                #[doc = #doc]
                type #assoc: ::core::marker::Send + ::core::marker::Sync + 'static;
                #[doc = #repr_doc]
                fn #repr(&self, value: &Self::#assoc) -> ::core::option::Option<::std::string::String> {
                    let _ = value;
                    ::core::option::Option::None
                }
            }
        })
        .collect();
    let mut dispatch_arms = Vec::new();
    let mut watch_arms = Vec::new();
    let mut event_arms = Vec::new();
    let mut stub_methods = Vec::new();
    let mut member_descriptions = Vec::new();

    for member in &interface.members {
        let method = service
            .methods
            .iter()
            .find(|m| m.proto_name == member.proto_name)
            .ok_or_else(|| format!("{full_name}: prost has no method {}", member.proto_name))?;
        check_prost_agrees(member, method)?;
        let request_ty = path(&method.input_type);
        let reply_ty = path(&method.output_type);
        let rust_name = ident(&to_snake(&member.proto_name));
        let member_docs = docs(&method.comments.leading);
        let doc = doc_text(&method.comments.leading);
        let proto_name = &member.proto_name;
        let rpc_path = format!("/{full_name}/{proto_name}");
        let request_full = &member.request.full_name;
        let reply_full = &member.reply.full_name;

        match &member.role {
            Role::Method { timeout_ms } => {
                let fields = &member.request.fields;
                let arg_idents: Vec<_> = fields.iter().map(|f| ident(&f.ident)).collect();
                let skeleton_arg_types: Vec<_> = fields.iter().map(|f| skeleton_type(f, &rt)).collect();
                let stub_arg_types: Vec<_> = fields.iter().map(|f| stub_arg_type(f, &rt)).collect();
                let (shape, returns) = reply_shape(&member.reply, &reply_ty);
                let reply_field = match (&shape, member.reply.fields.as_slice()) {
                    (ReplyShape::Field { .. }, [field]) if !matches!(field.special, Special::None) => Some(field),
                    _ => None,
                };
                let skeleton_returns = reply_field.map(|f| skeleton_return_type(f, &rt)).unwrap_or(returns.clone());
                let stub_returns = reply_field.map(|f| stub_return_type(f, &rt)).unwrap_or(returns.clone());
                trait_items.push(quote! {
                    #member_docs
                    fn #rust_name(&self, #(#arg_idents: #skeleton_arg_types),*)
                        -> impl ::core::future::Future<Output = #rt::Result<#skeleton_returns>> + ::core::marker::Send;
                });
                let unpack = if member.request.is_unit {
                    quote!(let () = __request;)
                } else {
                    quote!(let #request_ty { #(#arg_idents),* } = __request;)
                };
                let pack_request =
                    if member.request.is_unit { quote!(()) } else { quote!(#request_ty { #(#arg_idents),* }) };
                let (wrap_reply, unwrap_reply) = match shape {
                    ReplyShape::Unit => (quote!(()), quote!(::core::result::Result::Ok(()))),
                    ReplyShape::EmptyMessage => (quote!(#reply_ty {}), quote!(::core::result::Result::Ok(()))),
                    ReplyShape::Field { ident } => {
                        let unwrap = match reply_field {
                            // Already a Result: returned as it is.
                            Some(field) => stub_unwrap(field, quote!(__reply.#ident), &rt),
                            None => quote!(::core::result::Result::Ok(__reply.#ident)),
                        };
                        (quote!(#reply_ty { #ident: __value }), unwrap)
                    }
                    ReplyShape::Message => (quote!(__value), quote!(::core::result::Result::Ok(__reply))),
                };
                let bind_value = match member.reply.is_unit || member.reply.fields.is_empty() {
                    true => quote!(let () = __hero.#rust_name(#(#arg_idents),*).await?;),
                    false => quote!(let __value = __hero.#rust_name(#(#arg_idents),*).await?;),
                };
                let export_value = reply_field.map(|f| skeleton_export(f, &rt));
                let resolve_args: Vec<_> = fields.iter().filter_map(|f| skeleton_resolve(f, &rt)).collect();
                let takes_refs = fields.iter().any(|f| matches!(f.special, Special::HeroRef { .. }));
                let scope = member.uses_session.then(|| quote!(let __scope = call.handles();));
                let check_session = member.uses_session.then(|| quote!(__scope.check_session()?;));
                let realm = takes_refs.then(|| quote!(let __refs = call.ref_scope();));
                dispatch_arms.push(quote! {
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
                let timeout = if *timeout_ms == 0 {
                    quote!(::core::option::Option::None)
                } else {
                    quote!(::core::option::Option::Some(::core::time::Duration::from_millis(#timeout_ms as u64)))
                };
                let convert_args: Vec<_> = fields.iter().filter_map(|f| stub_convert_arg(f, &rt)).collect();
                let reply_binding =
                    if member.reply.is_unit || member.reply.fields.is_empty() { quote!(_) } else { quote!(__reply) };
                let bind_reply = if member.uses_session {
                    quote!(let (#reply_binding, __session): (#reply_ty, _) = self.target.unary_in_session(#rpc_path, #pack_request, #timeout).await?;)
                } else {
                    quote!(let #reply_binding: #reply_ty = self.target.unary(#rpc_path, #pack_request, #timeout).await?;)
                };
                stub_methods.push(quote! {
                    #member_docs
                    pub async fn #rust_name(&self, #(#arg_idents: #stub_arg_types),*) -> #rt::Result<#stub_returns> {
                        #(#convert_args)*
                        #bind_reply
                        #unwrap_reply
                    }
                });
                member_descriptions.push(quote! {
                    #rt::codegen::Member {
                        name: #proto_name,
                        kind: #rt::codegen::MemberKind::Method,
                        request_type: #request_full,
                        reply_type: #reply_full,
                        doc: #doc,
                    }
                });
            }
            Role::Event { reliable, buffer } => {
                let message_ty = reply_ty.clone();
                trait_items.push(quote! {
                    #member_docs
                    fn #rust_name(&self) -> &#rt::Event<#message_ty>;
                });
                let delivery =
                    if *reliable { quote!(#rt::Delivery::Reliable) } else { quote!(#rt::Delivery::BestEffort) };
                let buffer = *buffer as usize;
                dispatch_arms.push(quote! {
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
                event_arms.push(quote! {
                    #proto_name => ::core::option::Option::Some(#rt::codegen::encoded_events(
                        self.hero.#rust_name().subscribe(#rt::Delivery::BestEffort, #buffer),
                    )),
                });
                let event_name = heck::ToSnakeCase::to_snake_case(member.proto_name.as_str());
                let subscribe = format_ident!("subscribe_{}", event_name);
                let connect = format_ident!("connect_{}", event_name);
                let request_value = if member.request.is_unit {
                    quote!(())
                } else {
                    quote!(<#request_ty as ::core::default::Default>::default())
                };
                let subscribe_doc = format!(
                    " Subscribes to `{event_name}`: every message emitted from now on; see [`{}::{}`].",
                    trait_name, rust_name
                );
                let connect_doc = format!(" Calls `callback` with every `{event_name}` message (and word of missed ones) until the returned value is dropped.");
                let observe = format_ident!("observe_{}", event_name);
                let observe_doc = format!(" `{event_name}` of every HERO of `realm` that implements this interface and passes `filter`, as HEROs come and go.");
                stub_methods.push(quote! {
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
                });
                member_descriptions.push(quote! {
                    #rt::codegen::Member {
                        name: #proto_name,
                        kind: #rt::codegen::MemberKind::Event { reliable: #reliable },
                        request_type: #request_full,
                        reply_type: #reply_full,
                        doc: #doc,
                    }
                });
            }
            Role::Attribute { readonly, value_type } => {
                let value_ty = path(value_type);
                // The name in messages and docs: the snake-case name without a raw-identifier `r#`.
                let attr_name = heck::ToSnakeCase::to_snake_case(member.proto_name.as_str());
                trait_items.push(quote! {
                    #member_docs
                    fn #rust_name(&self) -> &#rt::Attribute<#value_ty>;
                });
                dispatch_arms.push(quote! {
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
                stub_methods.push(quote! {
                    #member_docs
                    pub async fn #rust_name(&self) -> #rt::Result<#value_ty> {
                        let __reply: #request_ty = self.target.unary(#rpc_path, #request_ty { value: ::core::option::Option::None }, ::core::option::Option::None).await?;
                        #rt::codegen::attribute_value(__reply.value, #attr_name)
                    }
                });
                watch_arms.push(quote! {
                    #proto_name => ::core::option::Option::Some(#rt::codegen::watch_attribute(
                        self.hero.#rust_name().watch(),
                        |__value| #request_ty { value: ::core::option::Option::Some(__value) },
                    )),
                });
                let watcher = format_ident!("watch_{}", attr_name);
                let watch_doc =
                    format!(" `{attr_name}` now, then each new value whenever it is set; see [`Self::{}`].", rust_name);
                stub_methods.push(quote! {
                    #[doc = #watch_doc]
                    pub async fn #watcher(&self) -> #rt::Result<#rt::AttributeStream<#value_ty>> {
                        self.target.watch(#full_name, #proto_name, |__message: #request_ty| __message.value).await
                    }
                });
                if !readonly {
                    let setter = format_ident!("set_{}", attr_name);
                    let set_doc = format!(" Sets `{attr_name}`; see [`Self::{}`].", rust_name);
                    stub_methods.push(quote! {
                        #[doc = #set_doc]
                        pub async fn #setter(&self, value: #value_ty) -> #rt::Result<()> {
                            let _: #request_ty = self.target.unary(#rpc_path, #request_ty { value: ::core::option::Option::Some(value) }, ::core::option::Option::None).await?;
                            ::core::result::Result::Ok(())
                        }
                    });
                }
                member_descriptions.push(quote! {
                    #rt::codegen::Member {
                        name: #proto_name,
                        kind: #rt::codegen::MemberKind::Attribute { readonly: #readonly },
                        request_type: #request_full,
                        reply_type: #reply_full,
                        doc: #doc,
                    }
                });
            }
        }
    }

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
    let service_doc = doc_text(&service.comments.leading);
    let tags = &interface.tags;
    let server_doc = format!(
        " Serves a [`{}`] as a HERO: pass it to `heros::Hero::new(name).interface(..)` or `heros::share`.",
        service.name
    );
    let remote_doc = format!(" Typed remote stub of a HERO implementing `{full_name}`; see [`{}`].", service.name);
    let description_doc = format!(" What `{full_name}` offers, as the registry describes it.");

    let code = quote! {
        #service_docs
        pub trait #trait_name: ::core::marker::Send + ::core::marker::Sync + 'static {
            #(#trait_items)*
        }

        #[doc = #description_doc]
        pub static #description_name: #rt::codegen::Interface = #rt::codegen::Interface {
            name: #full_name,
            doc: #service_doc,
            tags: &[#(#tags),*],
            members: &[#(#member_descriptions),*],
            descriptor_set: #descriptor_set,
        };

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

            fn call(&self, method: &str, call: #rt::codegen::Call) -> ::core::option::Option<#rt::codegen::ResponseFuture> {
                match method {
                    #(#dispatch_arms)*
                    _ => ::core::option::Option::None,
                }
            }

            #watch_fn

            #events_fn
        }

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
    };
    let file: syn::File = syn::parse2(code).map_err(|e| format!("{full_name}: generated code does not parse: {e}"))?;
    Ok(prettyplease::unparse(&file))
}

/// Stub method names must not collide with each other or with the stub's own methods; a clash
/// would otherwise surface as a compile error deep in generated code.
fn check_stub_names(interface: &Interface) -> Result<(), String> {
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

/// The resolver in `rust_types` mirrors prost; a difference here would mean skeletons whose
/// argument types differ from prost's struct fields, so stop the build instead.
fn check_prost_agrees(member: &Member, method: &prost_build::Method) -> Result<(), String> {
    for (ours, prost) in
        [(&member.request.rust_path, &method.input_type), (&member.reply.rust_path, &method.output_type)]
    {
        if ours != prost {
            return Err(format!(
                "rpc {}: heros-codegen resolved a message type to `{ours}` where prost wrote `{prost}`; please report this",
                member.proto_name
            ));
        }
    }
    Ok(())
}

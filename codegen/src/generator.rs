//! The prost-build `ServiceGenerator` that writes, for each HERO interface, the local skeleton
//! (a trait), the server adapter that serves it, the remote stub, and the interface description.

use std::collections::HashMap;

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::model::{Interface, Member, Message, Role};
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
    check_stub_names(interface)?;
    let service_docs = docs(&service.comments.leading);

    let mut trait_items = Vec::new();
    let mut dispatch_arms = Vec::new();
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
                let arg_idents: Vec<_> = member.request.fields.iter().map(|f| ident(&f.ident)).collect();
                let arg_types: Vec<_> = member.request.fields.iter().map(|f| path(&f.ty)).collect();
                let (shape, returns) = reply_shape(&member.reply, &reply_ty);
                trait_items.push(quote! {
                    #member_docs
                    fn #rust_name(&self, #(#arg_idents: #arg_types),*)
                        -> impl ::core::future::Future<Output = #rt::Result<#returns>> + ::core::marker::Send;
                });
                let unpack = if member.request.is_unit {
                    quote!(let () = __request;)
                } else {
                    quote!(let #request_ty { #(#arg_idents),* } = __request;)
                };
                let pack_request =
                    if member.request.is_unit { quote!(()) } else { quote!(#request_ty { #(#arg_idents),* }) };
                let (wrap_reply, unwrap_reply) = match shape {
                    ReplyShape::Unit => (quote!(()), quote!(())),
                    ReplyShape::EmptyMessage => (quote!(#reply_ty {}), quote!(())),
                    ReplyShape::Field { ident } => (quote!(#reply_ty { #ident: __value }), quote!(__reply.#ident)),
                    ReplyShape::Message => (quote!(__value), quote!(__reply)),
                };
                let bind_value = match member.reply.is_unit || member.reply.fields.is_empty() {
                    true => quote!(let () = __hero.#rust_name(#(#arg_idents),*).await?;),
                    false => quote!(let __value = __hero.#rust_name(#(#arg_idents),*).await?;),
                };
                dispatch_arms.push(quote! {
                    #proto_name => {
                        let __hero = ::std::sync::Arc::clone(&self.hero);
                        ::core::option::Option::Some(call.unary(#request_full, move |__request: #request_ty| async move {
                            #unpack
                            #bind_value
                            ::core::result::Result::Ok(#wrap_reply)
                        }))
                    }
                });
                let timeout = if *timeout_ms == 0 {
                    quote!(::core::option::Option::None)
                } else {
                    quote!(::core::option::Option::Some(::core::time::Duration::from_millis(#timeout_ms as u64)))
                };
                let bind_reply = if member.reply.is_unit || member.reply.fields.is_empty() {
                    quote!(let _: #reply_ty = self.target.unary(#rpc_path, #pack_request, #timeout).await?;)
                } else {
                    quote!(let __reply: #reply_ty = self.target.unary(#rpc_path, #pack_request, #timeout).await?;)
                };
                stub_methods.push(quote! {
                    #member_docs
                    pub async fn #rust_name(&self, #(#arg_idents: #arg_types),*) -> #rt::Result<#returns> {
                        #bind_reply
                        ::core::result::Result::Ok(#unwrap_reply)
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
        if let Role::Attribute { readonly: false, .. } = member.role {
            names.push(format!("set_{snake}"));
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

//! The prost-build `ServiceGenerator` that writes, for each HERO interface, the code of
//! [`skeleton`], [`interface`], [`server`] and [`stub`], in that order, after prost's messages,
//! and then gives every item of the package the allowances of [`lints`].
//!
//! This module owns what the sections share: the checks that run before any code is written, the
//! names of the generated items ([`Service`]), what each member's rpc looks like in Rust
//! ([`MemberCode`]), the shape of a method's reply, and small token helpers.

use std::collections::HashMap;

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::model::{Field, Interface, Member, Message, Special};
use crate::rust_types::to_snake;

mod interface;
pub(crate) mod lints;
mod server;
mod skeleton;
mod streaming;
mod stub;

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

    fn finalize_package(&mut self, package: &str, buf: &mut String) {
        if let Err(error) = lints::allow_on_items(buf) {
            self.error.borrow_mut().get_or_insert(format!("{package}: {error}"));
        }
    }
}

/// One interface being generated: the model, prost's view of the service, and the names of the
/// generated items, which the sections use to refer to each other.
struct Service<'a> {
    interface: &'a Interface,
    service: &'a prost_build::Service,
    /// The runtime facade, e.g. `::heros`.
    rt: TokenStream,
    /// `Svc`, the skeleton trait.
    trait_name: syn::Ident,
    /// `SvcServer`, the server adapter.
    server_name: syn::Ident,
    /// `SvcRemote`, the stub.
    remote_name: syn::Ident,
    /// `SVC_INTERFACE`, the interface description.
    description_name: syn::Ident,
    members: Vec<MemberCode<'a>>,
}

/// One member (method, attribute or event) with what every section needs of its rpc.
struct MemberCode<'a> {
    member: &'a Member,
    /// prost's request message type.
    request_ty: TokenStream,
    /// prost's reply message type.
    reply_ty: TokenStream,
    /// The snake-case name of the skeleton's and the stub's method.
    rust_name: syn::Ident,
    /// The rpc's leading comments, as doc attributes.
    docs: TokenStream,
    /// The rpc's leading comments, as one text (for the interface description).
    doc: String,
    /// `/package.Service/Rpc`.
    rpc_path: String,
}

pub(crate) fn generate_interface(
    interface: &Interface,
    service: &prost_build::Service,
    runtime: &str,
) -> Result<String, String> {
    let full_name = &interface.full_name;
    stub::check_names(interface)?;
    skeleton::check_repr_names(interface)?;
    let mut members = Vec::new();
    for member in &interface.members {
        let method = service
            .methods
            .iter()
            .find(|m| m.proto_name == member.proto_name)
            .ok_or_else(|| format!("{full_name}: prost has no method {}", member.proto_name))?;
        check_prost_agrees(member, method)?;
        members.push(MemberCode {
            member,
            request_ty: path(&method.input_type),
            reply_ty: path(&method.output_type),
            rust_name: ident(&to_snake(&member.proto_name)),
            docs: docs(&method.comments.leading),
            doc: doc_text(&method.comments.leading),
            rpc_path: format!("/{full_name}/{}", member.proto_name),
        });
    }
    let svc = Service {
        interface,
        service,
        rt: path(runtime),
        trait_name: ident(&service.name),
        server_name: format_ident!("{}Server", service.name),
        remote_name: format_ident!("{}Remote", service.name),
        description_name: format_ident!(
            "{}_INTERFACE",
            heck::ToShoutySnakeCase::to_shouty_snake_case(service.name.as_str())
        ),
        members,
    };

    let skeleton = skeleton::generate(&svc);
    let description = interface::generate(&svc);
    let server = server::generate(&svc);
    let stub = stub::generate(&svc);
    let code = quote! {
        #skeleton
        #description
        #server
        #stub
    };
    let file: syn::File = syn::parse2(code).map_err(|e| format!("{full_name}: generated code does not parse: {e}"))?;
    Ok(prettyplease::unparse(&file))
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

/// The skeleton's provided method that describes values of a handle type.
fn repr_method(assoc: &str) -> syn::Ident {
    format_ident!("{}_repr", heck::ToSnakeCase::to_snake_case(assoc))
}

/// What a method returns to its caller: `()` for no fields, the field for one, the message else.
enum ReplyShape {
    Unit,
    EmptyMessage,
    Field { ident: syn::Ident },
    Message,
}

/// A method's reply: its shape, the Rust type the caller gets for a plain reply, and the reply
/// field when it is the only one and special (a handle, a stored message or a HERO reference),
/// which the skeleton and the stub then spell in their own types.
struct Reply<'a> {
    shape: ReplyShape,
    returns: TokenStream,
    special_field: Option<&'a Field>,
}

fn reply<'a>(reply: &'a Message, reply_ty: &TokenStream) -> Reply<'a> {
    let (shape, returns) = reply_shape(reply, reply_ty);
    let special_field = match (&shape, reply.fields.as_slice()) {
        (ReplyShape::Field { .. }, [field]) if !matches!(field.special, Special::None) => Some(field),
        _ => None,
    };
    Reply { shape, returns, special_field }
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

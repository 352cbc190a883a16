//! The lint allowances the generated code carries, as tonic-build's does: a program uses part of
//! an interface's code (a client no server, a server no stub, few of the messages), and generated
//! names need not be reachable or documented, so no include site has to allow it.
//!
//! Every item of a package's file, prost's and ours, gets the attribute here, when prost hands the
//! package over; trait impls need none. The descriptor set's static, which `descriptors` appends
//! later, carries [`ALLOW`] too.
//! An included file cannot carry an inner `#![allow]` (`include!` reads items, not a module).

use syn::parse::Parser;

/// The attribute on every generated item.
pub(crate) const ALLOW: &str = "#[allow(dead_code, unreachable_pub, missing_docs)]";

fn allow() -> syn::Attribute {
    let mut attrs = syn::Attribute::parse_outer.parse_str(ALLOW).expect("ALLOW is an attribute");
    attrs.pop().expect("ALLOW is one attribute")
}

/// Adds the allowance to each item of `buf`, a package's code (prost formats it afterwards).
pub(super) fn allow_on_items(buf: &mut String) -> Result<(), String> {
    let mut file = syn::parse_file(buf).map_err(|e| format!("generated code does not parse: {e}"))?;
    for item in &mut file.items {
        let attrs = match item {
            syn::Item::Impl(item) if item.trait_.is_some() => continue,
            syn::Item::Impl(item) => &mut item.attrs,
            syn::Item::Const(item) => &mut item.attrs,
            syn::Item::Enum(item) => &mut item.attrs,
            syn::Item::Fn(item) => &mut item.attrs,
            syn::Item::Mod(item) => &mut item.attrs,
            syn::Item::Static(item) => &mut item.attrs,
            syn::Item::Struct(item) => &mut item.attrs,
            syn::Item::Trait(item) => &mut item.attrs,
            syn::Item::Type(item) => &mut item.attrs,
            syn::Item::Union(item) => &mut item.attrs,
            _ => continue,
        };
        // After the item's docs, before its derives.
        let at = attrs.iter().position(|a| !a.path().is_ident("doc")).unwrap_or(attrs.len());
        attrs.insert(at, allow());
    }
    *buf = prettyplease::unparse(&file);
    Ok(())
}

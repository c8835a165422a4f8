//! `#[maps]`: marks the struct of an NF that names the maps it uses.
//!
//! ```text
//! #[maps]
//! pub struct Maps {
//!     flows: LruHash<FlowKey, FlowStats>,
//! }
//! ```
//!
//! becomes a struct whose fields are public `&'static` references to the maps
//! (the generated code builds it from the chain's maps; host tests from
//! in-memory maps), plus a hidden module of type aliases, one per field, so
//! generated code can name each map's type without knowing where the NF's
//! key and value types live.

use proc_macro::TokenStream;
use quote::{format_ident, quote};
use syn::{Fields, ItemStruct, parse_macro_input};

#[proc_macro_attribute]
pub fn maps(attr: TokenStream, item: TokenStream) -> TokenStream {
    if !attr.is_empty() {
        let attr = proc_macro2::TokenStream::from(attr);
        return syn::Error::new_spanned(attr, "#[maps] takes no arguments").to_compile_error().into();
    }
    let mut maps = parse_macro_input!(item as ItemStruct);
    match expand(&mut maps) {
        Ok(tokens) => tokens.into(),
        Err(error) => error.to_compile_error().into(),
    }
}

fn expand(maps: &mut ItemStruct) -> syn::Result<proc_macro2::TokenStream> {
    if !maps.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(&maps.generics, "a #[maps] struct cannot be generic"));
    }
    let Fields::Named(fields) = &mut maps.fields else {
        return Err(syn::Error::new_spanned(&maps.ident, "a #[maps] struct has named fields, one per map"));
    };
    let mut aliases = Vec::new();
    for field in &mut fields.named {
        let name = field.ident.clone().expect("named fields have names");
        let ty = field.ty.clone();
        aliases.push(quote! { pub type #name = #ty; });
        field.vis = syn::parse_quote!(pub);
        field.ty = syn::parse_quote!(&'static #ty);
    }
    let module = format_ident!("__galette_map_types");
    // Every field is a shared reference, so the struct is Copy: generated
    // code hands each packet its own copy.
    maps.attrs.push(syn::parse_quote!(#[derive(Clone, Copy)]));
    Ok(quote! {
        #maps

        /// The type of each map field, by field name, for generated code.
        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        pub mod #module {
            #[allow(unused_imports)]
            use super::*;
            #(#aliases)*
        }
    })
}

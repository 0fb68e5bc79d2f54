//! `#[derive(RowShape)]`: what a `sqlx::FromRow` struct reads from a row, so the query
//! check (`management/tests/queries.rs`) can hold every registered statement's columns
//! against the row type it is read into. It reads the same struct and the same
//! `#[sqlx(...)]` field attributes that sqlx's derive does, so the two cannot drift.

use proc_macro::TokenStream;
use quote::quote;
use syn::{parse_macro_input, Data, DeriveInput, Fields, Type};

/// Implements `crate::db::RowShape` for a struct with named fields: one column per field
/// (by its name, or `#[sqlx(rename = "...")]`), `#[sqlx(default)]` ones optional,
/// `#[sqlx(flatten)]` ones replaced by the columns of their own type, `#[sqlx(skip)]`
/// ones left out.
#[proc_macro_derive(RowShape)]
pub fn derive_row_shape(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match expand(&input) {
        Ok(t) => t.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

fn expand(input: &DeriveInput) -> syn::Result<proc_macro2::TokenStream> {
    let Data::Struct(data) = &input.data else {
        return Err(syn::Error::new_spanned(input, "RowShape: structs only"));
    };
    let Fields::Named(fields) = &data.fields else {
        return Err(syn::Error::new_spanned(
            input,
            "RowShape: named fields only",
        ));
    };
    for attr in &input.attrs {
        if attr.path().is_ident("sqlx") {
            return Err(syn::Error::new_spanned(
                attr,
                "RowShape: container #[sqlx(...)] attributes are not supported",
            ));
        }
    }
    let mut pushes = Vec::new();
    for f in &fields.named {
        let ident = f.ident.as_ref().expect("named field");
        let mut name = ident.to_string();
        let (mut default, mut flatten, mut skip) = (false, false, false);
        for attr in &f.attrs {
            if !attr.path().is_ident("sqlx") {
                continue;
            }
            attr.parse_nested_meta(|m| {
                if m.path.is_ident("default") {
                    default = true;
                } else if m.path.is_ident("flatten") {
                    flatten = true;
                } else if m.path.is_ident("skip") {
                    skip = true;
                } else if m.path.is_ident("rename") {
                    name = m.value()?.parse::<syn::LitStr>()?.value();
                } else {
                    return Err(m.error("RowShape: this #[sqlx(...)] attribute is not supported"));
                }
                Ok(())
            })?;
        }
        let ty = &f.ty;
        if skip {
            continue;
        }
        if flatten {
            pushes.push(quote! {
                out.extend(<#ty as crate::db::RowShape>::columns());
            });
            continue;
        }
        let nullable = is_option(ty);
        let rust_type = quote!(#ty).to_string().replace(' ', "");
        pushes.push(quote! {
            out.push(crate::db::Column {
                name: #name,
                rust_type: #rust_type,
                optional: #default,
                nullable: #nullable,
                compatible: |t| <#ty as sqlx::Type<sqlx::Postgres>>::compatible(t),
            });
        });
    }
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    Ok(quote! {
        impl #impl_generics crate::db::RowShape for #ident #ty_generics #where_clause {
            fn columns() -> ::std::vec::Vec<crate::db::Column> {
                let mut out = ::std::vec::Vec::new();
                #(#pushes)*
                out
            }
        }
    })
}

fn is_option(ty: &Type) -> bool {
    match ty {
        Type::Path(p) => p.path.segments.last().is_some_and(|s| s.ident == "Option"),
        _ => false,
    }
}

//! Turns the checked model into the instrumented function.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::ext::IdentExt;
use syn::{Block, Type};

use crate::ast::{self, Function, Shape};
use crate::attr::{FieldValue, Options};
use crate::valid::{self, Checked};

/// The whole attribute: parse, check, expand. With `enabled` false the
/// function comes back unchanged (after the same checks).
pub fn traced(args: TokenStream, item: TokenStream, enabled: bool) -> TokenStream {
    let function = match Function::parse(item.clone()) {
        Ok(function) => function,
        Err(tokens) => return tokens,
    };
    let options = match syn::parse2::<Options>(args) {
        Ok(options) => options,
        Err(error) => return with_item(error, item),
    };
    let checked = match valid::check(options, &function) {
        Ok(checked) => checked,
        Err(error) => return with_item(error, item),
    };
    if !enabled {
        return item;
    }
    expand(function, &checked)
}

/// The errors, and the item unchanged so that its own errors still show and
/// its callers still compile.
fn with_item(error: syn::Error, item: TokenStream) -> TokenStream {
    let mut out = error.to_compile_error();
    out.extend(item);
    out
}

fn expand(mut function: Function, checked: &Checked) -> TokenStream {
    if checked.propagate {
        crate::propagate::rewrite(&mut function.item.block, checked.krate.as_ref());
    }
    // A sync fn's span is entered as it starts and left as it ends, in
    // one step each; an async fn's is entered for each poll.
    let starter = match function.shape {
        Shape::Sync => quote!(start_entered),
        Shape::Async | Shape::AsyncTrait => quote!(start),
    };
    let start = start_span(&function, checked, starter);
    let record = record_attributes(checked);
    let fake_return = function.nameable_return_type().map(fake_return);
    let finish = finish(checked);

    let item = &mut function.item;
    let new_body: TokenStream = match function.shape {
        Shape::Sync => {
            let block = &item.block;
            if checked.err.is_some() || checked.ret.is_some() {
                quote! {{
                    #start
                    #record
                    #[allow(clippy::redundant_closure_call)]
                    let __dapple_ret = (move || { #fake_return #block })();
                    #finish
                    __dapple_ret
                }}
            } else {
                quote! {{
                    #start
                    #record
                    #block
                }}
            }
        }
        Shape::Async => {
            let block = &item.block;
            async_body(
                checked.krate.as_ref(),
                &start,
                &record,
                &finish,
                quote!(async move { #fake_return #block }),
            )
        }
        Shape::AsyncTrait => {
            let Some(future) = ast::async_trait_future_mut(&mut item.block) else {
                unreachable!("the shape was found on this block");
            };
            let inner = quote!(#future);
            let outer = async_body(checked.krate.as_ref(), &start, &record, &finish, inner);
            *future = syn::parse_quote!(async move #outer);
            let block = &item.block;
            quote!(#block)
        }
    };
    let block: Block = match syn::parse2(new_body) {
        Ok(block) => block,
        Err(error) => return error.to_compile_error(),
    };
    *item.block = block;
    quote!(#item)
}

/// The variable holding the call's span. Named at the macro's own site
/// (mixed-site hygiene), so that the function's body cannot reach it: the
/// span stays entered until the call ends, whatever the body does.
fn span_var() -> syn::Ident {
    syn::Ident::new("__dapple_span", Span::mixed_site())
}

/// The path of the dapple crate, placed at `span` so that generated code
/// spanned at a user's token reports errors at that token. A `crate = path`
/// keeps resolving where it was written.
pub fn krate_at(krate: Option<&syn::Path>, span: Span) -> TokenStream {
    match krate {
        None => quote_spanned!(span=> ::dapple),
        Some(path) => quote!(#path)
            .into_iter()
            .map(|mut token| {
                token.set_span(token.span().located_at(span));
                token
            })
            .collect(),
    }
}

fn async_body(
    krate: Option<&syn::Path>,
    start: &TokenStream,
    record: &TokenStream,
    finish: &TokenStream,
    future: TokenStream,
) -> TokenStream {
    let dapple_span = span_var();
    let krate = krate_at(krate, Span::call_site());
    quote! {{
        #start
        #record
        let __dapple_ret = #krate::__private::in_span(&mut #dapple_span, #future).await;
        #finish
        __dapple_ret
    }}
}

fn start_span(function: &Function, checked: &Checked, starter: TokenStream) -> TokenStream {
    let dapple_span = span_var();
    let name = match &checked.name {
        Some(name) => quote!(#name),
        None => {
            let ident = function.item.sig.ident.to_string();
            let ident = ident.trim_start_matches("r#");
            quote!(::core::concat!(::core::module_path!(), "::", #ident))
        }
    };
    let krate = krate_at(checked.krate.as_ref(), Span::call_site());
    let kind = &checked.kind;
    let root = checked.root;
    let threshold = match checked.sample {
        Some(p) => quote!(::core::option::Option::Some(#krate::__private::threshold(#p))),
        None => quote!(::core::option::Option::None),
    };
    quote! {
        #[allow(unused_mut)]
        let mut #dapple_span = #krate::__private::#starter(
            #name,
            #krate::SpanKind::#kind,
            #root,
            #threshold,
        );
    }
}

/// Records arguments and fields, only when the span records: an unsampled
/// call formats nothing.
fn record_attributes(checked: &Checked) -> TokenStream {
    let dapple_span = span_var();
    let krate = krate_at(checked.krate.as_ref(), Span::call_site());
    let mut sets = Vec::new();
    let keys: Vec<String> = checked
        .record
        .iter()
        .map(|ident| ident.unraw().to_string())
        .collect();
    if !keys.is_empty() {
        // One static per function names its arguments: a span keeps one
        // pointer to it, whatever the number of arguments.
        sets.push(quote! {
            static __DAPPLE_ARG_KEYS: #krate::__private::ArgKeys =
                #krate::__private::ArgKeys(&[#(#keys),*], &[]);
        });
    }
    for (index, ident) in checked.record.iter().enumerate() {
        let krate = krate_at(checked.krate.as_ref(), ident.span());
        sets.push(quote_spanned! {ident.span()=>
            #krate::__private::arg(&mut #dapple_span, &__DAPPLE_ARG_KEYS, #index, (&&#krate::__private::Arg(&#ident)).__dapple_value());
        });
    }
    for field in &checked.fields {
        let key = &field.key;
        let value = match &field.value {
            FieldValue::Value(expr) => {
                let krate = krate_at(checked.krate.as_ref(), field.key_span);
                quote_spanned!(field.key_span=> (&&#krate::__private::Arg(&(#expr))).__dapple_value())
            }
            FieldValue::Display(expr) => quote!(#krate::__private::display(&(#expr))),
            FieldValue::Debug(expr) => quote!(#krate::__private::debug(&(#expr))),
        };
        sets.push(quote!(#krate::__private::attribute(&mut #dapple_span, #key, #value);));
    }
    if sets.is_empty() {
        return TokenStream::new();
    }
    quote! {
        if #dapple_span.is_recording() {
            #[allow(unused_imports)]
            use #krate::__private::{RecordDebug as _, RecordTyped as _, Unrecordable as _};
            #(#sets)*
        }
    }
}

/// Records the outcome from `__dapple_ret`. Spanned at the option, so a
/// type error names it.
fn finish(checked: &Checked) -> TokenStream {
    let dapple_span = span_var();
    let krate = krate_at(checked.krate.as_ref(), Span::call_site());
    let mut out = TokenStream::new();
    if let Some(err) = &checked.err {
        let krate = krate_at(checked.krate.as_ref(), err.span());
        out.extend(quote_spanned! {err.span()=>
            #krate::__private::record_err(&mut #dapple_span, &__dapple_ret);
        });
    }
    if let Some(ret) = &checked.ret {
        let krate_here = krate_at(checked.krate.as_ref(), ret.span());
        let value = quote_spanned! {ret.span()=>
            (&&#krate_here::__private::Arg(&__dapple_ret)).__dapple_value()
        };
        out.extend(quote! {
            if #dapple_span.is_recording() {
                #[allow(unused_imports)]
                use #krate::__private::{RecordDebug as _, RecordTyped as _, Unrecordable as _};
                #dapple_span.set_attribute("return", #value);
            }
        });
    }
    out
}

/// Pins the body's return type so that `?` and `return` inside a closure or
/// async block infer it as the function's.
fn fake_return(ty: &Type) -> TokenStream {
    quote! {
        #[allow(
            unreachable_code,
            clippy::diverging_sub_expression,
            clippy::empty_loop,
            clippy::let_unit_value,
            clippy::needless_return,
            clippy::unreachable
        )]
        if false {
            let __dapple_fake_return: #ty = loop {};
            return __dapple_fake_return;
        }
    }
}

#[cfg(test)]
mod tests {
    use quote::quote;

    #[test]
    fn disabled_returns_the_function_unchanged() {
        let item = quote! {
            fn add(a: i32, b: i32) -> i32 { std::thread::spawn(|| ()); a + b }
        };
        let out = super::traced(quote!(args(a), err), item.clone(), false);
        assert_eq!(out.to_string(), item.to_string());
    }

    #[test]
    fn enabled_wraps_spawn_calls() {
        let item = quote! {
            fn run() { std::thread::spawn(|| ()); tokio::spawn(async {}); spawn(async {}); }
        };
        let out = super::traced(quote!(), item, true).to_string();
        assert!(
            out.contains(":: dapple :: __private :: bind (| | ())"),
            "{out}"
        );
        assert!(out.contains("spawned_future (async { })"), "{out}");
        assert!(out.contains("; spawn (async { })"), "{out}");
    }

    #[test]
    fn disabled_still_reports_bad_options() {
        let out = super::traced(
            quote!(nmae = "x"),
            quote!(
                fn f() {}
            ),
            false,
        )
        .to_string();
        assert!(out.contains("unknown option `nmae`"), "{out}");
    }
}

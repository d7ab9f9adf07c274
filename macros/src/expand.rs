//! Turns the checked model into the instrumented function.

use proc_macro2::TokenStream;
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
        crate::propagate::rewrite(&mut function.item.block);
    }
    let start = start_span(&function, checked);
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
                    let __dapple_ret = {
                        let __dapple_entered = __dapple_span.enter();
                        #[allow(clippy::redundant_closure_call)]
                        (move || { #fake_return #block })()
                    };
                    #finish
                    __dapple_ret
                }}
            } else {
                quote! {{
                    #start
                    #record
                    let __dapple_entered = __dapple_span.enter();
                    #block
                }}
            }
        }
        Shape::Async => {
            let block = &item.block;
            async_body(
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
            let outer = async_body(&start, &record, &finish, inner);
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

fn async_body(
    start: &TokenStream,
    record: &TokenStream,
    finish: &TokenStream,
    future: TokenStream,
) -> TokenStream {
    quote! {{
        #start
        #record
        let __dapple_ret = ::dapple::__private::in_span(&mut __dapple_span, #future).await;
        #finish
        __dapple_ret
    }}
}

fn start_span(function: &Function, checked: &Checked) -> TokenStream {
    let name = match &checked.name {
        Some(name) => quote!(#name),
        None => {
            let ident = function.item.sig.ident.to_string();
            let ident = ident.trim_start_matches("r#");
            quote!(::core::concat!(::core::module_path!(), "::", #ident))
        }
    };
    let kind = &checked.kind;
    let root = checked.root;
    let threshold = match checked.sample {
        Some(p) => quote!(::core::option::Option::Some(::dapple::__private::threshold(#p))),
        None => quote!(::core::option::Option::None),
    };
    quote! {
        #[allow(unused_mut)]
        let mut __dapple_span = ::dapple::__private::start(
            #name,
            ::dapple::SpanKind::#kind,
            #root,
            #threshold,
        );
    }
}

/// Records arguments and fields, only when the span records: an unsampled
/// call formats nothing.
fn record_attributes(checked: &Checked) -> TokenStream {
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
            static __DAPPLE_ARG_KEYS: ::dapple::__private::ArgKeys =
                ::dapple::__private::ArgKeys(&[#(#keys),*]);
        });
    }
    for (index, ident) in checked.record.iter().enumerate() {
        sets.push(quote_spanned! {ident.span()=>
            ::dapple::__private::arg(&mut __dapple_span, &__DAPPLE_ARG_KEYS, #index, (&&::dapple::__private::Arg(&#ident)).__dapple_value());
        });
    }
    for field in &checked.fields {
        let key = &field.key;
        let value = match &field.value {
            FieldValue::Value(expr) => {
                quote_spanned!(field.key_span=> (&&::dapple::__private::Arg(&(#expr))).__dapple_value())
            }
            FieldValue::Display(expr) => quote!(::dapple::__private::display(&(#expr))),
            FieldValue::Debug(expr) => quote!(::dapple::__private::debug(&(#expr))),
        };
        sets.push(quote!(::dapple::__private::attribute(&mut __dapple_span, #key, #value);));
    }
    if sets.is_empty() {
        return TokenStream::new();
    }
    quote! {
        if __dapple_span.is_recording() {
            #[allow(unused_imports)]
            use ::dapple::__private::{RecordDebug as _, RecordTyped as _, Unrecordable as _};
            #(#sets)*
        }
    }
}

/// Records the outcome from `__dapple_ret`. Spanned at the option, so a
/// type error names it.
fn finish(checked: &Checked) -> TokenStream {
    let mut out = TokenStream::new();
    if let Some(err) = &checked.err {
        out.extend(quote_spanned! {err.span()=>
            ::dapple::__private::record_err(&mut __dapple_span, &__dapple_ret);
        });
    }
    if let Some(ret) = &checked.ret {
        let value = quote_spanned! {ret.span()=>
            (&&::dapple::__private::Arg(&__dapple_ret)).__dapple_value()
        };
        out.extend(quote! {
            if __dapple_span.is_recording() {
                #[allow(unused_imports)]
                use ::dapple::__private::{RecordDebug as _, RecordTyped as _, Unrecordable as _};
                __dapple_span.set_attribute("return", #value);
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

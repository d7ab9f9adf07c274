//! Parses the options of `#[traced(...)]` into a plain struct.

use proc_macro2::{Span, TokenTree};
use syn::ext::IdentExt;
use syn::parse::Parser;
use syn::parse::{Parse, ParseStream};
use syn::{Expr, Ident, LitStr, Path, Token, parenthesized};

/// The options, as written. `Spanned` values keep the option's name for
/// error messages.
#[derive(Default)]
pub struct Options {
    pub name: Option<Spanned<LitStr>>,
    pub kind: Option<Spanned<Ident>>,
    pub sample: Option<Spanned<Expr>>,
    pub fields: Option<Spanned<Vec<Field>>>,
    pub args: Option<Spanned<Args>>,
    pub skip: Option<Spanned<Vec<Ident>>>,
    pub err: Option<Ident>,
    pub ret: Option<Ident>,
    pub root: Option<Ident>,
    pub no_propagate: Option<Ident>,
    /// `crate = path`: where the generated code finds dapple.
    pub krate: Option<Spanned<Path>>,
    /// Problems found while parsing, reported together.
    pub errors: Vec<syn::Error>,
}

pub struct Spanned<T> {
    pub option: Ident,
    pub value: T,
}

/// `args(all)` or `args(a, b)`.
pub enum Args {
    All,
    List(Vec<Ident>),
}

/// One entry of `fields(...)`.
pub struct Field {
    pub key: String,
    pub key_span: Span,
    pub value: FieldValue,
}

pub enum FieldValue {
    /// `key = expr`: recorded typed when it can be, else with `Debug`.
    Value(Expr),
    /// `%expr`: recorded with `Display`.
    Display(Expr),
    /// `?expr`: recorded with `Debug`.
    Debug(Expr),
}

pub const OPTIONS: &str =
    "name, kind, sample, fields, args, skip, err, ret, root, no_propagate, crate";

impl Parse for Options {
    fn parse(input: ParseStream<'_>) -> syn::Result<Options> {
        let mut options = Options::default();
        while !input.is_empty() {
            let option = input.call(Ident::parse_any)?;
            if let Err(error) = options.parse_option(&option, input) {
                options.errors.push(error);
                skip_to_comma(input)?;
            }
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        Ok(options)
    }
}

fn spanned<T>(option: &Ident, value: T) -> Spanned<T> {
    Spanned {
        option: option.clone(),
        value,
    }
}

fn skip_to_comma(input: ParseStream<'_>) -> syn::Result<()> {
    while !input.is_empty() && !input.peek(Token![,]) {
        input.parse::<TokenTree>()?;
    }
    Ok(())
}

fn set<T>(slot: &mut Option<T>, option: &Ident, value: T) -> syn::Result<()> {
    if slot.is_some() {
        return Err(syn::Error::new(
            option.span(),
            format!("duplicate option `{option}`: give it once"),
        ));
    }
    *slot = Some(value);
    Ok(())
}

impl Options {
    fn parse_option(&mut self, option: &Ident, input: ParseStream<'_>) -> syn::Result<()> {
        let name = option.to_string();
        match name.as_str() {
            "name" => {
                equals(option, input, "name = \"checkout\"")?;
                let value = input.parse::<LitStr>().map_err(|e| {
                    syn::Error::new(e.span(), "`name` takes a string: name = \"checkout\"")
                })?;
                set(&mut self.name, option, spanned(option, value))
            }
            "kind" => {
                equals(option, input, "kind = server")?;
                let value = input.call(Ident::parse_any).map_err(|e| {
                    syn::Error::new(
                        e.span(),
                        "`kind` takes one of: internal, server, client, producer, consumer",
                    )
                })?;
                set(&mut self.kind, option, spanned(option, value))
            }
            "sample" => {
                equals(option, input, "sample = 0.1")?;
                let value = input.parse::<Expr>()?;
                set(&mut self.sample, option, spanned(option, value))
            }
            "fields" => {
                let content = parens(option, input, "fields(key = value, %display, ?debug)")?;
                let fields = drained(&content, content.parse_terminated(Field::parse, Token![,]))?;
                set(
                    &mut self.fields,
                    option,
                    spanned(option, fields.into_iter().collect()),
                )
            }
            "args" => {
                let content = parens(option, input, "args(a, b) or args(all)")?;
                let names = drained(&content, parameter_names(option, &content))?;
                let value = match names.iter().position(|n| n == "all") {
                    Some(_) if names.len() == 1 => Args::All,
                    Some(at) => {
                        return Err(syn::Error::new(
                            names[at].span(),
                            "`all` stands alone: args(all), with skip(...) to leave some out",
                        ));
                    }
                    None => Args::List(names),
                };
                set(&mut self.args, option, spanned(option, value))
            }
            "skip" => {
                let content = parens(option, input, "skip(password)")?;
                let names = drained(&content, parameter_names(option, &content))?;
                set(&mut self.skip, option, spanned(option, names))
            }
            "err" => flag(&mut self.err, option, input),
            "ret" => flag(&mut self.ret, option, input),
            "root" => flag(&mut self.root, option, input),
            "no_propagate" => flag(&mut self.no_propagate, option, input),
            "crate" => {
                let example = "crate = my_reexport::dapple";
                equals(option, input, example)?;
                let value = path_to_comma(option, input, example)?;
                set(&mut self.krate, option, spanned(option, value))
            }
            _ => Err(syn::Error::new(
                option.span(),
                format!("unknown option `{option}`; expected one of: {OPTIONS}"),
            )),
        }
    }
}

/// The `=` after an option that takes a value.
fn equals(option: &Ident, input: ParseStream<'_>, example: &str) -> syn::Result<()> {
    if input.peek(Token![=]) {
        input.parse::<Token![=]>()?;
        Ok(())
    } else {
        Err(syn::Error::new(
            option.span(),
            format!("`{option}` takes a value: {example}"),
        ))
    }
}

/// A module-style path (`a::b`, `::dapple`, no generics), up to the next
/// comma; an error spans everything that is not one.
fn path_to_comma(option: &Ident, input: ParseStream<'_>, example: &str) -> syn::Result<Path> {
    let mut tokens = proc_macro2::TokenStream::new();
    while !input.is_empty() && !input.peek(Token![,]) {
        tokens.extend([input.parse::<TokenTree>()?]);
    }
    if tokens.is_empty() {
        return Err(syn::Error::new(
            option.span(),
            format!("`{option}` takes a value: {example}"),
        ));
    }
    Path::parse_mod_style.parse2(tokens.clone()).map_err(|_| {
        syn::Error::new_spanned(
            tokens,
            format!("`{option}` takes the path dapple is reachable at: {example}"),
        )
    })
}

/// The parenthesized list after an option that takes one.
fn parens<'a>(
    option: &Ident,
    input: ParseStream<'a>,
    example: &str,
) -> syn::Result<syn::parse::ParseBuffer<'a>> {
    if !input.peek(syn::token::Paren) {
        return Err(syn::Error::new(
            option.span(),
            format!("`{option}` takes a list: {example}"),
        ));
    }
    let content;
    parenthesized!(content in input);
    Ok(content)
}

/// On error, consumes the rest of a parenthesized list, so that only the
/// error itself is reported.
fn drained<T>(content: ParseStream<'_>, result: syn::Result<T>) -> syn::Result<T> {
    if result.is_err() {
        let _ = content.parse::<proc_macro2::TokenStream>();
    }
    result
}

/// Parameter names, each once.
fn parameter_names(option: &Ident, content: ParseStream<'_>) -> syn::Result<Vec<Ident>> {
    let mut names: Vec<Ident> = Vec::new();
    while !content.is_empty() {
        let name = content
            .call(Ident::parse_any)
            .map_err(|e| syn::Error::new(e.span(), format!("`{option}` takes parameter names")))?;
        if names.contains(&name) {
            return Err(syn::Error::new(
                name.span(),
                format!("`{name}` is listed twice"),
            ));
        }
        names.push(name);
        if !content.is_empty() {
            content.parse::<Token![,]>()?;
        }
    }
    Ok(names)
}

/// An option without a value.
fn flag(slot: &mut Option<Ident>, option: &Ident, input: ParseStream<'_>) -> syn::Result<()> {
    if input.peek(Token![=]) || input.peek(syn::token::Paren) {
        return Err(syn::Error::new(
            option.span(),
            format!("`{option}` takes no value: write `{option}` alone"),
        ));
    }
    set(slot, option, option.clone())
}

impl Parse for Field {
    fn parse(input: ParseStream<'_>) -> syn::Result<Field> {
        if input.peek(Token![%]) || input.peek(Token![?]) {
            let display = input.peek(Token![%]);
            input.parse::<TokenTree>()?;
            let expr: Expr = input.parse()?;
            let key = shorthand_key(&expr).ok_or_else(|| {
                syn::Error::new_spanned(
                    &expr,
                    "a field without a key must be a name or a field access: \
                     write `key = %expr` for anything else",
                )
            })?;
            let key_span = syn::spanned::Spanned::span(&expr);
            let value = if display {
                FieldValue::Display(expr)
            } else {
                FieldValue::Debug(expr)
            };
            return Ok(Field {
                key,
                key_span,
                value,
            });
        }
        let (key, key_span) = if input.peek(LitStr) {
            let lit: LitStr = input.parse()?;
            (lit.value(), lit.span())
        } else {
            let first = input.call(Ident::parse_any)?;
            let mut key = first.unraw().to_string();
            while input.peek(Token![.]) {
                input.parse::<Token![.]>()?;
                key.push('.');
                key.push_str(&input.call(Ident::parse_any)?.unraw().to_string());
            }
            (key, first.span())
        };
        if !input.peek(Token![=]) {
            let expr: Expr = syn::parse_str(&key).map_err(|_| {
                syn::Error::new(key_span, "expected `key = value`, `%value` or `?value`")
            })?;
            // `fields(user)` records the variable `user`.
            let expr = respan(expr, key_span);
            return Ok(Field {
                key,
                key_span,
                value: FieldValue::Value(expr),
            });
        }
        input.parse::<Token![=]>()?;
        let value = if input.peek(Token![%]) {
            input.parse::<Token![%]>()?;
            FieldValue::Display(input.parse()?)
        } else if input.peek(Token![?]) {
            input.parse::<Token![?]>()?;
            FieldValue::Debug(input.parse()?)
        } else {
            FieldValue::Value(input.parse()?)
        };
        Ok(Field {
            key,
            key_span,
            value,
        })
    }
}

fn respan(expr: Expr, span: Span) -> Expr {
    let tokens: proc_macro2::TokenStream = quote::quote!(#expr)
        .into_iter()
        .map(|mut t| {
            t.set_span(span);
            t
        })
        .collect();
    syn::parse2(tokens).unwrap_or(expr)
}

/// The key of `%user.name`: `user.name`.
fn shorthand_key(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Path(p) if p.qself.is_none() => p.path.get_ident().map(|i| i.unraw().to_string()),
        Expr::Field(f) => {
            let member = match &f.member {
                syn::Member::Named(ident) => ident.unraw().to_string(),
                syn::Member::Unnamed(index) => index.index.to_string(),
            };
            Some(format!("{}.{member}", shorthand_key(&f.base)?))
        }
        _ => None,
    }
}

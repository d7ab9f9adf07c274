//! Checks the options against the function and reports every problem at the
//! token at fault.

use syn::ext::IdentExt;
use syn::{Expr, ExprLit, Ident, Lit};

use crate::ast::Function;
use crate::attr::{Args, Field, Options};

/// The checked options, ready to expand.
pub struct Checked {
    pub name: Option<syn::LitStr>,
    pub kind: Ident,
    pub sample: Option<f64>,
    pub record: Vec<Ident>,
    pub fields: Vec<Field>,
    pub err: Option<Ident>,
    pub ret: Option<Ident>,
    pub root: bool,
    pub propagate: bool,
    /// `crate = path`: the path of the dapple crate in generated code, when
    /// it is not `::dapple`.
    pub krate: Option<syn::Path>,
}

const KINDS: [(&str, &str); 5] = [
    ("internal", "Internal"),
    ("server", "Server"),
    ("client", "Client"),
    ("producer", "Producer"),
    ("consumer", "Consumer"),
];

pub fn check(mut options: Options, function: &Function) -> Result<Checked, syn::Error> {
    let mut errors = std::mem::take(&mut options.errors);
    let sig = &function.item.sig;

    if let Some(constness) = &sig.constness {
        errors.push(syn::Error::new(
            constness.span,
            "#[traced] cannot go on a `const fn`: a span needs a clock at run time",
        ));
    }

    if let Some(name) = &options.name
        && name.value.value().trim().is_empty()
    {
        errors.push(syn::Error::new(
            name.value.span(),
            "`name` may not be empty",
        ));
    }

    let kind = match &options.kind {
        None => Ident::new("Internal", proc_macro2::Span::call_site()),
        Some(kind) => match KINDS.iter().find(|(k, _)| kind.value == k) {
            Some((_, variant)) => Ident::new(variant, kind.value.span()),
            None => {
                errors.push(syn::Error::new(
                    kind.value.span(),
                    format!(
                        "unknown span kind `{}`; expected one of: internal, server, client, producer, consumer",
                        kind.value
                    ),
                ));
                Ident::new("Internal", kind.value.span())
            }
        },
    };

    let sample = options.sample.as_ref().and_then(|sample| {
        let value = match &sample.value {
            Expr::Lit(ExprLit {
                lit: Lit::Float(f), ..
            }) => f.base10_parse::<f64>().ok(),
            Expr::Lit(ExprLit {
                lit: Lit::Int(i), ..
            }) => i.base10_parse::<u8>().ok().map(f64::from),
            _ => None,
        };
        match value {
            Some(p) if (0.0..=1.0).contains(&p) => Some(p),
            _ => {
                errors.push(syn::Error::new_spanned(
                    &sample.value,
                    "`sample` is a probability from 0.0 to 1.0",
                ));
                None
            }
        }
    });

    let mut record = Vec::new();
    match &options.args {
        None => {}
        Some(args) => match &args.value {
            Args::All => record.extend(
                function
                    .params
                    .iter()
                    .filter(|p| p.ident != "self")
                    .map(|p| p.ident.clone()),
            ),
            Args::List(names) => {
                if names.is_empty() {
                    errors.push(syn::Error::new(
                        args.option.span(),
                        "`args` needs parameter names, or `all`",
                    ));
                }
                for name in names {
                    match function.param(name) {
                        // The name as written in `args`, so errors point there.
                        Some(_) => record.push(name.clone()),
                        None => errors.push(syn::Error::new(
                            name.span(),
                            format!("`{name}` is not a parameter of this function"),
                        )),
                    }
                }
            }
        },
    }

    if let Some(skip) = &options.skip {
        if !matches!(options.args.as_ref().map(|a| &a.value), Some(Args::All)) {
            errors.push(syn::Error::new(
                skip.option.span(),
                "`skip` only goes with `args(all)`: with `args(a, b)`, leave names out instead",
            ));
        }
        for name in &skip.value {
            if function.param(name).is_none() {
                errors.push(syn::Error::new(
                    name.span(),
                    format!("`{name}` is not a parameter of this function"),
                ));
            }
        }
        record.retain(|r| !skip.value.contains(r));
    }

    let fields = options.fields.map(|f| f.value).unwrap_or_default();
    let mut keys: Vec<String> = record.iter().map(|r| r.unraw().to_string()).collect();
    for field in &fields {
        if keys.contains(&field.key) {
            errors.push(syn::Error::new(
                field.key_span,
                format!(
                    "`{}` is recorded twice: give each attribute one key",
                    field.key
                ),
            ));
        }
        keys.push(field.key.clone());
    }

    for (flag, what) in [(&options.err, "err"), (&options.ret, "ret")] {
        if let Some(flag) = flag
            && !function.has_return_type()
        {
            errors.push(syn::Error::new(
                flag.span(),
                format!("`{what}` needs a function that returns a value; this one returns `()`"),
            ));
        }
    }

    match errors.into_iter().reduce(|mut all, e| {
        all.combine(e);
        all
    }) {
        Some(error) => Err(error),
        None => Ok(Checked {
            name: options.name.as_ref().map(|n| n.value.clone()),
            kind,
            sample,
            record,
            fields,
            err: options.err.clone(),
            ret: options.ret.clone(),
            root: options.root.is_some(),
            propagate: options.no_propagate.is_none(),
            krate: options.krate.map(|k| k.value),
        }),
    }
}

//! Rewrites spawn calls in a traced body so the new task or thread carries
//! the current span.
//!
//! Three kinds of call are rewritten:
//!
//! - Path calls, recognised by path whether written in full or through an
//!   imported module: `tokio::spawn`, `tokio::task::spawn`,
//!   `tokio::task::spawn_local` and `task::spawn(_local)` get their future
//!   wrapped; `tokio::task::spawn_blocking`, `task::spawn_blocking`,
//!   `std::thread::spawn`, `thread::spawn`, `thread::Builder::spawn(builder, f)`
//!   and `thread::Builder::new()...spawn(f)` get their closure wrapped. A bare
//!   `spawn(...)` is left alone: its path does not say what it spawns.
//! - Method calls named `spawn`, `spawn_blocking`, `spawn_local` (one
//!   argument) or `spawn_on`, `spawn_blocking_on`, `spawn_local_on` (two):
//!   `JoinSet`, `Handle`, `Runtime`, `LocalSet`, `tokio::task::Builder`,
//!   `std::thread::Scope` and anyone else's. The macro cannot see the
//!   receiver's type, so the argument goes through [`carry`]: the compiler
//!   picks the wrapper by the argument's type — a future is instrumented, a
//!   closure taking no arguments is bound, anything else passes unchanged.
//!   Arguments whose type may come from the method's signature (a closure
//!   with untyped parameters, `.into()`, `Default::default()`, a literal...)
//!   are left as written, since a wrapper would hide that signature from
//!   type inference.
//! - Calls inside macro invocations whose tokens parse as comma-separated
//!   expressions (`vec!`, `assert!`, `format!`, `println!`, `tokio::join!`...),
//!   as `vec![x; n]`, or as `select!` branches (`pat = future [, if cond] =>
//!   handler`). A macro whose tokens parse as none of these, or that has
//!   nothing to rewrite, keeps its tokens exactly as written.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote_spanned};
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::visit_mut::{self, VisitMut};
use syn::{Block, Expr, ExprPath, Ident, Macro, Pat, Path, Token};

/// `krate` is `crate = path`, `None` for `::dapple`.
pub fn rewrite(block: &mut Block, krate: Option<&Path>) {
    Rewriter { krate, rewrites: 0 }.visit_block_mut(block);
}

struct Rewriter<'a> {
    /// Where the generated code finds dapple, when not at `::dapple`.
    krate: Option<&'a Path>,
    /// Rewrites made so far: a macro's tokens are replaced only when
    /// something inside them was rewritten.
    rewrites: usize,
}

enum Spawned {
    Future,
    Closure,
}

fn segments(path: &ExprPath) -> Vec<String> {
    path.path
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect()
}

/// What a call to this path spawns, and which argument it is.
fn classify(path: &ExprPath) -> Option<(Spawned, usize)> {
    if path.qself.is_some() {
        return None;
    }
    let segs = segments(path);
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    match segs.as_slice() {
        ["tokio", "spawn"]
        | ["tokio", "task", "spawn"]
        | ["task", "spawn"]
        | ["tokio", "task", "spawn_local"]
        | ["task", "spawn_local"] => Some((Spawned::Future, 0)),
        ["tokio", "task", "spawn_blocking"]
        | ["task", "spawn_blocking"]
        | ["std", "thread", "spawn"]
        | ["thread", "spawn"] => Some((Spawned::Closure, 0)),
        ["std", "thread", "Builder", "spawn"] | ["thread", "Builder", "spawn"] => {
            Some((Spawned::Closure, 1))
        }
        _ => None,
    }
}

/// Spawn methods and their number of arguments; the spawned work is the
/// first.
const SPAWN_METHODS: [(&str, usize); 6] = [
    ("spawn", 1),
    ("spawn_blocking", 1),
    ("spawn_local", 1),
    ("spawn_on", 2),
    ("spawn_blocking_on", 2),
    ("spawn_local_on", 2),
];

/// Whether a method chain starts from `thread::Builder::new()`.
fn from_thread_builder(mut receiver: &Expr) -> bool {
    loop {
        match receiver {
            Expr::MethodCall(call) => receiver = &call.receiver,
            Expr::Paren(paren) => receiver = &paren.expr,
            Expr::Call(call) => {
                return match &*call.func {
                    Expr::Path(path) if path.qself.is_none() => {
                        let segs = segments(path);
                        segs.ends_with(&["thread".into(), "Builder".into(), "new".into()])
                    }
                    _ => false,
                };
            }
            _ => return false,
        }
    }
}

/// Whether an argument of a spawn method may be a future or a closure whose
/// type is known without the method's signature. Everything else is left as
/// written.
fn carriable(arg: &Expr) -> bool {
    let shape = match arg {
        Expr::Paren(paren) => return carriable(&paren.expr),
        Expr::Group(group) => return carriable(&group.expr),
        Expr::Closure(closure) => closure.inputs.is_empty(),
        Expr::Async(_) | Expr::Block(_) | Expr::Path(_) | Expr::Field(_) => true,
        Expr::Call(call) => !matches!(
            &*call.func,
            Expr::Path(path) if path.qself.is_some() || is_conversion(&path.path)
        ),
        Expr::MethodCall(call) => !matches!(
            call.method.to_string().as_str(),
            "into" | "try_into" | "parse" | "collect"
        ),
        _ => false,
    };
    shape && !has_inferred_closure_params(arg)
}

/// `Default::default`, `From::from`, `Into::into`, `default()`: calls whose
/// result type is what the caller expects.
fn is_conversion(path: &Path) -> bool {
    let segs: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    matches!(
        segs.as_slice(),
        ["default"] | [.., "Default", "default"] | [.., "From", "from"] | [.., "Into", "into"]
    )
}

/// Whether a closure in the expression (outside blocks and async blocks)
/// has a parameter without a type: its type would come from the method's
/// signature, as in `pool.spawn(Box::new(|job| ...))`.
fn has_inferred_closure_params(expr: &Expr) -> bool {
    struct Finder(bool);
    impl Visit<'_> for Finder {
        fn visit_expr_closure(&mut self, closure: &syn::ExprClosure) {
            if closure.inputs.iter().any(|p| !matches!(p, Pat::Type(_))) {
                self.0 = true;
            }
        }
        fn visit_expr_async(&mut self, _: &syn::ExprAsync) {}
        fn visit_block(&mut self, _: &Block) {}
        fn visit_macro(&mut self, _: &Macro) {}
    }
    let mut finder = Finder(false);
    finder.visit_expr(expr);
    finder.0
}

impl Rewriter<'_> {
    /// Wraps an argument whose kind the path says.
    fn wrap(&mut self, arg: &mut Expr, spawned: Spawned) {
        let span = arg.span();
        let krate = crate::expand::krate_at(self.krate, span);
        let tokens: TokenStream = match spawned {
            Spawned::Future => {
                quote_spanned!(span=> #krate::__private::spawned_future(#arg))
            }
            Spawned::Closure => quote_spanned!(span=> #krate::__private::bind(#arg)),
        };
        *arg = Expr::Verbatim(tokens);
        self.rewrites += 1;
    }

    /// Wraps an argument of a spawn method by its type, chosen at compile
    /// time through autoref specialization (see `__private::Carry`).
    fn carry(&mut self, arg: &mut Expr) {
        // Spanned at the argument, so a type error points there.
        let span = arg.span();
        let krate = crate::expand::krate_at(self.krate, span);
        let tokens = quote_spanned! {span=> {
            let __dapple_spawned = #arg;
            #[allow(unused_imports)]
            use #krate::__private::{CarryClosure as _, CarryFuture as _, CarryValue as _};
            (&&#krate::__private::Carry(&__dapple_spawned))
                .__dapple_carry()
                .carry(__dapple_spawned)
        }};
        *arg = Expr::Verbatim(tokens);
        self.rewrites += 1;
    }

    /// The tokens of a macro whose arguments are expressions, rewritten.
    fn macro_args(&mut self, mac: &Macro) -> Option<TokenStream> {
        let name = mac.path.segments.last()?.ident.to_string();
        match name.as_str() {
            "select" => {
                let mut select = Parser::parse2(Select::parse, mac.tokens.clone()).ok()?;
                for branch in &mut select.branches {
                    if let Some(future) = &mut branch.future {
                        self.visit_expr_mut(&mut future.expr);
                        if let Some((_, _, condition)) = &mut future.condition {
                            self.visit_expr_mut(condition);
                        }
                    }
                    self.visit_expr_mut(&mut branch.handler);
                }
                Some(select.into_token_stream())
            }
            _ => {
                let may_be_biased = matches!(name.as_str(), "join" | "try_join");
                let parse = |input: ParseStream<'_>| Args::parse(input, may_be_biased);
                let mut args = Parser::parse2(parse, mac.tokens.clone()).ok()?;
                match &mut args.exprs {
                    Exprs::List(list) => list.iter_mut().for_each(|e| self.visit_expr_mut(e)),
                    Exprs::Repeat(value, _, count) => {
                        self.visit_expr_mut(value);
                        self.visit_expr_mut(count);
                    }
                }
                Some(args.into_token_stream())
            }
        }
    }
}

impl VisitMut for Rewriter<'_> {
    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        visit_mut::visit_expr_mut(self, expr);
        match expr {
            Expr::Call(call) => {
                let Expr::Path(path) = &*call.func else {
                    return;
                };
                if let Some((spawned, index)) = classify(path)
                    && let Some(arg) = call.args.iter_mut().nth(index)
                {
                    self.wrap(arg, spawned);
                }
            }
            Expr::MethodCall(call)
                if call.method == "spawn"
                    && call.args.len() == 1
                    && from_thread_builder(&call.receiver) =>
            {
                if let Some(arg) = call.args.first_mut() {
                    self.wrap(arg, Spawned::Closure);
                }
            }
            Expr::MethodCall(call)
                if SPAWN_METHODS
                    .iter()
                    .any(|(name, args)| call.method == name && call.args.len() == *args) =>
            {
                if let Some(arg) = call.args.first_mut()
                    && carriable(arg)
                {
                    self.carry(arg);
                }
            }
            _ => {}
        }
    }

    /// A macro's tokens are replaced only when a spawn inside was rewritten.
    fn visit_macro_mut(&mut self, mac: &mut Macro) {
        let before = self.rewrites;
        match self.macro_args(mac) {
            Some(tokens) if self.rewrites > before => mac.tokens = tokens,
            _ => self.rewrites = before,
        }
    }

    /// Items nested in the body are not part of the traced call.
    fn visit_item_mut(&mut self, _: &mut syn::Item) {}
}

/// The arguments of an expression-like macro: `a, b, c` or `value; count`,
/// after `biased;` for `join!` and `try_join!`.
struct Args {
    biased: Option<(Ident, Token![;])>,
    exprs: Exprs,
}

enum Exprs {
    List(Punctuated<Expr, Token![,]>),
    Repeat(Box<Expr>, Token![;], Box<Expr>),
}

/// A leading `biased;`, as `join!` and `select!` accept.
fn parse_biased(input: ParseStream<'_>) -> syn::Result<Option<(Ident, Token![;])>> {
    if !(input.peek(Ident) && input.peek2(Token![;])) {
        return Ok(None);
    }
    let ident: Ident = input.parse()?;
    if ident != "biased" {
        return Err(syn::Error::new(ident.span(), "not `biased`"));
    }
    Ok(Some((ident, input.parse()?)))
}

impl Args {
    fn parse(input: ParseStream<'_>, may_be_biased: bool) -> syn::Result<Args> {
        let biased = if may_be_biased {
            parse_biased(input)?
        } else {
            None
        };
        if input.is_empty() {
            return Err(input.error("nothing to rewrite"));
        }
        let first: Expr = input.parse()?;
        if input.peek(Token![;]) && biased.is_none() {
            let semi = input.parse()?;
            let count = input.parse()?;
            return Ok(Args {
                biased,
                exprs: Exprs::Repeat(Box::new(first), semi, Box::new(count)),
            });
        }
        let mut list = Punctuated::new();
        list.push_value(first);
        while !input.is_empty() {
            list.push_punct(input.parse()?);
            if input.is_empty() {
                break;
            }
            list.push_value(input.parse()?);
        }
        Ok(Args {
            biased,
            exprs: Exprs::List(list),
        })
    }
}

impl ToTokens for Args {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        if let Some((ident, semi)) = &self.biased {
            ident.to_tokens(tokens);
            semi.to_tokens(tokens);
        }
        match &self.exprs {
            Exprs::List(list) => list.to_tokens(tokens),
            Exprs::Repeat(value, semi, count) => {
                value.to_tokens(tokens);
                semi.to_tokens(tokens);
                count.to_tokens(tokens);
            }
        }
    }
}

/// The body of `select!`: `[biased;] pat = future [, if cond] => handler, ...`
/// with `else => handler` (or futures' `complete =>`, `default =>`).
struct Select {
    biased: Option<(Ident, Token![;])>,
    branches: Vec<Branch>,
}

struct Branch {
    /// `None` for `else => ...`, whose name is in `fallback`.
    future: Option<FutureBranch>,
    fallback: Option<Ident>,
    arrow: Token![=>],
    handler: Expr,
    comma: Option<Token![,]>,
}

struct FutureBranch {
    pat: Pat,
    eq: Token![=],
    expr: Expr,
    condition: Option<(Token![,], Token![if], Expr)>,
}

impl Select {
    fn parse(input: ParseStream<'_>) -> syn::Result<Select> {
        let biased = parse_biased(input)?;
        let mut branches = Vec::new();
        while !input.is_empty() {
            let (future, fallback) = if input.peek(Ident::peek_any) && input.peek2(Token![=>]) {
                (None, Some(input.call(Ident::parse_any)?))
            } else {
                let pat = Pat::parse_multi_with_leading_vert(input)?;
                let eq = input.parse()?;
                let expr = input.parse()?;
                let condition = if input.peek(Token![,]) && input.peek2(Token![if]) {
                    Some((input.parse()?, input.parse()?, input.parse()?))
                } else {
                    None
                };
                let future = FutureBranch {
                    pat,
                    eq,
                    expr,
                    condition,
                };
                (Some(future), None)
            };
            let arrow = input.parse()?;
            let (handler, comma) = if input.peek(syn::token::Brace) {
                let block: Block = input.parse()?;
                let handler = Expr::Block(syn::ExprBlock {
                    attrs: Vec::new(),
                    label: None,
                    block,
                });
                (handler, input.parse()?)
            } else {
                let handler = input.parse()?;
                let comma: Option<Token![,]> = input.parse()?;
                if comma.is_none() && !input.is_empty() {
                    return Err(input.error("expected `,` after a select! handler"));
                }
                (handler, comma)
            };
            branches.push(Branch {
                future,
                fallback,
                arrow,
                handler,
                comma,
            });
        }
        Ok(Select { biased, branches })
    }
}

impl ToTokens for Select {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        if let Some((ident, semi)) = &self.biased {
            ident.to_tokens(tokens);
            semi.to_tokens(tokens);
        }
        for branch in &self.branches {
            if let Some(future) = &branch.future {
                future.pat.to_tokens(tokens);
                future.eq.to_tokens(tokens);
                future.expr.to_tokens(tokens);
                if let Some((comma, if_token, condition)) = &future.condition {
                    comma.to_tokens(tokens);
                    if_token.to_tokens(tokens);
                    condition.to_tokens(tokens);
                }
            }
            branch.fallback.to_tokens(tokens);
            branch.arrow.to_tokens(tokens);
            branch.handler.to_tokens(tokens);
            branch.comma.to_tokens(tokens);
        }
    }
}

#[cfg(test)]
mod tests {
    use quote::quote;

    fn rewritten(body: proc_macro2::TokenStream) -> String {
        let mut block: syn::Block = syn::parse2(quote!({ #body })).unwrap();
        super::rewrite(&mut block, None);
        quote!(#block).to_string()
    }

    #[test]
    fn spawns_inside_expression_macros_are_rewritten() {
        let out = rewritten(quote! {
            let handles = vec![tokio::spawn(a()), tokio::spawn(b())];
            let _ = tokio::join!(tokio::spawn(a()), tokio::task::spawn_blocking(f));
            assert!(std::thread::spawn(f).join().is_ok(), "{}", 1);
            println!("{:?}", format!("{}", thread::spawn(f).join().is_ok()));
            let repeated = vec![tokio::spawn(a()); 1];
        });
        assert_eq!(out.matches("spawned_future").count(), 4, "{out}");
        assert_eq!(out.matches("__private :: bind").count(), 3, "{out}");
    }

    #[test]
    fn select_branches_are_rewritten() {
        let out = rewritten(quote! {
            tokio::select! {
                biased;
                Ok(v) = tokio::spawn(a()), if ready => { tokio::spawn(b()); }
                _ = sleep(d) => tokio::spawn(c()),
                else => (),
            }
        });
        assert_eq!(out.matches("spawned_future").count(), 3, "{out}");
        assert!(out.contains("biased ;"), "{out}");
    }

    #[test]
    fn macros_without_spawns_or_that_do_not_parse_keep_their_tokens() {
        let body = quote! {
            println!("{x}", x = 1 ,);
            weird!(tokio::spawn(a()) => ; ;);
            html! { <p> { tokio::spawn(a()) } </p> }
        };
        assert_eq!(rewritten(body.clone()), quote!({ #body }).to_string());
    }

    #[test]
    fn spawn_methods_carry_by_type_unless_the_signature_is_needed() {
        let out = rewritten(quote! {
            set.spawn(async move { 1 });
            handle.spawn_blocking(|| 1);
            local.spawn_local(work());
            set.spawn_on(work, &handle);
            s.spawn(move || 1);
            pool.spawn(|scope| 1);
            pool.spawn(Box::new(|job| 1));
            pool.spawn(config.into());
            pool.spawn(Default::default());
            pool.spawn(3);
            command.spawn();
            pool.spawn(a, b);
        });
        assert_eq!(out.matches("__dapple_carry").count(), 5, "{out}");
        assert!(out.contains("pool . spawn (| scope | 1)"), "{out}");
        assert!(out.contains("pool . spawn (config . into ())"), "{out}");
        assert!(out.contains("pool . spawn (3)"), "{out}");
    }

    #[test]
    fn the_crate_path_is_used() {
        let mut block: syn::Block = syn::parse2(quote!({
            tokio::spawn(a());
            set.spawn(a());
        }))
        .unwrap();
        super::rewrite(&mut block, Some(&syn::parse_quote!(reexport::dapple)));
        let out = quote!(#block).to_string();
        assert_eq!(
            out.matches("reexport :: dapple :: __private").count(),
            3,
            "{out}"
        );
        assert_eq!(out.matches("dapple :: __private").count(), 3, "{out}");
    }
}

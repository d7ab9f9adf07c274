//! Models the function `#[traced]` is put on.

use proc_macro2::TokenStream;
use syn::{Block, Expr, FnArg, Ident, ItemFn, Pat, ReturnType, Stmt, Type};

/// A function with a body.
pub struct Function {
    pub item: ItemFn,
    pub shape: Shape,
    pub params: Vec<Param>,
}

/// How the body runs.
pub enum Shape {
    /// A plain function: the span covers the call.
    Sync,
    /// An `async fn`: the span covers the future's life.
    Async,
    /// What `#[async_trait]` makes of an `async fn`: a plain function whose
    /// last statement is `Box::pin(async move { ... })`; the span covers
    /// that future.
    AsyncTrait,
}

/// A parameter that can be recorded by name.
pub struct Param {
    pub ident: Ident,
}

impl Function {
    /// Parses the item; `Err` when it is not a function with a body.
    pub fn parse(item: TokenStream) -> Result<Function, TokenStream> {
        let item: ItemFn = match syn::parse2(item.clone()) {
            Ok(item) => item,
            Err(_) => {
                let message = "#[traced] goes on functions and methods with a body";
                // Point at the item's first token, leave the item as it was.
                let span = item.clone().into_iter().next().map(|t| t.span());
                let error =
                    syn::Error::new(span.unwrap_or_else(proc_macro2::Span::call_site), message);
                let mut out = error.to_compile_error();
                out.extend(item);
                return Err(out);
            }
        };
        let shape = if item.sig.asyncness.is_some() {
            Shape::Async
        } else if async_trait_future(&item.block).is_some() {
            Shape::AsyncTrait
        } else {
            Shape::Sync
        };
        let params = item
            .sig
            .inputs
            .iter()
            .filter_map(|arg| match arg {
                FnArg::Receiver(receiver) => Some(Param {
                    ident: Ident::new("self", receiver.self_token.span),
                }),
                FnArg::Typed(typed) => match &*typed.pat {
                    Pat::Ident(pat) => Some(Param {
                        ident: pat.ident.clone(),
                    }),
                    _ => None,
                },
            })
            .collect();
        Ok(Function {
            item,
            shape,
            params,
        })
    }

    /// The return type, when it is written and can be named in a `let`.
    pub fn nameable_return_type(&self) -> Option<&Type> {
        match &self.item.sig.output {
            ReturnType::Type(_, ty) if !contains_impl_trait(ty) => Some(ty),
            _ => None,
        }
    }

    pub fn has_return_type(&self) -> bool {
        matches!(self.item.sig.output, ReturnType::Type(..))
    }

    pub fn param(&self, name: &Ident) -> Option<&Param> {
        self.params.iter().find(|p| p.ident == *name)
    }
}

/// The `async move { ... }` block inside `Box::pin(...)` at the end of an
/// `#[async_trait]` method's body.
pub fn async_trait_future(block: &Block) -> Option<&syn::ExprAsync> {
    let Some(Stmt::Expr(Expr::Call(call), None)) = block.stmts.last() else {
        return None;
    };
    let Expr::Path(func) = &*call.func else {
        return None;
    };
    let segments: Vec<_> = func
        .path
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect();
    if !segments.ends_with(&["Box".to_owned(), "pin".to_owned()]) || call.args.len() != 1 {
        return None;
    }
    match call.args.first() {
        Some(Expr::Async(future)) if future.capture.is_some() => Some(future),
        _ => None,
    }
}

/// The same, mutably.
pub fn async_trait_future_mut(block: &mut Block) -> Option<&mut syn::ExprAsync> {
    async_trait_future(block)?;
    match block.stmts.last_mut() {
        Some(Stmt::Expr(Expr::Call(call), None)) => match call.args.first_mut() {
            Some(Expr::Async(future)) => Some(future),
            _ => None,
        },
        _ => None,
    }
}

fn contains_impl_trait(ty: &Type) -> bool {
    use syn::visit::Visit;
    struct Finder(bool);
    impl Visit<'_> for Finder {
        fn visit_type_impl_trait(&mut self, _: &syn::TypeImplTrait) {
            self.0 = true;
        }
    }
    let mut finder = Finder(false);
    finder.visit_type(ty);
    finder.0
}

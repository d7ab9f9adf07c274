//! Rewrites spawn calls in a traced body so the new task or thread carries
//! the current span.
//!
//! Recognised by path, whether written in full or through an imported module:
//! `tokio::spawn`, `tokio::task::spawn`, `tokio::task::spawn_local` and
//! `task::spawn(_local)` get their future wrapped; `tokio::task::spawn_blocking`,
//! `task::spawn_blocking`, `std::thread::spawn`, `thread::spawn`,
//! `thread::Builder::spawn(builder, f)` and `thread::Builder::new()...spawn(f)`
//! get their closure wrapped. A bare `spawn(...)` is left alone: its path
//! does not say what it spawns.

use proc_macro2::TokenStream;
use quote::quote_spanned;
use syn::spanned::Spanned;
use syn::visit_mut::{self, VisitMut};
use syn::{Block, Expr, ExprPath};

pub fn rewrite(block: &mut Block) {
    Rewriter.visit_block_mut(block);
}

struct Rewriter;

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

fn wrap(arg: &mut Expr, spawned: Spawned) {
    let span = arg.span();
    let tokens: TokenStream = match spawned {
        Spawned::Future => quote_spanned!(span=> ::dapple::__private::spawned_future(#arg)),
        Spawned::Closure => quote_spanned!(span=> ::dapple::__private::bind(#arg)),
    };
    *arg = Expr::Verbatim(tokens);
}

impl VisitMut for Rewriter {
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
                    wrap(arg, spawned);
                }
            }
            Expr::MethodCall(call)
                if call.method == "spawn"
                    && call.args.len() == 1
                    && from_thread_builder(&call.receiver) =>
            {
                if let Some(arg) = call.args.first_mut() {
                    wrap(arg, Spawned::Closure);
                }
            }
            _ => {}
        }
    }

    /// Items nested in the body are not part of the traced call.
    fn visit_item_mut(&mut self, _: &mut syn::Item) {}
}

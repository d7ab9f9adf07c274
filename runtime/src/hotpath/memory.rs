//! An in-process sink that keeps every span, for tests and small tools.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::id::{SpanId, TraceId};
use crate::local::buffer::SpanBatch;
use crate::record::SpanRecord;
use crate::sink::Sink;

/// Keeps finished spans in memory and reads them back as trees.
///
/// ```
/// use dapple::{MemorySink, traced};
///
/// #[traced(name = "parent")]
/// fn parent() { child() }
/// #[traced(name = "child")]
/// fn child() {}
///
/// let spans = MemorySink::install();
/// parent();
/// let tree = spans.tree_of("parent").unwrap();
/// assert_eq!(tree.render(), "parent\n  child\n");
/// ```
#[derive(Clone, Debug, Default)]
pub struct MemorySink {
    spans: Arc<Mutex<Vec<SpanRecord>>>,
}

impl MemorySink {
    /// An empty sink.
    pub fn new() -> MemorySink {
        MemorySink::default()
    }

    /// A new sink, set as the process's sink.
    pub fn install() -> MemorySink {
        let sink = MemorySink::new();
        crate::set_sink(Arc::new(sink.clone()));
        sink
    }

    fn lock(&self) -> MutexGuard<'_, Vec<SpanRecord>> {
        // A panic elsewhere cannot leave the list half-written.
        self.spans.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<SpanRecord> {
        crate::flush_thread();
        self.lock().clone()
    }

    /// The spans of one trace.
    pub fn trace(&self, trace_id: TraceId) -> Vec<SpanRecord> {
        crate::flush_thread();
        self.lock()
            .iter()
            .filter(|s| s.trace_id() == trace_id)
            .cloned()
            .collect()
    }

    /// The spans with this name.
    pub fn named(&self, name: &str) -> Vec<SpanRecord> {
        crate::flush_thread();
        self.lock()
            .iter()
            .filter(|s| s.name() == name)
            .cloned()
            .collect()
    }

    /// The tree of the trace whose root span has this name, if exactly one
    /// such root was received.
    pub fn tree_of(&self, root_name: &str) -> Option<SpanTree> {
        let roots: Vec<_> = self
            .named(root_name)
            .into_iter()
            .filter(|s| s.parent_id().is_none())
            .collect();
        match roots.as_slice() {
            [root] => SpanTree::build(self.trace(root.trace_id())),
            _ => None,
        }
    }

    /// Forgets every span received so far.
    pub fn clear(&self) {
        self.lock().clear();
    }
}

/// The one sink of this crate's unit tests: tests run in parallel, so each
/// reads back only its own spans.
#[cfg(test)]
pub(crate) fn test_sink() -> &'static MemorySink {
    static SINK: std::sync::OnceLock<MemorySink> = std::sync::OnceLock::new();
    SINK.get_or_init(MemorySink::install)
}

impl Sink for MemorySink {
    fn collect(&self, mut batch: SpanBatch) {
        self.lock().extend(batch.drain());
    }
}

/// A span with its children, ordered by start time.
#[derive(Clone, Debug)]
pub struct SpanTree {
    /// The span.
    pub span: SpanRecord,
    /// Its children.
    pub children: Vec<SpanTree>,
    /// Whether the span names a parent that is not in the trace; such spans
    /// are placed under the root.
    pub orphan: bool,
}

impl SpanTree {
    /// Builds the tree of one trace's spans. `None` when there is no root
    /// span; spans whose parent is missing go under the root, marked orphan.
    pub fn build(spans: Vec<SpanRecord>) -> Option<SpanTree> {
        let ids: std::collections::HashSet<SpanId> = spans.iter().map(|s| s.span_id()).collect();
        let mut children: HashMap<Option<SpanId>, Vec<SpanRecord>> = HashMap::new();
        let mut orphans = Vec::new();
        for span in spans {
            match span.parent_id() {
                Some(parent) if !ids.contains(&parent) => orphans.push(span),
                parent => children.entry(parent).or_default().push(span),
            }
        }
        let mut roots = children.remove(&None)?;
        roots.sort_by_key(|s| s.start_unix_nanos());
        let root = roots.remove(0);
        let mut tree = SpanTree::grow(root, &mut children, false);
        for orphan in orphans {
            tree.children
                .push(SpanTree::grow(orphan, &mut children, true));
        }
        tree.children.sort_by_key(|c| c.span.start_unix_nanos());
        Some(tree)
    }

    fn grow(
        span: SpanRecord,
        children: &mut HashMap<Option<SpanId>, Vec<SpanRecord>>,
        orphan: bool,
    ) -> SpanTree {
        let mut kids = children.remove(&Some(span.span_id())).unwrap_or_default();
        kids.sort_by_key(|s| (s.start_unix_nanos(), s.end_unix_nanos()));
        SpanTree {
            children: kids
                .into_iter()
                .map(|kid| SpanTree::grow(kid, children, false))
                .collect(),
            span,
            orphan,
        }
    }

    /// Every span of the tree, depth first.
    pub fn iter(&self) -> impl Iterator<Item = &SpanRecord> {
        let mut stack = vec![self];
        std::iter::from_fn(move || {
            let node = stack.pop()?;
            stack.extend(node.children.iter().rev());
            Some(&node.span)
        })
    }

    /// The first span with this name, depth first.
    pub fn find(&self, name: &str) -> Option<&SpanRecord> {
        self.iter().find(|s| s.name() == name)
    }

    /// The names of the tree, one a line, indented two spaces a level.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.render_into(&mut out, 0);
        out
    }

    fn render_into(&self, out: &mut String, depth: usize) {
        let _ = writeln!(
            out,
            "{:indent$}{}",
            "",
            self.span.name(),
            indent = depth * 2
        );
        for child in &self.children {
            child.render_into(out, depth + 1);
        }
    }
}

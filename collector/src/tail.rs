//! Tail sampling, for spans that arrive complete from other SDKs (OTLP):
//! each trace's spans wait in memory until the trace has been quiet for a
//! while, then the policies of a file decide whether the trace is stored.
//! A trace is kept when any policy matches it; the first that does names
//! itself in `sampling.kept_by` on the span it matched (on the first span
//! for a policy that only draws). Every decision is counted.
//!
//! ```toml
//! # A trace is decided once no span of it came for this long.
//! decision_wait = "5s"
//! # Spans waiting at most; past it the oldest traces are decided early.
//! max_spans = 1000000
//!
//! [[policy]]
//! name = "errors"
//! errors = true
//!
//! [[policy]]
//! name = "slow checkout"
//! span_name = "GET /checkout"
//! min_duration = "500ms"
//!
//! [[policy]]
//! name = "gold"
//! attribute = { key = "user.tier", value = "gold" }
//!
//! [[policy]]
//! name = "the rest"
//! probability = 0.05
//! ```
//!
//! A policy's conditions all hold for one span of the trace (`service`,
//! `span_name`, `errors`, `min_duration`, `attribute`); `probability`
//! draws from the trace id, as head sampling does, so collectors agree.
//! Spans that arrive after their trace was decided follow the decision
//! (remembered for the last 100,000 traces).

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use dapple::TraceId;
use dapple::export::parse_duration;
use serde::Deserialize;

use crate::span::{Attribute, Span, Value};
use crate::store::{Store, StoreError};

/// The attribute that says why a trace was kept.
const KEPT_BY: &str = "sampling.kept_by";

/// Decisions remembered, for spans that come late.
const REMEMBERED: usize = 100_000;

/// A policy file that cannot be used: where and why.
#[derive(Debug, thiserror::Error)]
#[error("tail sampling policies in {path}: {reason}")]
pub struct PolicyError {
    path: String,
    reason: String,
}

/// The policies and how long a trace waits for its spans.
#[derive(Debug, Clone)]
pub struct TailPolicies {
    decision_wait: Duration,
    max_spans: usize,
    policies: Vec<Policy>,
}

/// One policy: a trace is kept when one of its spans meets every
/// condition given, and the draw (when given) keeps it.
#[derive(Debug, Clone)]
struct Policy {
    name: String,
    service: Option<String>,
    span_name: Option<String>,
    errors: bool,
    min_duration_ns: Option<u64>,
    attribute: Option<(String, String)>,
    /// The share of traces the draw keeps.
    probability: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    decision_wait: Option<String>,
    max_spans: Option<usize>,
    #[serde(default)]
    policy: Vec<PolicyFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    name: String,
    service: Option<String>,
    span_name: Option<String>,
    #[serde(default)]
    errors: bool,
    min_duration: Option<String>,
    attribute: Option<AttributeFile>,
    probability: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AttributeFile {
    key: String,
    value: String,
}

impl TailPolicies {
    /// Reads the policies from the TOML file at `path`.
    pub fn load(path: &Path) -> Result<TailPolicies, PolicyError> {
        let error = |reason: String| PolicyError {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
        TailPolicies::parse(&text).map_err(error)
    }

    /// Reads the policies from TOML text.
    pub fn parse(text: &str) -> Result<TailPolicies, String> {
        let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
        let decision_wait = match &file.decision_wait {
            Some(wait) => parse_duration(wait).map_err(|e| format!("decision_wait: {e}"))?,
            None => Duration::from_secs(5),
        };
        if file.policy.is_empty() {
            return Err("no [[policy]]: every trace would be dropped".to_owned());
        }
        let mut policies = Vec::new();
        for policy in file.policy {
            let name = policy.name;
            let min_duration_ns = match &policy.min_duration {
                Some(d) => Some(
                    parse_duration(d)
                        .map_err(|e| format!("policy {name:?}: min_duration: {e}"))?
                        .as_nanos() as u64,
                ),
                None => None,
            };
            if let Some(p) = policy.probability
                && !(0.0..=1.0).contains(&p)
            {
                return Err(format!(
                    "policy {name:?}: probability {p} is not within 0 to 1"
                ));
            }
            let span_level = policy.service.is_some()
                || policy.span_name.is_some()
                || policy.errors
                || min_duration_ns.is_some()
                || policy.attribute.is_some();
            if !span_level && policy.probability.is_none() {
                return Err(format!(
                    "policy {name:?} has no condition: give errors, service, span_name, \
                     min_duration, attribute or probability"
                ));
            }
            policies.push(Policy {
                name,
                service: policy.service,
                span_name: policy.span_name,
                errors: policy.errors,
                min_duration_ns,
                attribute: policy.attribute.map(|a| (a.key, a.value)),
                probability: policy.probability,
            });
        }
        Ok(TailPolicies {
            decision_wait,
            max_spans: file.max_spans.unwrap_or(1_000_000).max(1),
            policies,
        })
    }
}

impl Policy {
    /// Whether `span` meets every span condition (true when there is none).
    fn matches(&self, span: &Span) -> bool {
        self.service.as_deref().is_none_or(|s| span.service() == s)
            && self.span_name.as_deref().is_none_or(|n| span.name == n)
            && (!self.errors || span.is_error())
            && self
                .min_duration_ns
                .is_none_or(|d| span.duration_nanos() >= d)
            && self.attribute.as_ref().is_none_or(|(key, value)| {
                span.attributes.iter().any(|a| {
                    a.key == *key
                        && a.value.as_ref().and_then(Value::text).as_deref() == Some(value)
                })
            })
    }

    /// The span of `spans` that keeps the trace under this policy, if any.
    fn keeps(&self, trace: TraceId, spans: &[Span]) -> Option<usize> {
        if self
            .probability
            .is_some_and(|p| !dapple::within_probability(trace, p))
        {
            return None;
        }
        spans.iter().position(|s| self.matches(s))
    }
}

/// What tail sampling decided so far.
#[derive(Debug, Default)]
pub struct TailCounts {
    /// Traces kept, by the policy that kept them (in the file's order).
    kept: Vec<AtomicU64>,
    dropped_traces: AtomicU64,
    dropped_spans: AtomicU64,
    /// Traces decided before they were quiet, to stay within `max_spans`.
    decided_early: AtomicU64,
    late_kept_spans: AtomicU64,
    late_dropped_spans: AtomicU64,
    store_failures: AtomicU64,
}

/// The spans of traces not decided yet.
#[derive(Default)]
struct Waiting {
    traces: HashMap<TraceId, Pending>,
    /// Traces in the order their first span came (decided ones are skipped).
    arrival: VecDeque<TraceId>,
    /// Each time a trace's `last` moved, in that order: the entry whose time
    /// is its trace's `last` is current, older ones for it are skipped (as
    /// are decided traces'). Quiet traces are found at its front.
    activity: VecDeque<(Instant, TraceId)>,
    spans: usize,
    /// Recent decisions: kept or not.
    decided: HashMap<TraceId, bool>,
    decided_order: VecDeque<TraceId>,
}

struct Pending {
    spans: Vec<Span>,
    last: Instant,
}

/// A store in front of another that holds each trace's spans until the
/// trace is quiet, then stores the traces the policies keep.
pub struct TailSampler {
    inner: Arc<dyn Store>,
    policies: TailPolicies,
    waiting: Mutex<Waiting>,
    counts: TailCounts,
}

impl std::fmt::Debug for TailSampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TailSampler")
            .field("policies", &self.policies)
            .finish_non_exhaustive()
    }
}

impl TailSampler {
    /// The sampler in front of `inner`, with a thread that decides quiet
    /// traces (it ends when the sampler is dropped).
    pub fn start(inner: Arc<dyn Store>, policies: TailPolicies) -> Arc<TailSampler> {
        let counts = TailCounts {
            kept: policies
                .policies
                .iter()
                .map(|_| AtomicU64::new(0))
                .collect(),
            ..TailCounts::default()
        };
        let tick = (policies.decision_wait / 4)
            .clamp(Duration::from_millis(10), Duration::from_millis(250));
        let sampler = Arc::new(TailSampler {
            inner,
            policies,
            waiting: Mutex::new(Waiting::default()),
            counts,
        });
        let weak: Weak<TailSampler> = Arc::downgrade(&sampler);
        let _ = std::thread::Builder::new()
            .name("dapple-tail-sampling".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(tick);
                    let Some(sampler) = weak.upgrade() else {
                        return;
                    };
                    sampler.decide_quiet(Instant::now());
                }
            });
        sampler
    }

    fn lock(&self) -> MutexGuard<'_, Waiting> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Decides every trace quiet since `now - decision_wait`: those at the
    /// front of the activity queue, so a tick costs what it decides (and
    /// the stale entries it passes, each once), not every waiting trace.
    pub fn decide_quiet(&self, now: Instant) {
        let wait = self.policies.decision_wait;
        let ready: Vec<(TraceId, Vec<Span>)> = {
            let mut waiting = self.lock();
            let mut ready = Vec::new();
            while let Some(&(at, id)) = waiting.activity.front() {
                if now.saturating_duration_since(at) < wait {
                    break;
                }
                waiting.activity.pop_front();
                let current = waiting.traces.get(&id).is_some_and(|p| p.last == at);
                if current && let Some(spans) = take(&mut waiting, id) {
                    ready.push((id, spans));
                }
            }
            ready
        };
        self.decide(ready);
    }

    /// Applies the policies to traces, remembers the decisions (under one
    /// lock), stores the traces kept, and counts.
    fn decide(&self, traces: Vec<(TraceId, Vec<Span>)>) {
        if traces.is_empty() {
            return;
        }
        let decided: Vec<_> = traces
            .into_iter()
            .map(|(id, spans)| {
                let kept = self
                    .policies
                    .policies
                    .iter()
                    .enumerate()
                    .find_map(|(i, policy)| policy.keeps(id, &spans).map(|at| (i, at)));
                (id, spans, kept)
            })
            .collect();
        // Remembered before the kept spans are stored, so that spans coming
        // meanwhile follow the decision.
        self.remember(decided.iter().map(|(id, _, kept)| (*id, kept.is_some())));
        for (_, mut spans, kept) in decided {
            let Some((policy, at)) = kept else {
                self.counts.dropped_traces.fetch_add(1, Relaxed);
                self.counts
                    .dropped_spans
                    .fetch_add(spans.len() as u64, Relaxed);
                continue;
            };
            self.counts.kept[policy].fetch_add(1, Relaxed);
            let span = &mut spans[at];
            if !span.attributes.iter().any(|a| a.key == KEPT_BY) {
                span.attributes.push(Attribute {
                    key: KEPT_BY.into(),
                    value: Some(Value::String(
                        self.policies.policies[policy].name.as_str().into(),
                    )),
                });
            }
            if self.inner.insert(spans).is_err() {
                self.counts.store_failures.fetch_add(1, Relaxed);
            }
        }
    }

    /// Remembers decisions (kept or not), the last [`REMEMBERED`] of them.
    fn remember(&self, decisions: impl IntoIterator<Item = (TraceId, bool)>) {
        let mut waiting = self.lock();
        for (id, kept) in decisions {
            if waiting.decided.insert(id, kept).is_none() {
                waiting.decided_order.push_back(id);
            }
        }
        while waiting.decided_order.len() > REMEMBERED {
            if let Some(old) = waiting.decided_order.pop_front() {
                waiting.decided.remove(&old);
            }
        }
    }

    /// What was decided so far, as `GET /api/sampling` shows it.
    pub fn counts_json(&self) -> serde_json::Value {
        let waiting = self.lock();
        let policies: Vec<serde_json::Value> = self
            .policies
            .policies
            .iter()
            .zip(&self.counts.kept)
            .map(|(p, kept)| serde_json::json!({ "name": p.name, "kept_traces": kept.load(Relaxed) }))
            .collect();
        let c = &self.counts;
        serde_json::json!({
            "decision_wait_nanos": self.policies.decision_wait.as_nanos() as u64,
            "policies": policies,
            "dropped_traces": c.dropped_traces.load(Relaxed),
            "dropped_spans": c.dropped_spans.load(Relaxed),
            "decided_early": c.decided_early.load(Relaxed),
            "late_kept_spans": c.late_kept_spans.load(Relaxed),
            "late_dropped_spans": c.late_dropped_spans.load(Relaxed),
            "store_failures": c.store_failures.load(Relaxed),
            "waiting_traces": waiting.traces.len(),
            "waiting_spans": waiting.spans,
        })
    }
}

/// Takes a waiting trace's spans out.
fn take(waiting: &mut Waiting, id: TraceId) -> Option<Vec<Span>> {
    let pending = waiting.traces.remove(&id)?;
    waiting.spans -= pending.spans.len();
    Some(pending.spans)
}

impl Store for TailSampler {
    /// Holds the spans until their trace is decided; spans of a trace
    /// decided already follow the decision. Counts every span as taken.
    fn insert(&self, spans: Vec<Span>) -> Result<usize, StoreError> {
        let count = spans.len();
        let now = Instant::now();
        let mut late_kept = Vec::new();
        let mut early = Vec::new();
        {
            let mut waiting = self.lock();
            for span in spans {
                let id = span.trace_id;
                match waiting.decided.get(&id) {
                    Some(true) => late_kept.push(span),
                    Some(false) => {
                        self.counts.late_dropped_spans.fetch_add(1, Relaxed);
                    }
                    None => {
                        let waiting = &mut *waiting;
                        let mut new = false;
                        let pending = waiting.traces.entry(id).or_insert_with(|| {
                            new = true;
                            waiting.arrival.push_back(id);
                            Pending {
                                spans: Vec::new(),
                                last: now,
                            }
                        });
                        if new || pending.last != now {
                            waiting.activity.push_back((now, id));
                        }
                        pending.spans.push(span);
                        pending.last = now;
                        waiting.spans += 1;
                    }
                }
            }
            // Past the bound, the oldest traces are decided now.
            while waiting.spans > self.policies.max_spans {
                let Some(oldest) = waiting.arrival.pop_front() else {
                    break;
                };
                if let Some(spans) = take(&mut waiting, oldest) {
                    early.push((oldest, spans));
                }
            }
            // Keep the arrival queue from growing with decided traces.
            if waiting.arrival.len() > 2 * waiting.traces.len() + 1024 {
                let Waiting {
                    traces, arrival, ..
                } = &mut *waiting;
                arrival.retain(|id| traces.contains_key(id));
            }
            // And the activity queue with stale entries: one per trace stays.
            if waiting.activity.len() > 2 * waiting.traces.len() + 1024 {
                let Waiting {
                    traces, activity, ..
                } = &mut *waiting;
                activity.retain(|(at, id)| traces.get(id).is_some_and(|p| p.last == *at));
            }
        }
        if !late_kept.is_empty() {
            self.counts
                .late_kept_spans
                .fetch_add(late_kept.len() as u64, Relaxed);
            self.inner.insert(late_kept)?;
        }
        self.counts
            .decided_early
            .fetch_add(early.len() as u64, Relaxed);
        self.decide(early);
        Ok(count)
    }

    crate::store::read_through!(inner);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::{Rare, StatusCode};
    use crate::store::{Limits, MemoryStore};

    const POLICIES: &str = r#"
        decision_wait = "1h"
        [[policy]]
        name = "errors"
        errors = true
        [[policy]]
        name = "slow checkout"
        service = "a"
        span_name = "GET /checkout"
        min_duration = "500ms"
        [[policy]]
        name = "gold"
        attribute = { key = "user.tier", value = "gold" }
    "#;

    fn trace(byte: u8) -> TraceId {
        TraceId::from_bytes([byte; 16]).unwrap()
    }

    /// A sampler over a memory store, and the store.
    fn sampler(policies: &str) -> (Arc<TailSampler>, Arc<MemoryStore>) {
        let store = Arc::new(MemoryStore::new(Limits::spans(1000)));
        let policies = TailPolicies::parse(policies).unwrap();
        (TailSampler::start(store.clone(), policies), store)
    }

    /// Decides every waiting trace, as if the wait were over.
    fn decide_all(sampler: &TailSampler) {
        sampler.decide_quiet(Instant::now() + Duration::from_secs(7200));
    }

    #[test]
    fn each_policy_keeps_the_traces_it_matches_and_says_so_on_the_span() {
        let (sampler, store) = sampler(POLICIES);
        let mut failed = Span::example(1, 2);
        failed.status = StatusCode::Error;
        failed.rare = Rare {
            status_message: "boom".into(),
            ..Rare::default()
        }
        .boxed();
        let mut slow = Span::example(2, 1);
        slow.name = "GET /checkout".into();
        slow.end_unix_nanos = 600_000_000;
        let mut quick = Span::example(3, 1);
        quick.name = "GET /checkout".into();
        quick.end_unix_nanos = 100_000_000;
        let mut gold = Span::example(4, 1);
        gold.attributes.push(Attribute {
            key: "user.tier".into(),
            value: Some(Value::String("gold".into())),
        });
        let spans = vec![Span::example(1, 1), failed, slow, quick, gold];
        assert_eq!(sampler.insert(spans).unwrap(), 5);
        assert_eq!(
            store.span_count().unwrap(),
            0,
            "nothing stored before the decision"
        );
        decide_all(&sampler);

        let kept_by = |t: u8| -> Vec<(u64, Option<String>)> {
            store
                .trace(trace(t))
                .unwrap()
                .iter()
                .map(|s| {
                    let why = s.attributes.iter().find(|a| a.key == KEPT_BY);
                    (
                        s.span_id.to_u64(),
                        why.and_then(|a| a.value.as_ref()?.text()),
                    )
                })
                .collect()
        };
        assert_eq!(kept_by(1), [(1, None), (2, Some("errors".into()))]);
        assert_eq!(kept_by(2), [(1, Some("slow checkout".into()))]);
        assert!(kept_by(3).is_empty(), "a quick checkout is dropped");
        assert_eq!(kept_by(4), [(1, Some("gold".into()))]);

        // A late span follows its trace's decision.
        sampler
            .insert(vec![Span::example(1, 3), Span::example(3, 2)])
            .unwrap();
        assert_eq!(store.trace(trace(1)).unwrap().len(), 3);
        assert!(store.trace(trace(3)).unwrap().is_empty());

        let counts = sampler.counts_json();
        let kept: Vec<u64> = counts["policies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["kept_traces"].as_u64().unwrap())
            .collect();
        assert_eq!(kept, [1, 1, 1]);
        assert_eq!(counts["dropped_traces"], 1);
        assert_eq!(counts["dropped_spans"], 1);
        assert_eq!(counts["late_kept_spans"], 1);
        assert_eq!(counts["late_dropped_spans"], 1);
        assert_eq!(counts["waiting_traces"], 0);
    }

    #[test]
    fn a_trace_waits_until_quiet_and_past_the_bound_the_oldest_is_decided_early() {
        let (sampler, store) = sampler(
            r#"
            decision_wait = "1h"
            max_spans = 3
            [[policy]]
            name = "all"
            probability = 1.0
            "#,
        );
        sampler
            .insert(vec![Span::example(1, 1), Span::example(1, 2)])
            .unwrap();
        sampler.decide_quiet(Instant::now());
        assert_eq!(store.span_count().unwrap(), 0, "not quiet for an hour yet");
        sampler
            .insert(vec![Span::example(2, 1), Span::example(2, 2)])
            .unwrap();
        // Four spans waiting, three allowed: trace 1, the oldest, goes now.
        assert_eq!(store.trace(trace(1)).unwrap().len(), 2);
        assert!(store.trace(trace(2)).unwrap().is_empty());
        assert_eq!(sampler.counts_json()["decided_early"], 1);
        decide_all(&sampler);
        assert_eq!(store.trace(trace(2)).unwrap().len(), 2);
    }

    #[test]
    fn a_trace_is_quiet_from_its_last_span_not_its_first() {
        let (sampler, store) = sampler(
            r#"
            decision_wait = "1h"
            [[policy]]
            name = "all"
            probability = 1.0
            "#,
        );
        let hour = Duration::from_secs(3600);
        sampler.insert(vec![Span::example(1, 1)]).unwrap();
        std::thread::sleep(Duration::from_millis(2));
        sampler.insert(vec![Span::example(2, 1)]).unwrap();
        let after_two = Instant::now();
        std::thread::sleep(Duration::from_millis(2));
        // Trace 1 is active again: it is not quiet as of `after_two`.
        sampler.insert(vec![Span::example(1, 2)]).unwrap();
        sampler.decide_quiet(after_two + hour);
        assert!(store.trace(trace(1)).unwrap().is_empty());
        assert_eq!(store.trace(trace(2)).unwrap().len(), 1);
        let counts = sampler.counts_json();
        assert_eq!(counts["waiting_traces"], 1);
        assert_eq!(counts["waiting_spans"], 2);
        // Trace 1's first entry was passed over; its current one is left.
        assert_eq!(sampler.lock().activity.len(), 1);
        sampler.decide_quiet(Instant::now() + hour);
        assert_eq!(store.trace(trace(1)).unwrap().len(), 2);
        assert!(sampler.lock().activity.is_empty());
        assert_eq!(sampler.counts_json()["policies"][0]["kept_traces"], 2);
    }

    #[test]
    fn the_activity_queue_sheds_stale_entries() {
        let (sampler, store) = sampler(
            r#"
            decision_wait = "1h"
            max_spans = 100000
            [[policy]]
            name = "all"
            probability = 1.0
            "#,
        );
        // One trace busy for a long time: an entry per insert, at most.
        for span in 1..=3000 {
            sampler.insert(vec![Span::example(1, span)]).unwrap();
        }
        let queued = sampler.lock().activity.len();
        assert!(queued <= 2 + 1024, "{queued} entries for one trace");
        // Several spans of a trace in one insert: one entry.
        sampler
            .insert((1..=10).map(|s| Span::example(2, s)).collect())
            .unwrap();
        assert_eq!(sampler.counts_json()["waiting_spans"], 3010);
        decide_all(&sampler);
        assert_eq!(store.trace(trace(2)).unwrap().len(), 10);
        assert_eq!(sampler.counts_json()["policies"][0]["kept_traces"], 2);
        let waiting = sampler.lock();
        assert!(waiting.activity.is_empty() && waiting.traces.is_empty());
        assert_eq!(waiting.decided.len(), 2);
    }

    #[test]
    fn the_last_decisions_are_remembered() {
        let (sampler, _store) = sampler(
            r#"
            decision_wait = "1h"
            [[policy]]
            name = "errors"
            errors = true
            "#,
        );
        // Span `id` of trace number `t`.
        let span = |t: u64, id| {
            let mut span = Span::example(1, id);
            span.trace_id = TraceId::from_bytes((u128::from(t) << 64 | 1).to_be_bytes()).unwrap();
            span
        };
        let traces = REMEMBERED as u64 + 10;
        for chunk in (1..=traces).collect::<Vec<_>>().chunks(10_000) {
            sampler
                .insert(chunk.iter().map(|&t| span(t, 1)).collect())
                .unwrap();
        }
        decide_all(&sampler);
        {
            let waiting = sampler.lock();
            assert_eq!(waiting.decided.len(), REMEMBERED);
            assert_eq!(waiting.decided_order.len(), REMEMBERED);
            assert!(waiting.decided.values().all(|kept| !kept));
        }
        // The newest decision is followed, the oldest forgotten.
        sampler.insert(vec![span(traces, 2), span(1, 2)]).unwrap();
        let counts = sampler.counts_json();
        assert_eq!(counts["dropped_traces"], traces);
        assert_eq!(counts["late_dropped_spans"], 1);
        assert_eq!(counts["waiting_traces"], 1);
    }

    #[test]
    fn the_draw_is_the_trace_ids_as_in_head_sampling() {
        let (sampler, store) = sampler(
            r#"
            decision_wait = "1h"
            [[policy]]
            name = "a quarter"
            probability = 0.25
            "#,
        );
        let spans: Vec<Span> = (1..=200).map(|t| Span::example(t, 1)).collect();
        let expected = spans
            .iter()
            .filter(|s| dapple::within_probability(s.trace_id, 0.25))
            .count();
        sampler.insert(spans).unwrap();
        decide_all(&sampler);
        assert_eq!(store.span_count().unwrap(), expected);
        assert!(expected > 0 && expected < 200, "{expected}");
    }

    #[test]
    fn a_bad_policy_file_says_what_is_wrong() {
        let cases = [
            ("", "no [[policy]]"),
            ("[[policy]]\nname = \"x\"", "has no condition"),
            (
                "[[policy]]\nname = \"x\"\nprobability = 2.0",
                "not within 0 to 1",
            ),
            (
                "[[policy]]\nname = \"x\"\nmin_duration = \"soon\"",
                "min_duration",
            ),
            (
                "decision_wait = \"5\"\n[[policy]]\nname = \"x\"\nerrors = true",
                "decision_wait",
            ),
            ("[[policy]]\nname = \"x\"\nerorrs = true", "erorrs"),
        ];
        for (text, expected) in cases {
            let error = TailPolicies::parse(text).unwrap_err();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
    }
}

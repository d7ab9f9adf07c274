//! A ClickHouse store, for several stateless collectors over one database:
//! everything they share lives in ClickHouse, nothing in the collector
//! but caches of what never changes (resources by digest).
//!
//! Spoken over the HTTP interface in `RowBinary` (see [`schema`] for the
//! tables), with what ClickHouse 18.16 (Debian's package) and current
//! releases both support.
//!
//! - **Batches.** Concurrent inserts join one: while one `INSERT` is on
//!   its way, the batches that arrive wait and go together in the next,
//!   so ClickHouse sees few large inserts however many clients send small
//!   ones. An insert returns once ClickHouse answered the `INSERT` (both
//!   tables written), so a batch acknowledged to a client is stored.
//! - **Re-sent spans.** Before writing, the spans of the batch already
//!   stored are looked up by trace id (in the batch's time range) and left
//!   out, so `insert` counts only new spans as the other stores do. Two
//!   collectors writing the same span at the same instant may both store
//!   it: the tables are `ReplacingMergeTree`s that merge copies away in
//!   time, and until then every query keeps one row per (trace, span) id
//!   (`LIMIT 1 BY`), and the count counts distinct ids.
//! - **Bounds.** Whole day partitions go: those older than the retention
//!   (a day once all of it is past), then the oldest while the spans
//!   (rows) or bytes on disk (`system.parts`) are over their bound, never
//!   the newest day. Checked at open and at most every
//!   [`ClickHouseStore::PRUNE_INTERVAL`] after an insert, by every
//!   collector (dropping a partition twice does nothing).

mod http;
mod rowbinary;
mod schema;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use dapple::TraceId;

pub use self::http::ClickHouseError;
use self::http::{Client, bytes_literal, literal};
use self::rowbinary::{Reader, put_bytes, put_strings, put_u8, put_u64};
use self::schema::{RESOURCES, SPANS, SPANS_BY_TRACE};
use super::{Limits, SpanFilter, Store, StoreError};
use crate::ingest::convert;
use crate::span::{Resource, Span};

/// Trace ids per lookup of already stored spans (the statement stays far
/// below ClickHouse's 256 KiB `max_query_size`).
const LOOKUP_CHUNK: usize = 1000;

/// Decoded resources kept, at most (then the cache starts over).
const RESOURCE_CACHE: usize = 10_000;

/// Where the store connects.
#[derive(Clone, PartialEq, Eq)]
pub struct ClickHouseConfig {
    /// The HTTP interface, `http://HOST:PORT` (8123 by default).
    pub url: String,
    /// The database (made when missing): letters, digits and `_`.
    pub database: String,
    /// The user, when not `default`.
    pub user: Option<String>,
    /// Its password.
    pub password: Option<String>,
}

impl ClickHouseConfig {
    /// The database when none is named.
    pub const DEFAULT_DATABASE: &str = "dapple";

    /// The server at `url`, database [`Self::DEFAULT_DATABASE`], user
    /// `default`.
    pub fn new(url: impl Into<String>) -> ClickHouseConfig {
        ClickHouseConfig {
            url: url.into(),
            database: Self::DEFAULT_DATABASE.to_owned(),
            user: None,
            password: None,
        }
    }
}

impl std::fmt::Debug for ClickHouseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClickHouseConfig")
            .field("url", &self.url)
            .field("database", &self.database)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "..."))
            .finish()
    }
}

/// Spans in ClickHouse.
#[derive(Debug)]
pub struct ClickHouseStore {
    client: Client,
    /// `` `database`.spans ``, and so on.
    spans_table: String,
    by_trace_table: String,
    resources_table: String,
    database: String,
    limits: Limits,
    queue: Mutex<Queue>,
    /// Signalled when a batch was written (or failed).
    written: Condvar,
    /// Resources known to be in ClickHouse.
    resources_written: Mutex<HashSet<[u8; 16]>>,
    /// Resources read back, by id.
    resources_read: Mutex<HashMap<[u8; 16], Arc<Resource>>>,
    last_prune: Mutex<Option<Instant>>,
}

/// Batches waiting to be written together.
#[derive(Debug, Default)]
struct Queue {
    waiting: Vec<(u64, Vec<Span>)>,
    /// Whether a caller is writing a batch now.
    writing: bool,
    next_ticket: u64,
    /// Outcomes not yet taken by their callers.
    done: HashMap<u64, Result<usize, ClickHouseError>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl ClickHouseStore {
    /// How often, at most, inserts look at the partitions to drop.
    pub const PRUNE_INTERVAL: Duration = Duration::from_secs(10);

    /// Connects, creates or brings up to date the tables, drops what is
    /// past `limits`, and returns the store.
    pub fn open(config: &ClickHouseConfig, limits: Limits) -> Result<ClickHouseStore, StoreError> {
        let database = &config.database;
        let valid = database.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && database
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(ClickHouseError::Config(format!(
                "not a ClickHouse database name: {database:?} (letters, digits and _)"
            ))
            .into());
        }
        let client = Client::new(&config.url, config.user.clone(), config.password.clone())?;
        schema::migrate(&client, database)?;
        let store = ClickHouseStore {
            client,
            spans_table: format!("`{database}`.{}", SPANS.name),
            by_trace_table: format!("`{database}`.{}", SPANS_BY_TRACE.name),
            resources_table: format!("`{database}`.{}", RESOURCES.name),
            database: database.clone(),
            limits,
            queue: Mutex::new(Queue::default()),
            written: Condvar::new(),
            resources_written: Mutex::new(HashSet::new()),
            resources_read: Mutex::new(HashMap::new()),
            last_prune: Mutex::new(None),
        };
        store.prune()?;
        Ok(store)
    }

    /// The server's URL.
    pub fn url(&self) -> &str {
        self.client.url()
    }

    /// Drops the day partitions past the retention, then the oldest while
    /// over the span or byte bound (never the newest). Inserts call it
    /// every [`Self::PRUNE_INTERVAL`] at most.
    pub fn prune(&self) -> Result<(), StoreError> {
        *lock(&self.last_prune) = Some(Instant::now());
        let statement = format!(
            "SELECT partition_id, table, sum(rows), sum(bytes_on_disk) FROM system.parts
             WHERE database = {} AND table IN ({}, {}) AND active
             GROUP BY partition_id, table",
            literal(self.database.as_bytes()),
            literal(SPANS.name.as_bytes()),
            literal(SPANS_BY_TRACE.name.as_bytes()),
        );
        let rows = self.client.select(&statement)?;
        let mut reader = Reader::new(&rows);
        // Per day: the spans (rows of `spans`) and the bytes of both tables.
        let mut days: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        while !reader.is_empty() {
            let (Some(partition), Some(table), Some(rows), Some(bytes)) =
                (reader.text(), reader.text(), reader.u64(), reader.u64())
            else {
                return Err(Client::malformed(&statement).into());
            };
            let day = days.entry(partition.to_owned()).or_default();
            if table == SPANS.name {
                day.0 += rows;
            }
            day.1 += bytes;
        }
        let mut doomed = Vec::new();
        if let Some(retention) = self.limits.retention {
            let cutoff = dapple::now_unix_nanos().saturating_sub(retention.as_nanos() as u64);
            // Partition ids are YYYYMMDD: their text orders as their days.
            let first_kept = yyyymmdd(cutoff);
            while let Some(entry) = days.first_entry() {
                if entry.key().as_str() >= first_kept.as_str() {
                    break;
                }
                doomed.push(entry.remove_entry().0);
            }
        }
        let mut spans: u64 = days.values().map(|d| d.0).sum();
        let mut bytes: u64 = days.values().map(|d| d.1).sum();
        let over = |spans: u64, bytes: u64| {
            spans > self.limits.max_spans as u64 || self.limits.max_bytes.is_some_and(|m| bytes > m)
        };
        while days.len() > 1 && over(spans, bytes) {
            let Some((day, (day_spans, day_bytes))) = days.pop_first() else {
                break;
            };
            spans -= day_spans;
            bytes -= day_bytes;
            doomed.push(day);
        }
        for day in doomed {
            // Searches first, so no search finds a span its trace lacks.
            for table in [&self.spans_table, &self.by_trace_table] {
                self.client.execute(&format!(
                    "ALTER TABLE {table} DROP PARTITION ID {}",
                    literal(day.as_bytes())
                ))?;
            }
        }
        Ok(())
    }

    /// Writes the waiting batches as one: for each, the spans it added or
    /// the error.
    fn write(&self, batches: &[(u64, Vec<Span>)]) -> Vec<(u64, Result<usize, ClickHouseError>)> {
        match self.write_new(batches) {
            Ok(added) => batches
                .iter()
                .map(|b| b.0)
                .zip(added.into_iter().map(Ok))
                .collect(),
            Err(e) => batches.iter().map(|b| (b.0, Err(e.clone()))).collect(),
        }
    }

    fn write_new(&self, batches: &[(u64, Vec<Span>)]) -> Result<Vec<usize>, ClickHouseError> {
        let stored = self.already_stored(batches.iter().flat_map(|b| &b.1))?;
        let mut seen: HashSet<([u8; 16], u64)> = HashSet::new();
        let mut added = Vec::with_capacity(batches.len());
        let mut rows = Vec::new();
        let mut new_resources = Vec::new();
        let mut body = Vec::new();
        let received = dapple::now_unix_nanos();
        {
            let written = lock(&self.resources_written);
            // The spans of a batch share their resource: one digest each.
            let mut last: Option<(&Arc<Resource>, [u8; 16])> = None;
            for (_, spans) in batches {
                let mut count = 0;
                for span in spans {
                    let key = (span.trace_id.to_bytes(), span.span_id.to_u64());
                    if stored.contains(&key) || !seen.insert(key) {
                        continue;
                    }
                    let resource_id = match last {
                        Some((resource, id)) if Arc::ptr_eq(resource, &span.resource) => id,
                        _ => {
                            convert::encode_resource(&span.resource, &mut body);
                            let id = digest(&body);
                            if !written.contains(&id)
                                && !new_resources.iter().any(|(i, _)| *i == id)
                            {
                                new_resources.push((id, body.clone()));
                            }
                            last = Some((&span.resource, id));
                            id
                        }
                    };
                    convert::encode(span, &mut body);
                    span_row(span, received, &resource_id, &body, &mut rows);
                    count += 1;
                }
                added.push(count);
            }
        }
        if !new_resources.is_empty() {
            // Before the spans, so no stored span names a missing resource.
            let mut resource_rows = Vec::new();
            for (id, body) in &new_resources {
                resource_rows.extend_from_slice(id);
                put_bytes(&mut resource_rows, body);
            }
            self.client.insert(
                &self.resources_table,
                &RESOURCES.column_list(),
                &resource_rows,
            )?;
            let mut written = lock(&self.resources_written);
            if written.len() + new_resources.len() > RESOURCE_CACHE {
                written.clear();
            }
            written.extend(new_resources.iter().map(|(id, _)| *id));
        }
        if !rows.is_empty() {
            self.client
                .insert(&self.spans_table, &SPANS.column_list(), &rows)?;
        }
        Ok(added)
    }

    /// The (trace id, span id) of the spans among `spans` that ClickHouse
    /// already has.
    fn already_stored<'a>(
        &self,
        spans: impl Iterator<Item = &'a Span>,
    ) -> Result<HashSet<([u8; 16], u64)>, ClickHouseError> {
        let mut traces = HashSet::new();
        let (mut first, mut last) = (u64::MAX, 0);
        for span in spans {
            traces.insert(span.trace_id);
            first = first.min(span.start_unix_nanos);
            last = last.max(span.start_unix_nanos);
        }
        let traces: Vec<TraceId> = traces.into_iter().collect();
        let mut stored = HashSet::new();
        for chunk in traces.chunks(LOOKUP_CHUNK) {
            let ids: Vec<String> = chunk.iter().map(|t| bytes_literal(&t.to_bytes())).collect();
            // The time range lets ClickHouse skip the parts of other days.
            let statement = format!(
                "SELECT trace_id, span_id FROM {} WHERE trace_id IN ({})
                 AND start_ns >= {first} AND start_ns <= {last}",
                self.by_trace_table,
                ids.join(", ")
            );
            let rows = self.client.select(&statement)?;
            let mut reader = Reader::new(&rows);
            while !reader.is_empty() {
                let (Some(trace), Some(span)) = (reader.fixed::<16>(), reader.u64()) else {
                    return Err(Client::malformed(&statement));
                };
                stored.insert((trace, span));
            }
        }
        Ok(stored)
    }

    /// Runs `statement`, which selects `service, resource_id, body`, and
    /// decodes its spans.
    fn read_spans(&self, statement: &str) -> Result<Vec<Span>, StoreError> {
        let rows = self.client.select(statement)?;
        let mut raw = Vec::new();
        let mut reader = Reader::new(&rows);
        while !reader.is_empty() {
            let (Some(service), Some(resource), Some(body)) =
                (reader.text(), reader.fixed::<16>(), reader.bytes())
            else {
                return Err(Client::malformed(statement).into());
            };
            raw.push((service, resource, body));
        }
        let resources = self.resources(raw.iter().map(|r| r.1))?;
        let mut spans = Vec::with_capacity(raw.len());
        for (service, resource_id, body) in raw {
            let resource = match resources.get(&resource_id) {
                Some(resource) => resource.clone(),
                None => Arc::new(Resource::of_service(service)),
            };
            let mut span = convert::decode(&resource, body)?;
            // The row's service is what searches matched.
            if *span.service != *service {
                span.service = service.into();
            }
            spans.push(span);
        }
        Ok(spans)
    }

    /// The resources of these ids, from the cache or ClickHouse.
    fn resources(
        &self,
        ids: impl Iterator<Item = [u8; 16]>,
    ) -> Result<HashMap<[u8; 16], Arc<Resource>>, StoreError> {
        let mut found = HashMap::new();
        let mut missing = HashSet::new();
        {
            let cache = lock(&self.resources_read);
            for id in ids {
                if found.contains_key(&id) || missing.contains(&id) {
                    continue;
                }
                match cache.get(&id) {
                    Some(resource) => {
                        found.insert(id, resource.clone());
                    }
                    None => {
                        missing.insert(id);
                    }
                }
            }
        }
        if missing.is_empty() {
            return Ok(found);
        }
        let ids: Vec<String> = missing.iter().map(|id| bytes_literal(id)).collect();
        let statement = format!(
            "SELECT id, body FROM {} WHERE id IN ({}) LIMIT 1 BY id",
            self.resources_table,
            ids.join(", ")
        );
        let rows = self.client.select(&statement)?;
        let mut reader = Reader::new(&rows);
        let mut cache = lock(&self.resources_read);
        if cache.len() + missing.len() > RESOURCE_CACHE {
            cache.clear();
        }
        while !reader.is_empty() {
            let (Some(id), Some(body)) = (reader.fixed::<16>(), reader.bytes()) else {
                return Err(Client::malformed(&statement).into());
            };
            let resource = Arc::new(convert::decode_resource(body)?);
            cache.insert(id, resource.clone());
            found.insert(id, resource);
        }
        Ok(found)
    }

    /// Prunes when the last time was [`Self::PRUNE_INTERVAL`] ago; a
    /// failure is logged, not returned: the spans were stored.
    fn prune_if_due(&self) {
        let due = lock(&self.last_prune).is_none_or(|last| last.elapsed() >= Self::PRUNE_INTERVAL);
        if due && let Err(e) = self.prune() {
            crate::log::error(format_args!(
                "dropping old ClickHouse partitions failed: {}",
                crate::log::Chain(&e)
            ));
        }
    }
}

/// Unlocks the queue after a write however it ends: when the writer
/// panicked, its batches fail instead of waiting forever.
struct Writing<'a> {
    store: &'a ClickHouseStore,
    tickets: Vec<u64>,
}

impl Writing<'_> {
    /// Hands each waiting caller its outcome.
    fn finish(mut self, outcomes: Vec<(u64, Result<usize, ClickHouseError>)>) {
        self.tickets.clear();
        let mut queue = lock(&self.store.queue);
        queue.done.extend(outcomes);
        queue.writing = false;
        self.store.written.notify_all();
    }
}

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        let mut queue = lock(&self.store.queue);
        queue.writing = false;
        for ticket in self.tickets.drain(..) {
            queue.done.insert(ticket, Err(ClickHouseError::Interrupted));
        }
        self.store.written.notify_all();
    }
}

/// A stable 128-bit name for a resource body: the first half of its
/// SHA-256, so that no client can make its resource pass for another's.
fn digest(body: &[u8]) -> [u8; 16] {
    let sha = ring::digest::digest(&ring::digest::SHA256, body);
    let mut id = [0; 16];
    id.copy_from_slice(&sha.as_ref()[..16]);
    id
}

/// Appends a row of [`SPANS`].
fn span_row(span: &Span, received: u64, resource_id: &[u8; 16], body: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&span.trace_id.to_bytes());
    put_u64(out, span.span_id.to_u64());
    put_u64(out, span.parent_id.map_or(0, |id| id.to_u64()));
    put_bytes(out, span.service.as_bytes());
    put_bytes(out, span.name.as_bytes());
    put_u64(out, span.start_unix_nanos);
    put_u64(out, span.duration_nanos());
    put_u8(out, u8::from(span.is_error()));
    put_u64(out, received);
    let searchable: Vec<(&str, String)> = span
        .attributes
        .iter()
        .filter_map(|a| Some((a.key.as_str(), a.value.as_ref()?.text()?)))
        .collect();
    put_strings(out, searchable.iter().map(|(key, _)| *key));
    put_strings(out, searchable.iter().map(|(_, value)| value.as_str()));
    out.extend_from_slice(resource_id);
    put_bytes(out, body);
}

/// `YYYYMMDD` of the UTC day of a Unix time in nanoseconds.
fn yyyymmdd(unix_nanos: u64) -> String {
    // Howard Hinnant's days-to-civil.
    let days = (unix_nanos / 86_400_000_000_000) as i64 + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!("{year:04}{month:02}{day:02}")
}

/// The `WHERE` conditions of `filter` (none: `1`).
fn conditions(filter: &SpanFilter) -> String {
    let mut conditions = vec!["1".to_owned()];
    if let Some(service) = &filter.service {
        conditions.push(format!("service = {}", literal(service.as_bytes())));
    }
    if let Some(name) = &filter.name {
        conditions.push(format!("name = {}", literal(name.as_bytes())));
    }
    if let Some(d) = filter.min_duration_ns {
        conditions.push(format!("duration_ns >= {d}"));
    }
    if let Some(d) = filter.max_duration_ns {
        conditions.push(format!("duration_ns <= {d}"));
    }
    if let Some(t) = filter.start_ns {
        conditions.push(format!("start_ns >= {t}"));
    }
    if let Some(t) = filter.end_ns {
        conditions.push(format!("start_ns < {t}"));
    }
    if filter.error_only {
        conditions.push("error = 1".to_owned());
    }
    conditions.join(" AND ")
}

/// The spans of the last windows a trace search looks at before all of
/// them: most searches want the newest traces, which the last hour holds.
const SEARCH_WINDOWS: [Duration; 3] = [
    Duration::from_secs(3600),
    Duration::from_secs(86_400),
    Duration::from_secs(7 * 86_400),
];

impl Store for ClickHouseStore {
    fn insert(&self, spans: Vec<Span>) -> Result<usize, StoreError> {
        let mut queue = lock(&self.queue);
        let ticket = queue.next_ticket;
        queue.next_ticket += 1;
        queue.waiting.push((ticket, spans));
        loop {
            if let Some(outcome) = queue.done.remove(&ticket) {
                return Ok(outcome?);
            }
            if queue.writing {
                queue = self.written.wait(queue).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            // Nobody is writing: this caller writes every waiting batch.
            queue.writing = true;
            let batches = std::mem::take(&mut queue.waiting);
            drop(queue);
            let writing = Writing {
                store: self,
                tickets: batches.iter().map(|b| b.0).collect(),
            };
            let outcomes = self.write(&batches);
            let wrote = outcomes.iter().any(|o| o.1.is_ok());
            writing.finish(outcomes);
            if wrote {
                self.prune_if_due();
            }
            queue = lock(&self.queue);
        }
    }

    fn trace(&self, trace_id: TraceId) -> Result<Vec<Span>, StoreError> {
        self.read_spans(&format!(
            "SELECT service, resource_id, body FROM {} WHERE trace_id = {} LIMIT 1 BY span_id",
            self.by_trace_table,
            bytes_literal(&trace_id.to_bytes())
        ))
    }

    fn span_count(&self) -> Result<usize, StoreError> {
        // Exact: copies not merged yet count once.
        let statement = format!(
            "SELECT uniqExact(trace_id, span_id) FROM {}",
            self.by_trace_table
        );
        let rows = self.client.select(&statement)?;
        let count = Reader::new(&rows)
            .u64()
            .ok_or_else(|| Client::malformed(&statement))?;
        Ok(count as usize)
    }

    fn spans(&self, filter: &SpanFilter) -> Result<Vec<Span>, StoreError> {
        if filter.limit == 0 {
            return Ok(Vec::new());
        }
        self.read_spans(&format!(
            "SELECT service, resource_id, body FROM {} WHERE {}
             ORDER BY start_ns DESC LIMIT 1 BY trace_id, span_id LIMIT {}",
            self.spans_table,
            conditions(filter),
            filter.limit
        ))
    }

    fn trace_keys(
        &self,
        filter: &SpanFilter,
        before: Option<(u64, TraceId)>,
    ) -> Result<Vec<(u64, TraceId)>, StoreError> {
        if filter.limit == 0 {
            return Ok(Vec::new());
        }
        let having = match before {
            Some((key, id)) => format!(
                "HAVING (newest, trace_id) < ({key}, {})",
                bytes_literal(&id.to_bytes())
            ),
            None => String::new(),
        };
        let query = |since: Option<u64>| -> Result<Vec<(u64, TraceId)>, StoreError> {
            // A trace with a span since then has its newest one there too:
            // the keys found are whole, and every trace not found ranks
            // below them.
            let window = since.map(|t| format!(" AND start_ns >= {t}"));
            let statement = format!(
                "SELECT max(start_ns) AS newest, trace_id FROM {} WHERE {}{}
                 GROUP BY trace_id {having} ORDER BY newest DESC, trace_id DESC LIMIT {}",
                self.spans_table,
                conditions(filter),
                window.unwrap_or_default(),
                filter.limit
            );
            let rows = self.client.select(&statement)?;
            let mut reader = Reader::new(&rows);
            let mut keys = Vec::new();
            while !reader.is_empty() {
                let (Some(key), Some(id)) = (reader.u64(), reader.fixed::<16>()) else {
                    return Err(Client::malformed(&statement).into());
                };
                keys.extend(TraceId::from_bytes(id).map(|id| (key, id)));
            }
            Ok(keys)
        };
        let anchor = [
            filter.end_ns,
            before.map(|b| b.0.saturating_add(1)),
            Some(dapple::now_unix_nanos()),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(u64::MAX);
        for window in SEARCH_WINDOWS {
            let since = anchor.saturating_sub(window.as_nanos() as u64);
            // A window that holds every span the filter lets through is
            // the whole search.
            if since == 0 || filter.start_ns.is_some_and(|start| start >= since) {
                break;
            }
            let keys = query(Some(since))?;
            if keys.len() >= filter.limit {
                return Ok(keys);
            }
        }
        query(None)
    }

    fn services(&self) -> Result<Vec<(String, Vec<String>)>, StoreError> {
        let statement = format!(
            "SELECT service, name FROM {} GROUP BY service, name ORDER BY service, name",
            self.spans_table
        );
        let rows = self.client.select(&statement)?;
        let mut reader = Reader::new(&rows);
        let mut services: Vec<(String, Vec<String>)> = Vec::new();
        while !reader.is_empty() {
            let (Some(service), Some(name)) = (reader.text(), reader.text()) else {
                return Err(Client::malformed(&statement).into());
            };
            match services.last_mut() {
                Some((last, names)) if last == service => names.push(name.to_owned()),
                _ => services.push((service.to_owned(), vec![name.to_owned()])),
            }
        }
        Ok(services)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_named_as_clickhouse_names_them() {
        assert_eq!(yyyymmdd(0), "19700101");
        // 2023-11-14T22:13:20Z.
        assert_eq!(yyyymmdd(1_700_000_000_000_000_000), "20231114");
        // 2000-02-29T00:00:00Z, then one nanosecond before.
        assert_eq!(yyyymmdd(951_782_400_000_000_000), "20000229");
        assert_eq!(yyyymmdd(951_782_399_999_999_999), "20000228");
        assert_eq!(yyyymmdd(u64::MAX), "25540721");
    }

    #[test]
    fn filters_become_conditions_with_their_text_quoted() {
        let filter = SpanFilter {
            service: Some("it's".into()),
            name: Some(r"a\b".into()),
            min_duration_ns: Some(1),
            end_ns: Some(u64::MAX),
            error_only: true,
            ..SpanFilter::default()
        };
        assert_eq!(
            conditions(&filter),
            concat!(
                r"1 AND service = 'it\'s' AND name = 'a\\b' AND duration_ns >= 1",
                " AND start_ns < 18446744073709551615 AND error = 1"
            )
        );
        assert_eq!(conditions(&SpanFilter::default()), "1");
    }

    #[test]
    fn a_password_never_shows_in_debug_output() {
        let config = ClickHouseConfig {
            password: Some("hunter2".into()),
            ..ClickHouseConfig::new("http://127.0.0.1:8123")
        };
        assert!(!format!("{config:?}").contains("hunter2"));
        let client = Client::new(&config.url, None, config.password.clone()).unwrap();
        assert!(!format!("{client:?}").contains("hunter2"));
    }
}

//! A ClickHouse store, for several stateless collectors over one database:
//! everything they share lives in ClickHouse, nothing in the collector
//! but caches of what never changes (resources by digest).
//!
//! Spoken over the HTTP interface in `RowBinary` (see [`schema`] for the
//! tables), with what ClickHouse 18.16 (Debian's package) and current
//! releases both support.
//!
//! - **Batches.** Each caller encodes its batch into `RowBinary` rows on
//!   its own thread; concurrent inserts then join one: while one `INSERT`
//!   is on its way, the batches that arrive wait and go together in the
//!   next, so ClickHouse sees few large inserts (each one part per table
//!   to write and later merge) however many clients send small ones. An
//!   insert returns once ClickHouse answered the `INSERT` (both tables
//!   written), so a batch acknowledged to a client is stored.
//! - **Re-sent spans.** The store remembers the (trace, span) ids it wrote
//!   lately ([`RECENT_SPANS`] at least) and leaves those out, so a batch a
//!   client sends again after a lost ack stores and counts nothing twice.
//!   It does not ask ClickHouse first: that lookup cost more than the
//!   insert it guarded, growing with the table. A span sent again to
//!   another collector, or after a restart, is stored twice (and counted
//!   as new): the tables are `ReplacingMergeTree`s that merge copies away
//!   in time, and until then every query keeps one row per (trace, span)
//!   id (`LIMIT 1 BY`), and the count counts distinct ids.
//! - **Clusters.** When `spans` is a `Distributed` table, the operator
//!   made the layout (docs/scaling.md): the store checks it is whole, then
//!   writes and reads through it as it is, waiting for every shard on each
//!   insert, and leaves retention to ClickHouse.
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
use std::io::Write as _;
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use dapple::TraceId;

pub use self::http::ClickHouseError;
use self::http::{Client, bytes_literal, literal};
use self::rowbinary::{Reader, put_bytes, put_length, put_u8, put_u64};
use self::schema::{KEEPS, Layout, RESOURCES, SPANS, SPANS_BY_TRACE};
use super::{Limits, SpanFilter, Store, StoreError};
use crate::ingest::convert;
use crate::ingest::keep::{KeepExchange, SharedKeep};
use crate::span::{Resource, Span, Value};
use dapple_proto as proto;

/// The (trace, span) ids the store remembers having written, at least
/// (and twice that at most): a few seconds of a busy collector, minutes of
/// a quiet one.
const RECENT_SPANS: usize = 256 * 1024;

/// While batches keep coming, writes begin this far apart at least, unless
/// [`FULL_INSERT`] spans are waiting or none came for [`ARRIVAL_GAP`]:
/// each `INSERT` makes a part of each table (some 60 files), which merges
/// then read and write again and again; fewer, larger parts mean less of
/// both. A client alone, waiting for each ack before sending again, does
/// not wait.
const INSERT_INTERVAL: Duration = Duration::from_millis(400);

/// A pause in arrivals this long ends the wait for more: the clients
/// sending are likely all waiting for acks. Long enough for those the
/// last write acknowledged to send again (10 ms cut writes short on a busy
/// machine: 60% more inserts, about 15% more ClickHouse CPU per span).
const ARRIVAL_GAP: Duration = Duration::from_millis(40);

/// Spans that make an `INSERT` large enough to begin at once.
const FULL_INSERT: usize = 100_000;

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
    layout: Layout,
    client: Client,
    /// `` `database`.spans ``, and so on.
    spans_table: String,
    by_trace_table: String,
    resources_table: String,
    /// `` `database`.keeps ``.
    keeps_table: String,
    database: String,
    limits: Limits,
    queue: Mutex<Queue>,
    /// Signalled when [`FULL_INSERT`] spans are waiting.
    filled: Condvar,
    /// Spans written lately (and those being written now).
    recent: Mutex<Recent>,
    /// Resources known to be in ClickHouse.
    resources_written: Mutex<HashSet<[u8; 16]>>,
    /// Resources read back, by id.
    resources_read: Mutex<HashMap<[u8; 16], Arc<Resource>>>,
    last_prune: Mutex<Option<Instant>>,
}

/// Batches waiting to be written together.
#[derive(Debug, Default)]
struct Queue {
    waiting: Vec<Waiting>,
    /// The spans of `waiting`.
    waiting_spans: usize,
    /// Whether a caller is writing batches now.
    writing: bool,
    /// When the last write began, and whether others' batches came while
    /// it was on its way (or went with it).
    last_write: Option<(Instant, bool)>,
    /// When the last batch came.
    last_arrival: Option<Instant>,
}

/// A batch waiting, and how to tell its caller what became of it.
#[derive(Debug)]
struct Waiting {
    encoded: Encoded,
    reply: SyncSender<Turn>,
}

/// What a waiting caller is told: each only once, so that a write wakes
/// its callers and no other.
#[derive(Debug)]
enum Turn {
    /// Its batch was written (the spans it added) or failed.
    Done(Result<usize, ClickHouseError>),
    /// It is to write the waiting batches, its own among them.
    Write,
}

/// A span's (trace id, span id).
type SpanKey = ([u8; 16], u64);

/// A batch as rows of [`SPANS`], encoded by its caller.
#[derive(Debug)]
struct Encoded {
    /// The rows, back to back.
    rows: Vec<u8>,
    /// Each span's ids and where its row ends in `rows`.
    ends: Vec<(SpanKey, usize)>,
    /// The resources the rows name: digest and body.
    resources: Vec<([u8; 16], Vec<u8>)>,
}

/// The ids of spans written lately, in two generations: when the newer
/// holds [`RECENT_SPANS`], it becomes the older and the older is emptied.
#[derive(Debug, Default)]
struct Recent {
    newer: HashSet<SpanKey>,
    older: HashSet<SpanKey>,
}

impl Recent {
    /// Adds `key`; false when it was there already.
    fn insert(&mut self, key: SpanKey) -> bool {
        if self.newer.len() >= RECENT_SPANS {
            std::mem::swap(&mut self.newer, &mut self.older);
            self.newer.clear();
        }
        // New spans are the rule: one look at each set for them.
        self.newer.insert(key) && !self.older.contains(&key)
    }

    /// Forgets keys of spans that were not written after all.
    fn forget(&mut self, keys: &[SpanKey]) {
        for key in keys {
            self.newer.remove(key);
            self.older.remove(key);
        }
    }
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
        let layout = schema::migrate(&client, database)?;
        let bounded = limits.retention.is_some()
            || limits.max_bytes.is_some()
            || limits.max_spans != usize::MAX;
        if layout == Layout::Sharded && bounded {
            return Err(ClickHouseError::Config(format!(
                "`{database}` is sharded (its spans table is Distributed): retention and size \
                 bounds are ClickHouse's there, not the collector's (see docs/scaling.md); \
                 start without --retention, --max-bytes and --max-spans"
            ))
            .into());
        }
        let store = ClickHouseStore {
            layout,
            client,
            spans_table: format!("`{database}`.{}", SPANS.name),
            by_trace_table: format!("`{database}`.{}", SPANS_BY_TRACE.name),
            resources_table: format!("`{database}`.{}", RESOURCES.name),
            keeps_table: format!("`{database}`.{}", KEEPS.name),
            database: database.clone(),
            limits,
            queue: Mutex::new(Queue::default()),
            filled: Condvar::new(),
            recent: Mutex::new(Recent::default()),
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
        if self.layout == Layout::Sharded {
            // Unbounded (`open` saw to that): nothing to drop.
            return Ok(());
        }
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
        // Keep asks matter for seconds: a day of them is kept.
        let yesterday = yyyymmdd(dapple::now_unix_nanos().saturating_sub(86_400_000_000_000));
        let statement = format!(
            "SELECT DISTINCT partition_id FROM system.parts
             WHERE database = {} AND table = {} AND active AND partition_id < {}",
            literal(self.database.as_bytes()),
            literal(KEEPS.name.as_bytes()),
            literal(yesterday.as_bytes()),
        );
        let rows = self.client.select(&statement)?;
        let mut reader = Reader::new(&rows);
        while let Some(day) = reader.text() {
            self.client.execute(&format!(
                "ALTER TABLE {} DROP PARTITION ID {}",
                self.keeps_table,
                literal(day.as_bytes())
            ))?;
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

    /// `spans` as rows of [`SPANS`], with their resources.
    fn encode(spans: &[Span]) -> Encoded {
        let received = dapple::now_unix_nanos();
        let mut encoded = Encoded {
            rows: Vec::with_capacity(spans.len() * 256),
            ends: Vec::with_capacity(spans.len()),
            resources: Vec::new(),
        };
        let mut body = Vec::new();
        // The spans of a batch share their resource: one digest each.
        let mut last: Option<(&Arc<Resource>, [u8; 16])> = None;
        for span in spans {
            let resource_id = match last {
                Some((resource, id)) if Arc::ptr_eq(resource, &span.resource) => id,
                _ => {
                    convert::encode_resource(&span.resource, &mut body);
                    let id = digest(&body);
                    if !encoded.resources.iter().any(|(i, _)| *i == id) {
                        encoded.resources.push((id, body.clone()));
                    }
                    last = Some((&span.resource, id));
                    id
                }
            };
            convert::encode(span, &mut body);
            span_row(span, received, &resource_id, &body, &mut encoded.rows);
            let key = (span.trace_id.to_bytes(), span.span_id.to_u64());
            encoded.ends.push((key, encoded.rows.len()));
        }
        encoded
    }

    /// Writes the waiting batches as one, after those that come within
    /// [`INSERT_INTERVAL`] of the last write when others are coming too,
    /// and tells each caller; then hands the writing on to a caller whose
    /// batch came meanwhile. Called by the one caller whose turn it is.
    fn write_waiting(&self) {
        let mut queue = lock(&self.queue);
        let busy = queue.waiting.len() > 1 || queue.last_write.is_some_and(|w| w.1);
        if let Some((last, _)) = queue.last_write.filter(|_| busy) {
            loop {
                let mut until = last + INSERT_INTERVAL;
                if let Some(arrival) = queue.last_arrival {
                    until = until.min(arrival + ARRIVAL_GAP);
                }
                let now = Instant::now();
                if now >= until || queue.waiting_spans >= FULL_INSERT {
                    break;
                }
                queue = self
                    .filled
                    .wait_timeout(queue, until - now)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
        }
        let (batches, replies): (Vec<Encoded>, Vec<SyncSender<Turn>>) = queue
            .waiting
            .drain(..)
            .map(|w| (w.encoded, w.reply))
            .unzip();
        queue.waiting_spans = 0;
        queue.last_write = Some((Instant::now(), batches.len() > 1));
        drop(queue);
        let mut writing = Writing {
            store: self,
            replies,
        };
        let outcome = self.write(&batches);
        for (i, reply) in writing.replies.drain(..).enumerate() {
            let told = match &outcome {
                Ok(added) => Ok(added[i]),
                Err(e) => Err(e.clone()),
            };
            // A caller that is gone has nobody to tell.
            let _ = reply.send(Turn::Done(told));
        }
        drop(writing);
        if outcome.is_ok() {
            self.prune_if_due();
        }
    }

    /// Writes `batches` as one: the spans each added.
    fn write(&self, batches: &[Encoded]) -> Result<Vec<usize>, ClickHouseError> {
        let mut added = Vec::with_capacity(batches.len());
        let mut rows = Vec::with_capacity(batches.iter().map(|b| b.rows.len()).sum());
        // The ids this write adds to `recent`, forgotten again if it fails.
        let mut keys = Vec::new();
        {
            let mut recent = lock(&self.recent);
            for batch in batches {
                let mut count = 0;
                // Rows are copied in runs of new ones.
                let (mut run, mut start) = (0, 0);
                for &(key, end) in &batch.ends {
                    if recent.insert(key) {
                        keys.push(key);
                        count += 1;
                    } else {
                        rows.extend_from_slice(&batch.rows[run..start]);
                        run = end;
                    }
                    start = end;
                }
                rows.extend_from_slice(&batch.rows[run..]);
                added.push(count);
            }
        }
        let written = self.write_rows(batches, &rows);
        if written.is_err() {
            lock(&self.recent).forget(&keys);
        }
        written.map(|()| added)
    }

    /// Inserts the resources of `batches` ClickHouse may lack, then `rows`.
    fn write_rows(&self, batches: &[Encoded], rows: &[u8]) -> Result<(), ClickHouseError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut new_resources: Vec<&([u8; 16], Vec<u8>)> = Vec::new();
        {
            let written = lock(&self.resources_written);
            for resource in batches.iter().flat_map(|b| &b.resources) {
                if !written.contains(&resource.0)
                    && !new_resources.iter().any(|r| r.0 == resource.0)
                {
                    new_resources.push(resource);
                }
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
        self.client
            .insert(&self.spans_table, &SPANS.column_list(), rows)
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
            span.name_service(service);
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

/// Ends a write however it ends: when the writer panicked, its callers
/// are told the write failed instead of waiting forever; then a caller
/// whose batch came meanwhile is told to write, or the queue is left free.
struct Writing<'a> {
    store: &'a ClickHouseStore,
    /// The callers not told yet.
    replies: Vec<SyncSender<Turn>>,
}

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        for reply in self.replies.drain(..) {
            let _ = reply.send(Turn::Done(Err(ClickHouseError::Interrupted)));
        }
        let mut queue = lock(&self.store.queue);
        if !queue.waiting.is_empty()
            && let Some(last) = &mut queue.last_write
        {
            last.1 = true;
        }
        // The first caller still there writes next.
        while !queue.waiting.is_empty() {
            let next = queue.waiting.remove(0);
            if next.reply.send(Turn::Write).is_ok() {
                queue.waiting.insert(0, next);
                return;
            }
            queue.waiting_spans -= next.encoded.ends.len();
        }
        queue.writing = false;
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
    put_bytes(out, span.service().as_bytes());
    put_bytes(out, span.name.as_bytes());
    put_u64(out, span.start_unix_nanos);
    put_u64(out, span.duration_nanos());
    put_u8(out, u8::from(span.is_error()));
    put_u64(out, received);
    // The attributes with a text (`Value::text`): all but those without a
    // value and non-finite floats.
    let searchable = || {
        span.attributes.iter().filter_map(|a| {
            let value = a.value.as_ref()?;
            let text = !matches!(value, Value::Double(f) if !f.is_finite());
            text.then_some((&*a.key, value))
        })
    };
    put_length(out, searchable().count());
    for (key, _) in searchable() {
        put_bytes(out, key.as_bytes());
    }
    put_length(out, searchable().count());
    for (_, value) in searchable() {
        put_text(out, value);
    }
    out.extend_from_slice(resource_id);
    put_bytes(out, body);
}

/// Appends `value`'s [`Value::text`] as a `String`, the common kinds
/// without making the text first.
fn put_text(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::String(s) => put_bytes(out, s.as_bytes()),
        Value::Int(i) => {
            let mut digits = [0; 20];
            let mut cursor = std::io::Cursor::new(&mut digits[..]);
            // i64::MIN is 20 characters long: always fits.
            let _ = write!(cursor, "{i}");
            let length = cursor.position() as usize;
            put_bytes(out, &digits[..length]);
        }
        Value::Bool(b) => put_bytes(out, if *b { b"true" } else { b"false" }),
        other => put_bytes(out, other.text().unwrap_or_default().as_bytes()),
    }
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

/// How far back, in nanoseconds, the windows a trace search looks at
/// before all of it reach: a second, then eight times as far each time up
/// to a week. Most searches want the newest traces, which the first
/// windows hold, and those read only the index and the newest granules.
fn search_windows() -> impl Iterator<Item = u64> {
    const WEEK: u64 = 7 * 86_400_000_000_000;
    std::iter::successors(Some(1_000_000_000_u64), |w| Some(w * 8))
        .take_while(|w| *w < WEEK)
        .chain([WEEK])
}

/// Rows a search window may hold, as ClickHouse reckons from its index
/// (whole granules of 8192 rows of each part): past that the window is
/// narrowed, as reading them all would take tens of milliseconds.
const SEARCH_ROWS: u64 = 256 * 1024;

/// Times a search halves a window that holds too many rows, at most.
const SEARCH_BISECTIONS: usize = 20;

/// ClickHouse's error code for a query that would read past
/// `max_rows_to_read`, as 18.16 and current releases write it.
const TOO_MANY_ROWS: &str = "Code: 158";

/// Asks read back per look at most.
const SHARED_KEEPS: usize = 10_000;

impl KeepExchange for ClickHouseStore {
    fn share(&self, asks: &[SharedKeep]) -> Result<(), StoreError> {
        let mut rows = Vec::new();
        for ask in asks {
            let Ok(trace_id) = <[u8; 16]>::try_from(ask.trace.trace_id.as_slice()) else {
                continue;
            };
            put_u64(&mut rows, ask.at_ns);
            put_u64(&mut rows, ask.collector);
            rows.extend_from_slice(&trace_id);
            put_bytes(&mut rows, ask.trace.reason.as_bytes());
        }
        if !rows.is_empty() {
            self.client
                .insert(&self.keeps_table, &KEEPS.column_list(), &rows)?;
        }
        Ok(())
    }

    fn shared_since(&self, collector: u64, since_ns: u64) -> Result<Vec<SharedKeep>, StoreError> {
        let statement = format!(
            "SELECT {} FROM {} WHERE at_ns >= {since_ns} AND collector != {collector}
             ORDER BY at_ns LIMIT {SHARED_KEEPS}",
            KEEPS.column_list(),
            self.keeps_table
        );
        let rows = self.client.select(&statement)?;
        let mut reader = Reader::new(&rows);
        let mut asks = Vec::new();
        while !reader.is_empty() {
            let (Some(at_ns), Some(collector), Some(trace_id), Some(reason)) = (
                reader.u64(),
                reader.u64(),
                reader.fixed::<16>(),
                reader.text(),
            ) else {
                return Err(Client::malformed(&statement).into());
            };
            asks.push(SharedKeep {
                at_ns,
                collector,
                trace: proto::KeptTrace {
                    trace_id: trace_id.to_vec(),
                    reason: reason.to_owned(),
                },
            });
        }
        Ok(asks)
    }
}

impl Store for ClickHouseStore {
    fn insert(&self, spans: Vec<Span>) -> Result<usize, StoreError> {
        // Encoded here, on the caller's thread, while another write may be
        // on its way.
        let encoded = Self::encode(&spans);
        drop(spans);
        // Room for the one message this caller is sent at a time.
        let (reply, turn) = std::sync::mpsc::sync_channel(1);
        let mut queue = lock(&self.queue);
        queue.waiting_spans += encoded.ends.len();
        queue.waiting.push(Waiting { encoded, reply });
        queue.last_arrival = Some(Instant::now());
        if queue.waiting_spans >= FULL_INSERT {
            self.filled.notify_one();
        }
        let mut my_turn = !queue.writing;
        queue.writing = true;
        drop(queue);
        loop {
            if my_turn {
                self.write_waiting();
            }
            match turn.recv() {
                Ok(Turn::Done(outcome)) => return Ok(outcome?),
                Ok(Turn::Write) => my_turn = true,
                Err(_) => return Err(ClickHouseError::Interrupted.into()),
            }
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
        // The keys of the traces with a span since `since`, or `None`
        // when `capped` and ClickHouse reckons (from the index, before
        // reading) that the window holds more than `SEARCH_ROWS` rows.
        let query =
            |since: Option<u64>, capped: bool| -> Result<Option<Vec<(u64, TraceId)>>, StoreError> {
                // A trace with a span since then has its newest one there too:
                // the keys found are whole, and every trace not found ranks
                // below them.
                let window = since.map(|t| format!(" AND start_ns >= {t}"));
                let cap = if capped {
                    format!(" SETTINGS max_rows_to_read = {SEARCH_ROWS}")
                } else {
                    String::new()
                };
                let statement = format!(
                    "SELECT max(start_ns) AS newest, trace_id FROM {} WHERE {}{}
                 GROUP BY trace_id {having} ORDER BY newest DESC, trace_id DESC LIMIT {}{cap}",
                    self.spans_table,
                    conditions(filter),
                    window.unwrap_or_default(),
                    filter.limit
                );
                let rows = match self.client.select(&statement) {
                    Ok(rows) => rows,
                    Err(ClickHouseError::Refused { message, .. })
                        if capped && message.contains(TOO_MANY_ROWS) =>
                    {
                        return Ok(None);
                    }
                    Err(e) => return Err(e.into()),
                };
                let mut reader = Reader::new(&rows);
                let mut keys = Vec::new();
                while !reader.is_empty() {
                    let (Some(key), Some(id)) = (reader.u64(), reader.fixed::<16>()) else {
                        return Err(Client::malformed(&statement).into());
                    };
                    keys.extend(TraceId::from_bytes(id).map(|id| (key, id)));
                }
                Ok(Some(keys))
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
        // The widest window known to hold too few traces, in nanoseconds.
        let mut narrower = 0;
        let mut capped = true;
        for window in search_windows() {
            let since = anchor.saturating_sub(window);
            // A window that holds every span the filter lets through is
            // the whole search.
            if since == 0 || filter.start_ns.is_some_and(|start| start >= since) {
                break;
            }
            match query(Some(since), capped)? {
                Some(keys) if keys.len() >= filter.limit => return Ok(keys),
                Some(_) => narrower = window,
                None => {
                    // Too many spans at once (they came faster than the
                    // windows grow, or not lately): halve the difference
                    // between too few traces and too many rows.
                    let (mut fewer, mut more) = (narrower, window);
                    for _ in 0..SEARCH_BISECTIONS {
                        let middle = fewer + (more - fewer) / 2;
                        match query(Some(anchor.saturating_sub(middle)), true)? {
                            Some(keys) if keys.len() >= filter.limit => return Ok(keys),
                            Some(_) => fewer = middle,
                            None => more = middle,
                        }
                    }
                    // So many spans in so short a time: read them all.
                    capped = false;
                    let keys = query(Some(anchor.saturating_sub(more)), false)?.unwrap_or_default();
                    if keys.len() >= filter.limit {
                        return Ok(keys);
                    }
                    narrower = more;
                }
            }
        }
        Ok(query(None, false)?.unwrap_or_default())
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
    fn written_spans_are_remembered_for_one_generation_at_least() {
        let key = |n: u64| ([1; 16], n);
        let mut recent = Recent::default();
        assert!(recent.insert(key(0)));
        assert!(recent.insert(key(1)));
        assert!(!recent.insert(key(0)), "a span sent again");
        let generation = RECENT_SPANS as u64;
        for n in 2..generation + 2 {
            assert!(recent.insert(key(n)));
        }
        assert!(
            !recent.insert(key(0)),
            "still remembered, one generation on"
        );
        for n in generation + 2..3 * generation {
            recent.insert(key(n));
        }
        assert!(recent.insert(key(1)), "forgotten two generations on");
        recent.forget(&[key(1)]);
        assert!(
            recent.insert(key(1)),
            "a failed write's spans are new again"
        );
    }

    #[test]
    fn attribute_texts_are_written_as_searches_compare_them() {
        let values = [
            Value::String("GET /users/{id}".into()),
            Value::Int(i64::MIN),
            Value::Int(42),
            Value::Bool(false),
            Value::Double(0.25),
            Value::Bytes(vec![0xab, 1]),
            Value::Array(vec![Some(Value::Int(1)), None]),
        ];
        for value in values {
            let (mut written, mut expected) = (Vec::new(), Vec::new());
            put_text(&mut written, &value);
            put_bytes(&mut expected, value.text().unwrap().as_bytes());
            assert_eq!(written, expected, "{value:?}");
        }
    }

    #[test]
    fn searches_look_back_a_second_then_eight_times_as_far_up_to_a_week() {
        let windows: Vec<u64> = search_windows().map(|w| w / 1_000_000_000).collect();
        assert_eq!(windows, [1, 8, 64, 512, 4096, 32_768, 262_144, 7 * 86_400]);
    }

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

//! A SQLite store: one file, WAL journal, one transaction per batch, so an
//! acknowledged batch survives the collector being killed. Kept within a
//! span count and an age by deleting the spans that arrived first (so spans
//! dated in the future cannot outlive others). Each span's body is kept in
//! the wire encoding (see [`crate::ingest::convert`]), so files written by
//! earlier versions stay readable.
//!
//! Queries run on their own connections: in WAL mode they read a snapshot
//! and neither wait for the writer nor hold it up.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use dapple::TraceId;
use rusqlite::{Connection, params};

use super::{Limits, SpanFilter, Store, StoreError};
use checkpoint::Checkpointer;

mod checkpoint;
use crate::ingest::convert;
use crate::span::{Resource, Span};

/// Spans in a SQLite database file.
#[derive(Debug)]
pub struct SqliteStore {
    /// The connection, and the number of spans stored (kept here: counting
    /// the table per batch would cost a scan).
    connection: Mutex<(Connection, usize)>,
    /// Connections for queries, each used by one query at a time.
    readers: Mutex<Vec<Connection>>,
    path: PathBuf,
    limits: Limits,
    /// Copies the WAL into the file beside the writer (see [`checkpoint`]).
    _checkpointer: Checkpointer,
}

/// Brings a file written by an earlier version up to the schema.
fn migrate(connection: &Connection) -> Result<(), StoreError> {
    let has_resource: bool = connection.query_row(
        "SELECT COUNT(*) FROM pragma_table_info('spans') WHERE name = 'resource_id'",
        [],
        |r| r.get(0),
    )?;
    if !has_resource {
        connection
            .execute_batch("ALTER TABLE spans ADD COLUMN resource_id INTEGER NOT NULL DEFAULT 0")?;
    }
    let has_service_id: bool = connection.query_row(
        "SELECT COUNT(*) FROM pragma_table_info('spans') WHERE name = 'service_id'",
        [],
        |r| r.get(0),
    )?;
    if !has_service_id {
        // Service names move to their own table, each stored once.
        connection.execute_batch(
            "BEGIN;
             ALTER TABLE spans ADD COLUMN service_id INTEGER NOT NULL DEFAULT 0;
             INSERT OR IGNORE INTO services (name) SELECT DISTINCT service FROM spans;
             UPDATE spans SET service_id = (SELECT id FROM services WHERE name = spans.service),
                              service = '';
             DROP INDEX IF EXISTS spans_by_service_name;
             COMMIT;",
        )?;
    }
    connection.execute_batch(
        "CREATE INDEX IF NOT EXISTS spans_by_service_name_id ON spans (service_id, name, start_ns);",
    )?;
    Ok(())
}

/// The id of a service name's row, added when new.
fn service_id(transaction: &rusqlite::Transaction<'_>, service: &str) -> Result<i64, StoreError> {
    transaction
        .prepare_cached("INSERT OR IGNORE INTO services (name) VALUES (?1)")?
        .execute(params![service])?;
    Ok(transaction
        .prepare_cached("SELECT id FROM services WHERE name = ?1")?
        .query_row(params![service], |r| r.get(0))?)
}

/// The id of a resource's row, added when new.
fn resource_id(
    transaction: &rusqlite::Transaction<'_>,
    resource: &Resource,
    body: &mut Vec<u8>,
) -> Result<i64, StoreError> {
    convert::encode_resource(resource, body);
    transaction
        .prepare_cached("INSERT OR IGNORE INTO resources (body) VALUES (?1)")?
        .execute(params![body.as_slice()])?;
    Ok(transaction
        .prepare_cached("SELECT id FROM resources WHERE body = ?1")?
        .query_row(params![body.as_slice()], |r| r.get(0))?)
}

/// SQLite integers are signed: larger values mean "beyond anything stored".
fn clamp(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

const SCHEMA: &str = "
    PRAGMA journal_mode = WAL;
    PRAGMA synchronous = NORMAL;
    CREATE TABLE IF NOT EXISTS spans (
        trace_id BLOB NOT NULL,
        span_id INTEGER NOT NULL,
        parent_id INTEGER NOT NULL,
        -- Empty: files from before service_id kept the name in every row.
        service TEXT NOT NULL,
        name TEXT NOT NULL,
        start_ns INTEGER NOT NULL,
        duration_ns INTEGER NOT NULL,
        error INTEGER NOT NULL,
        body BLOB NOT NULL,
        UNIQUE (trace_id, span_id)
    );
    -- The processes spans came from, each stored once: a span's
    -- resource_id names one (0: only its service is known, as for spans
    -- stored before resources were kept).
    CREATE TABLE IF NOT EXISTS resources (
        id INTEGER PRIMARY KEY,
        body BLOB NOT NULL UNIQUE
    );
    -- When batches arrived, for the retention: spans up to last_rowid
    -- arrived by received_ns. Rowids grow with arrival.
    CREATE TABLE IF NOT EXISTS arrivals (
        last_rowid INTEGER PRIMARY KEY,
        received_ns INTEGER NOT NULL
    );
    -- Service names, each stored once: a span's service_id names one.
    CREATE TABLE IF NOT EXISTS services (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE
    );
    CREATE INDEX IF NOT EXISTS spans_by_start ON spans (start_ns);
";

impl SqliteStore {
    /// Opens (or creates) `dapple.sqlite` in `data_dir`, kept within `limits`.
    pub fn open(data_dir: &Path, limits: Limits) -> Result<SqliteStore, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::DataDir {
            path: data_dir.to_owned(),
            source,
        })?;
        let path = data_dir.join("dapple.sqlite");
        let mut connection = Connection::open(&path)?;
        connection.execute_batch(SCHEMA)?;
        migrate(&connection)?;
        let count: i64 = connection.query_row("SELECT COUNT(*) FROM spans", [], |r| r.get(0))?;
        let checkpointer = Checkpointer::start(&path, &mut connection)?;
        Ok(SqliteStore {
            connection: Mutex::new((connection, count as usize)),
            readers: Mutex::new(Vec::new()),
            path,
            limits,
            _checkpointer: checkpointer,
        })
    }

    fn lock(&self) -> MutexGuard<'_, (Connection, usize)> {
        self.connection.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs a query on a reader connection (opened when none is free), and
    /// keeps the connection for the next one.
    fn read<T>(
        &self,
        query: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let idle = self.readers.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let connection = match idle {
            Some(connection) => connection,
            None => {
                let connection = Connection::open(&self.path)?;
                connection.execute_batch("PRAGMA query_only = 1;")?;
                connection.busy_timeout(std::time::Duration::from_secs(5))?;
                connection
            }
        };
        let result = query(&connection);
        self.readers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(connection);
        result
    }

    /// Deletes spans older than the retention, then the oldest spans past
    /// the count bound.
    fn prune(&self, connection: &Connection, count: &mut usize) -> Result<(), StoreError> {
        if let Some(retention) = self.limits.retention {
            let cutoff = dapple::now_unix_nanos().saturating_sub(retention.as_nanos() as u64);
            *count -= connection.execute(
                "DELETE FROM spans WHERE start_ns < ?1",
                params![clamp(cutoff)],
            )?;
            // Whatever their dates say, spans that arrived before the
            // cutoff go too.
            let arrived: Option<i64> = connection.query_row(
                "SELECT MAX(last_rowid) FROM arrivals WHERE received_ns < ?1",
                params![clamp(cutoff)],
                |r| r.get(0),
            )?;
            if let Some(last) = arrived {
                *count -=
                    connection.execute("DELETE FROM spans WHERE rowid <= ?1", params![last])?;
                connection.execute("DELETE FROM arrivals WHERE last_rowid <= ?1", params![last])?;
            }
        }
        let mut excess = count.saturating_sub(self.limits.max_spans);
        if let Some(max_bytes) = self.limits.max_bytes {
            let used: i64 = connection.query_row(
                "SELECT (page_count - freelist_count) * page_size
                   FROM pragma_page_count(), pragma_freelist_count(), pragma_page_size()",
                [],
                |r| r.get(0),
            )?;
            if used as u64 > max_bytes {
                // Free about a tenth more than the excess: pages are reused,
                // not returned, so the file stops growing.
                let share = (used as u64 - max_bytes) as f64 / used as f64 + 0.1;
                excess = excess.max((*count as f64 * share.min(1.0)) as usize);
            }
        }
        if excess > 0 {
            *count -= connection.execute(
                "DELETE FROM spans WHERE rowid IN
                   (SELECT rowid FROM spans ORDER BY rowid LIMIT ?1)",
                params![excess as i64],
            )?;
        }
        Ok(())
    }
}

impl Store for SqliteStore {
    fn insert(&self, spans: Vec<Span>) -> Result<usize, StoreError> {
        let mut guard = self.lock();
        let (connection, count) = &mut *guard;
        let transaction = connection.transaction()?;
        let mut added = 0;
        let mut body = Vec::new();
        {
            let mut insert = transaction.prepare_cached(
                "INSERT OR IGNORE INTO spans
                   (trace_id, span_id, parent_id, service, service_id, name, start_ns,
                    duration_ns, error, body, resource_id)
                 VALUES (?1, ?2, ?3, '', ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?;
            // The spans of a batch share their resource and service: one
            // lookup each.
            let mut last: Option<(&Arc<Resource>, i64)> = None;
            let mut last_service: Option<(&Arc<str>, i64)> = None;
            for span in &spans {
                let resource = match last {
                    Some((resource, id)) if Arc::ptr_eq(resource, &span.resource) => id,
                    _ => {
                        let id = resource_id(&transaction, &span.resource, &mut body)?;
                        last = Some((&span.resource, id));
                        id
                    }
                };
                let service = match last_service {
                    Some((service, id)) if Arc::ptr_eq(service, &span.resource.service) => id,
                    _ => {
                        let id = service_id(&transaction, span.service())?;
                        last_service = Some((&span.resource.service, id));
                        id
                    }
                };
                convert::encode(span, &mut body);
                added += insert.execute(params![
                    span.trace_id.to_bytes().as_slice(),
                    span.span_id.to_u64() as i64,
                    span.parent_id.map_or(0, |id| id.to_u64()) as i64,
                    service,
                    span.name.as_str(),
                    clamp(span.start_unix_nanos),
                    clamp(span.duration_nanos()),
                    span.is_error(),
                    body.as_slice(),
                    resource,
                ])?;
            }
        }
        if self.limits.retention.is_some() && added > 0 {
            transaction.execute(
                "INSERT OR REPLACE INTO arrivals (last_rowid, received_ns)
                 VALUES ((SELECT MAX(rowid) FROM spans), ?1)",
                params![clamp(dapple::now_unix_nanos())],
            )?;
        }
        transaction.commit()?;
        *count += added;
        self.prune(connection, count)?;
        Ok(added)
    }

    fn trace(&self, trace_id: TraceId) -> Result<Vec<Span>, StoreError> {
        self.read(|connection| {
            let mut query = connection.prepare_cached(
                "SELECT services.name, spans.body, resource_id, resources.body FROM spans
                 JOIN services ON services.id = service_id
                 LEFT JOIN resources ON resources.id = resource_id WHERE trace_id = ?1",
            )?;
            stored_spans(query.query(params![trace_id.to_bytes().to_vec()])?)
        })
    }

    fn span_count(&self) -> Result<usize, StoreError> {
        Ok(self.lock().1)
    }

    fn spans(&self, filter: &SpanFilter) -> Result<Vec<Span>, StoreError> {
        let (mut sql, mut values) = where_clause(
            "SELECT services.name, spans.body, resource_id, resources.body FROM spans
             JOIN services ON services.id = service_id
             LEFT JOIN resources ON resources.id = resource_id",
            filter,
        );
        values.push(clamp(filter.limit as u64).into());
        sql.push_str(&format!(" ORDER BY start_ns DESC LIMIT ?{}", values.len()));
        self.read(|connection| {
            let mut query = connection.prepare_cached(&sql)?;
            stored_spans(query.query(rusqlite::params_from_iter(values))?)
        })
    }

    fn trace_keys(
        &self,
        filter: &SpanFilter,
        before: Option<(u64, TraceId)>,
    ) -> Result<Vec<(u64, TraceId)>, StoreError> {
        // Matching spans, newest first, from the indexes: the first time a
        // trace shows up gives its key, and the scan stops once the page is
        // full, so a search touches only the newest rows.
        let (mut sql, values) = where_clause("SELECT start_ns, trace_id FROM spans", filter);
        sql.push_str(" ORDER BY start_ns DESC");
        self.read(|connection| {
            let mut query = connection.prepare_cached(&sql)?;
            let mut rows = query.query(rusqlite::params_from_iter(values))?;
            let mut seen = std::collections::HashSet::new();
            let mut keys = Vec::new();
            while let Some(row) = rows.next()? {
                let key = row.get::<_, i64>(0)? as u64;
                let id: Vec<u8> = row.get(1)?;
                let Some(id) = <[u8; 16]>::try_from(id.as_slice())
                    .ok()
                    .and_then(TraceId::from_bytes)
                else {
                    continue;
                };
                if !seen.insert(id) || before.is_some_and(|b| (key, id) >= b) {
                    continue;
                }
                keys.push((key, id));
                if keys.len() >= filter.limit {
                    break;
                }
            }
            Ok(keys)
        })
    }

    fn services(&self) -> Result<Vec<(String, Vec<String>)>, StoreError> {
        self.read(|connection| {
            let mut query = connection.prepare_cached(
                "SELECT DISTINCT services.name, spans.name FROM spans
                 JOIN services ON services.id = service_id ORDER BY 1, 2",
            )?;
            let rows = query.query_map([], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })?;
            let mut services: Vec<(String, Vec<String>)> = Vec::new();
            for row in rows {
                let (service, name) = row?;
                match services.last_mut() {
                    Some((last, names)) if *last == service => names.push(name),
                    _ => services.push((service, vec![name])),
                }
            }
            Ok(services)
        })
    }
}

/// Decodes rows of `(service, body, resource id, resource body)`; spans of
/// one resource share it.
fn stored_spans(mut rows: rusqlite::Rows<'_>) -> Result<Vec<Span>, StoreError> {
    let mut spans = Vec::new();
    let mut resources: Vec<(i64, Arc<Resource>)> = Vec::new();
    while let Some(row) = rows.next()? {
        let service = row.get_ref(0)?.as_str().map_err(rusqlite::Error::from)?;
        let id: i64 = row.get(2)?;
        let known = resources
            .iter()
            .find(|(known, r)| *known == id && (id != 0 || *r.service == *service));
        let resource = match known {
            Some((_, resource)) => resource.clone(),
            None => {
                let resource = match row
                    .get_ref(3)?
                    .as_blob_or_null()
                    .map_err(rusqlite::Error::from)?
                {
                    Some(body) if id != 0 => convert::decode_resource(body)?,
                    _ => Resource::of_service(service),
                };
                let resource = Arc::new(resource);
                resources.push((id, resource.clone()));
                resource
            }
        };
        let body = row.get_ref(1)?.as_blob().map_err(rusqlite::Error::from)?;
        let mut span = convert::decode(&resource, body)?;
        // The row's service is what searches matched.
        span.name_service(service);
        spans.push(span);
    }
    Ok(spans)
}

/// `base` with the filter's conditions, and their values.
fn where_clause(base: &str, filter: &SpanFilter) -> (String, Vec<rusqlite::types::Value>) {
    let mut sql = format!("{base} WHERE 1 = 1");
    let mut values: Vec<rusqlite::types::Value> = Vec::new();
    // Each condition: SQL around the next parameter.
    let mut and = |before: &str, after: &str, value: rusqlite::types::Value| {
        values.push(value);
        sql.push_str(&format!(" AND {before} ?{}{after}", values.len()));
    };
    if let Some(service) = &filter.service {
        and(
            "service_id = (SELECT id FROM services WHERE services.name =",
            ")",
            service.clone().into(),
        );
    }
    if let Some(name) = &filter.name {
        and("spans.name =", "", name.clone().into());
    }
    if let Some(d) = filter.min_duration_ns {
        and("duration_ns >=", "", clamp(d).into());
    }
    if let Some(d) = filter.max_duration_ns {
        and("duration_ns <=", "", clamp(d).into());
    }
    if let Some(t) = filter.start_ns {
        and("start_ns >=", "", clamp(t).into());
    }
    if let Some(t) = filter.end_ns {
        and("start_ns <", "", clamp(t).into());
    }
    if filter.error_only {
        and("error =", "", 1i64.into());
    }
    (sql, values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(trace: u8, id: u64, start: u64) -> Span {
        Span {
            resource: Arc::new(Resource::of_service("svc")),
            start_unix_nanos: start,
            end_unix_nanos: start + 10,
            ..Span::example(trace, id)
        }
    }

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("dapple-sqlite-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn the_wal_stays_bounded_while_batches_keep_coming() {
        let dir = temp_dir("checkpoint");
        let store = SqliteStore::open(&dir, Limits::spans(1_000_000)).unwrap();
        let wal = dir.join("dapple.sqlite-wal");
        let mut largest_wal = 0;
        for batch in 0..200_u64 {
            let spans = (0..100)
                .map(|i| {
                    let id = batch * 100 + i + 1;
                    let mut span = span((id % 251) as u8 + 1, id, id);
                    span.name = format!("operation {}", id % 7).into();
                    span
                })
                .collect();
            assert_eq!(store.insert(spans).unwrap(), 100);
            largest_wal = largest_wal.max(std::fs::metadata(&wal).unwrap().len());
        }
        let database = std::fs::metadata(dir.join("dapple.sqlite")).unwrap().len();
        // In tests a checkpoint starts at 64 pages of WAL, and the writer
        // copies them itself at 256: the WAL never holds the 20,000 spans.
        assert!(largest_wal < 2 << 20, "WAL grew to {largest_wal} bytes");
        assert!(database > largest_wal, "database {database} bytes");
        drop(store);
        let store = SqliteStore::open(&dir, Limits::spans(1_000_000)).unwrap();
        assert_eq!(store.span_count().unwrap(), 20_000);
    }

    #[test]
    fn spans_survive_reopening_and_duplicates_are_stored_once() {
        let dir = temp_dir("reopen");
        let trace = TraceId::from_bytes([7; 16]).unwrap();
        {
            let store = SqliteStore::open(&dir, Limits::spans(100)).unwrap();
            assert_eq!(store.insert(vec![span(7, 1, 1), span(7, 2, 2)]).unwrap(), 2);
            assert_eq!(store.insert(vec![span(7, 2, 2), span(7, 3, 3)]).unwrap(), 1);
        }
        let store = SqliteStore::open(&dir, Limits::spans(100)).unwrap();
        let spans = store.trace(trace).unwrap();
        assert_eq!(spans.len(), 3);
        assert!(spans.iter().all(|s| s.service() == "svc"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn resources_are_stored_once_and_come_back_with_their_spans() {
        use crate::span::{Attribute, Value};
        let dir = temp_dir("resources");
        let trace = TraceId::from_bytes([7; 16]).unwrap();
        let resource = Arc::new(Resource::new(
            vec![
                Attribute {
                    key: "service.name".into(),
                    value: Some(Value::String("checkout".into())),
                },
                Attribute {
                    key: "host.cores".into(),
                    value: Some(Value::Array(vec![Some(Value::Int(1)), None])),
                },
            ],
            2,
        ));
        let with_resource = |id| Span {
            resource: resource.clone(),
            ..span(7, id, id)
        };
        {
            let store = SqliteStore::open(&dir, Limits::spans(100)).unwrap();
            store
                .insert(vec![with_resource(1), with_resource(2)])
                .unwrap();
            store.insert(vec![with_resource(3), span(7, 4, 4)]).unwrap();
            let rows: i64 = store
                .lock()
                .0
                .query_row("SELECT COUNT(*) FROM resources", [], |r| r.get(0))
                .unwrap();
            assert_eq!(rows, 2, "one row per distinct resource");
        }
        let store = SqliteStore::open(&dir, Limits::spans(100)).unwrap();
        let mut spans = store.trace(trace).unwrap();
        spans.sort_by_key(|s| s.span_id);
        assert_eq!(*spans[0].resource, *resource);
        assert_eq!(*spans[2].resource, *resource);
        assert_eq!(spans[3].service(), "svc");
        assert!(Arc::ptr_eq(&spans[0].resource, &spans[1].resource));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_file_from_before_resources_were_kept_is_read_and_written() {
        let dir = temp_dir("migrate");
        std::fs::create_dir_all(&dir).unwrap();
        let mut body = Vec::new();
        convert::encode(&span(7, 1, 1), &mut body);
        {
            let old = Connection::open(dir.join("dapple.sqlite")).unwrap();
            old.execute_batch(
                "CREATE TABLE spans (
                    trace_id BLOB NOT NULL, span_id INTEGER NOT NULL, parent_id INTEGER NOT NULL,
                    service TEXT NOT NULL, name TEXT NOT NULL, start_ns INTEGER NOT NULL,
                    duration_ns INTEGER NOT NULL, error INTEGER NOT NULL, body BLOB NOT NULL,
                    UNIQUE (trace_id, span_id));",
            )
            .unwrap();
            old.execute(
                "INSERT INTO spans VALUES (?1, 1, 0, 'old', 's1', 1, 10, 0, ?2)",
                params![[7_u8; 16].as_slice(), body.as_slice()],
            )
            .unwrap();
        }
        let store = SqliteStore::open(&dir, Limits::spans(100)).unwrap();
        store.insert(vec![span(7, 2, 2)]).unwrap();
        let mut spans = store.trace(TraceId::from_bytes([7; 16]).unwrap()).unwrap();
        spans.sort_by_key(|s| s.span_id);
        assert_eq!(spans.len(), 2);
        assert_eq!(*spans[0].resource, Resource::of_service("old"));
        assert_eq!(spans[1].service(), "svc");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_byte_bound_deletes_the_oldest_spans() {
        let dir = temp_dir("bytes");
        let store = SqliteStore::open(
            &dir,
            Limits {
                max_bytes: Some(512 * 1024),
                ..Limits::spans(1_000_000)
            },
        )
        .unwrap();
        for batch in 0..40u64 {
            let spans = (0..100)
                .map(|i| {
                    let mut s = span(batch as u8 + 1, i + 1, batch * 1000 + i);
                    s.name = "x".repeat(400).into();
                    s
                })
                .collect();
            store.insert(spans).unwrap();
        }
        let kept = store.span_count().unwrap();
        assert!(kept < 4000, "some spans went: {kept} kept");
        assert!(kept > 200, "not all of them: {kept} kept");
        assert!(
            store
                .trace(TraceId::from_bytes([1; 16]).unwrap())
                .unwrap()
                .is_empty(),
            "the oldest went first"
        );
        assert_eq!(
            store
                .trace(TraceId::from_bytes([40; 16]).unwrap())
                .unwrap()
                .len(),
            100
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_oldest_spans_go_past_the_bound() {
        let dir = temp_dir("bound");
        let store = SqliteStore::open(&dir, Limits::spans(3)).unwrap();
        store
            .insert(vec![
                span(1, 1, 10),
                span(1, 2, 20),
                span(2, 1, 30),
                span(2, 2, 40),
            ])
            .unwrap();
        assert_eq!(store.span_count().unwrap(), 3);
        assert_eq!(
            store
                .trace(TraceId::from_bytes([1; 16]).unwrap())
                .unwrap()
                .len(),
            1
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn spans_dated_in_the_future_go_first_when_they_came_first() {
        let dir = temp_dir("future");
        let store = SqliteStore::open(&dir, Limits::spans(4)).unwrap();
        let far = i64::MAX as u64;
        store
            .insert(vec![span(1, 1, far), span(1, 2, far)])
            .unwrap();
        store.insert(vec![span(2, 1, 10), span(2, 2, 20)]).unwrap();
        store.insert(vec![span(3, 1, 30), span(3, 2, 40)]).unwrap();
        assert_eq!(store.span_count().unwrap(), 4);
        let ids = |t| TraceId::from_bytes([t; 16]).unwrap();
        assert!(
            store.trace(ids(1)).unwrap().is_empty(),
            "the first to arrive go"
        );
        assert_eq!(store.trace(ids(2)).unwrap().len(), 2);
        assert_eq!(store.trace(ids(3)).unwrap().len(), 2);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn spans_past_the_retention_by_arrival_go_whatever_their_dates() {
        let dir = temp_dir("arrival");
        let store = SqliteStore::open(
            &dir,
            Limits {
                retention: Some(std::time::Duration::from_millis(50)),
                ..Limits::spans(100)
            },
        )
        .unwrap();
        let far = i64::MAX as u64;
        store.insert(vec![span(1, 1, far)]).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(100));
        store
            .insert(vec![span(2, 1, dapple::now_unix_nanos())])
            .unwrap();
        assert!(
            store
                .trace(TraceId::from_bytes([1; 16]).unwrap())
                .unwrap()
                .is_empty()
        );
        assert_eq!(store.span_count().unwrap(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_service_name_is_stored_once_whatever_the_number_of_spans() {
        let dir = temp_dir("service-once");
        let store = SqliteStore::open(&dir, Limits::spans(1000)).unwrap();
        let service = "s".repeat(1000);
        let resource = Arc::new(Resource::of_service(&service));
        let spans = (1..=200)
            .map(|id| Span {
                resource: resource.clone(),
                ..span(1, id, id)
            })
            .collect();
        store.insert(spans).unwrap();
        let (names, in_rows): (i64, i64) = store
            .lock()
            .0
            .query_row(
                "SELECT (SELECT COUNT(*) FROM services), (SELECT SUM(LENGTH(service)) FROM spans)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((names, in_rows), (1, 0));
        let found = store
            .spans(&SpanFilter {
                service: Some(service.to_string()),
                limit: 1000,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(found.len(), 200);
        assert!(found.iter().all(|s| s.service() == service));
        let _ = std::fs::remove_dir_all(&dir);
    }
}

//! The tables, created at start and brought up to date: what 18.16 and
//! current releases both understand (no `DateTime64`, `Map`, `JSON`,
//! `LowCardinality` (experimental in 18.16), data skipping indexes, table
//! `TTL` or `ADD COLUMN IF NOT EXISTS`).
//!
//! - `spans`: one row per span, for searches: partitioned by day (UTC) of
//!   its start, ordered by service, name and start. The body is the span's
//!   wire encoding ([`crate::ingest::convert::encode`]), as in SQLite.
//! - `spans_by_trace`: the same spans ordered by trace id, for fetching a
//!   trace (a few granules of 1024 rows per part rather than a scan), fed
//!   by the materialized view `spans_by_trace_feed` from the same `INSERT`.
//! - `resources`: each process's resource once, under a digest of its
//!   body.
//! - `keeps`: retroactive sampling's asks to keep a trace, which every
//!   collector passes on to its own clients (a day's worth).
//!
//! Both span tables are `ReplacingMergeTree`s, so copies of a re-sent span
//! merge away in time; queries do not wait for that (see the store).

use std::collections::{HashMap, HashSet};

use super::http::{ClickHouseError, Client, literal};

/// The day a span is filed under: its start, or the day after it arrived
/// for a span dated later than that, so a wrong clock cannot keep a span
/// past the retention (nor overflow `DateTime`, which ends in 2106).
const PARTITION: &str = "toYYYYMMDD(toDateTime(intDiv(\
                         least(start_ns, received_ns + 86400000000000), 1000000000)), 'UTC')";

/// How the span tables merge their parts: vertically (the key columns
/// row by row, then each other column on its own), which ClickHouse does
/// only for tables of 11 columns or more outside the key unless told. On
/// these tables it takes about a third less CPU than row by row (the
/// bodies are most of each row), and merges are most of ClickHouse's work
/// while spans come in. Tables made before this keep merging row by row:
/// 18.16 cannot change a table's settings.
const MERGES: &str = "vertical_merge_algorithm_min_columns_to_activate = 1";

/// A table: its name, its columns and their types, and what follows them
/// in `CREATE TABLE`.
pub(super) struct Table {
    pub(super) name: &'static str,
    pub(super) columns: &'static [(&'static str, &'static str)],
    engine: &'static str,
}

impl Table {
    /// Its columns, comma-separated, as an `INSERT` or `SELECT` names them.
    pub(super) fn column_list(&self) -> String {
        let names: Vec<&str> = self.columns.iter().map(|(name, _)| *name).collect();
        names.join(", ")
    }
}

pub(super) const SPANS: Table = Table {
    name: "spans",
    columns: &[
        ("trace_id", "FixedString(16)"),
        ("span_id", "UInt64"),
        ("parent_id", "UInt64"),
        ("service", "String"),
        ("name", "String"),
        ("start_ns", "UInt64"),
        ("duration_ns", "UInt64"),
        ("error", "UInt8"),
        ("received_ns", "UInt64"),
        // The span's attributes as `attr=key=value` searches compare them
        // (`Value::text`), in pairs.
        ("attribute_keys", "Array(String)"),
        ("attribute_values", "Array(String)"),
        ("resource_id", "FixedString(16)"),
        ("body", "String"),
    ],
    engine: "ENGINE = ReplacingMergeTree
             PARTITION BY {partition}
             ORDER BY (service, name, start_ns, trace_id, span_id)
             SETTINGS {merges}",
};

pub(super) const SPANS_BY_TRACE: Table = Table {
    name: "spans_by_trace",
    columns: &[
        ("trace_id", "FixedString(16)"),
        ("span_id", "UInt64"),
        ("service", "String"),
        ("start_ns", "UInt64"),
        ("received_ns", "UInt64"),
        ("resource_id", "FixedString(16)"),
        ("body", "String"),
    ],
    engine: "ENGINE = ReplacingMergeTree
             PARTITION BY {partition}
             ORDER BY (trace_id, span_id)
             SETTINGS index_granularity = 1024, {merges}",
};

pub(super) const KEEPS: Table = Table {
    name: "keeps",
    columns: &[
        ("at_ns", "UInt64"),
        ("collector", "UInt64"),
        ("trace_id", "FixedString(16)"),
        ("reason", "String"),
    ],
    engine: "ENGINE = MergeTree
             PARTITION BY toYYYYMMDD(toDateTime(intDiv(at_ns, 1000000000)), 'UTC')
             ORDER BY at_ns",
};

pub(super) const RESOURCES: Table = Table {
    name: "resources",
    columns: &[("id", "FixedString(16)"), ("body", "String")],
    engine: "ENGINE = ReplacingMergeTree ORDER BY id",
};

/// How a database's span tables are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Layout {
    /// The tables above, on this server: the store made them.
    Local,
    /// `Distributed` tables of those names over tables on the shards, which
    /// the operator made (docs/scaling.md): the store writes and reads
    /// through them, and leaves their schema and retention to ClickHouse.
    Sharded,
}

/// Creates the database and whatever of the tables is missing, and adds
/// the columns a table made by an earlier version lacks; or, when `spans`
/// is a `Distributed` table, checks that the sharded layout is whole.
pub(super) fn migrate(client: &Client, database: &str) -> Result<Layout, ClickHouseError> {
    client.execute(&format!("CREATE DATABASE IF NOT EXISTS `{database}`"))?;
    let engines = engines(client, database)?;
    if engines.get(SPANS.name).map(String::as_str) == Some("Distributed") {
        check_sharded(client, database, &engines)?;
        return Ok(Layout::Sharded);
    }
    for table in [&SPANS, &SPANS_BY_TRACE, &RESOURCES, &KEEPS] {
        let columns: Vec<String> = table
            .columns
            .iter()
            .map(|(name, kind)| format!("{name} {kind}"))
            .collect();
        client.execute(&format!(
            "CREATE TABLE IF NOT EXISTS `{database}`.{} ({}) {}",
            table.name,
            columns.join(", "),
            table
                .engine
                .replace("{partition}", PARTITION)
                .replace("{merges}", MERGES),
        ))?;
    }
    // The view after both its tables: from here on, every row inserted into
    // `spans` lands in `spans_by_trace` too.
    client.execute(&format!(
        "CREATE MATERIALIZED VIEW IF NOT EXISTS `{database}`.spans_by_trace_feed
         TO `{database}`.spans_by_trace AS SELECT {} FROM `{database}`.spans",
        SPANS_BY_TRACE.column_list()
    ))?;
    add_missing_columns(client, database)?;
    Ok(Layout::Local)
}

/// Each table of `database` and its engine.
fn engines(client: &Client, database: &str) -> Result<HashMap<String, String>, ClickHouseError> {
    let statement = format!(
        "SELECT name, engine FROM system.tables WHERE database = {}",
        literal(database.as_bytes())
    );
    Ok(text_pairs(client, &statement)?.into_iter().collect())
}

/// An error unless each of the store's tables is `Distributed` and has
/// every column the store writes or reads.
fn check_sharded(
    client: &Client,
    database: &str,
    engines: &HashMap<String, String>,
) -> Result<(), ClickHouseError> {
    let present = columns(client, database)?;
    for table in [&SPANS, &SPANS_BY_TRACE, &RESOURCES, &KEEPS] {
        let engine = engines.get(table.name).map(String::as_str);
        if engine != Some("Distributed") {
            return Err(ClickHouseError::Config(format!(
                "`{database}`.spans is a Distributed table, so `{database}`.{} must be one too \
                 (it is {}): see docs/scaling.md",
                table.name,
                engine.unwrap_or("missing")
            )));
        }
        let missing: Vec<&str> = table
            .columns
            .iter()
            .map(|(name, _)| *name)
            .filter(|name| !present.contains(&(table.name.to_owned(), (*name).to_owned())))
            .collect();
        if !missing.is_empty() {
            return Err(ClickHouseError::Config(format!(
                "the sharded table `{database}`.{} lacks the columns {}: add them to the \
                 shards' tables and to it (see docs/scaling.md)",
                table.name,
                missing.join(", ")
            )));
        }
    }
    Ok(())
}

/// The (table, column) pairs of `database`.
fn columns(client: &Client, database: &str) -> Result<HashSet<(String, String)>, ClickHouseError> {
    let statement = format!(
        "SELECT table, name FROM system.columns WHERE database = {}",
        literal(database.as_bytes())
    );
    Ok(text_pairs(client, &statement)?.into_iter().collect())
}

/// The rows of `statement`, which selects two texts.
fn text_pairs(client: &Client, statement: &str) -> Result<Vec<(String, String)>, ClickHouseError> {
    let rows = client.select(statement)?;
    let mut reader = super::rowbinary::Reader::new(&rows);
    let mut pairs = Vec::new();
    while !reader.is_empty() {
        let (Some(first), Some(second)) = (reader.text(), reader.text()) else {
            return Err(Client::malformed(statement));
        };
        pairs.push((first.to_owned(), second.to_owned()));
    }
    Ok(pairs)
}

/// `ALTER TABLE ... ADD COLUMN` for each column a table lacks (18.16 has
/// no `IF NOT EXISTS` there, so ask `system.columns` first). Several
/// collectors starting at once may race to add one: a column that exists
/// by the time it is added is not an error.
fn add_missing_columns(client: &Client, database: &str) -> Result<(), ClickHouseError> {
    let present = columns(client, database)?;
    for table in [&SPANS, &SPANS_BY_TRACE, &RESOURCES, &KEEPS] {
        let mut previous: Option<&str> = None;
        for (name, kind) in table.columns {
            if !present.contains(&(table.name.to_owned(), (*name).to_owned())) {
                let after = previous.map(|p| format!(" AFTER {p}")).unwrap_or_default();
                let added = client.execute(&format!(
                    "ALTER TABLE `{database}`.{} ADD COLUMN {name} {kind}{after}",
                    table.name
                ));
                match added {
                    // "column with this name already exists": code 44 in
                    // 18.16, 15 in current releases.
                    Err(ClickHouseError::Refused { message, .. })
                        if message.contains("already exists") => {}
                    other => other?,
                }
            }
            previous = Some(name);
        }
    }
    Ok(())
}

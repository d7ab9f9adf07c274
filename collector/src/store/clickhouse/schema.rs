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
//!
//! Both span tables are `ReplacingMergeTree`s, so copies of a re-sent span
//! merge away in time; queries do not wait for that (see the store).

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

pub(super) const RESOURCES: Table = Table {
    name: "resources",
    columns: &[("id", "FixedString(16)"), ("body", "String")],
    engine: "ENGINE = ReplacingMergeTree ORDER BY id",
};

/// Creates the database and whatever of the tables is missing, and adds
/// the columns a table made by an earlier version lacks.
pub(super) fn migrate(client: &Client, database: &str) -> Result<(), ClickHouseError> {
    client.execute(&format!("CREATE DATABASE IF NOT EXISTS `{database}`"))?;
    for table in [&SPANS, &SPANS_BY_TRACE, &RESOURCES] {
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
    add_missing_columns(client, database)
}

/// `ALTER TABLE ... ADD COLUMN` for each column a table lacks (18.16 has
/// no `IF NOT EXISTS` there, so ask `system.columns` first). Several
/// collectors starting at once may race to add one: a column that exists
/// by the time it is added is not an error.
fn add_missing_columns(client: &Client, database: &str) -> Result<(), ClickHouseError> {
    let statement = format!(
        "SELECT table, name FROM system.columns WHERE database = {}",
        literal(database.as_bytes())
    );
    let rows = client.select(&statement)?;
    let mut reader = super::rowbinary::Reader::new(&rows);
    let mut present = std::collections::HashSet::new();
    while !reader.is_empty() {
        let (Some(table), Some(column)) = (reader.text(), reader.text()) else {
            return Err(Client::malformed(&statement));
        };
        present.insert((table.to_owned(), column.to_owned()));
    }
    for table in [&SPANS, &SPANS_BY_TRACE, &RESOURCES] {
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

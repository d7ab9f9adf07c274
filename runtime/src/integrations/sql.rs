//! SQLite statements as spans: [`TracedConnection`] wraps a
//! [`rusqlite::Connection`] so that every statement it runs is a client
//! span, a child of the current span.
//!
//! A span is named after its operation and table (`SELECT users`,
//! `CREATE TABLE orders`, or only the operation when the table is not plain to
//! see) and carries `db.system.name` (`sqlite`), `db.query.text` (the SQL
//! as written, placeholders and all: parameters are never recorded),
//! `db.operation.name`, `db.collection.name` when known,
//! `db.response.returned_rows` for queries and `db.response.affected_rows`
//! for `execute`. A failing statement marks its span as failed with
//! SQLite's message, `error.type` (such as `ConstraintViolation` or
//! `SqlInputError`) and
//! `db.response.status_code` (SQLite's extended result code).
//!
//! ```
//! use dapple::sql::TracedConnection;
//! use dapple::{MemorySink, traced};
//!
//! #[traced(name = "signup")]
//! fn signup(db: &TracedConnection, email: &str) -> rusqlite::Result<i64> {
//!     db.execute("INSERT INTO users (email) VALUES (?1)", [email])?;
//!     db.query_row("SELECT count(*) FROM users", [], |row| row.get(0))
//! }
//!
//! let spans = MemorySink::install();
//! let db = TracedConnection::open_in_memory()?;
//! db.execute_batch("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT UNIQUE)")?;
//! assert_eq!(signup(&db, "ada@example.com")?, 1);
//!
//! let tree = spans.tree_of("signup").unwrap();
//! assert_eq!(tree.render(), "signup\n  INSERT users\n  SELECT users\n");
//! let insert = tree.find("INSERT users").unwrap();
//! assert_eq!(
//!     insert.attribute("db.query.text").unwrap().as_str(),
//!     Some("INSERT INTO users (email) VALUES (?1)"),
//! );
//! # Ok::<(), rusqlite::Error>(())
//! ```
//!
//! Everything else of the connection (transactions, pragmas, backups) is
//! reached through `Deref` and is not traced.

use std::ops::{Deref, DerefMut};
use std::path::Path;

use rusqlite::{Connection, MappedRows, Params, Row, Statement};

use crate::span::{Span, SpanKind};

/// A [`rusqlite::Connection`] whose statements are spans. Derefs to the
/// connection for everything it does not wrap.
#[derive(Debug)]
pub struct TracedConnection {
    connection: Connection,
}

impl TracedConnection {
    /// Wraps an open connection.
    pub fn new(connection: Connection) -> TracedConnection {
        TracedConnection { connection }
    }

    /// Opens (creating if needed) the database file at `path`.
    pub fn open(path: impl AsRef<Path>) -> rusqlite::Result<TracedConnection> {
        Connection::open(path).map(TracedConnection::new)
    }

    /// Opens a new in-memory database.
    pub fn open_in_memory() -> rusqlite::Result<TracedConnection> {
        Connection::open_in_memory().map(TracedConnection::new)
    }

    /// The connection, unwrapped.
    pub fn into_inner(self) -> Connection {
        self.connection
    }

    /// Runs one statement; returns the number of rows it changed.
    pub fn execute<P: Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize> {
        let mut span = start(sql, None);
        let result = self.connection.execute(sql, params);
        if let Ok(rows) = &result {
            span.set_attribute("db.response.affected_rows", *rows as u64);
        }
        finish(span, result)
    }

    /// Runs several `;`-separated statements without parameters, as one
    /// span named after the first.
    pub fn execute_batch(&self, sql: &str) -> rusqlite::Result<()> {
        let span = start(sql, None);
        finish(span, self.connection.execute_batch(sql))
    }

    /// Runs a query and maps its first row with `f`. No row is
    /// `Err(QueryReturnedNoRows)`, as with rusqlite; the span records 0
    /// rows and is not marked as failed, since the statement itself
    /// succeeded.
    pub fn query_row<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    {
        let mut span = start(sql, None);
        let result = self.connection.query_row(sql, params, f);
        query_row_rows(&mut span, &result);
        finish(span, result)
    }

    /// Prepares a statement whose every run is a span. Preparing is not a
    /// span of its own, but a statement that does not compile gets one,
    /// marked as failed.
    pub fn prepare(&self, sql: &str) -> rusqlite::Result<TracedStatement<'_>> {
        let summary = Summary::of(sql);
        match self.connection.prepare(sql) {
            Ok(statement) => Ok(TracedStatement {
                statement,
                sql: sql.into(),
                summary,
            }),
            Err(error) => finish(start(sql, Some(&summary)), Err(error)),
        }
    }
}

impl From<Connection> for TracedConnection {
    fn from(connection: Connection) -> TracedConnection {
        TracedConnection::new(connection)
    }
}

impl Deref for TracedConnection {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        &self.connection
    }
}

impl DerefMut for TracedConnection {
    fn deref_mut(&mut self) -> &mut Connection {
        &mut self.connection
    }
}

/// A prepared statement of a [`TracedConnection`]: each run is a span.
/// Derefs to the [`rusqlite::Statement`] for everything it does not wrap.
#[derive(Debug)]
pub struct TracedStatement<'conn> {
    statement: Statement<'conn>,
    sql: Box<str>,
    summary: Summary,
}

impl<'conn> TracedStatement<'conn> {
    /// Runs the statement; returns the number of rows it changed.
    pub fn execute<P: Params>(&mut self, params: P) -> rusqlite::Result<usize> {
        let mut span = start(&self.sql, Some(&self.summary));
        let result = self.statement.execute(params);
        if let Ok(rows) = &result {
            span.set_attribute("db.response.affected_rows", *rows as u64);
        }
        finish(span, result)
    }

    /// Runs an `INSERT`; returns the new row's rowid.
    pub fn insert<P: Params>(&mut self, params: P) -> rusqlite::Result<i64> {
        let mut span = start(&self.sql, Some(&self.summary));
        let result = self.statement.insert(params);
        if result.is_ok() {
            span.set_attribute("db.response.affected_rows", 1u64);
        }
        finish(span, result)
    }

    /// Runs a query and maps its first row with `f`, as
    /// [`TracedConnection::query_row`].
    pub fn query_row<T, P, F>(&mut self, params: P, f: F) -> rusqlite::Result<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    {
        let mut span = start(&self.sql, Some(&self.summary));
        let result = self.statement.query_row(params, f);
        query_row_rows(&mut span, &result);
        finish(span, result)
    }

    /// Runs a query and maps each row with `f`, lazily. The span lasts until
    /// the rows are dropped and records how many were read.
    pub fn query_map<T, P, F>(&mut self, params: P, f: F) -> rusqlite::Result<TracedRows<'_, F>>
    where
        P: Params,
        F: FnMut(&Row<'_>) -> rusqlite::Result<T>,
    {
        let span = start(&self.sql, Some(&self.summary));
        match self.statement.query_map(params, f) {
            Ok(rows) => Ok(TracedRows {
                rows,
                span,
                returned: 0,
            }),
            Err(error) => finish(span, Err(error)),
        }
    }

    /// The statement, unwrapped.
    pub fn into_inner(self) -> Statement<'conn> {
        self.statement
    }
}

impl<'conn> Deref for TracedStatement<'conn> {
    type Target = Statement<'conn>;

    fn deref(&self) -> &Statement<'conn> {
        &self.statement
    }
}

impl<'conn> DerefMut for TracedStatement<'conn> {
    fn deref_mut(&mut self) -> &mut Statement<'conn> {
        &mut self.statement
    }
}

/// The rows of [`TracedStatement::query_map`]: an iterator of mapped rows
/// whose span ends when it is dropped.
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct TracedRows<'stmt, F> {
    rows: MappedRows<'stmt, F>,
    span: Span,
    returned: u64,
}

impl<F> std::fmt::Debug for TracedRows<'_, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TracedRows")
            .field("returned", &self.returned)
            .finish_non_exhaustive()
    }
}

impl<T, F> Iterator for TracedRows<'_, F>
where
    F: FnMut(&Row<'_>) -> rusqlite::Result<T>,
{
    type Item = rusqlite::Result<T>;

    fn next(&mut self) -> Option<rusqlite::Result<T>> {
        let item = self.rows.next();
        match &item {
            Some(Ok(_)) => self.returned += 1,
            Some(Err(error)) => record_error(&mut self.span, error),
            None => {}
        }
        item
    }
}

impl<F> Drop for TracedRows<'_, F> {
    fn drop(&mut self) {
        self.span
            .set_attribute("db.response.returned_rows", self.returned);
    }
}

/// Starts the span of one run of `sql`, whose summary is read from the
/// text unless given.
fn start(sql: &str, summary: Option<&Summary>) -> Span {
    // Named only once it is known to record: unsampled statements read
    // and copy nothing.
    let mut span = Span::new("");
    if span.is_recording() {
        let read;
        let summary = match summary {
            Some(summary) => summary,
            None => {
                read = Summary::of(sql);
                &read
            }
        };
        span.set_kind(SpanKind::Client);
        span.set_name(summary.span_name());
        span.set_attribute("db.system.name", "sqlite");
        span.set_attribute("db.query.text", sql.to_owned());
        if let Some(operation) = &summary.operation {
            span.set_attribute("db.operation.name", operation.clone());
        }
        if let Some(collection) = &summary.collection {
            span.set_attribute("db.collection.name", collection.clone());
        }
    }
    span
}

/// Ends `span` with the statement's outcome, and passes the outcome on.
fn finish<T>(mut span: Span, result: rusqlite::Result<T>) -> rusqlite::Result<T> {
    if let Err(error) = &result {
        record_error(&mut span, error);
    }
    result
}

/// `db.response.returned_rows` of a `query_row`, which reads at most one.
fn query_row_rows<T>(span: &mut Span, result: &rusqlite::Result<T>) {
    match result {
        Ok(_) => span.set_attribute("db.response.returned_rows", 1u64),
        Err(rusqlite::Error::QueryReturnedNoRows) => {
            span.set_attribute("db.response.returned_rows", 0u64)
        }
        Err(_) => {}
    }
}

fn record_error(span: &mut Span, error: &rusqlite::Error) {
    if !span.is_recording() || matches!(error, rusqlite::Error::QueryReturnedNoRows) {
        return;
    }
    let failure = match error {
        rusqlite::Error::SqliteFailure(failure, _)
        | rusqlite::Error::SqlInputError { error: failure, .. } => Some(failure),
        _ => None,
    };
    if let Some(failure) = failure {
        span.set_attribute("db.response.status_code", failure.extended_code.to_string());
    }
    let error_type = match failure {
        // `Unknown` is SQLite's generic SQLITE_ERROR: the variant says more.
        Some(failure) if failure.code != rusqlite::ErrorCode::Unknown => {
            format!("{:?}", failure.code)
        }
        _ => {
            // The variant's name: `InvalidParameterCount(1, 2)` -> `InvalidParameterCount`.
            let debug = format!("{error:?}");
            let end = debug
                .find(|c: char| !c.is_ascii_alphanumeric())
                .unwrap_or(debug.len());
            debug[..end].to_owned()
        }
    };
    span.set_attribute("error.type", error_type);
    span.set_error(error.to_string());
}

/// What a span's name says about a statement: its operation and, when the
/// statement names one table plainly, that table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Summary {
    operation: Option<String>,
    collection: Option<String>,
}

impl Summary {
    fn of(sql: &str) -> Summary {
        let tokens = tokens(sql);
        let Some(Token::Word(first)) = tokens.first() else {
            return Summary::default();
        };
        let verb = first.to_ascii_uppercase();
        let mut operation = verb.clone();
        let keyword_at = |i: usize, keyword: &str| matches!(tokens.get(i), Some(Token::Word(w)) if w.eq_ignore_ascii_case(keyword));
        let name_at = |i: usize| match tokens.get(i) {
            Some(Token::Word(word)) | Some(Token::Quoted(word)) => Some(word.clone()),
            _ => None,
        };
        // Where the table's name is, for the statements that name one.
        let table_at = match verb.as_str() {
            "INSERT" | "REPLACE" => (1..tokens.len())
                .find(|&i| keyword_at(i, "INTO"))
                .map(|i| i + 1),
            "UPDATE" => Some(if keyword_at(1, "OR") { 3 } else { 1 }),
            "DELETE" => keyword_at(1, "FROM").then_some(2),
            "SELECT" => single_table_after_from(&tokens),
            "CREATE" | "DROP" | "ALTER" => {
                let mut i = 1;
                while keyword_at(i, "TEMP") || keyword_at(i, "TEMPORARY") {
                    i += 1;
                }
                // `CREATE TABLE`, `DROP INDEX`...: the object is part of the operation.
                let object = ["TABLE", "INDEX", "VIEW", "TRIGGER"]
                    .into_iter()
                    .find(|object| keyword_at(i, object));
                if let Some(object) = object {
                    operation = format!("{verb} {object}");
                }
                (object == Some("TABLE")).then(|| {
                    i += 1;
                    for keyword in ["IF", "NOT", "EXISTS"] {
                        if keyword_at(i, keyword) {
                            i += 1;
                        }
                    }
                    i
                })
            }
            _ => None,
        };
        Summary {
            operation: Some(operation),
            collection: table_at.and_then(name_at),
        }
    }

    /// `OPERATION table`, `OPERATION`, or `sqlite` when nothing is known.
    fn span_name(&self) -> String {
        match (&self.operation, &self.collection) {
            (Some(operation), Some(collection)) => format!("{operation} {collection}"),
            (Some(operation), None) => operation.clone(),
            _ => "sqlite".to_owned(),
        }
    }
}

/// Where the table of a one-table `SELECT` is: right after its top-level
/// `FROM`, and not followed by a join or a comma.
fn single_table_after_from(tokens: &[Token]) -> Option<usize> {
    let mut depth = 0usize;
    let mut from = None;
    for (i, token) in tokens.iter().enumerate() {
        match token {
            Token::Punct('(') => depth += 1,
            Token::Punct(')') => depth = depth.saturating_sub(1),
            Token::Word(word) if depth == 0 => {
                if word.eq_ignore_ascii_case("FROM") && from.is_none() {
                    from = Some(i + 1);
                } else if from.is_some()
                    && (word.eq_ignore_ascii_case("JOIN")
                        || word.eq_ignore_ascii_case("UNION")
                        || word.eq_ignore_ascii_case("INTERSECT")
                        || word.eq_ignore_ascii_case("EXCEPT"))
                {
                    return None;
                }
            }
            Token::Punct(',') if depth == 0 && from.is_some_and(|f| i > f) => return None,
            _ => {}
        }
    }
    from
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    /// A keyword or a bare identifier.
    Word(String),
    /// A `"quoted"`, `` `quoted` `` or `[quoted]` identifier, unquoted.
    Quoted(String),
    /// A string literal or a number: never looked at.
    Literal,
    Punct(char),
}

/// The statement's tokens, comments skipped, up to its first `;`.
fn tokens(sql: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut chars = sql.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            ';' => break,
            '-' if chars.peek().is_some_and(|&(_, n)| n == '-') => {
                for (_, n) in chars.by_ref() {
                    if n == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek().is_some_and(|&(_, n)| n == '*') => {
                chars.next();
                let mut previous = ' ';
                for (_, n) in chars.by_ref() {
                    if previous == '*' && n == '/' {
                        break;
                    }
                    previous = n;
                }
            }
            '\'' => {
                // '' inside a literal is an escaped quote: two literals in a row
                // read the same for our purpose.
                for (_, n) in chars.by_ref() {
                    if n == '\'' {
                        break;
                    }
                }
                tokens.push(Token::Literal);
            }
            '"' | '`' | '[' => {
                let close = if c == '[' { ']' } else { c };
                let mut name = String::new();
                for (_, n) in chars.by_ref() {
                    if n == close {
                        break;
                    }
                    name.push(n);
                }
                tokens.push(Token::Quoted(name));
            }
            c if c.is_alphanumeric() || c == '_' => {
                let mut end = start + c.len_utf8();
                while let Some(&(i, n)) = chars.peek() {
                    if !(n.is_alphanumeric() || n == '_' || n == '$' || n == '.') {
                        break;
                    }
                    end = i + n.len_utf8();
                    chars.next();
                }
                let word = &sql[start..end];
                tokens.push(if c.is_ascii_digit() {
                    Token::Literal
                } else {
                    Token::Word(word.to_owned())
                });
            }
            other => tokens.push(Token::Punct(other)),
        }
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(sql: &str) -> String {
        Summary::of(sql).span_name()
    }

    #[test]
    fn spans_are_named_after_operation_and_table() {
        assert_eq!(name("SELECT name FROM users WHERE id = ?1"), "SELECT users");
        assert_eq!(
            name("  select * from \"Order Lines\""),
            "SELECT Order Lines"
        );
        assert_eq!(
            name("INSERT INTO users (email) VALUES (?1)"),
            "INSERT users"
        );
        assert_eq!(name("insert or replace into kv values (?, ?)"), "INSERT kv");
        assert_eq!(name("UPDATE OR IGNORE users SET a = 1"), "UPDATE users");
        assert_eq!(name("DELETE FROM main.users WHERE 1"), "DELETE main.users");
        assert_eq!(
            name("CREATE TABLE IF NOT EXISTS users (id INTEGER)"),
            "CREATE TABLE users"
        );
        assert_eq!(name("drop index if exists by_email"), "DROP INDEX");
        assert_eq!(name("-- why\n/* how */ PRAGMA user_version"), "PRAGMA");
        assert_eq!(name("SELECT count(*) FROM (SELECT 1 FROM a)"), "SELECT");
    }

    #[test]
    fn statements_over_several_tables_are_named_by_operation_only() {
        assert_eq!(name("SELECT * FROM a JOIN b ON a.id = b.id"), "SELECT");
        assert_eq!(name("SELECT * FROM a, b"), "SELECT");
        assert_eq!(name("SELECT 1 FROM a UNION SELECT 2 FROM b"), "SELECT");
        assert_eq!(name("SELECT 'FROM x' AS f"), "SELECT");
        assert_eq!(name("SELECT 1"), "SELECT");
    }

    #[test]
    fn anything_at_all_gets_a_name_without_panicking() {
        for sql in [
            "",
            ";",
            "'",
            "\"",
            "[",
            "/*",
            "--",
            "(((",
            "é",
            "1 2 3",
            "SELECT FROM",
            "INSERT INTO",
            "UPDATE OR",
            "CREATE TABLE IF",
        ] {
            let _ = name(sql);
        }
        assert_eq!(name(""), "sqlite");
        assert_eq!(name("42"), "sqlite");
    }
}

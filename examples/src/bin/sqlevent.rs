//! SQL statements as spans: `cargo run -p dapple-examples --bin sqlevent`.
//!
//! Runs real statements on an SQLite file in a temporary directory through
//! `dapple::sql::TracedConnection`, inside one `#[traced]` function. Each
//! statement becomes a client span named after its operation and table
//! (`INSERT users`), with the SQL text as written: placeholders, never the
//! parameters. The last statement fails on purpose, and its span says why.
//! One query runs on the bare connection and is noted by hand with
//! `dapple::events::SqlQuery`, as an event on the current span.
//!
//! Without `DAPPLE_ENDPOINT` the spans are kept in memory and printed as a
//! tree with their attributes; with `DAPPLE_ENDPOINT=127.0.0.1:7701` (and
//! `dapple-collector serve` running) they go to the collector instead.

use std::process::ExitCode;
use std::time::Instant;

use dapple::events::SqlQuery;
use dapple::sql::TracedConnection;
use dapple::{SpanTree, Status, TraceId, traced};
use dapple_examples::sink::Sink;
use rusqlite::params;

#[traced(name = "sqlevent.signups", err)]
fn signups(db: &TracedConnection) -> rusqlite::Result<Option<TraceId>> {
    db.execute_batch(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, age INTEGER)",
    )?;
    println!("created table users");

    let mut insert = db.prepare("INSERT INTO users (email, age) VALUES (?1, ?2)")?;
    for (email, age) in [
        ("ada@example.com", 36),
        ("grace@example.com", 45),
        ("linus@example.com", 28),
    ] {
        insert.execute(params![email, age])?;
        println!("inserted a user aged {age}");
    }

    let mut select = db.prepare("SELECT email FROM users WHERE age > ?1 ORDER BY age")?;
    let emails: Vec<String> = select
        .query_map([30], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    println!("selected {} users older than 30", emails.len());

    // The wrapped connection's own methods are not traced. For a statement
    // run that way, `events::SqlQuery` notes it, timed by hand, as an event
    // on the current span: Appdash's SQL event.
    let raw: &rusqlite::Connection = db;
    let sql = "SELECT max(age) FROM users";
    let (started, clock) = (dapple::now_unix_nanos(), Instant::now());
    let oldest: i64 = raw.query_row(sql, [], |row| row.get(0))?;
    dapple::events::record(SqlQuery::new("sqlite", sql).timing(started, clock.elapsed()));
    println!("the oldest user is {oldest}");

    // Fails: the email is taken. The span records SQLite's message, not the email.
    match db.execute(
        "INSERT INTO users (email, age) VALUES (?1, ?2)",
        params!["ada@example.com", 99],
    ) {
        Ok(_) => println!("inserted a duplicate (unexpected)"),
        Err(error) => println!("a duplicate insert failed: {error}"),
    }
    Ok(dapple::current_context().map(|context| context.trace_id()))
}

fn main() -> ExitCode {
    let sink = match Sink::from_env() {
        Ok(sink) => sink,
        Err(error) => {
            eprintln!("sqlevent: {error}");
            return ExitCode::FAILURE;
        }
    };

    let result = tempfile::tempdir()
        .map_err(|error| error.to_string())
        .and_then(|dir| {
            let db = TracedConnection::open(dir.path().join("sqlevent.sqlite"))
                .map_err(|error| error.to_string())?;
            signups(&db).map_err(|error| error.to_string())
        });
    let trace_id = match result {
        Ok(trace_id) => trace_id,
        Err(error) => {
            eprintln!("sqlevent: {error}");
            return ExitCode::FAILURE;
        }
    };

    sink.finish("sqlevent.signups", trace_id, |tree| print_tree(tree, 0));
    ExitCode::SUCCESS
}

/// One span a line, indented by depth, with the attributes a reader looks at.
fn print_tree(tree: &SpanTree, depth: usize) {
    let span = &tree.span;
    print!("{:indent$}{}", "", span.name(), indent = depth * 2);
    for key in [
        "db.query.text",
        "db.response.affected_rows",
        "db.response.returned_rows",
        "error.type",
    ] {
        match span.attribute(key) {
            Some(dapple::Value::Str(text)) => print!(" {key}={text:?}"),
            Some(value) => print!(" {key}={value}"),
            None => {}
        }
    }
    if let Status::Error(message) = span.status() {
        print!(" error={message:?}");
    }
    println!();
    for event in span.events() {
        let text = event.attribute("db.query.text").map(|v| v.to_string());
        println!(
            "{:indent$}- event {} {:?}",
            "",
            event.name,
            text.unwrap_or_default(),
            indent = depth * 2 + 2
        );
    }
    for child in &tree.children {
        print_tree(child, depth + 1);
    }
}

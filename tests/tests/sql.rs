//! SQLite statements through `dapple::sql::TracedConnection`, on a real
//! database file: one client span per statement, with the SQL text but
//! never its parameters, and failures marked.

use dapple::sql::TracedConnection;
use dapple::{SpanKind, SpanRecord, SpanTree, Status, Value, traced};
use dapple_tests::collector;
use rusqlite::params;

/// A database file in a fresh temporary directory, with a `users` table.
fn database() -> (tempfile::TempDir, TracedConnection) {
    let dir = tempfile::tempdir().unwrap();
    let db = TracedConnection::open(dir.path().join("app.sqlite")).unwrap();
    db.execute_batch(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, age INTEGER)",
    )
    .unwrap();
    (dir, db)
}

fn text(span: &SpanRecord, key: &str) -> String {
    match span.attribute(key) {
        Some(value) => value.to_string(),
        None => panic!(
            "no {key} on {}: {:?}",
            span.name(),
            span.attributes().collect::<Vec<_>>()
        ),
    }
}

#[traced(name = "sql.signup")]
fn signup(db: &TracedConnection) -> rusqlite::Result<Vec<(String, i64)>> {
    db.execute(
        "INSERT INTO users (email, age) VALUES (?1, ?2)",
        params!["ada@example.com", 36],
    )?;
    let mut insert = db.prepare("INSERT INTO users (email, age) VALUES (:email, :age)")?;
    insert.insert(rusqlite::named_params! { ":email": "grace@example.com", ":age": 45 })?;
    let updated = db.execute("UPDATE users SET age = age + 1 WHERE age > ?1", [40])?;
    assert_eq!(updated, 1);
    let mut select = db.prepare("SELECT email, age FROM users WHERE age >= ?1 ORDER BY id")?;
    let rows = select.query_map([0], |row| Ok((row.get(0)?, row.get(1)?)))?;
    rows.collect()
}

#[test]
fn each_statement_is_a_client_span_with_its_sql_text() {
    collector();
    let (_dir, db) = database();
    let users = signup(&db).unwrap();
    assert_eq!(
        users,
        [
            ("ada@example.com".to_owned(), 36),
            ("grace@example.com".to_owned(), 46)
        ]
    );

    let tree: SpanTree = collector().tree_of("sql.signup").unwrap();
    assert_eq!(
        tree.render(),
        "sql.signup\n  INSERT users\n  INSERT users\n  UPDATE users\n  SELECT users\n"
    );
    for span in tree.iter().skip(1) {
        assert_eq!(span.kind(), SpanKind::Client, "{}", span.name());
        assert_eq!(span.parent_id(), Some(tree.span.span_id()));
        assert_eq!(text(span, "db.system.name"), "sqlite");
        assert_eq!(span.status(), &Status::Unset);
    }
    let spans: Vec<&SpanRecord> = tree.iter().skip(1).collect();
    assert_eq!(
        text(spans[0], "db.query.text"),
        "INSERT INTO users (email, age) VALUES (?1, ?2)"
    );
    assert_eq!(text(spans[0], "db.operation.name"), "INSERT");
    assert_eq!(text(spans[0], "db.collection.name"), "users");
    assert_eq!(
        spans[0].attribute("db.response.affected_rows"),
        Some(Value::I64(1))
    );
    assert_eq!(
        text(spans[1], "db.query.text"),
        "INSERT INTO users (email, age) VALUES (:email, :age)"
    );
    assert_eq!(
        spans[2].attribute("db.response.affected_rows"),
        Some(Value::I64(1))
    );
    assert_eq!(
        text(spans[3], "db.query.text"),
        "SELECT email, age FROM users WHERE age >= ?1 ORDER BY id"
    );
    assert_eq!(
        spans[3].attribute("db.response.returned_rows"),
        Some(Value::I64(2))
    );
    for span in &spans {
        for kv in span.attributes() {
            let value = kv.value.to_string();
            assert!(
                !value.contains("ada@") && !value.contains("grace@"),
                "a parameter was recorded: {kv:?}"
            );
        }
    }
}

#[traced(name = "sql.duplicate")]
fn insert_twice(db: &TracedConnection) -> rusqlite::Result<usize> {
    let insert = "INSERT INTO users (email) VALUES (?1)";
    db.execute(insert, ["hopper@example.com"])?;
    db.execute(insert, ["hopper@example.com"])
}

#[test]
fn a_failing_statement_is_an_error_span_without_its_parameters() {
    collector();
    let (_dir, db) = database();
    let error = insert_twice(&db).unwrap_err();
    assert_eq!(
        error.sqlite_error_code(),
        Some(rusqlite::ErrorCode::ConstraintViolation)
    );

    let tree = collector().tree_of("sql.duplicate").unwrap();
    let spans: Vec<&SpanRecord> = tree.iter().skip(1).collect();
    assert_eq!(spans.len(), 2, "{}", tree.render());
    assert_eq!(spans[0].status(), &Status::Unset);
    let failed = spans[1];
    assert_eq!(failed.name(), "INSERT users");
    assert_eq!(
        failed.status(),
        &Status::Error("UNIQUE constraint failed: users.email".into())
    );
    assert_eq!(text(failed, "error.type"), "ConstraintViolation");
    // SQLITE_CONSTRAINT_UNIQUE
    assert_eq!(text(failed, "db.response.status_code"), "2067");
    assert_eq!(
        text(failed, "db.query.text"),
        "INSERT INTO users (email) VALUES (?1)"
    );
    assert_eq!(failed.attribute("db.response.affected_rows"), None);
    assert!(
        failed
            .attributes()
            .all(|kv| !kv.value.to_string().contains("hopper")),
        "{:?}",
        failed.attributes().collect::<Vec<_>>()
    );
}

#[traced(name = "sql.broken")]
fn broken_queries(db: &TracedConnection) -> Vec<String> {
    let mut errors = Vec::new();
    if let Err(error) = db.prepare("SELEC email FROM users") {
        errors.push(error.to_string());
    }
    if let Err(error) = db.execute("DELETE FROM users WHERE id = ?1", [1, 2]) {
        errors.push(error.to_string());
    }
    match db.query_row("SELECT email FROM users WHERE id = ?1", [404], |row| {
        row.get::<_, String>(0)
    }) {
        Err(rusqlite::Error::QueryReturnedNoRows) => {}
        other => errors.push(format!("expected no rows, got {other:?}")),
    }
    errors
}

#[test]
fn syntax_and_parameter_errors_are_error_spans_and_no_rows_is_not() {
    collector();
    let (_dir, db) = database();
    let errors = broken_queries(&db);
    assert_eq!(errors.len(), 2, "{errors:?}");

    let tree = collector().tree_of("sql.broken").unwrap();
    assert_eq!(
        tree.render(),
        "sql.broken\n  SELEC\n  DELETE users\n  SELECT users\n"
    );
    let spans: Vec<&SpanRecord> = tree.iter().skip(1).collect();
    let Status::Error(syntax) = spans[0].status() else {
        panic!("{:?}", spans[0].status());
    };
    assert!(syntax.contains("syntax error"), "{syntax}");
    assert_eq!(text(spans[0], "error.type"), "SqlInputError");
    assert_eq!(text(spans[0], "db.response.status_code"), "1");
    assert_eq!(text(spans[1], "error.type"), "InvalidParameterCount");
    assert!(matches!(spans[1].status(), Status::Error(_)));
    assert_eq!(
        spans[2].status(),
        &Status::Unset,
        "no row is an answer, not a failure"
    );
    assert_eq!(
        spans[2].attribute("db.response.returned_rows"),
        Some(Value::I64(0))
    );
}

#[test]
fn statements_outside_any_span_start_their_own_traces() {
    collector();
    let (_dir, db) = database();
    db.execute(
        "INSERT INTO users (email) VALUES (?1)",
        ["lone@example.com"],
    )
    .unwrap();
    let count: i64 = db
        .query_row(
            "SELECT count(*) FROM users WHERE email = ?1 -- lone",
            ["lone@example.com"],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(count, 1);
    let roots: Vec<SpanRecord> = collector()
        .named("SELECT users")
        .into_iter()
        .filter(|s| text(s, "db.query.text").ends_with("-- lone"))
        .collect();
    assert_eq!(roots.len(), 1);
    assert_eq!(roots[0].parent_id(), None);
    // The connection's own methods stay reachable.
    assert!(db.is_autocommit());
}

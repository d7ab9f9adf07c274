//! ClickHouse's HTTP interface, over ureq (blocking, as the store's callers
//! are): statements in the request body, `INSERT`s with the statement in
//! the URL and the rows in the body, answers in `RowBinary`.

use std::time::Duration;

/// Why ClickHouse did not do what the store asked.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClickHouseError {
    /// The server answered with an error: its message.
    #[error("ClickHouse refused `{statement}` (HTTP {status}): {message}")]
    Refused {
        /// The start of the statement.
        statement: String,
        /// The HTTP status.
        status: u16,
        /// What the server said.
        message: String,
    },
    /// No answer from the server.
    #[error("no answer from ClickHouse at {url}: {message}")]
    Unreachable {
        /// The server's URL.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The answer was not the rows asked for.
    #[error("ClickHouse's answer to `{statement}` is not the rows asked for")]
    Malformed {
        /// The start of the statement.
        statement: String,
    },
    /// The store's settings cannot work.
    #[error("{0}")]
    Config(String),
    /// The store stopped writing a batch halfway (a panic while inserting).
    #[error("the insert was interrupted")]
    Interrupted,
}

/// Where and as whom to send statements.
pub(super) struct Client {
    agent: ureq::Agent,
    /// The URL without its trailing slash.
    base: String,
    user: Option<String>,
    password: Option<String>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password.
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// The start of a statement, to name it in an error.
fn excerpt(statement: &str) -> String {
    let statement = statement.split_whitespace().collect::<Vec<_>>().join(" ");
    match statement.char_indices().nth(120) {
        Some((at, _)) => format!("{}...", &statement[..at]),
        None => statement,
    }
}

impl Client {
    pub(super) fn new(
        url: &str,
        user: Option<String>,
        password: Option<String>,
    ) -> Result<Client, ClickHouseError> {
        let base = url.trim_end_matches('/');
        if !base.starts_with("http://") || base.contains(['?', '#']) || base.len() <= 7 {
            return Err(ClickHouseError::Config(format!(
                "not a ClickHouse HTTP URL: {url:?} (expected http://HOST:PORT, as \
                 http://127.0.0.1:8123)"
            )));
        }
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(5)))
            // Long enough for a search over many days on a busy server; a
            // server that hangs still frees the ingest thread.
            .timeout_global(Some(Duration::from_secs(120)))
            // ClickHouse closes idle connections after `keep_alive_timeout`
            // (3 s in 18.16): never reuse one that may be closing.
            .max_idle_age(Duration::from_secs(2))
            .build()
            .into();
        Ok(Client {
            agent,
            base: base.to_owned(),
            user,
            password,
        })
    }

    pub(super) fn url(&self) -> &str {
        &self.base
    }

    /// Runs a statement that returns nothing (DDL, `ALTER`).
    pub(super) fn execute(&self, statement: &str) -> Result<(), ClickHouseError> {
        self.post(statement, None, statement.as_bytes()).map(drop)
    }

    /// Runs a `SELECT` and returns its rows in `RowBinary`.
    pub(super) fn select(&self, statement: &str) -> Result<Vec<u8>, ClickHouseError> {
        let statement = format!("{statement} FORMAT RowBinary");
        self.post(&statement, None, statement.as_bytes())
    }

    /// `INSERT INTO {table} ({columns}) FORMAT RowBinary` with `rows`;
    /// returns once ClickHouse has written them (and fed the materialized
    /// views).
    pub(super) fn insert(
        &self,
        table: &str,
        columns: &str,
        rows: &[u8],
    ) -> Result<(), ClickHouseError> {
        let statement = format!("INSERT INTO {table} ({columns}) FORMAT RowBinary");
        self.post(&statement, Some(&statement), rows).map(drop)
    }

    /// The malformed-answer error of `statement`.
    pub(super) fn malformed(statement: &str) -> ClickHouseError {
        ClickHouseError::Malformed {
            statement: excerpt(statement),
        }
    }

    /// POSTs `body`, with `in_url` as the `query` parameter when given; the
    /// answer's body on success.
    fn post(
        &self,
        statement: &str,
        in_url: Option<&str>,
        body: &[u8],
    ) -> Result<Vec<u8>, ClickHouseError> {
        // The whole answer is made before it is sent, so that an error in
        // the middle of a result comes as an error status, not as text
        // after rows.
        // Inserts into a `Distributed` table (a sharded layout) return once
        // every shard has the rows, not when they are queued to be sent.
        let mut url = format!(
            "{}/?wait_end_of_query=1&insert_distributed_sync=1",
            self.base
        );
        if let Some(query) = in_url {
            url.push_str("&query=");
            percent_encode(query, &mut url);
        }
        let mut request = self.agent.post(&url);
        if let Some(user) = &self.user {
            request = request.header("X-ClickHouse-User", user);
        }
        if let Some(password) = &self.password {
            request = request.header("X-ClickHouse-Key", password);
        }
        let unreachable = |e: ureq::Error| ClickHouseError::Unreachable {
            url: self.base.clone(),
            message: e.to_string(),
        };
        let mut response = request.send(body).map_err(unreachable)?;
        let status = response.status();
        let mut answer = Vec::new();
        std::io::Read::read_to_end(&mut response.body_mut().as_reader(), &mut answer).map_err(
            |e| ClickHouseError::Unreachable {
                url: self.base.clone(),
                message: format!("the answer broke off: {e}"),
            },
        )?;
        if !status.is_success() {
            return Err(ClickHouseError::Refused {
                statement: excerpt(statement),
                status: status.as_u16(),
                message: String::from_utf8_lossy(&answer).trim().to_owned(),
            });
        }
        Ok(answer)
    }
}

/// Appends `text` to a URL, every byte but the unreserved ones escaped.
fn percent_encode(text: &str, url: &mut String) {
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            url.push(byte as char);
        } else {
            url.push_str(&format!("%{byte:02X}"));
        }
    }
}

/// A ClickHouse string literal of `text`: quoted, with quotes, backslashes
/// and control bytes escaped.
pub(super) fn literal(text: &[u8]) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('\'');
    for chunk in text.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\'' => out.push_str("\\'"),
                '\\' => out.push_str("\\\\"),
                c if c.is_ascii_control() => out.push_str(&format!("\\x{:02X}", c as u8)),
                c => out.push(c),
            }
        }
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02X}"));
        }
    }
    out.push('\'');
    out
}

/// The literal of raw bytes (a `FixedString` id), every byte escaped.
pub(super) fn bytes_literal(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 4 + 2);
    out.push('\'');
    for byte in bytes {
        out.push_str(&format!("\\x{byte:02X}"));
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_escape_what_would_end_or_bend_them() {
        assert_eq!(literal(b"it's"), r"'it\'s'");
        assert_eq!(literal(br"a\b"), r"'a\\b'");
        assert_eq!(literal(b"\n\0"), r"'\x0A\x00'");
        assert_eq!(literal("é".as_bytes()), "'é'");
        assert_eq!(literal(b"\xff"), r"'\xFF'");
        assert_eq!(bytes_literal(&[0, 0xab]), r"'\x00\xAB'");
    }

    #[test]
    fn only_plain_http_urls_are_taken() {
        assert!(Client::new("http://127.0.0.1:8123/", None, None).is_ok());
        for url in [
            "https://ch:8443",
            "127.0.0.1:8123",
            "http://",
            "http://h/?x=1",
        ] {
            assert!(Client::new(url, None, None).is_err(), "{url}");
        }
    }

    #[test]
    fn statements_in_urls_are_escaped() {
        let mut url = String::new();
        percent_encode("INSERT INTO `d`.t (a, b)", &mut url);
        assert_eq!(url, "INSERT%20INTO%20%60d%60.t%20%28a%2C%20b%29");
    }
}

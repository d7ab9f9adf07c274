//! Who may write and read: bearer tokens from a file, and the identity a
//! client is known by (its token's label, or its IP address without one).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use subtle::ConstantTimeEq;

/// The tokens of a token file: one per line, optionally after a label
/// (`label token`); blank lines and lines starting with `#` are ignored.
/// An unlabelled token is known as `token N`, N its line number.
#[derive(Clone)]
pub struct Tokens {
    entries: Vec<(String, Vec<u8>)>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the tokens themselves.
        f.debug_struct("Tokens")
            .field(
                "labels",
                &self.entries.iter().map(|(l, _)| l).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Why a token file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    /// It could not be read.
    #[error("{}: cannot read it", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A line is not `[label] token`, or the token has characters a bearer
    /// token cannot have.
    #[error("{}, line {line}: expected `token` or `label token`, the token in letters, digits and -._~+/=", path.display())]
    Line {
        /// The file.
        path: PathBuf,
        /// The line number, from 1.
        line: usize,
    },
    /// There is no token in it: nobody could connect.
    #[error("{}: no token in the file", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
}

impl Tokens {
    /// The tokens in the file at `path`.
    pub fn load(path: &Path) -> Result<Tokens, TokenFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| TokenFileError::Read {
            path: path.to_owned(),
            source,
        })?;
        Tokens::parse(&text).map_err(|line| match line {
            Some(line) => TokenFileError::Line {
                path: path.to_owned(),
                line,
            },
            None => TokenFileError::Empty {
                path: path.to_owned(),
            },
        })
    }

    /// The tokens in a file's text; the number of a bad line, or `None`
    /// when there are no tokens.
    fn parse(text: &str) -> Result<Tokens, Option<usize>> {
        let mut entries = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (label, token) = match fields[..] {
                [token] => (format!("token {}", index + 1), token),
                [label, token] => (label.to_owned(), token),
                _ => return Err(Some(index + 1)),
            };
            if !token.bytes().all(is_token_byte) {
                return Err(Some(index + 1));
            }
            entries.push((label, token.as_bytes().to_vec()));
        }
        if entries.is_empty() {
            return Err(None);
        }
        Ok(Tokens { entries })
    }

    /// The label of the token presented, compared in constant time with
    /// every token so the answer's timing says nothing about them.
    pub fn identify(&self, presented: &[u8]) -> Option<&str> {
        let mut found = None;
        for (label, token) in &self.entries {
            if bool::from(token.as_slice().ct_eq(presented)) {
                found = Some(label.as_str());
            }
        }
        found
    }

    /// The label of the token in an `Authorization: Bearer` header value.
    pub fn identify_bearer(&self, header: Option<&[u8]>) -> Option<&str> {
        let header = header?;
        let scheme = b"bearer ";
        if header.len() <= scheme.len() || !header[..scheme.len()].eq_ignore_ascii_case(scheme) {
            return None;
        }
        self.identify(header[scheme.len()..].trim_ascii())
    }
}

/// The characters of RFC 6750's `b64token`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b)
}

/// Who a client is, for what it may set about itself (the spans it says it
/// dropped): its token's label, or its address when no token is asked for.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Identity(pub String);

impl Identity {
    /// A client known by its token's label.
    pub fn token(label: &str) -> Identity {
        Identity(label.to_owned())
    }

    /// A client known by its address.
    pub fn address(ip: IpAddr) -> Identity {
        Identity(ip.to_canonical().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_file_gives_labels_and_refuses_what_is_not_a_token() {
        let tokens = Tokens::parse("# readers\nalpha s3cret\n\n  plain-token  \n").unwrap();
        assert_eq!(tokens.identify(b"s3cret"), Some("alpha"));
        assert_eq!(tokens.identify(b"plain-token"), Some("token 4"));
        assert_eq!(tokens.identify(b"s3cre"), None);
        assert_eq!(tokens.identify(b""), None);
        assert_eq!(
            tokens.identify_bearer(Some(b"Bearer s3cret")),
            Some("alpha")
        );
        assert_eq!(
            tokens.identify_bearer(Some(b"bearer  s3cret ")),
            Some("alpha")
        );
        assert_eq!(tokens.identify_bearer(Some(b"Basic s3cret")), None);
        assert_eq!(tokens.identify_bearer(Some(b"Bearer ")), None);
        assert_eq!(tokens.identify_bearer(None), None);
        assert_eq!(Tokens::parse("a b c\n").unwrap_err(), Some(1));
        assert_eq!(Tokens::parse("ok\nbad\"token\n").unwrap_err(), Some(2));
        assert_eq!(Tokens::parse("# nothing\n\n").unwrap_err(), None);
        assert!(!format!("{tokens:?}").contains("s3cret"));
    }
}

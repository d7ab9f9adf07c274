//! Query parameters, read strictly: a bad value is a 400 naming it.

use std::time::Duration;

use super::ApiError;
use dapple::export::parse_duration;

/// The pairs of a query string, in order (keys may repeat).
#[derive(Debug)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    /// The single value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`.
    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> {
        self.0
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Refuses keys this endpoint does not know, so a typo is not ignored.
    pub fn only(&self, known: &[&'static str]) -> Result<(), ApiError> {
        match self.0.iter().find(|(k, _)| !known.contains(&k.as_str())) {
            Some((key, _)) => Err(ApiError::bad_parameter(
                "query",
                format!(
                    "unknown parameter {key:?}; this endpoint takes {}",
                    known.join(", ")
                ),
            )),
            None => Ok(()),
        }
    }

    /// A human duration (`1.5ms`, `2s`).
    pub fn duration(&self, key: &'static str) -> Result<Option<Duration>, ApiError> {
        self.get(key)
            .map(|v| parse_duration(v).map_err(|e| ApiError::bad_parameter(key, e)))
            .transpose()
    }

    /// A human duration in nanoseconds.
    pub fn duration_ns(&self, key: &'static str) -> Result<Option<u64>, ApiError> {
        Ok(self.duration(key)?.map(|d| d.as_nanos() as u64))
    }

    /// The `window` parameter (default one hour): its text, echoed in the
    /// answer, and its length.
    pub fn window(&self) -> Result<(String, Duration), ApiError> {
        let window = self
            .duration("window")?
            .unwrap_or(Duration::from_secs(3600));
        if window.is_zero() {
            return Err(ApiError::bad_parameter(
                "window",
                "the window must be longer than 0",
            ));
        }
        Ok((self.get("window").unwrap_or("1h").to_owned(), window))
    }

    /// A number.
    pub fn number<T: std::str::FromStr>(&self, key: &'static str) -> Result<Option<T>, ApiError> {
        self.get(key)
            .map(|v| {
                v.parse::<T>().map_err(|_| {
                    ApiError::bad_parameter(key, format!("{v:?} is not a valid number"))
                })
            })
            .transpose()
    }

    /// `true` or `false`.
    pub fn flag(&self, key: &'static str) -> Result<bool, ApiError> {
        match self.get(key) {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(v) => Err(ApiError::bad_parameter(
                key,
                format!("{v:?}: expected true or false"),
            )),
        }
    }
}

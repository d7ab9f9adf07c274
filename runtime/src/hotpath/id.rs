//! Trace and span identifiers.

use std::fmt;
use std::num::{NonZeroU64, NonZeroU128};
use std::str::FromStr;

/// A 128-bit trace id, compatible with W3C Trace Context. Never zero.
///
/// Its text form is 32 lowercase hex digits.
///
/// ```
/// use dapple::TraceId;
/// let id: TraceId = "4bf92f3577b34da6a3ce929d0e0e4736".parse().unwrap();
/// assert_eq!(id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TraceId(NonZeroU128);

/// A 64-bit span id, unique within its trace. Never zero.
///
/// Its text form is 16 lowercase hex digits.
///
/// ```
/// use dapple::SpanId;
/// let id: SpanId = "00f067aa0ba902b7".parse().unwrap();
/// assert_eq!(id.to_u64(), 0x00f0_67aa_0ba9_02b7);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SpanId(NonZeroU64);

/// Why a trace or span id could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// The text does not have the length of the id.
    #[error("expected {expected} hex digits, found {found} characters")]
    Length {
        /// Digits the id needs.
        expected: usize,
        /// Characters found.
        found: usize,
    },
    /// A character is not a lowercase hex digit.
    #[error("invalid character {0:?}: ids are lowercase hex")]
    Character(char),
    /// All digits are zero, which no id may be.
    #[error("an id may not be all zeros")]
    Zero,
}

/// Parses exactly `digits` lowercase hex digits: the one hex parser of ids
/// and propagation headers.
pub(crate) fn parse_hex(text: &str, digits: usize) -> Result<u128, IdError> {
    if text.len() != digits {
        return Err(IdError::Length {
            expected: digits,
            found: text.chars().count(),
        });
    }
    let mut value: u128 = 0;
    for c in text.chars() {
        let digit = match c {
            '0'..='9' => c as u32 - '0' as u32,
            'a'..='f' => c as u32 - 'a' as u32 + 10,
            _ => return Err(IdError::Character(c)),
        };
        value = (value << 4) | u128::from(digit);
    }
    Ok(value)
}

impl TraceId {
    /// The id with this value, or `None` for zero.
    pub const fn new(value: u128) -> Option<TraceId> {
        match NonZeroU128::new(value) {
            Some(v) => Some(TraceId(v)),
            None => None,
        }
    }

    /// A fresh random trace id from this thread's generator.
    pub fn random() -> TraceId {
        loop {
            let high = u128::from(crate::rand::next_u64());
            let low = u128::from(crate::rand::next_u64());
            if let Some(id) = TraceId::new(high << 64 | low) {
                return id;
            }
        }
    }

    /// The id as a number.
    pub const fn to_u128(self) -> u128 {
        self.0.get()
    }

    /// The id as 16 big-endian bytes.
    pub const fn to_bytes(self) -> [u8; 16] {
        self.0.get().to_be_bytes()
    }

    /// The id of 16 big-endian bytes, or `None` when all are zero.
    pub const fn from_bytes(bytes: [u8; 16]) -> Option<TraceId> {
        TraceId::new(u128::from_be_bytes(bytes))
    }
}

impl SpanId {
    /// The id with this value, or `None` for zero.
    pub const fn new(value: u64) -> Option<SpanId> {
        match NonZeroU64::new(value) {
            Some(v) => Some(SpanId(v)),
            None => None,
        }
    }

    /// A fresh random span id from this thread's generator.
    #[inline]
    pub fn random() -> SpanId {
        loop {
            if let Some(id) = SpanId::new(crate::rand::next_u64()) {
                return id;
            }
        }
    }

    /// The id as a number.
    pub const fn to_u64(self) -> u64 {
        self.0.get()
    }

    /// The id as 8 big-endian bytes.
    pub const fn to_bytes(self) -> [u8; 8] {
        self.0.get().to_be_bytes()
    }

    /// The id of 8 big-endian bytes, or `None` when all are zero.
    pub const fn from_bytes(bytes: [u8; 8]) -> Option<SpanId> {
        SpanId::new(u64::from_be_bytes(bytes))
    }
}

impl FromStr for TraceId {
    type Err = IdError;
    fn from_str(text: &str) -> Result<Self, IdError> {
        TraceId::new(parse_hex(text, 32)?).ok_or(IdError::Zero)
    }
}

impl FromStr for SpanId {
    type Err = IdError;
    fn from_str(text: &str) -> Result<Self, IdError> {
        // 16 hex digits always fit in a u64.
        SpanId::new(parse_hex(text, 16)? as u64).ok_or(IdError::Zero)
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0.get())
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0.get())
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({self})")
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_id_text_round_trips() {
        for _ in 0..1000 {
            let id = TraceId::random();
            let text = id.to_string();
            assert_eq!(text.len(), 32);
            assert_eq!(text, text.to_lowercase());
            assert_eq!(text.parse::<TraceId>(), Ok(id));
        }
    }

    #[test]
    fn span_id_text_round_trips_with_leading_zeros() {
        let id = SpanId::new(0xab).unwrap();
        assert_eq!(id.to_string(), "00000000000000ab");
        assert_eq!("00000000000000ab".parse::<SpanId>(), Ok(id));
    }

    #[test]
    fn zero_and_malformed_ids_are_rejected() {
        assert_eq!("0000000000000000".parse::<SpanId>(), Err(IdError::Zero));
        assert_eq!(
            "00000000000000000000000000000000".parse::<TraceId>(),
            Err(IdError::Zero)
        );
        assert_eq!(
            "00F067AA0BA902B7".parse::<SpanId>(),
            Err(IdError::Character('F'))
        );
        assert!(matches!(
            "abc".parse::<SpanId>(),
            Err(IdError::Length { .. })
        ));
        assert!(matches!(
            "é".repeat(16).parse::<SpanId>(),
            Err(IdError::Length { .. })
        ));
        assert_eq!(TraceId::new(0), None);
        assert_eq!(SpanId::new(0), None);
    }

    #[test]
    fn bytes_round_trip() {
        let t = TraceId::random();
        assert_eq!(TraceId::from_bytes(t.to_bytes()), Some(t));
        let s = SpanId::random();
        assert_eq!(SpanId::from_bytes(s.to_bytes()), Some(s));
    }
}

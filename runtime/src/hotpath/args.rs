//! The arguments a `#[traced]` function records, kept in place in the span
//! as a few typed bytes each: recording two of them writes their bytes next
//! to the span's timestamps, takes no list from a pool and leaves the
//! reporter nothing to drop. What does not fit (a third argument, strings
//! longer than the room left, a `Debug` form) goes to the span's attribute
//! list instead.

use std::borrow::Cow;
use std::mem::MaybeUninit;

use crate::value::{KeyValue, Value};

/// Arguments kept in place per span.
pub(crate) const SLOTS: usize = 2;
/// Bytes the arguments in place share: an integer, a float or a boolean
/// takes 8, a string its length. The first argument is written from the
/// front, the second against the back, so they fit when their lengths add
/// up to this: an integer with a string of up to 54 bytes, or two strings
/// of 31. Sized so that a record is 160 bytes.
const BYTES: usize = 62;
/// Bytes of an integer, float or boolean in place.
const WORD: usize = 8;

const EMPTY: u8 = 0;
const I64: u8 = 1;
const F64: u8 = 2;
const BOOL: u8 = 3;
/// `STR + n` is a string of `n` bytes.
const STR: u8 = 4;

/// The argument names of one traced function: a static the macro writes,
/// so a span keeps one pointer for all its argument names. The second list
/// holds attributes every span of the call site carries as they are
/// ([`StaticAttributes`]); the macro leaves it empty.
#[derive(Debug)]
pub struct ArgKeys(pub &'static [&'static str], pub &'static [KeyValue]);

/// Attributes shared by every span of one call site (where it is in the
/// code, which library made it), kept by reference: a span that carries
/// them copies nothing and takes no attribute list. Made once per call site
/// and kept for the program's life; set with
/// [`Span::set_static_attributes`](crate::Span::set_static_attributes).
///
/// ```
/// use std::sync::OnceLock;
/// use dapple::{KeyValue, StaticAttributes};
///
/// static SITE: OnceLock<StaticAttributes> = OnceLock::new();
/// let site = SITE.get_or_init(|| {
///     let attributes = vec![KeyValue::new("code.lineno", 42_i64)];
///     StaticAttributes::new(Box::leak(attributes.into_boxed_slice()))
/// });
/// let mut span = dapple::Span::root("work");
/// span.set_static_attributes(site);
/// ```
#[derive(Debug)]
pub struct StaticAttributes(ArgKeys);

impl StaticAttributes {
    /// Attributes for the spans of one call site.
    pub const fn new(attributes: &'static [KeyValue]) -> StaticAttributes {
        StaticAttributes(ArgKeys(&[], attributes))
    }

    /// The attributes.
    pub fn attributes(&self) -> &'static [KeyValue] {
        self.0.1
    }

    pub(crate) fn keys(&'static self) -> &'static ArgKeys {
        &self.0
    }
}

/// An argument's value, as [`ToValue::to_arg`](crate::ToValue::to_arg)
/// gives it: the common types by value, borrowed text, anything else as a
/// [`Value`].
#[derive(Debug, Clone, PartialEq)]
pub enum ArgValue<'a> {
    /// An integer.
    I64(i64),
    /// A float.
    F64(f64),
    /// A boolean.
    Bool(bool),
    /// Text, copied only if the span records.
    Str(&'a str),
    /// Any other value.
    Value(Value),
}

impl From<ArgValue<'_>> for Value {
    fn from(arg: ArgValue<'_>) -> Value {
        match arg {
            ArgValue::I64(v) => Value::I64(v),
            ArgValue::F64(v) => Value::F64(v),
            ArgValue::Bool(v) => Value::Bool(v),
            ArgValue::Str(v) => Value::Str(v.into()),
            ArgValue::Value(v) => v,
        }
    }
}

/// A borrowed attribute value, as the encoder reads it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum ValueRef<'a> {
    /// UTF-8 text, as bytes: the encoder writes them as they are, and text
    /// stored in place was whole `&str`s, so it is not checked again.
    Str(&'a [u8]),
    I64(i64),
    F64(f64),
    Bool(bool),
    Bytes(&'a [u8]),
}

impl From<ValueRef<'_>> for Value {
    fn from(value: ValueRef<'_>) -> Value {
        match value {
            ValueRef::Str(s) => Value::Str(std::str::from_utf8(s).unwrap_or_default().into()),
            ValueRef::I64(v) => Value::I64(v),
            ValueRef::F64(v) => Value::F64(v),
            ValueRef::Bool(v) => Value::Bool(v),
            ValueRef::Bytes(v) => Value::Bytes(v.to_vec()),
        }
    }
}

impl<'a> ValueRef<'a> {
    #[cfg_attr(not(feature = "export"), allow(dead_code))]
    pub(crate) fn of(value: &'a Value) -> ValueRef<'a> {
        match value {
            Value::Str(s) => ValueRef::Str(s.as_bytes()),
            Value::I64(v) => ValueRef::I64(*v),
            Value::F64(v) => ValueRef::F64(*v),
            Value::Bool(v) => ValueRef::Bool(*v),
            Value::Bytes(v) => ValueRef::Bytes(v),
        }
    }
}

/// Up to [`SLOTS`] arguments, typed, in place.
#[derive(Clone, Copy)]
pub(crate) struct Slots {
    keys: Option<&'static ArgKeys>,
    tags: [u8; SLOTS],
    /// Only the bytes of the arguments whose tags are set are initialized:
    /// a span with no arguments writes none of them.
    data: [MaybeUninit<u8>; BYTES],
}

impl Default for Slots {
    #[inline(always)]
    fn default() -> Slots {
        Slots {
            keys: None,
            tags: [EMPTY; SLOTS],
            data: [MaybeUninit::uninit(); BYTES],
        }
    }
}

impl std::fmt::Debug for Slots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Bytes a value with `tag` takes in place.
#[inline(always)]
fn len_of(tag: u8) -> usize {
    match tag {
        EMPTY => 0,
        I64 | F64 | BOOL => WORD,
        tag => usize::from(tag - STR).min(BYTES),
    }
}

impl Slots {
    /// Where argument `index`'s `len` bytes go: the first from the front,
    /// the second against the back.
    #[inline(always)]
    fn range(index: usize, len: usize) -> std::ops::Range<usize> {
        if index == 0 {
            0..len
        } else {
            BYTES - len..BYTES
        }
    }

    /// Stores argument `index` of `keys` in place; gives it back when it
    /// does not fit.
    #[inline(always)]
    pub(crate) fn store<'a>(
        &mut self,
        keys: &'static ArgKeys,
        index: usize,
        value: ArgValue<'a>,
    ) -> Result<(), ArgValue<'a>> {
        if index >= SLOTS {
            return Err(value);
        }
        let room = BYTES - len_of(self.tags[1 - index]);
        let word;
        let (tag, bytes): (u8, &[u8]) = match value {
            ArgValue::I64(v) => {
                word = v.to_le_bytes();
                (I64, &word)
            }
            ArgValue::F64(v) => {
                word = v.to_bits().to_le_bytes();
                (F64, &word)
            }
            ArgValue::Bool(v) => {
                word = [u8::from(v); WORD];
                (BOOL, &word)
            }
            ArgValue::Str(s) if s.len() <= room => (STR + s.len() as u8, s.as_bytes()),
            other => return Err(other),
        };
        if bytes.len() > room {
            return Err(value);
        }
        let range = Slots::range(index, bytes.len());
        for (slot, byte) in self.data[range].iter_mut().zip(bytes) {
            slot.write(*byte);
        }
        self.keys = Some(keys);
        self.tags[index] = tag;
        Ok(())
    }

    /// Forgets the argument named `key`, when there is one.
    pub(crate) fn remove(&mut self, key: &str) {
        if let Some(keys) = self.keys {
            for (index, tag) in self.tags.iter_mut().enumerate() {
                if *tag != EMPTY && keys.0.get(index) == Some(&key) {
                    *tag = EMPTY;
                }
            }
        }
    }

    /// The value of the argument named `key`.
    pub(crate) fn get(&self, key: &str) -> Option<Value> {
        self.iter().find(|kv| kv.key == key).map(|kv| kv.value)
    }

    /// The arguments held, in argument order, then the call site's static
    /// attributes.
    pub(crate) fn iter(&self) -> impl Iterator<Item = KeyValue> + '_ {
        let keys = self.keys.map_or(&[][..], |k| k.0);
        let fixed = self.keys.map_or(&[][..], |k| k.1);
        (0..SLOTS)
            .filter_map(move |index| {
                let value = self.value(index)?;
                Some(KeyValue {
                    key: Cow::Borrowed(keys.get(index)?),
                    value,
                })
            })
            .chain(fixed.iter().cloned())
    }

    /// Whether a call site's static attributes may be kept here: no
    /// argument was stored.
    pub(crate) fn is_unused(&self) -> bool {
        self.keys.is_none()
    }

    /// Keeps a call site's static attributes (see [`Slots::is_unused`]).
    pub(crate) fn set_static(&mut self, attributes: &'static StaticAttributes) {
        self.keys = Some(attributes.keys());
    }

    /// Each argument held, borrowed: for encoding without copies.
    #[cfg_attr(not(feature = "export"), allow(dead_code))]
    pub(crate) fn for_each(&self, mut f: impl FnMut(&'static str, ValueRef<'_>)) {
        let Some(keys) = self.keys else {
            return;
        };
        for (index, key) in keys.0.iter().enumerate().take(SLOTS) {
            if let Some(value) = self.value_ref(index) {
                f(key, value);
            }
        }
        for kv in keys.1 {
            f(&kv.key, ValueRef::of(&kv.value));
        }
    }

    fn value(&self, index: usize) -> Option<Value> {
        self.value_ref(index).map(Value::from)
    }

    fn value_ref(&self, index: usize) -> Option<ValueRef<'_>> {
        let tag = self.tags[index];
        let data = &self.data[Slots::range(index, len_of(tag))];
        // SAFETY: the pointer and length are those of a live slice of
        // `MaybeUninit<u8>`, which has `u8`'s layout, borrowed from `self`
        // for as long as the result. Its bytes are initialized: `store`
        // wrote this range when it set the tag (an empty tag's range is
        // empty), and nothing writes `data` until the tag changes.
        let data: &[u8] = unsafe { std::slice::from_raw_parts(data.as_ptr().cast(), data.len()) };
        let word = || {
            let mut bytes = [0; WORD];
            bytes.copy_from_slice(&data[..WORD]);
            bytes
        };
        Some(match tag {
            EMPTY => return None,
            I64 => ValueRef::I64(i64::from_le_bytes(word())),
            F64 => ValueRef::F64(f64::from_bits(u64::from_le_bytes(word()))),
            BOOL => ValueRef::Bool(data[0] != 0),
            // Stored from a whole `&str`: valid UTF-8.
            _ => ValueRef::Str(data),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static KEYS: ArgKeys = ArgKeys(&["n", "route", "third"], &[]);

    #[test]
    fn typed_values_and_short_strings_round_trip_in_place() {
        let mut slots = Slots::default();
        assert!(slots.store(&KEYS, 0, ArgValue::I64(-7)).is_ok());
        assert!(
            slots
                .store(&KEYS, 1, ArgValue::Str("GET /users/{id}"))
                .is_ok()
        );
        assert_eq!(slots.get("n"), Some(Value::I64(-7)));
        assert_eq!(slots.get("route"), Some(Value::from("GET /users/{id}")));
        assert_eq!(slots.iter().count(), 2);
        let keys: Vec<_> = slots.iter().map(|kv| kv.key).collect();
        assert_eq!(keys, ["n", "route"]);

        let mut floats = Slots::default();
        assert!(floats.store(&KEYS, 0, ArgValue::F64(1.5)).is_ok());
        assert!(floats.store(&KEYS, 1, ArgValue::Bool(true)).is_ok());
        assert_eq!(floats.get("n"), Some(Value::F64(1.5)));
        assert_eq!(floats.get("route"), Some(Value::Bool(true)));
    }

    #[test]
    fn what_does_not_fit_is_given_back() {
        let mut slots = Slots::default();
        let long = "a string of sixty-three bytes, one more than the room in place!";
        assert_eq!(long.len(), 63);
        assert_eq!(
            slots.store(&KEYS, 0, ArgValue::Str(long)),
            Err(ArgValue::Str(long))
        );
        assert_eq!(
            slots.store(&KEYS, 2, ArgValue::I64(1)),
            Err(ArgValue::I64(1))
        );
        assert_eq!(
            slots.store(&KEYS, 1, ArgValue::Value(Value::Bytes(vec![1]))),
            Err(ArgValue::Value(Value::Bytes(vec![1])))
        );
        assert_eq!(slots.iter().count(), 0);
    }

    #[test]
    fn two_arguments_share_the_room_in_place() {
        let forty = "GET /api/v1/users/12345/orders?limit=100";
        assert_eq!(forty.len(), 40);
        let mut slots = Slots::default();
        slots.store(&KEYS, 0, ArgValue::I64(42)).unwrap();
        slots.store(&KEYS, 1, ArgValue::Str(forty)).unwrap();
        assert_eq!(slots.get("n"), Some(Value::I64(42)));
        assert_eq!(slots.get("route"), Some(Value::from(forty)));

        // 8 + 54 bytes fill the room; one more byte does not fit.
        let mut full = Slots::default();
        let text = "x".repeat(54);
        full.store(&KEYS, 1, ArgValue::Str(&text)).unwrap();
        full.store(&KEYS, 0, ArgValue::F64(0.5)).unwrap();
        assert_eq!(full.get("n"), Some(Value::F64(0.5)));
        assert_eq!(full.get("route"), Some(Value::from(text.clone())));
        let mut over = Slots::default();
        let text = "x".repeat(55);
        over.store(&KEYS, 0, ArgValue::I64(1)).unwrap();
        assert!(over.store(&KEYS, 1, ArgValue::Str(&text)).is_err());
        assert_eq!(over.get("route"), None);

        // Two strings of 31 bytes each.
        let (a, b) = ("a".repeat(31), "b".repeat(31));
        let mut strings = Slots::default();
        strings.store(&KEYS, 0, ArgValue::Str(&a)).unwrap();
        strings.store(&KEYS, 1, ArgValue::Str(&b)).unwrap();
        assert_eq!(strings.get("n"), Some(Value::from(a.clone())));
        assert_eq!(strings.get("route"), Some(Value::from(b.clone())));
        assert!(
            strings
                .store(&KEYS, 1, ArgValue::Str(&"c".repeat(32)))
                .is_err()
        );
        assert_eq!(strings.get("route"), Some(Value::from(b.clone())), "kept");
    }

    #[test]
    fn a_removed_argument_is_gone() {
        let mut slots = Slots::default();
        slots.store(&KEYS, 0, ArgValue::I64(1)).unwrap();
        slots.store(&KEYS, 1, ArgValue::Str("x")).unwrap();
        slots.remove("n");
        assert_eq!(slots.get("n"), None);
        assert_eq!(slots.get("route"), Some(Value::from("x")));
    }

    #[test]
    fn multibyte_text_is_kept_whole() {
        let mut slots = Slots::default();
        slots.store(&KEYS, 0, ArgValue::Str("héllo ✓ wö")).unwrap();
        assert_eq!(slots.get("n"), Some(Value::from("héllo ✓ wö")));
    }
}

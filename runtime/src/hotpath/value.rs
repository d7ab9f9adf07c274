//! Typed attribute values.

use std::borrow::Cow;
use std::fmt;

use smol_str::SmolStr;

use crate::args::ArgValue;

/// Text held by a [`Value`]: short strings and `&'static str` are stored
/// without allocating. Reads as a `&str`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Text(SmolStr);

impl Text {
    /// Text that borrows a static string: no copy, no allocation.
    pub const fn new_static(text: &'static str) -> Text {
        Text(SmolStr::new_static(text))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn from_smol(text: SmolStr) -> Text {
        Text(text)
    }
}

impl std::ops::Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for Text {
    fn from(text: &str) -> Text {
        Text(SmolStr::new(text))
    }
}

impl From<String> for Text {
    fn from(text: String) -> Text {
        Text(SmolStr::from(text))
    }
}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// A typed attribute value: string, integer, float, boolean or bytes.
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// Text. Strings of up to 23 bytes and `&'static str` are stored without
    /// allocating.
    Str(Text),
    /// A signed integer (unsigned values above `i64::MAX` become strings).
    I64(i64),
    /// A float.
    F64(f64),
    /// A boolean.
    Bool(bool),
    /// Raw bytes.
    Bytes(Vec<u8>),
}

impl Value {
    /// The text, when the value is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, when the value is one.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::I64(v) => Some(*v),
            _ => None,
        }
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => fmt::Debug::fmt(s, f),
            Value::I64(v) => fmt::Debug::fmt(v, f),
            Value::F64(v) => fmt::Debug::fmt(v, f),
            Value::Bool(v) => fmt::Debug::fmt(v, f),
            Value::Bytes(v) => write!(f, "bytes{v:?}"),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => f.write_str(s),
            Value::I64(v) => fmt::Display::fmt(v, f),
            Value::F64(v) => fmt::Display::fmt(v, f),
            Value::Bool(v) => fmt::Display::fmt(v, f),
            Value::Bytes(v) => {
                for b in v {
                    write!(f, "{b:02x}")?;
                }
                Ok(())
            }
        }
    }
}

/// A key and its value.
#[derive(Clone, PartialEq, Debug)]
pub struct KeyValue {
    /// The key, by OpenTelemetry semantic conventions where one exists.
    pub key: Cow<'static, str>,
    /// The value.
    pub value: Value,
}

impl KeyValue {
    /// Pairs a key with a value.
    pub fn new(key: impl Into<Cow<'static, str>>, value: impl Into<Value>) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: value.into(),
        }
    }
}

/// A type that can be recorded as a typed attribute value.
///
/// `#[traced(args(...))]` records arguments of these types with their type;
/// arguments of other types are recorded with their `Debug` form.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be recorded as a span attribute",
    label = "neither `dapple::ToValue` nor `Debug` is implemented for this",
    note = "skip it, or record it with `fields(%x)` (Display) or `fields(?x)` (Debug)"
)]
pub trait ToValue {
    /// The value to record.
    fn to_value(&self) -> Value;

    /// The value to record as a `#[traced]` argument. Integers, floats,
    /// booleans and text are kept in place in the span while two arguments
    /// fit in 62 bytes;
    /// the default records [`ToValue::to_value`].
    #[doc(hidden)]
    #[inline]
    fn to_arg(&self) -> ArgValue<'_> {
        ArgValue::Value(self.to_value())
    }
}

macro_rules! int_values {
    ($($t:ty),*) => {$(
        impl ToValue for $t {
            #[inline]
            fn to_value(&self) -> Value { Value::I64(i64::from(*self)) }
            #[inline]
            fn to_arg(&self) -> ArgValue<'_> { ArgValue::I64(i64::from(*self)) }
        }
        impl From<$t> for Value {
            #[inline]
            fn from(v: $t) -> Value { Value::I64(i64::from(v)) }
        }
    )*};
}
int_values!(i8, i16, i32, i64, u8, u16, u32);

macro_rules! wide_int_values {
    ($($t:ty),*) => {$(
        impl ToValue for $t {
            #[inline]
            fn to_value(&self) -> Value { Value::from(*self) }
            #[inline]
            fn to_arg(&self) -> ArgValue<'_> {
                match i64::try_from(*self) {
                    Ok(v) => ArgValue::I64(v),
                    Err(_) => ArgValue::Value(self.to_value()),
                }
            }
        }
        impl From<$t> for Value {
            fn from(v: $t) -> Value {
                match i64::try_from(v) {
                    Ok(v) => Value::I64(v),
                    Err(_) => Value::Str(v.to_string().into()),
                }
            }
        }
    )*};
}
wide_int_values!(u64, usize, isize, i128, u128);

impl ToValue for f32 {
    #[inline]
    fn to_arg(&self) -> ArgValue<'_> {
        ArgValue::F64(f64::from(*self))
    }
    fn to_value(&self) -> Value {
        Value::F64(f64::from(*self))
    }
}
impl From<f32> for Value {
    fn from(v: f32) -> Value {
        Value::F64(f64::from(v))
    }
}
impl ToValue for f64 {
    #[inline]
    fn to_arg(&self) -> ArgValue<'_> {
        ArgValue::F64(*self)
    }
    fn to_value(&self) -> Value {
        Value::F64(*self)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value::F64(v)
    }
}
impl ToValue for bool {
    #[inline]
    fn to_arg(&self) -> ArgValue<'_> {
        ArgValue::Bool(*self)
    }
    fn to_value(&self) -> Value {
        Value::Bool(*self)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Bool(v)
    }
}
impl ToValue for str {
    #[inline]
    fn to_arg(&self) -> ArgValue<'_> {
        ArgValue::Str(self)
    }
    #[inline]
    fn to_value(&self) -> Value {
        Value::Str(Text::from(self))
    }
}
impl ToValue for String {
    #[inline]
    fn to_arg(&self) -> ArgValue<'_> {
        ArgValue::Str(self)
    }
    fn to_value(&self) -> Value {
        Value::Str(Text::from(self.as_ref()))
    }
}
impl ToValue for Cow<'static, str> {
    #[inline]
    fn to_arg(&self) -> ArgValue<'_> {
        ArgValue::Str(self)
    }
    fn to_value(&self) -> Value {
        Value::from(self.clone())
    }
}
impl ToValue for [u8] {
    fn to_value(&self) -> Value {
        Value::Bytes(self.to_vec())
    }
}
impl ToValue for Vec<u8> {
    fn to_value(&self) -> Value {
        Value::Bytes(self.clone())
    }
}
impl ToValue for Value {
    fn to_value(&self) -> Value {
        self.clone()
    }
}
impl<T: ToValue + ?Sized> ToValue for &T {
    #[inline]
    fn to_arg(&self) -> ArgValue<'_> {
        (**self).to_arg()
    }
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}
impl<T: ToValue + ?Sized> ToValue for &mut T {
    #[inline]
    fn to_arg(&self) -> ArgValue<'_> {
        (**self).to_arg()
    }
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}
impl<T: ToValue + ?Sized> ToValue for Box<T> {
    #[inline]
    fn to_arg(&self) -> ArgValue<'_> {
        (**self).to_arg()
    }
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}

impl From<&'static str> for Value {
    fn from(v: &'static str) -> Value {
        Value::Str(Text::new_static(v))
    }
}
impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Str(Text::from(v))
    }
}
impl From<Cow<'static, str>> for Value {
    fn from(v: Cow<'static, str>) -> Value {
        match v {
            Cow::Borrowed(v) => Value::from(v),
            Cow::Owned(v) => Value::from(v),
        }
    }
}
impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Value {
        Value::Bytes(v)
    }
}

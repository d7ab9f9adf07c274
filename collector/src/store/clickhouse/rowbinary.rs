//! ClickHouse's `RowBinary` format, the few types the store uses: numbers
//! little-endian, `String` as a LEB128 length and its bytes, `FixedString`
//! as its bytes, `Array` as a LEB128 count and its items. The same bytes
//! in 18.16 and in current releases.

/// Appends a `UInt64`.
pub(super) fn put_u64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_le_bytes());
}

/// Appends a `UInt8`.
pub(super) fn put_u8(out: &mut Vec<u8>, value: u8) {
    out.push(value);
}

/// Appends a `String`.
pub(super) fn put_bytes(out: &mut Vec<u8>, value: &[u8]) {
    put_length(out, value.len());
    out.extend_from_slice(value);
}

/// Appends a LEB128 length: of a `String`, or an `Array`'s count.
pub(super) fn put_length(out: &mut Vec<u8>, mut length: usize) {
    while length >= 0x80 {
        out.push(length as u8 | 0x80);
        length >>= 7;
    }
    out.push(length as u8);
}

/// Rows ClickHouse sent, read field by field; `None` when they end early.
#[derive(Debug)]
pub(super) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { rest: bytes }
    }

    /// Whether every row has been read.
    pub(super) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The next `N` bytes: a `FixedString(N)`.
    pub(super) fn fixed<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.rest.split_first_chunk::<N>()?;
        self.rest = rest;
        Some(*head)
    }

    pub(super) fn u64(&mut self) -> Option<u64> {
        self.fixed::<8>().map(u64::from_le_bytes)
    }

    /// A `String`'s bytes.
    pub(super) fn bytes(&mut self) -> Option<&'a [u8]> {
        let mut length: u64 = 0;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = self.rest.split_first()?;
            self.rest = rest;
            length |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                let length = usize::try_from(length).ok()?;
                if length > self.rest.len() {
                    return None;
                }
                let (value, rest) = self.rest.split_at(length);
                self.rest = rest;
                return Some(value);
            }
        }
        None
    }

    /// A `String` that must be UTF-8 (names ClickHouse stores as given).
    pub(super) fn text(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.bytes()?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_written_reads_back() {
        let long = "x".repeat(300);
        let mut out = Vec::new();
        put_u64(&mut out, u64::MAX);
        put_u8(&mut out, 1);
        put_bytes(&mut out, long.as_bytes());
        put_length(&mut out, 2);
        put_bytes(&mut out, b"a");
        put_bytes(&mut out, b"");
        out.extend_from_slice(&[7; 16]);
        assert_eq!(&out[9..11], &[0xac, 0x02], "300 as LEB128");
        let mut reader = Reader::new(&out);
        assert_eq!(reader.u64(), Some(u64::MAX));
        assert_eq!(reader.fixed::<1>(), Some([1]));
        assert_eq!(reader.text(), Some(long.as_str()));
        assert_eq!(reader.fixed::<1>(), Some([2]), "the array's count");
        assert_eq!(reader.text(), Some("a"));
        assert_eq!(reader.text(), Some(""));
        assert_eq!(reader.fixed::<16>(), Some([7; 16]));
        assert!(reader.is_empty());
        assert_eq!(reader.u64(), None);
    }

    #[test]
    fn a_string_longer_than_what_is_left_is_refused() {
        let mut reader = Reader::new(&[5, b'a', b'b']);
        assert_eq!(reader.bytes(), None);
        let mut endless = Reader::new(&[0xff; 12]);
        assert_eq!(endless.bytes(), None);
    }
}

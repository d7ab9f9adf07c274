//! Protobuf written straight from records into a frame's bytes: a cursor
//! over a buffer kept initialized to its full length (no capacity check or
//! length update per field; a message that does not fit is written again
//! after the buffer grew), and nested messages written in one pass. Both
//! exporters' encoders (native and OTLP) write through it.

use prost::encoding::encoded_len_varint;

pub(super) const VARINT: u64 = 0;
pub(super) const FIXED64: u64 = 1;
pub(super) const LEN: u64 = 2;
#[cfg_attr(not(feature = "otlp"), allow(dead_code))]
pub(super) const FIXED32: u64 = 5;

/// Writes into a slice; past its end it only notes that it ran out of room
/// (what it wrote is then discarded and written again with more room).
pub(super) struct Cursor<'a> {
    buf: &'a mut [u8],
    pos: usize,
    full: bool,
}

impl<'a> Cursor<'a> {
    pub(super) fn new(buf: &'a mut [u8]) -> Cursor<'a> {
        Cursor {
            buf,
            pos: 0,
            full: false,
        }
    }

    #[inline]
    pub(super) fn put(&mut self, bytes: &[u8]) {
        match self.buf.get_mut(self.pos..self.pos + bytes.len()) {
            Some(to) => {
                to.copy_from_slice(bytes);
                self.pos += bytes.len();
            }
            None => self.full = true,
        }
    }

    #[inline]
    pub(super) fn byte(&mut self, byte: u8) {
        match self.buf.get_mut(self.pos) {
            Some(to) => {
                *to = byte;
                self.pos += 1;
            }
            None => self.full = true,
        }
    }

    #[inline]
    pub(super) fn varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.byte(value as u8 | 0x80);
            value >>= 7;
        }
        self.byte(value as u8);
    }
}

/// A message body.
pub(super) trait Body {
    fn write(&self, out: &mut Cursor<'_>);
}

#[inline]
pub(super) fn key(out: &mut Cursor<'_>, field: u64, wire: u64) {
    out.varint(field << 3 | wire);
}

/// Writes a length-delimited message in one pass: one byte is kept for its
/// length, the body is written after it, and in the rarer case of a body of
/// 128 bytes or more it is moved up to make room for a longer length. This
/// is cheaper than measuring the body first, which for nested messages
/// means measuring the inner ones once per level.
#[inline]
pub(super) fn nested(out: &mut Cursor<'_>, field: u64, body: &impl Body) {
    let start = out.pos;
    if field < 16 {
        // The key and the length's byte in one write.
        out.put(&[(field << 3 | LEN) as u8, 0]);
    } else {
        key(out, field, LEN);
        out.byte(0);
    }
    body.write(out);
    if out.full {
        return;
    }
    let at = start + encoded_len_varint(field << 3 | LEN);
    let len = out.pos - at - 1;
    if len < 0x80 {
        out.buf[at] = len as u8;
    } else {
        long_length(out, at, len);
    }
}

/// Replaces the one byte kept at `at` with the varint `len`, moving the
/// `len` bytes of body after it up.
#[cold]
fn long_length(out: &mut Cursor<'_>, at: usize, len: usize) {
    let extra = encoded_len_varint(len as u64) - 1;
    if out.pos + extra > out.buf.len() {
        out.full = true;
        return;
    }
    out.buf.copy_within(at + 1..at + 1 + len, at + 1 + extra);
    out.pos = at;
    out.varint(len as u64);
    out.pos += len;
}

/// A length-delimited field, left out when empty.
#[inline]
pub(super) fn bytes(out: &mut Cursor<'_>, field: u64, value: &[u8]) {
    if !value.is_empty() {
        delimited(out, field, value);
    }
}

/// A length-delimited field, written even when empty. With a one-byte key
/// and length (the common case) those two go in one write.
#[inline]
pub(super) fn delimited(out: &mut Cursor<'_>, field: u64, value: &[u8]) {
    if field < 16 && value.len() < 0x80 {
        out.put(&[(field << 3 | LEN) as u8, value.len() as u8]);
    } else {
        key(out, field, LEN);
        out.varint(value.len() as u64);
    }
    out.put(value);
}

/// A fixed64 field, left out at 0; with a one-byte key, key and value in
/// one write.
#[inline]
pub(super) fn fixed64(out: &mut Cursor<'_>, field: u64, value: u64) {
    if value == 0 {
        return;
    }
    if field < 16 {
        let mut piece = [(field << 3 | FIXED64) as u8; 9];
        piece[1..].copy_from_slice(&value.to_le_bytes());
        out.put(&piece);
    } else {
        key(out, field, FIXED64);
        out.put(&value.to_le_bytes());
    }
}

/// A varint field, left out at 0; with a one-byte key and value (the
/// common case), both in one write.
#[inline]
pub(super) fn uint(out: &mut Cursor<'_>, field: u64, value: u64) {
    if value != 0 {
        varint(out, field, value);
    }
}

/// A varint field, written even when 0; with a one-byte key and value
/// (the common case), both in one write.
#[inline]
pub(super) fn varint(out: &mut Cursor<'_>, field: u64, value: u64) {
    if field < 16 && value < 0x80 {
        out.put(&[(field << 3 | VARINT) as u8, value as u8]);
    } else {
        key(out, field, VARINT);
        out.varint(value);
    }
}

/// A fixed32 field, left out at 0.
#[cfg_attr(not(feature = "otlp"), allow(dead_code))]
pub(super) fn fixed32(out: &mut Cursor<'_>, field: u64, value: u32) {
    if value != 0 {
        key(out, field, FIXED32);
        out.put(&value.to_le_bytes());
    }
}

/// The written bytes of a cursor over a small fixed buffer.
pub(super) fn written(write: impl FnOnce(&mut Cursor<'_>)) -> ([u8; 32], usize) {
    let mut bytes = [0; 32];
    let mut out = Cursor::new(&mut bytes);
    write(&mut out);
    let len = out.pos;
    (bytes, len)
}

/// Where [`FrameBuffer::push_within`] put an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Fit {
    /// In the message.
    Fits,
    /// Nowhere: alone it is larger than a message may be.
    TooLarge,
    /// In the spill buffer: the message is full without it.
    Spilled,
}

/// Room a buffer grows by at least.
const MIN_GROWTH: usize = 4096;

/// A message being gathered: room for a header written last, then entries.
/// The buffer is initialized to its full length and reused from message to
/// message, so that writing needs no capacity checks.
#[derive(Debug)]
pub(crate) struct FrameBuffer {
    bytes: Vec<u8>,
    /// Room kept before the entries.
    room: usize,
    /// Bytes written, room included.
    len: usize,
    /// Where the finished message starts (after [`prepend`](Self::prepend)).
    start: usize,
}

impl FrameBuffer {
    /// An empty message with `room` bytes kept for its header.
    pub(crate) fn new(room: usize) -> FrameBuffer {
        FrameBuffer {
            bytes: vec![0; room],
            room,
            len: room,
            start: room,
        }
    }

    /// Empties it for a new message, keeping its memory.
    pub(crate) fn reset(&mut self) {
        self.len = self.room;
        self.start = self.room;
    }

    /// Bytes written so far (the entries and the room for the header).
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Bytes of entries written.
    pub(crate) fn entries_len(&self) -> usize {
        self.len - self.room
    }

    /// Memory it holds.
    pub(crate) fn capacity(&self) -> usize {
        self.bytes.len()
    }

    /// Appends what `write` writes; returns the bytes appended.
    pub(super) fn push(&mut self, write: impl Fn(&mut Cursor<'_>)) -> usize {
        loop {
            let mut out = Cursor::new(&mut self.bytes[self.len..]);
            write(&mut out);
            if !out.full {
                self.len += out.pos;
                return out.pos;
            }
            let room = out.buf.len();
            self.grow(room + 1);
        }
    }

    /// Appends what `write` writes as one entry, keeping the entries within
    /// `limit` bytes: an entry larger than the limit alone is dropped
    /// ([`Fit::TooLarge`]); one that takes the message past it, after
    /// others, is moved to `spill`, to start the next message
    /// ([`Fit::Spilled`]).
    pub(super) fn push_within(
        &mut self,
        limit: usize,
        spill: &mut Vec<u8>,
        write: impl Fn(&mut Cursor<'_>),
    ) -> Fit {
        let start = self.len;
        let written = self.push(write);
        if written > limit {
            self.truncate(start);
            return Fit::TooLarge;
        }
        if self.entries_len() > limit && start > self.room {
            spill.clear();
            spill.extend_from_slice(&self.bytes[start..self.len]);
            self.truncate(start);
            return Fit::Spilled;
        }
        Fit::Fits
    }

    /// The entries from byte `at` on (an offset [`len`](Self::len) gave).
    #[cfg(test)]
    pub(crate) fn entries_from(&self, at: usize) -> &[u8] {
        &self.bytes[at..self.len]
    }

    /// Drops the entries from byte `at` on.
    pub(crate) fn truncate(&mut self, at: usize) {
        self.len = self.len.min(at.max(self.room));
    }

    /// Appends bytes as they are (entries taken from another message with
    /// [`entries_from`](Self::entries_from)).
    pub(crate) fn extend(&mut self, entries: &[u8]) {
        if self.bytes.len() - self.len < entries.len() {
            self.grow(entries.len());
        }
        self.bytes[self.len..self.len + entries.len()].copy_from_slice(entries);
        self.len += entries.len();
    }

    /// Grows the room after the written bytes to at least `room`.
    fn grow(&mut self, room: usize) {
        let by = room.max(self.bytes.len()).max(MIN_GROWTH);
        self.bytes.resize(self.bytes.len() + by, 0);
    }

    /// Writes `header` right before the entries: the message is then
    /// [`message`](Self::message). A header longer than the room moves the
    /// entries up.
    pub(super) fn prepend(&mut self, header: &[u8]) {
        if header.len() > self.room {
            let more = header.len() - self.room;
            self.bytes.splice(0..0, std::iter::repeat_n(0, more));
            self.room += more;
            self.len += more;
        }
        self.start = self.room - header.len();
        self.bytes[self.start..self.room].copy_from_slice(header);
    }

    /// The finished message's bytes, ready for the socket.
    pub(crate) fn message(&self) -> &[u8] {
        &self.bytes[self.start..self.len]
    }
}

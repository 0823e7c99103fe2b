//! HSM wire primitives shared by both directions: a bounds-checked big-endian [`Reader`], the
//! TLV field list, and writers that patch length prefixes after the body is written. Every read
//! checks the remaining length first and returns [`CodecError::Truncated`] instead of
//! panicking; nothing is allocated from a length claim before the bytes are known to exist.

use bytes::{BufMut, BytesMut};

use super::error::{CodecError, EncodeError};

/// A cursor over one message (or one field value) that never reads out of bounds.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader starting at `pos` (clamped to the end).
    pub(crate) fn new(buf: &'a [u8], pos: usize) -> Self {
        Self {
            buf,
            pos: pos.min(buf.len()),
        }
    }

    /// Current offset.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// Bytes not yet read.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The next `n` bytes.
    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], CodecError> {
        let bytes = self
            .pos
            .checked_add(n)
            .and_then(|end| self.buf.get(self.pos..end));
        match bytes {
            Some(bytes) => {
                self.pos += n;
                Ok(bytes)
            }
            None => Err(CodecError::Truncated {
                what,
                offset: self.pos,
                needed: n,
                available: self.remaining(),
            }),
        }
    }

    /// The next `N` bytes as an array.
    pub(crate) fn array<const N: usize>(
        &mut self,
        what: &'static str,
    ) -> Result<[u8; N], CodecError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, CodecError> {
        Ok(u8::from_be_bytes(self.array(what)?))
    }

    pub(crate) fn u16(&mut self, what: &'static str) -> Result<u16, CodecError> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }

    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32, CodecError> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    pub(crate) fn i32(&mut self, what: &'static str) -> Result<i32, CodecError> {
        Ok(i32::from_be_bytes(self.array(what)?))
    }

    /// A u8-length-prefixed byte string.
    pub(crate) fn bytes8(&mut self, what: &'static str) -> Result<&'a [u8], CodecError> {
        let len = self.u8(what)?;
        self.take(usize::from(len), what)
    }

    /// `count` big-endian i32 values; the bytes are checked before anything is allocated.
    pub(crate) fn i32s(
        &mut self,
        count: usize,
        what: &'static str,
    ) -> Result<Vec<i32>, CodecError> {
        let raw = self.take(count.saturating_mul(4), what)?;
        Ok(raw
            .chunks_exact(4)
            .map(|c| i32::from_be_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }

    /// A TLV list: u8 count, then `{u8 id, u16 length, value}` per field.
    pub(crate) fn fields(&mut self, msg_type: u8) -> Result<Fields<'a>, CodecError> {
        let count = self.u8("field count")?;
        // At most 255 entries, and each needs 3 bytes, so this capacity is bounded by input.
        let mut list = Vec::with_capacity(usize::from(count).min(self.remaining() / 3));
        for _ in 0..count {
            let id = self.u8("field id")?;
            let len = self.u16("field length")?;
            let value = self.take(usize::from(len), "field value")?;
            list.push(Field { id, value });
        }
        Ok(Fields { msg_type, list })
    }

    /// Fails with [`CodecError::TrailingBytes`] unless the reader is at the end.
    pub(crate) fn finish(&self, msg_type: u8) -> Result<(), CodecError> {
        match self.remaining() {
            0 => Ok(()),
            extra => Err(CodecError::TrailingBytes { msg_type, extra }),
        }
    }
}

/// One TLV field borrowed from the message.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field<'a> {
    pub(crate) id: u8,
    pub(crate) value: &'a [u8],
}

/// A decoded TLV list, looked up by field id.
#[derive(Debug, Clone)]
pub(crate) struct Fields<'a> {
    msg_type: u8,
    list: Vec<Field<'a>>,
}

impl<'a> Fields<'a> {
    /// The value of field `id`; a repeated id is an error.
    pub(crate) fn get(&self, id: u8) -> Result<Option<&'a [u8]>, CodecError> {
        let mut found = self.list.iter().filter(|field| field.id == id);
        match (found.next(), found.next()) {
            (Some(field), None) => Ok(Some(field.value)),
            (None, _) => Ok(None),
            (Some(_), Some(_)) => Err(CodecError::DuplicateField {
                msg_type: self.msg_type,
                field_id: id,
            }),
        }
    }

    /// The value of field `id`, which must be present.
    pub(crate) fn require(&self, id: u8) -> Result<&'a [u8], CodecError> {
        self.get(id)?.ok_or(CodecError::MissingField {
            msg_type: self.msg_type,
            field_id: id,
        })
    }

    /// The value of field `id` as exactly `N` bytes.
    pub(crate) fn require_array<const N: usize>(&self, id: u8) -> Result<[u8; N], CodecError> {
        let value = self.require(id)?;
        <[u8; N]>::try_from(value).map_err(|_| CodecError::FieldLength {
            msg_type: self.msg_type,
            field_id: id,
            len: value.len(),
            expected: N,
        })
    }

    /// All fields in wire order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = Field<'a>> + '_ {
        self.list.iter().copied()
    }

    /// Fields whose id is not in `known`, in wire order.
    pub(crate) fn others(&self, known: &'static [u8]) -> impl Iterator<Item = Field<'a>> + '_ {
        self.list
            .iter()
            .copied()
            .filter(move |field| !known.contains(&field.id))
    }
}

/// UTF-8 text, or [`CodecError::InvalidUtf8`].
pub(crate) fn utf8<'a>(bytes: &'a [u8], what: &'static str) -> Result<&'a str, CodecError> {
    std::str::from_utf8(bytes).map_err(|_| CodecError::InvalidUtf8 { what })
}

/// Largest encoded frame: what a u16 length prefix (total − 2) can describe.
pub const MAX_FRAME_LEN: usize = u16::MAX as usize + 2;

/// Writes `len, msg_type, body` with the correct length prefix. On error `dst` is restored to
/// its previous length, so a failed encode never leaves half a frame behind.
pub(crate) fn write_frame(
    dst: &mut BytesMut,
    msg_type: u8,
    body: impl FnOnce(&mut BytesMut) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    let start = dst.len();
    dst.put_u16(0);
    dst.put_u8(msg_type);
    let result = body(dst).and_then(|()| {
        let len = dst.len() - start;
        let prefix = u16::try_from(len - 2).map_err(|_| EncodeError::FrameTooLarge { len })?;
        patch_u16(dst, start, prefix);
        Ok(())
    });
    if result.is_err() {
        dst.truncate(start);
    }
    result
}

/// Writes a TLV field whose value is produced by `value`, patching its u16 length.
pub(crate) fn put_field_with(
    dst: &mut BytesMut,
    field_id: u8,
    value: impl FnOnce(&mut BytesMut) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    dst.put_u8(field_id);
    let len_at = dst.len();
    dst.put_u16(0);
    value(dst)?;
    let len = dst.len() - len_at - 2;
    let len16 = u16::try_from(len).map_err(|_| EncodeError::FieldTooLarge { field_id, len })?;
    patch_u16(dst, len_at, len16);
    Ok(())
}

/// Writes a TLV field with the given value bytes.
pub(crate) fn put_field(dst: &mut BytesMut, field_id: u8, value: &[u8]) -> Result<(), EncodeError> {
    let len = u16::try_from(value.len()).map_err(|_| EncodeError::FieldTooLarge {
        field_id,
        len: value.len(),
    })?;
    dst.put_u8(field_id);
    dst.put_u16(len);
    dst.put_slice(value);
    Ok(())
}

/// Writes a u8-length-prefixed string.
pub(crate) fn put_str8(
    dst: &mut BytesMut,
    what: &'static str,
    text: &[u8],
) -> Result<(), EncodeError> {
    let len = u8::try_from(text.len()).map_err(|_| EncodeError::StringTooLong {
        what,
        len: text.len(),
    })?;
    dst.put_u8(len);
    dst.put_slice(text);
    Ok(())
}

/// A count as the wire's integer type, or [`EncodeError::TooMany`].
pub(crate) fn count<T: TryFrom<usize>>(
    what: &'static str,
    count: usize,
    max: usize,
) -> Result<T, EncodeError> {
    T::try_from(count).map_err(|_| EncodeError::TooMany { what, count, max })
}

/// Overwrites two bytes at `at` (always inside `dst`: the caller wrote them).
fn patch_u16(dst: &mut BytesMut, at: usize, value: u16) {
    if let Some(slot) = dst.get_mut(at..at + 2) {
        slot.copy_from_slice(&value.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_bounds_checked() {
        let mut reader = Reader::new(&[0x00, 0x01, 0x02], 0);
        assert_eq!(reader.u16("a").unwrap(), 1);
        assert_eq!(
            reader.u32("b"),
            Err(CodecError::Truncated {
                what: "b",
                offset: 2,
                needed: 4,
                available: 1
            })
        );
        assert_eq!(reader.u8("c").unwrap(), 2);
        assert!(reader.u8("d").is_err());
        assert!(Reader::new(&[], 0).take(usize::MAX, "huge").is_err());
        assert!(
            Reader::new(&[1, 2], 0)
                .i32s(usize::MAX / 2, "values")
                .is_err()
        );
    }

    #[test]
    fn fields_reject_duplicates_and_bad_lengths() {
        let msg = [2, 1, 0, 1, 0x4b, 1, 0, 1, 0x4e];
        let fields = Reader::new(&msg, 0).fields(4).unwrap();
        assert_eq!(
            fields.require(1),
            Err(CodecError::DuplicateField {
                msg_type: 4,
                field_id: 1
            })
        );
        let msg = [1, 2, 0, 2, 0, 0];
        let fields = Reader::new(&msg, 0).fields(3).unwrap();
        assert_eq!(
            fields.require_array::<4>(2),
            Err(CodecError::FieldLength {
                msg_type: 3,
                field_id: 2,
                len: 2,
                expected: 4
            })
        );
        assert!(matches!(
            fields.require(9),
            Err(CodecError::MissingField { field_id: 9, .. })
        ));
    }

    #[test]
    fn failed_encode_leaves_dst_unchanged() {
        let mut dst = BytesMut::from(&b"keep"[..]);
        let err = write_frame(&mut dst, 4, |d| put_field(d, 1, &vec![0u8; 70_000]));
        assert!(matches!(err, Err(EncodeError::FieldTooLarge { .. })));
        assert_eq!(&dst[..], b"keep");
        let err = write_frame(&mut dst, 4, |d| {
            d.put_slice(&vec![0u8; MAX_FRAME_LEN]);
            Ok(())
        });
        assert!(matches!(err, Err(EncodeError::FrameTooLarge { .. })));
        assert_eq!(&dst[..], b"keep");
    }

    #[test]
    fn frame_length_prefix_is_patched() {
        let mut dst = BytesMut::new();
        write_frame(&mut dst, 3, |d| put_field(d, 1, &[0, 0, 0, 7])).unwrap();
        assert_eq!(&dst[..], &[0, 8, 3, 1, 0, 4, 0, 0, 0, 7]);
    }
}

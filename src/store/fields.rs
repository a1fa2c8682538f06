//! Reading stored values: fixed-width big-endian fields, one after the other. A value too short for its
//! fields is a malformed record, never a panic.

use super::{StoreError, StoreResult};

pub struct Fields<'a> {
    bytes: &'a [u8],
    /// What the value is, for the error.
    what: &'static str,
}

impl<'a> Fields<'a> {
    pub fn new(bytes: &'a [u8], what: &'static str) -> Self {
        Self { bytes, what }
    }

    pub fn take(&mut self, count: usize) -> StoreResult<&'a [u8]> {
        let (taken, rest) = self
            .bytes
            .split_at_checked(count)
            .ok_or_else(|| StoreError::Malformed(self.what.to_owned()))?;
        self.bytes = rest;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self) -> StoreResult<[u8; N]> {
        Ok(self
            .take(N)?
            .try_into()
            .expect("take gives exactly N bytes"))
    }

    pub fn u64(&mut self) -> StoreResult<u64> {
        self.array().map(u64::from_be_bytes)
    }

    pub fn u32(&mut self) -> StoreResult<u32> {
        self.array().map(u32::from_be_bytes)
    }

    pub fn u8(&mut self) -> StoreResult<u8> {
        self.array().map(|[byte]| byte)
    }

    pub fn str(&mut self, count: usize) -> StoreResult<&'a str> {
        let what = self.what;
        std::str::from_utf8(self.take(count)?).map_err(|_| StoreError::Malformed(what.to_owned()))
    }

    /// An unsigned LEB128 number: seven bits a byte, low bits first, the high bit set on all bytes but the last.
    pub fn varint(&mut self) -> StoreResult<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.u8()?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(StoreError::Malformed(self.what.to_owned()))
    }

    /// A text written by [`push_text`].
    pub fn text(&mut self) -> StoreResult<&'a str> {
        let length = usize::try_from(self.varint()?).unwrap_or(usize::MAX);
        self.str(length)
    }

    /// A signed number written by [`push_zigzag`].
    pub fn zigzag(&mut self) -> StoreResult<i64> {
        let value = self.varint()?;
        Ok((value >> 1) as i64 ^ -((value & 1) as i64))
    }

    /// How many bytes are not read yet.
    pub fn remaining(&self) -> usize {
        self.bytes.len()
    }

    /// Everything not read yet.
    pub fn rest(self) -> &'a [u8] {
        self.bytes
    }
}

/// Writes `value` as [`Fields::varint`] reads it.
pub fn push_varint(into: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        into.push(u8::try_from(value & 0x7f).expect("seven bits") | 0x80);
        value >>= 7;
    }
    into.push(u8::try_from(value).expect("below 0x80"));
}

/// Writes a text as a varint length and its bytes.
pub fn push_text(into: &mut Vec<u8>, text: &str) {
    push_varint(into, text.len() as u64);
    into.extend_from_slice(text.as_bytes());
}

/// Writes a signed number as the varint of its zigzag form (0, -1, 1, -2 … as 0, 1, 2, 3 …), so that small
/// numbers of either sign are short.
pub fn push_zigzag(into: &mut Vec<u8>, value: i64) {
    push_varint(into, ((value << 1) ^ (value >> 63)) as u64);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn varints_round_trip(values: Vec<u64>) {
            let mut bytes = Vec::new();
            for &value in &values {
                push_varint(&mut bytes, value);
            }
            let mut fields = Fields::new(&bytes, "varints");
            for &value in &values {
                prop_assert_eq!(fields.varint().unwrap(), value);
            }
            prop_assert_eq!(fields.remaining(), 0);
        }

        #[test]
        fn zigzags_round_trip(values: Vec<i64>) {
            let mut bytes = Vec::new();
            for &value in &values {
                push_zigzag(&mut bytes, value);
            }
            let mut fields = Fields::new(&bytes, "zigzags");
            for &value in &values {
                prop_assert_eq!(fields.zigzag().unwrap(), value);
            }
            prop_assert_eq!(fields.remaining(), 0);
        }
    }

    #[test]
    fn small_zigzags_of_either_sign_take_one_byte() {
        for value in [0, -1, 1, -64, 63] {
            let mut bytes = Vec::new();
            push_zigzag(&mut bytes, value);
            assert_eq!(bytes.len(), 1, "{value}");
        }
    }

    #[test]
    fn reads_in_order_and_refuses_short_values() {
        let mut value = 7u64.to_be_bytes().to_vec();
        value.extend_from_slice(&3u32.to_be_bytes());
        value.extend_from_slice(b"abcxyz");
        let mut fields = Fields::new(&value, "test record");
        assert_eq!(fields.u64().unwrap(), 7);
        let length = fields.u32().unwrap();
        assert_eq!(fields.str(length as usize).unwrap(), "abc");
        assert_eq!(fields.rest(), b"xyz");
        let error = Fields::new(&[1, 2], "short record").u64().unwrap_err();
        assert_eq!(
            error.to_string(),
            "a stored record is malformed: short record"
        );
    }
}

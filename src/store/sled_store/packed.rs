//! Packed values (layout 5): statuses and the derived views' records are stored compressed with zstd. They are
//! the large values of the store (a status lists its POST's objects, a MISP feed record up to 256 members, tens
//! of kilobytes of JSON each), and sled keeps every value it holds in memory as well as on disk, so both shrink
//! with them.
//!
//! A packed value is a tag byte, then: for [`PLAIN`], the value as it is (short values, which compress badly);
//! for [`ZSTD`], the value's length:u32 (big-endian) and one zstd frame of it.

use super::malformed;
use crate::store::StoreResult;
use crate::store::fields::Fields;

const PLAIN: u8 = 0;
const ZSTD: u8 = 1;
/// Values shorter than this are kept plain.
const COMPRESS_FROM: usize = 128;
/// zstd's level 3 (its default): most of the gain of higher levels at a fraction of their time.
const LEVEL: i32 = 3;

pub(super) fn pack(value: &[u8]) -> Vec<u8> {
    if value.len() >= COMPRESS_FROM
        && let Ok(frame) = zstd::bulk::compress(value, LEVEL)
        && frame.len() + 4 < value.len()
    {
        let length = u32::try_from(value.len()).expect("values are far below 4 GiB");
        let mut packed = Vec::with_capacity(5 + frame.len());
        packed.push(ZSTD);
        packed.extend_from_slice(&length.to_be_bytes());
        packed.extend_from_slice(&frame);
        return packed;
    }
    let mut packed = Vec::with_capacity(1 + value.len());
    packed.push(PLAIN);
    packed.extend_from_slice(value);
    packed
}

/// The value that [`pack`] gave `packed`; `what` names it in errors.
pub(super) fn unpack(packed: &[u8], what: &'static str) -> StoreResult<Vec<u8>> {
    let mut fields = Fields::new(packed, what);
    match fields.u8()? {
        PLAIN => Ok(fields.rest().to_vec()),
        ZSTD => {
            let length = fields.u32()? as usize;
            let value =
                zstd::bulk::decompress(fields.rest(), length).map_err(|_| malformed(what))?;
            if value.len() == length {
                Ok(value)
            } else {
                Err(malformed(what))
            }
        }
        _ => Err(malformed(what)),
    }
}

/// A status value: stored at:u64, then the packed status resource (the time stays plain, for pruning).
pub(super) fn pack_status(stored_at: u64, text: &[u8]) -> Vec<u8> {
    let mut value = stored_at.to_be_bytes().to_vec();
    value.extend_from_slice(&pack(text));
    value
}

/// The time and the status resource of a status value.
pub(super) fn unpack_status(value: &[u8]) -> StoreResult<(u64, Vec<u8>)> {
    let mut fields = Fields::new(value, "status");
    let stored_at = fields.u64()?;
    Ok((stored_at, unpack(fields.rest(), "status")?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn values_round_trip(value in proptest::collection::vec(any::<u8>(), 0..600), repeat in 1usize..40) {
            let value = value.repeat(repeat);
            prop_assert_eq!(unpack(&pack(&value), "v").unwrap(), value);
        }
    }

    #[test]
    fn large_json_is_compressed_and_damage_is_an_error() {
        let json = r#"{"id":"indicator--1","version":"2026-01-01T00:00:00Z"},"#.repeat(100);
        let packed = pack(json.as_bytes());
        assert_eq!(packed[0], ZSTD);
        assert!(packed.len() < json.len() / 4);
        assert!(unpack(&packed[..packed.len() - 3], "v").is_err());
        assert!(unpack(&[7, 1, 2], "v").is_err());
        assert!(unpack(&[], "v").is_err());
        let status = pack_status(42, json.as_bytes());
        assert_eq!(unpack_status(&status).unwrap(), (42, json.into_bytes()));
    }
}

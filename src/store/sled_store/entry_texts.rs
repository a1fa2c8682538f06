//! The short forms of an entry's texts in a group record (layout 6, `keys.rs`): an id that ends in a UUID, as
//! STIX ids (`type--uuid`) and most envelope ids do, is its prefix and the UUID's 16 bytes; a version text that is
//! the version's timestamp as STIX writes it is the number of its fraction digits. A text is given its short form
//! only when that writes it back byte for byte; any other is kept whole.

use super::inline_str::InlineStr;

/// The length of a UUID's text, `8-4-4-4-12` hex digits.
const UUID_TEXT: usize = 36;
const HYPHENS: [usize; 4] = [8, 13, 18, 23];
const HEX: &[u8; 16] = b"0123456789abcdef";

/// `id` as the text before the UUID that ends it and the UUID's bytes, when it ends in a UUID written in lower
/// case (the form [`join_uuid`] writes back).
pub(super) fn split_uuid(id: &str) -> Option<(&str, [u8; 16])> {
    let start = id.len().checked_sub(UUID_TEXT)?;
    let (prefix, text) = (id.get(..start)?, &id.as_bytes()[start..]);
    let mut uuid = [0; 16];
    let mut digits = text
        .iter()
        .enumerate()
        .filter(|(i, _)| !HYPHENS.contains(i));
    for byte in &mut uuid {
        let (_, &high) = digits.next()?;
        let (_, &low) = digits.next()?;
        *byte = (lower_hex(high)? << 4) | lower_hex(low)?;
    }
    HYPHENS
        .iter()
        .all(|&i| text[i] == b'-')
        .then_some((prefix, uuid))
}

fn lower_hex(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    }
}

/// `prefix` followed by `uuid` in lower case with hyphens.
pub(super) fn join_uuid(prefix: &str, uuid: &[u8; 16]) -> InlineStr {
    let mut text = [b'-'; UUID_TEXT];
    let mut at = 0;
    for byte in uuid {
        if HYPHENS.contains(&at) {
            at += 1;
        }
        text[at] = HEX[usize::from(byte >> 4)];
        text[at + 1] = HEX[usize::from(byte & 0xf)];
        at += 2;
    }
    InlineStr::joined(
        prefix,
        std::str::from_utf8(&text).expect("hex digits and hyphens"),
    )
}

/// `YYYY-MM-DDTHH:MM:SSZ` and a point with up to nine digits before the `Z`.
const LONGEST_TIMESTAMP: usize = 30;
const MICROS_PER_DAY: i64 = 86_400_000_000;

/// How many fraction digits `text` has, when it is [`timestamp`] of `version` with that many.
pub(super) fn timestamp_digits(version: i64, text: &str) -> Option<u8> {
    let digits = match text.len() {
        20 => 0,
        length => u8::try_from(length.checked_sub(21)?).ok()?,
    };
    (timestamp(version, digits)? == *text).then_some(digits)
}

/// `micros` since the Unix epoch as `YYYY-MM-DDTHH:MM:SS.fffZ` with `digits` fraction digits (none and no point
/// for 0; zeros after the sixth), as STIX writes `created` and `modified`; `None` for more than nine digits or a
/// year outside 0 to 9999.
pub(super) fn timestamp(micros: i64, digits: u8) -> Option<InlineStr> {
    if digits > 9 {
        return None;
    }
    let (year, month, day) = civil_date(micros.div_euclid(MICROS_PER_DAY));
    if !(0..=9999).contains(&year) {
        return None;
    }
    let of_day = micros.rem_euclid(MICROS_PER_DAY);
    let seconds = of_day / 1_000_000;
    let mut text = Text::default();
    text.number(year, 4);
    text.byte(b'-');
    text.number(month, 2);
    text.byte(b'-');
    text.number(day, 2);
    text.byte(b'T');
    text.number(seconds / 3600, 2);
    text.byte(b':');
    text.number(seconds / 60 % 60, 2);
    text.byte(b':');
    text.number(seconds % 60, 2);
    if digits > 0 {
        let nanos = of_day % 1_000_000 * 1_000;
        text.byte(b'.');
        text.number(nanos / 10_i64.pow(9 - u32::from(digits)), digits.into());
    }
    text.byte(b'Z');
    Some(InlineStr::new(
        std::str::from_utf8(&text.bytes[..text.length]).expect("digits and ASCII"),
    ))
}

/// A timestamp being written.
#[derive(Default)]
struct Text {
    bytes: [u8; LONGEST_TIMESTAMP],
    length: usize,
}

impl Text {
    fn byte(&mut self, byte: u8) {
        self.bytes[self.length] = byte;
        self.length += 1;
    }

    /// The last `width` decimal digits of `value` (not negative), written from the last: dividing by the constant
    /// 10 is a multiplication, where dividing by a power of ten chosen at run time is a division per digit.
    fn number(&mut self, mut value: i64, width: usize) {
        for at in (self.length..self.length + width).rev() {
            self.bytes[at] = b'0' + u8::try_from(value % 10).expect("a decimal digit");
            value /= 10;
        }
        self.length += width;
    }
}

/// The proleptic Gregorian date of a day counted from 1970-01-01: year, month, day.
fn civil_date(days: i64) -> (i64, i64, i64) {
    // Counted in eras of 400 years (146,097 days) from 0000-03-01, so that the leap day ends a year.
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    (year_of_era + era * 400 + i64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stix::Timestamp;
    use proptest::prelude::*;

    const UUID: &str = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";

    #[test]
    fn ids_that_end_in_a_lower_case_uuid_split_and_join_back() {
        for prefix in ["indicator--", "", "cert-at:intelmq:", "é--"] {
            let id = format!("{prefix}{UUID}");
            let (split_prefix, uuid) = split_uuid(&id).unwrap();
            assert_eq!(split_prefix, prefix);
            assert_eq!(uuid[..3], [0x0a, 0x1b, 0x2c]);
            assert_eq!(join_uuid(split_prefix, &uuid), *id);
        }
    }

    #[test]
    fn other_ids_do_not_split() {
        for id in [
            "indicator--0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D",
            "indicator--0a1b2c3d4e5f4a6b8c7d9e0f1a2b3c4d",
            "indicator--0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4g",
            "indicator--0a1b2c3d-4e5f-4a6b-8c7d_9e0f1a2b3c4d",
            "indicator--1",
            "",
            // A multi-byte character where the UUID would start.
            "€a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
        ] {
            assert_eq!(split_uuid(id), None, "{id}");
        }
    }

    #[test]
    fn timestamps_as_stix_writes_them_are_their_digits() {
        let cases = [
            ("2021-01-01T00:00:00.000Z", Some(3)),
            ("2021-01-01T00:00:00Z", Some(0)),
            ("2024-02-29T23:59:59.123456Z", Some(6)),
            ("2024-02-29T23:59:59.1Z", Some(1)),
            ("2024-02-29T23:59:59.123456000Z", Some(9)),
            ("1969-12-31T23:59:59.999Z", Some(3)),
            ("0001-01-01T00:00:00.000Z", Some(3)),
            // Past microseconds: the version lost the last digits, so the text is kept whole.
            ("2024-02-29T23:59:59.123456789Z", None),
            // Trailing zeros the version does not tell from fewer digits are still that many digits.
            ("2024-02-29T23:59:59.100Z", Some(3)),
            ("2021-01-01t00:00:00.000z", None),
        ];
        for (text, digits) in cases {
            let version = Timestamp::parse_lenient(text).unwrap().micros();
            assert_eq!(timestamp_digits(version, text), digits, "{text}");
        }
        assert_eq!(timestamp_digits(0, ""), None);
        assert_eq!(timestamp_digits(1, "1970-01-01T00:00:00.000000Z"), None);
    }

    proptest! {
        #[test]
        fn timestamps_are_written_as_chrono_writes_them(
            micros in -62_135_596_800_000_000_i64..253_402_300_799_999_999,
        ) {
            let at = Timestamp::from_micros(micros);
            let text = timestamp(micros, 6).unwrap();
            prop_assert_eq!(&*text, at.to_taxii());
            prop_assert_eq!(&*timestamp(micros, 3).unwrap(), at.to_stix_millis());
            prop_assert_eq!(timestamp_digits(micros, &text), Some(6));
        }

        #[test]
        fn any_uuid_joins_and_splits_back(prefix in "[a-z-]{0,30}", uuid: [u8; 16]) {
            let id = join_uuid(&prefix, &uuid);
            prop_assert_eq!(split_uuid(&id), Some((prefix.as_str(), uuid)));
        }
    }
}

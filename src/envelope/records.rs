//! Splitting an input into records: one JSON object, a JSON array of objects, or NDJSON.

use serde_json::value::RawValue;

use super::error::{LocatedError, RecordError};

/// One record's exact bytes and the line of the input where it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawRecord<'a> {
    pub line: usize,
    pub bytes: &'a [u8],
}

/// Splits `input` into records. A JSON array gives its items, one JSON value gives itself, anything else is
/// read as NDJSON (blank lines skipped), so that one broken line does not hide the good ones around it.
pub fn split_records(input: &[u8]) -> Result<Vec<RawRecord<'_>>, LocatedError> {
    let start = input.iter().position(|b| !b.is_ascii_whitespace());
    let Some(start) = start else {
        return Err(LocatedError {
            line: 1,
            error: RecordError::Empty,
        });
    };
    if input[start] == b'[' {
        let items: Vec<&RawValue> = serde_json::from_slice(input).map_err(|e| LocatedError {
            line: e.line().max(1),
            error: RecordError::InvalidJson(e.to_string()),
        })?;
        if items.is_empty() {
            return Err(LocatedError {
                line: line_at(input, start),
                error: RecordError::Empty,
            });
        }
        return Ok(items
            .into_iter()
            .map(|item| record_within(input, item.get().as_bytes()))
            .collect());
    }
    if let Ok(single) = serde_json::from_slice::<&RawValue>(input) {
        return Ok(vec![record_within(input, single.get().as_bytes())]);
    }
    Ok(input
        .split(|&b| b == b'\n')
        .enumerate()
        .filter_map(|(index, line)| {
            let bytes = line.trim_ascii();
            (!bytes.is_empty()).then_some(RawRecord {
                line: index + 1,
                bytes,
            })
        })
        .collect())
}

/// `part` must be a slice of `input`; its line is found from its offset.
fn record_within<'a>(input: &[u8], part: &'a [u8]) -> RawRecord<'a> {
    let offset = part.as_ptr() as usize - input.as_ptr() as usize;
    RawRecord {
        line: line_at(input, offset),
        bytes: part,
    }
}

fn line_at(input: &[u8], offset: usize) -> usize {
    input[..offset].iter().filter(|&&b| b == b'\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_and_texts(input: &str) -> Vec<(usize, &str)> {
        split_records(input.as_bytes())
            .unwrap()
            .into_iter()
            .map(|r| (r.line, std::str::from_utf8(r.bytes).unwrap()))
            .collect()
    }

    #[test]
    fn single_object_even_over_several_lines() {
        assert_eq!(
            lines_and_texts("\n{\n \"a\": 1\n}\n"),
            vec![(2, "{\n \"a\": 1\n}")]
        );
    }

    #[test]
    fn array_items_keep_their_exact_text_and_line() {
        assert_eq!(
            lines_and_texts("[{\"a\":1},\n  {\"b\" : 2}]"),
            vec![(1, "{\"a\":1}"), (2, "{\"b\" : 2}")]
        );
    }

    #[test]
    fn ndjson_keeps_broken_lines_as_records_of_their_own() {
        assert_eq!(
            lines_and_texts("{\"a\":1}\n\n{broken\r\n{\"c\":3}\n"),
            vec![(1, "{\"a\":1}"), (3, "{broken"), (4, "{\"c\":3}")]
        );
    }

    #[test]
    fn empty_inputs_are_refused() {
        for input in ["", "  \n", "[]"] {
            assert_eq!(
                split_records(input.as_bytes()).unwrap_err().error,
                RecordError::Empty
            );
        }
    }
}

//! The one place that cuts what an answer repeats of a request: ids, names, timestamps, filters, header
//! values, keys, and the messages of parsers that quote what they were given. A huge value does not come
//! back whole, wherever it was sent.

/// The most characters of a caller's value that an answer repeats.
pub const SHOWN_MAX: usize = 200;

/// A value from the request, quoted, as an answer repeats it: cut to [`SHOWN_MAX`] characters.
pub fn shown(value: &str) -> String {
    match head(value) {
        (_, None) => format!("{value:?}"),
        (head, Some(length)) => format!("{head:?}… ({length} characters)"),
    }
}

/// A text that may hold a value from the request (a JSON text, or a parser's message quoting one), cut to
/// [`SHOWN_MAX`] characters, unquoted.
pub fn cut(text: &str) -> String {
    match head(text) {
        (_, None) => text.to_owned(),
        (head, Some(length)) => format!("{head}… ({length} characters)"),
    }
}

/// The first [`SHOWN_MAX`] characters of `text`, and its length in characters when that cuts it.
fn head(text: &str) -> (&str, Option<usize>) {
    match text.char_indices().nth(SHOWN_MAX) {
        None => (text, None),
        Some((end, _)) => (&text[..end], Some(text.chars().count())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_cut_with_their_length_and_short_ones_kept() {
        assert_eq!(shown("abc"), r#""abc""#);
        assert_eq!(cut("abc"), "abc");
        let long = "é".repeat(7_000);
        let expected = format!("{}… (7000 characters)", "é".repeat(SHOWN_MAX));
        assert_eq!(cut(&long), expected);
        assert_eq!(
            shown(&long),
            format!("\"{}\"… (7000 characters)", "é".repeat(SHOWN_MAX))
        );
    }
}

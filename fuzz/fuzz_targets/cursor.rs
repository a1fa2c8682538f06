//! `next` cursors (`src/taxii/cursor.rs`): what a client sends back to page through a collection.
//!
//! Properties: a cursor opens, with its key, in the listing it was sealed for, to the position it was sealed
//! at; it never opens in another listing, nor with another key; a cursor changed in any way (a character
//! replaced, cut short, lengthened) never opens; and any text sent as a cursor is refused or opens to a
//! position whose own cursor is that text (nothing else is ever accepted).
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use stixgate::taxii::cursor::{CursorError, CursorKey};

#[derive(Debug, Arbitrary)]
struct Case {
    secret: [u8; 32],
    other_secret: [u8; 32],
    scope: String,
    other_scope: String,
    date_added: u64,
    change: Change,
    sent: String,
}

#[derive(Debug, Arbitrary)]
enum Change {
    Replace { at: usize, with: char },
    Cut { keep: usize },
    Append(String),
}

fuzz_target!(|case: Case| {
    let key = CursorKey::new(case.secret);
    let cursor = key.seal(&case.scope, case.date_added);
    assert_eq!(key.open(&case.scope, &cursor), Ok(case.date_added));
    if case.other_scope != case.scope {
        assert_eq!(
            key.open(&case.other_scope, &cursor),
            Err(CursorError),
            "opened in another listing"
        );
    }
    if case.other_secret != case.secret {
        let other = CursorKey::new(case.other_secret);
        assert_eq!(
            other.open(&case.scope, &cursor),
            Err(CursorError),
            "opened with another key"
        );
    }
    let changed = match case.change {
        Change::Replace { at, with } => {
            let mut chars: Vec<char> = cursor.chars().collect();
            let at = at % chars.len();
            chars[at] = with;
            chars.into_iter().collect()
        }
        Change::Cut { keep } => cursor[..keep % cursor.len()].to_owned(),
        Change::Append(tail) => format!("{cursor}{tail}"),
    };
    if changed != cursor {
        assert_eq!(
            key.open(&case.scope, &changed),
            Err(CursorError),
            "a changed cursor {changed:?} opened"
        );
    }
    if let Ok(position) = key.open(&case.scope, &case.sent) {
        assert_eq!(
            key.seal(&case.scope, position),
            case.sent,
            "{:?} opened",
            case.sent
        );
    }
});

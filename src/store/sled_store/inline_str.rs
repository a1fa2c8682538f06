//! Short texts decoded from group records (ids, version texts, collection ids), held inline: a group record
//! writes them in pieces (an id's prefix and its UUID's bytes), so an entry owns the text it puts back together,
//! and decoding one should not allocate for it.

use std::fmt;
use std::ops::Deref;

/// Bytes held inline: the id of a STIX type of up to 26 characters fits, and every timestamp.
const INLINE: usize = 62;

/// A text, inline when it is short, on the heap otherwise.
#[derive(Clone)]
pub(crate) enum InlineStr {
    Inline { length: u8, bytes: [u8; INLINE] },
    Heap(Box<str>),
}

impl InlineStr {
    pub(crate) fn new(text: &str) -> Self {
        Self::joined(text, "")
    }

    /// `first` followed by `second`.
    pub(crate) fn joined(first: &str, second: &str) -> Self {
        let length = first.len() + second.len();
        if length > INLINE {
            return Self::Heap([first, second].concat().into_boxed_str());
        }
        let mut bytes = [0; INLINE];
        bytes[..first.len()].copy_from_slice(first.as_bytes());
        bytes[first.len()..length].copy_from_slice(second.as_bytes());
        Self::Inline {
            length: u8::try_from(length).expect("at most INLINE"),
            bytes,
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        match self {
            // Checked again here because this crate forbids `unsafe`; the bytes came from `str`s, so it never fails,
            // and for ids and timestamps (ASCII) the check is a few word compares.
            Self::Inline { length, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*length)]).expect("joined from strs")
            }
            Self::Heap(text) => text,
        }
    }
}

impl Deref for InlineStr {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for InlineStr {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for InlineStr {}

impl PartialEq<str> for InlineStr {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for InlineStr {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl From<&str> for InlineStr {
    fn from(text: &str) -> Self {
        Self::new(text)
    }
}

impl fmt::Debug for InlineStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_texts_are_inline_and_long_ones_on_the_heap() {
        let id = InlineStr::joined("indicator--", "0a1b2c3d-0000-4000-8000-000000000000");
        assert!(matches!(id, InlineStr::Inline { .. }));
        assert_eq!(id, "indicator--0a1b2c3d-0000-4000-8000-000000000000");
        let long = "x".repeat(INLINE + 1);
        let heap = InlineStr::joined(&long[..10], &long[10..]);
        assert!(matches!(heap, InlineStr::Heap(_)));
        assert_eq!(&*heap, long);
        assert_eq!(InlineStr::new(&long[1..]), InlineStr::new(&long[..INLINE]));
        assert_eq!(InlineStr::new("é€"), "é€");
        assert_eq!(InlineStr::new(""), "");
    }
}

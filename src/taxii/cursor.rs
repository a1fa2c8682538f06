//! `next` cursors: stateless and signed. A cursor holds the `date_added` of the last object a page gave,
//! and a MAC over it and the listing it belongs to, so it survives restarts, works on every worker, and
//! cannot be forged or moved to another collection. A changed `limit` or filter is fine: the cursor is only
//! a position, and the query is evaluated afresh from it (TAXII 2.1 Appendix B).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

const MAC_BYTES: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the `next` cursor is not one this server gave for this listing")]
pub struct CursorError;

/// Signs and checks cursors with one secret.
#[derive(Clone)]
pub struct CursorKey([u8; 32]);

impl CursorKey {
    pub fn new(secret: [u8; 32]) -> Self {
        Self(secret)
    }

    /// A cursor after `date_added` in the listing named `scope` (such as a collection id).
    pub fn seal(&self, scope: &str, date_added: u64) -> String {
        let mut token = date_added.to_be_bytes().to_vec();
        token.extend_from_slice(&self.hmac(scope, date_added).finalize().into_bytes()[..MAC_BYTES]);
        URL_SAFE_NO_PAD.encode(token)
    }

    /// The `date_added` of a cursor made by [`CursorKey::seal`] for the same `scope`.
    pub fn open(&self, scope: &str, cursor: &str) -> Result<u64, CursorError> {
        let token = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| CursorError)?;
        let (position, mac) = token.split_at_checked(8).ok_or(CursorError)?;
        // `verify_truncated_left` compares as many bytes as it is given: a shorter MAC must not get that far.
        if mac.len() != MAC_BYTES {
            return Err(CursorError);
        }
        let date_added = u64::from_be_bytes(position.try_into().map_err(|_| CursorError)?);
        // `verify_truncated_left` compares in constant time, but only as many bytes as it is given: a MAC
        // cut to one byte would be guessed in 256 tries.
        if mac.len() != MAC_BYTES {
            return Err(CursorError);
        }
        self.hmac(scope, date_added)
            .verify_truncated_left(mac)
            .map_err(|_| CursorError)?;
        Ok(date_added)
    }

    fn hmac(&self, scope: &str, date_added: u64) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(scope.as_bytes());
        mac.update(&[0]);
        mac.update(&date_added.to_be_bytes());
        mac
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_open_only_with_the_same_key_and_scope() {
        let key = CursorKey::new([7; 32]);
        let cursor = key.seal("c1", 1_700_000_000_000_001);
        assert_eq!(key.open("c1", &cursor), Ok(1_700_000_000_000_001));
        assert_eq!(key.open("c2", &cursor), Err(CursorError));
        assert_eq!(
            CursorKey::new([8; 32]).open("c1", &cursor),
            Err(CursorError)
        );
        assert_eq!(key.open("c1", "garbage!"), Err(CursorError));
        assert_eq!(key.open("c1", ""), Err(CursorError));
        let mut forged = URL_SAFE_NO_PAD.decode(&cursor).unwrap();
        forged[7] ^= 1;
        assert_eq!(
            key.open("c1", &URL_SAFE_NO_PAD.encode(forged)),
            Err(CursorError)
        );
    }

    /// Issue 22, finding 9 (and a property of the `cursor` fuzz target): a MAC cut short was compared on its
    /// own length, so a cursor whose MAC was cut to one byte opened, and any position was forged in a few
    /// hundred tries.
    #[test]
    fn a_cursor_cut_short_or_lengthened_never_opens() {
        let key = CursorKey::new([7; 32]);
        let cursor = key.seal("c1", 42);
        let token = URL_SAFE_NO_PAD.decode(&cursor).unwrap();
        for length in 0..token.len() {
            let cut = URL_SAFE_NO_PAD.encode(&token[..length]);
            assert_eq!(key.open("c1", &cut), Err(CursorError), "{length} bytes");
        }
        let mut longer = token.clone();
        longer.push(0);
        assert_eq!(
            key.open("c1", &URL_SAFE_NO_PAD.encode(longer)),
            Err(CursorError)
        );
    }
}

//! Bounds on what is repeated back. A value taken from a request is named in an error or
//! recorded in the audit trail only up to a length; past it come its full length and a hash, so
//! two records of the same huge value still match. Audit records as a whole are bounded too
//! ([`crate::audit::bound_record`]).

use crate::jose::sha256_hex;
use std::borrow::Cow;

/// Characters of a request value named in an error message or a trail step: longer words of a
/// message are cut to this.
pub const ECHO_CHARS: usize = 200;
/// Characters of a whole error message as a door sends it.
pub const MESSAGE_CHARS: usize = 1024;
/// Characters of any one string (or member name) in an audit record.
pub const RECORD_VALUE_CHARS: usize = 4096;
/// Bytes of a whole audit record (its JSON).
pub const RECORD_BYTES: usize = 64 * 1024;

/// `value` cut to [`ECHO_CHARS`]: for naming a request's value in a message.
pub fn excerpt(value: &str) -> Cow<'_, str> {
    excerpt_to(value, ECHO_CHARS)
}

/// `value` cut to `max` characters, followed by `…[<n> chars, sha256:<16 hex>]` when longer.
pub fn excerpt_to(value: &str, max: usize) -> Cow<'_, str> {
    match value.char_indices().nth(max) {
        None => Cow::Borrowed(value),
        Some((cut, _)) => Cow::Owned(format!(
            "{}…[{} chars, sha256:{}]",
            &value[..cut],
            value.chars().count(),
            &sha256_hex(value.as_bytes())[..16]
        )),
    }
}

/// A message as a door sends it: see [`bounded_text`], to [`MESSAGE_CHARS`].
pub fn bounded_message(message: &str) -> Cow<'_, str> {
    bounded_text(message, MESSAGE_CHARS)
}

/// `text` with every word (a run without white space: an id, a name, an ARN, a path) longer than
/// [`ECHO_CHARS`] cut by [`excerpt`], and the whole cut to `max` characters. Messages name request
/// values as single words, so whatever message quotes a huge value, it repeats only an excerpt.
pub fn bounded_text(text: &str, max: usize) -> Cow<'_, str> {
    let long_word = |w: &str| w.len() > ECHO_CHARS && w.chars().count() > ECHO_CHARS;
    let words = || text.split_inclusive(char::is_whitespace);
    if !words().any(|w| long_word(w.trim_end())) {
        return excerpt_to(text, max);
    }
    let mut out = String::with_capacity(max.min(text.len()));
    for piece in words() {
        let word = piece.trim_end();
        if long_word(word) {
            out.push_str(&excerpt(word));
            out.push_str(&piece[word.len()..]);
        } else {
            out.push_str(piece);
        }
    }
    Cow::Owned(excerpt_to(&out, max).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_excerpt_keeps_the_length_and_a_hash() {
        assert_eq!(excerpt("short"), "short");
        assert!(matches!(excerpt(&"a".repeat(ECHO_CHARS)), Cow::Borrowed(_)));
        let huge = "Z".repeat(1 << 20);
        let a = excerpt(&huge);
        assert!(a.starts_with(&"Z".repeat(ECHO_CHARS)) && !a.starts_with(&"Z".repeat(ECHO_CHARS + 1)), "{a}");
        assert!(a.ends_with(&format!("[1048576 chars, sha256:{}]", &sha256_hex(huge.as_bytes())[..16])), "{a}");
        assert!(a.len() < ECHO_CHARS + 60);
        // Values that differ only past the cut differ in their hash.
        let other = format!("{}Y", "Z".repeat((1 << 20) - 1));
        assert_ne!(a, excerpt(&other));
        // Cut on a character boundary.
        assert_eq!(excerpt_to("ééé", 2), format!("éé…[3 chars, sha256:{}]", &sha256_hex("ééé".as_bytes())[..16]));
    }

    #[test]
    fn a_message_repeats_only_an_excerpt_of_a_huge_value() {
        let m = "User pool client 1234 does not exist.";
        assert!(matches!(bounded_message(m), Cow::Borrowed(_)));
        let huge = "Z".repeat(1 << 20);
        let m = format!("User pool client {huge} does not exist.\nnext line");
        let b = bounded_message(&m);
        assert!(b.starts_with(&format!("User pool client {}…[1048576 chars, sha256:", "Z".repeat(ECHO_CHARS))), "{b}");
        assert!(b.ends_with(" does not exist.\nnext line"), "{b}");
        // Many short words: the whole is cut.
        let spaced = "Z ".repeat(1 << 19);
        let b = bounded_message(&spaced);
        assert!(b.chars().count() < MESSAGE_CHARS + 64 && b.contains("[1048576 chars"), "{}", b.len());
    }
}

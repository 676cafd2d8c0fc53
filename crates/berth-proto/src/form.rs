//! `application/x-www-form-urlencoded` text (awsQuery bodies, URL query
//! strings): the one decoder. Pieces split on `&`, empty pieces skipped, a
//! piece without `=` has an empty value, `+` is a space, `%XX` a byte (a `%`
//! not followed by two hex digits stays as it is), repeated names kept in
//! order. Built on `percent_encoding` (what `form_urlencoded` itself uses)
//! at the byte level, because SigV4 canonicalizes the decoded bytes and a
//! lossy UTF-8 step there would change the signature.

use std::borrow::Cow;

/// Decodes form text into (name, value) byte pairs, in order.
pub fn decode_bytes(text: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    text.split('&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| {
            let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
            (decode_component(name), decode_component(value))
        })
        .collect()
}

/// Decodes form text into (name, value) string pairs, in order (invalid
/// UTF-8 replaced by U+FFFD).
pub fn decode(text: &str) -> Vec<(String, String)> {
    decode_bytes(text)
        .into_iter()
        .map(|(k, v)| (lossy(k), lossy(v)))
        .collect()
}

/// The first value of `name` in form text.
pub fn value(text: &str, name: &str) -> Option<String> {
    decode(text).into_iter().find_map(|(k, v)| (k == name).then_some(v))
}

fn decode_component(s: &str) -> Vec<u8> {
    let spaced: Cow<'_, str> = if s.contains('+') {
        Cow::Owned(s.replace('+', " "))
    } else {
        Cow::Borrowed(s)
    };
    percent_encoding::percent_decode_str(&spaced).collect()
}

fn lossy(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_plus_and_percent() {
        assert_eq!(
            decode("a=1&&b&c=x+y%2Bz&a=2"),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), String::new()),
                ("c".into(), "x y+z".into()),
                ("a".into(), "2".into()),
            ]
        );
        assert_eq!(decode_bytes("k=%ff%4"), vec![(b"k".to_vec(), vec![0xff, b'%', b'4'])]);
        assert_eq!(decode("k=%ff"), vec![("k".into(), "\u{fffd}".into())]);
        assert_eq!(value("a=1&b=2&b=3", "b").as_deref(), Some("2"));
        assert_eq!(value("a=1", "b"), None);
    }
}

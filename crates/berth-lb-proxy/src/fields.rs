//! Header fields as the proxy reads them from an HTTP/1 head, pure: each
//! field a pair of spans of the head's bytes (no name parsed into a
//! `HeaderName`, no value copied, nothing hashed), looked up by a
//! case-insensitive scan — a head has a dozen fields, fewer than a hash
//! map pays for. [`Headers`] is what the rules and the stickiness cookies
//! read: such fields (an HTTP/1 client's request) or an `http::HeaderMap`
//! (an HTTP/2 client's).

use http::HeaderMap;
use http::header::{HeaderValue, ValueIter};

/// One header field: where its name and value are in the head's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    name: (u32, u32),
    value: (u32, u32),
}

impl Field {
    /// The field whose name and value are the sub-slices `name` and
    /// `value` of `head` (as `httparse` hands them out).
    pub(crate) fn within(head: &[u8], name: &[u8], value: &[u8]) -> Field {
        let base = head.as_ptr() as usize;
        let span = |s: &[u8]| {
            let start = (s.as_ptr() as usize).saturating_sub(base);
            // A head is at most 64 KiB (`h1::MAX_HEAD`): the offsets fit.
            (start as u32, (start + s.len()) as u32)
        };
        Field {
            name: span(name),
            value: span(value),
        }
    }

    pub(crate) fn name<'h>(&self, head: &'h [u8]) -> &'h [u8] {
        head.get(self.name.0 as usize..self.name.1 as usize).unwrap_or_default()
    }

    pub(crate) fn value<'h>(&self, head: &'h [u8]) -> &'h [u8] {
        head.get(self.value.0 as usize..self.value.1 as usize)
            .unwrap_or_default()
    }
}

/// The fields of one head, with the bytes they point into.
#[derive(Debug, Clone, Copy)]
pub struct RawFields<'a> {
    head: &'a [u8],
    fields: &'a [Field],
}

impl<'a> RawFields<'a> {
    pub(crate) fn new(head: &'a [u8], fields: &'a [Field]) -> RawFields<'a> {
        RawFields { head, fields }
    }

    /// Every field, name and value, in the head's order.
    pub fn iter(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + use<'a> {
        let head = self.head;
        self.fields.iter().map(move |f| (f.name(head), f.value(head)))
    }

    /// The values of the fields named `name` (any case).
    pub fn values<'n>(&self, name: &'n str) -> impl Iterator<Item = &'a [u8]> + use<'a, 'n> {
        self.iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }
}

/// A request's headers as the rules read them.
#[derive(Debug, Clone, Copy)]
pub enum Headers<'a> {
    /// An HTTP/2 client's, decoded by hyper.
    Map(&'a HeaderMap),
    /// An HTTP/1 client's, read by the proxy.
    Raw(RawFields<'a>),
}

impl<'a> From<&'a HeaderMap> for Headers<'a> {
    fn from(map: &'a HeaderMap) -> Headers<'a> {
        Headers::Map(map)
    }
}

impl<'a> Headers<'a> {
    /// The values of the fields named `name` (lower case), in order.
    pub fn values<'n>(&self, name: &'n str) -> Values<'a, 'n> {
        match self {
            Headers::Map(map) => Values::Map(map.get_all(name).iter()),
            Headers::Raw(raw) => Values::Raw {
                raw: *raw,
                name,
                next: 0,
            },
        }
    }

    /// The values of the fields named `name` that are text (visible ASCII,
    /// spaces and tabs), as `HeaderValue::to_str` reads them.
    pub fn texts<'n>(&self, name: &'n str) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
        self.values(name).filter_map(text)
    }
}

/// A value as text, if it is only visible ASCII, spaces and tabs.
pub(crate) fn text(value: &[u8]) -> Option<&str> {
    if value.iter().all(|&b| b == b'\t' || (0x20..0x7f).contains(&b)) {
        std::str::from_utf8(value).ok()
    } else {
        None
    }
}

/// The values of one header name.
#[derive(Debug)]
pub enum Values<'a, 'n> {
    Map(ValueIter<'a, HeaderValue>),
    Raw {
        raw: RawFields<'a>,
        name: &'n str,
        /// The next field to look at.
        next: usize,
    },
}

impl<'a> Iterator for Values<'a, '_> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        match self {
            Values::Map(it) => it.next().map(HeaderValue::as_bytes),
            Values::Raw { raw, name, next } => {
                while let Some(field) = raw.fields.get(*next) {
                    *next += 1;
                    if field.name(raw.head).eq_ignore_ascii_case(name.as_bytes()) {
                        return Some(field.value(raw.head));
                    }
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_found_by_name_in_any_case_and_in_order() {
        let head = b"Cookie: a=1\r\nX-Other: x\r\ncookie: b=2\r\n";
        let text = &head[..];
        let fields = [
            Field::within(text, &text[0..6], &text[8..11]),
            Field::within(text, &text[13..20], &text[22..23]),
            Field::within(text, &text[25..31], &text[33..36]),
        ];
        let raw = RawFields::new(text, &fields);
        let headers = Headers::Raw(raw);
        assert_eq!(headers.texts("cookie").collect::<Vec<_>>(), ["a=1", "b=2"]);
        assert_eq!(headers.texts("x-other").collect::<Vec<_>>(), ["x"]);
        assert_eq!(headers.values("absent").count(), 0);
        assert_eq!(raw.iter().count(), 3);
    }

    #[test]
    fn a_header_map_reads_the_same() {
        let mut map = HeaderMap::new();
        map.append("cookie", HeaderValue::from_static("a=1"));
        map.append("cookie", HeaderValue::from_static("b=2"));
        let headers = Headers::from(&map);
        assert_eq!(headers.texts("cookie").collect::<Vec<_>>(), ["a=1", "b=2"]);
    }

    #[test]
    fn only_visible_ascii_is_text() {
        assert_eq!(text(b"a b\tc"), Some("a b\tc"));
        assert_eq!(text(b"caf\xc3\xa9"), None);
        assert_eq!(text(b"a\x7f"), None);
    }
}

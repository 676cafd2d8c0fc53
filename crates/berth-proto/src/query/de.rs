//! awsQuery form → typed input, with serde. The flat parameters are first
//! folded into a tree by their dotted names, then a [`Deserializer`] walks
//! the tree, following the awsQuery serialization rules:
//!
//! - a structure member `A.B` is `B` inside `A`;
//! - a list is `A.member.N` (the EC2 query dialect's `A.N` also reads), in
//!   index order, an empty list is `A=`;
//! - a map is `A.entry.N.key` / `A.entry.N.value`;
//! - scalars are text: integers, floats and booleans are parsed from it.
//!
//! Member names are the model's (PascalCase: `#[serde(rename_all = "PascalCase")]`).
//! A missing required member and a scalar that does not parse answer IAM's
//! `ValidationError` wording; unknown parameters are ignored.

use super::input::{QueryInput, lower_first};
use crate::AwsError;
use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};
use std::collections::BTreeMap;

/// Decodes `input` (all its parameters but `Action` and `Version`) into `T`.
pub fn from_query<T: DeserializeOwned>(input: &QueryInput) -> Result<T, AwsError> {
    let tree = tree(input);
    T::deserialize(NodeDe {
        node: &tree,
        path: String::new(),
    })
    .map_err(|e| AwsError::new("ValidationError", 400, e.0))
}

/// The parameters of a form (all but `Action` and `Version`) folded by
/// their dotted names.
pub(super) fn tree(input: &QueryInput) -> Node {
    Node::from_params(
        input
            .params()
            .iter()
            .filter(|(k, _)| k.as_str() != "Action" && k.as_str() != "Version"),
    )
}

/// The parameters folded by their dotted names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Node {
    Leaf(String),
    Branch(BTreeMap<String, Node>),
}

impl Node {
    fn from_params<'a>(params: impl Iterator<Item = (&'a String, &'a String)>) -> Node {
        let mut root = Node::Branch(BTreeMap::new());
        for (name, value) in params {
            let mut at = &mut root;
            let mut segments = name.split('.').peekable();
            while let Some(segment) = segments.next() {
                if !matches!(at, Node::Branch(_)) {
                    // `A=x` and `A.B=y` both given: the structure wins.
                    *at = Node::Branch(BTreeMap::new());
                }
                let Node::Branch(children) = at else {
                    unreachable!("made a branch above")
                };
                if segments.peek().is_none() {
                    children
                        .entry(segment.to_string())
                        .or_insert_with(|| Node::Leaf(value.clone()));
                    break;
                }
                at = children
                    .entry(segment.to_string())
                    .or_insert_with(|| Node::Branch(BTreeMap::new()));
            }
        }
        root
    }

    /// The items of a list: `member.N` (or `N`) children in index order; an
    /// empty text is an empty list.
    pub(super) fn items(&self) -> Option<Vec<&Node>> {
        match self {
            Node::Leaf(text) if text.is_empty() => Some(Vec::new()),
            Node::Leaf(_) => None,
            Node::Branch(children) => {
                let indexed = match children.get("member") {
                    Some(Node::Branch(members)) => members,
                    Some(Node::Leaf(_)) => return None,
                    None => children,
                };
                let mut items = indexed
                    .iter()
                    .map(|(k, v)| k.parse::<u32>().ok().map(|i| (i, v)))
                    .collect::<Option<Vec<_>>>()?;
                items.sort_by_key(|(i, _)| *i);
                Some(items.into_iter().map(|(_, v)| v).collect())
            }
        }
    }
}

/// A decoding error: already in AWS's words.
#[derive(Debug)]
pub struct DeError(String);

impl std::fmt::Display for DeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        DeError(format!("1 validation error detected: {msg}"))
    }
    fn missing_field(field: &'static str) -> Self {
        DeError(format!(
            "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
            lower_first(field)
        ))
    }
}

struct NodeDe<'a> {
    node: &'a Node,
    /// The member's path as AWS names it in messages (`tags.1.key`).
    path: String,
}

impl<'a> NodeDe<'a> {
    fn child(&self, name: &str, node: &'a Node) -> Self {
        let name = lower_first(name);
        let path = if self.path.is_empty() {
            name
        } else {
            format!("{}.{name}", self.path)
        };
        NodeDe { node, path }
    }

    fn text(&self) -> Result<&'a str, DeError> {
        match self.node {
            Node::Leaf(t) => Ok(t),
            Node::Branch(_) => Err(DeError(format!(
                "1 validation error detected: Value at '{}' failed to satisfy constraint: Member must be a scalar",
                self.path
            ))),
        }
    }

    fn parse<T: std::str::FromStr>(&self, kind: &str) -> Result<T, DeError> {
        let text = self.text()?;
        text.trim()
            .parse()
            .map_err(|_| DeError(format!("Value '{text}' at '{}' is not a valid {kind}", self.path)))
    }
}

macro_rules! parsed {
    ($($method:ident => $visit:ident: $ty:ty, $kind:literal;)*) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
            visitor.$visit(self.parse::<$ty>($kind)?)
        })*
    };
}

impl<'de> de::Deserializer<'de> for NodeDe<'de> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.node {
            Node::Leaf(t) => visitor.visit_str(t),
            Node::Branch(_) => self.deserialize_struct("", &[], visitor),
        }
    }

    parsed! {
        deserialize_i8 => visit_i8: i8, "integer";
        deserialize_i16 => visit_i16: i16, "integer";
        deserialize_i32 => visit_i32: i32, "integer";
        deserialize_i64 => visit_i64: i64, "integer";
        deserialize_u8 => visit_u8: u8, "integer";
        deserialize_u16 => visit_u16: u16, "integer";
        deserialize_u32 => visit_u32: u32, "integer";
        deserialize_u64 => visit_u64: u64, "integer";
        deserialize_f32 => visit_f32: f32, "number";
        deserialize_f64 => visit_f64: f64, "number";
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let text = self.text()?;
        match text {
            t if t.eq_ignore_ascii_case("true") => visitor.visit_bool(true),
            t if t.eq_ignore_ascii_case("false") => visitor.visit_bool(false),
            _ => Err(DeError(format!(
                "Value '{text}' at '{}' is not a valid boolean",
                self.path
            ))),
        }
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_borrowed_str(self.text()?)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_borrowed_bytes(self.text()?.as_bytes())
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        // Only members that are present reach here.
        visitor.visit_some(self)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let items = self.node.items().ok_or_else(|| {
            DeError(format!(
                "1 validation error detected: Value at '{}' failed to satisfy constraint: Member must be a list",
                self.path
            ))
        })?;
        let path = self.path;
        visitor.visit_seq(Items {
            items: items.into_iter().enumerate(),
            path,
        })
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        // `entry.N.key`/`entry.N.value` pairs.
        let entries = match self.node {
            Node::Leaf(t) if t.is_empty() => Vec::new(),
            Node::Branch(children) => match children.get("entry").map(Node::items) {
                Some(Some(items)) => items
                    .into_iter()
                    .filter_map(|entry| match entry {
                        Node::Branch(kv) => Some((kv.get("key")?, kv.get("value")?)),
                        Node::Leaf(_) => None,
                    })
                    .collect(),
                _ => {
                    return Err(DeError(format!(
                        "1 validation error detected: Value at '{}' failed to satisfy constraint: Member must be a map",
                        self.path
                    )));
                }
            },
            Node::Leaf(_) => return Err(self.not_a_structure()),
        };
        visitor.visit_map(Entries {
            entries: entries.into_iter(),
            value: None,
            path: self.path,
        })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        static EMPTY: BTreeMap<String, Node> = BTreeMap::new();
        let members = match self.node {
            Node::Branch(children) => children,
            Node::Leaf(t) if t.is_empty() => &EMPTY,
            Node::Leaf(_) => return Err(self.not_a_structure()),
        };
        visitor.visit_map(Members {
            members: members.iter(),
            value: None,
            parent: &self,
        })
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_enum(self.text()?.into_deserializer())
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }
}

impl NodeDe<'_> {
    fn not_a_structure(&self) -> DeError {
        DeError(format!(
            "1 validation error detected: Value at '{}' failed to satisfy constraint: Member must be a structure",
            self.path
        ))
    }
}

struct Items<'a, I: Iterator<Item = (usize, &'a Node)>> {
    items: I,
    path: String,
}

impl<'de, I: Iterator<Item = (usize, &'de Node)>> de::SeqAccess<'de> for Items<'de, I> {
    type Error = DeError;
    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, DeError> {
        match self.items.next() {
            None => Ok(None),
            Some((i, node)) => seed
                .deserialize(NodeDe {
                    node,
                    path: format!("{}.{}.member", self.path, i + 1),
                })
                .map(Some),
        }
    }
}

struct Members<'a, 'p> {
    members: std::collections::btree_map::Iter<'a, String, Node>,
    value: Option<(&'a String, &'a Node)>,
    parent: &'p NodeDe<'a>,
}

impl<'de> de::MapAccess<'de> for Members<'de, '_> {
    type Error = DeError;
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, DeError> {
        match self.members.next() {
            None => Ok(None),
            Some((name, node)) => {
                self.value = Some((name, node));
                seed.deserialize(name.as_str().into_deserializer()).map(Some)
            }
        }
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let (name, node) = self
            .value
            .take()
            .ok_or_else(|| DeError("a value was asked for before its key".into()))?;
        seed.deserialize(self.parent.child(name, node))
    }
}

struct Entries<'a, I: Iterator<Item = (&'a Node, &'a Node)>> {
    entries: I,
    value: Option<&'a Node>,
    path: String,
}

impl<'de, I: Iterator<Item = (&'de Node, &'de Node)>> de::MapAccess<'de> for Entries<'de, I> {
    type Error = DeError;
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, DeError> {
        match self.entries.next() {
            None => Ok(None),
            Some((key, value)) => {
                self.value = Some(value);
                seed.deserialize(NodeDe {
                    node: key,
                    path: format!("{}.key", self.path),
                })
                .map(Some)
            }
        }
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let node = self
            .value
            .take()
            .ok_or_else(|| DeError("a value was asked for before its key".into()))?;
        seed.deserialize(NodeDe {
            node,
            path: format!("{}.value", self.path),
        })
    }
}

#[cfg(test)]
#[path = "de_tests.rs"]
mod tests;

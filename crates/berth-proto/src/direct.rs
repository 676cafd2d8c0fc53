//! An operation's input read straight from its awsJson body into its typed
//! form ([`crate::operation::Operation::read_body`]), without the generic
//! `serde_json::Value` the listener otherwise parses, checks against the
//! model and decodes again. Such a reader accepts only what it fully
//! checks: an input the model would clean (an unknown member, a null) or
//! refuse, or one it does not know how to read, is left to the general
//! path, which answers as it always did.
//!
//! What the audit trail needs of an input read this way is its
//! [`Summary`]: the length the general path's `Value` would have as
//! compact JSON and its top-level members, which is all a large input's
//! record keeps (`berth_audit::RequestParameters::of_summary`).

use serde_json::Number;

/// What the audit trail's record of an input read straight from its body
/// is made from.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// The input's length as serde_json writes its `Value` in compact form
    /// ([`crate::json_len`]).
    pub json_len: usize,
    /// The top-level members, in the body's order.
    pub top: Vec<(&'static str, Top)>,
    /// Every member name the reader accepts, at any depth: a record that
    /// would hide one of them (a secret-looking name) is not made from the
    /// summary.
    pub names: &'static [&'static str],
}

/// A top-level member of a [`Summary`].
#[derive(Debug, Clone, PartialEq)]
pub enum Top {
    Text(String),
    Number(Number),
    Bool(bool),
    /// A list, by its length.
    List(usize),
    /// A structure or a map.
    Object,
}

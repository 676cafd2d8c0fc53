//! awsQuery answers: typed outputs serialized with quick-xml's serde
//! serializer into the envelope every awsQuery service shares,
//!
//! ```xml
//! <{Action}Response xmlns="{namespace}">
//!   <{Action}Result>…the output…</{Action}Result>
//!   <ResponseMetadata><RequestId>…</RequestId></ResponseMetadata>
//! </{Action}Response>
//! ```
//!
//! and the `ErrorResponse` of a failure. Output members are the model's
//! PascalCase names; a list is `<Name><member>…</member></Name>`
//! ([`Members`]); an absent optional member is left out
//! (`#[serde(skip_serializing_if = "Option::is_none")]`).

use crate::AwsError;
use crate::error::xml_escape;
use serde::Serialize;
use serde::ser::{SerializeMap, SerializeStruct};

/// The `<{Action}Result>` of one answer, already serialized (or nothing, for
/// actions without output such as `DeleteUser`): what a service returns, to
/// be wrapped by [`response`] with its namespace and the request id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryResult(Option<String>);

impl QueryResult {
    /// An action without output.
    pub fn empty() -> Self {
        Self(None)
    }

    /// Serializes `output` as the `<{action}Result>` element.
    pub fn of<T: Serialize>(action: &str, output: &T) -> Result<Self, AwsError> {
        quick_xml::se::to_string_with_root(&format!("{action}Result"), output)
            .map(|xml| Self(Some(xml)))
            .map_err(|e| AwsError::internal(format!("failed to encode the {action} answer: {e}")))
    }

    /// The `<{action}Result>` element, if the action has output.
    pub fn as_xml(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

/// The whole answer: the envelope around `result`.
pub fn response(action: &str, xmlns: &str, result: &QueryResult, request_id: &str) -> String {
    let mut out = format!("<{action}Response xmlns=\"{}\">", xml_escape(xmlns));
    if let Some(r) = &result.0 {
        out.push_str(r);
    }
    out.push_str(&format!(
        "<ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></{action}Response>",
        xml_escape(request_id)
    ));
    out
}

/// The `ErrorResponse` of a failure, in the service's namespace: `Sender`
/// for a client fault, `Receiver` for a server one.
pub fn error_response(e: &AwsError, xmlns: &str, request_id: &str) -> String {
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Error<'a> {
        r#type: &'a str,
        code: &'a str,
        message: &'a str,
    }
    #[derive(Serialize)]
    struct ErrorResponse<'a> {
        #[serde(rename = "@xmlns")]
        xmlns: &'a str,
        #[serde(rename = "Error")]
        error: Error<'a>,
        #[serde(rename = "RequestId")]
        request_id: &'a str,
    }
    let body = ErrorResponse {
        xmlns,
        error: Error {
            r#type: if e.is_client_fault() { "Sender" } else { "Receiver" },
            code: &e.code,
            message: &e.message,
        },
        request_id,
    };
    quick_xml::se::to_string_with_root("ErrorResponse", &body).unwrap_or_else(|_| {
        // Only plain text goes in: this cannot fail; keep an answer anyway.
        format!(
            "<ErrorResponse xmlns=\"{}\"><Error><Type>Receiver</Type><Code>InternalFailure</Code></Error><RequestId>{}</RequestId></ErrorResponse>",
            xml_escape(xmlns),
            xml_escape(request_id)
        )
    })
}

/// An awsQuery list: `<member>…</member>` per item, inside the member's own element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Members<T>(pub Vec<T>);

impl<T> Default for Members<T> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<T> Members<T> {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<T> From<Vec<T>> for Members<T> {
    fn from(items: Vec<T>) -> Self {
        Self(items)
    }
}

impl<T: Serialize> Serialize for Members<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Members", 1)?;
        st.serialize_field("member", &self.0)?;
        st.end()
    }
}

/// An awsQuery map: `<entry><key>…</key><value>…</value></entry>` per pair.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Entries<K, V>(pub Vec<(K, V)>);

impl<K: Serialize, V: Serialize> Serialize for Entries<K, V> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Entry<'a, K, V> {
            key: &'a K,
            value: &'a V,
        }
        let mut m = s.serialize_map(Some(1))?;
        let entries: Vec<Entry<'_, K, V>> = self.0.iter().map(|(key, value)| Entry { key, value }).collect();
        m.serialize_entry("entry", &entries)?;
        m.end()
    }
}

/// A policy document as IAM returns it in XML answers
/// (`AssumeRolePolicyDocument`, `PolicyDocument`, `Document`): URL-encoded JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlEncoded(pub String);

impl Serialize for UrlEncoded {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&url_encode(&self.0))
    }
}

/// Percent-encodes text as IAM does in its XML answers.
pub fn url_encode(s: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(s, SET).to_string()
}

#[cfg(test)]
#[path = "xml_tests.rs"]
mod tests;

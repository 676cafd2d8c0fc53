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
//!
//! The EC2 dialect of the protocol ([`Dialect::Ec2`]) has its own frame:
//! `<{Action}Response xmlns><requestId>…</requestId>…the output…</…>` (no
//! Result element; members in camelCase, lists as `<item>`: [`Items`]), and
//! `<Response><Errors><Error><Code>…` for errors.

use crate::AwsError;
use serde::Serialize;
use serde::ser::{SerializeMap, SerializeStruct};

/// Which frame answers and errors are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// awsQuery: `<{Action}Result>` inside the response, `ErrorResponse`.
    AwsQuery,
    /// EC2's query protocol: the output right inside the response, after
    /// `requestId`; `Response/Errors/Error`.
    Ec2,
}

/// How one service's XML is written: its namespace and dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XmlStyle {
    pub namespace: &'static str,
    pub dialect: Dialect,
}

impl XmlStyle {
    /// The awsQuery dialect in `namespace`.
    pub const fn query(namespace: &'static str) -> Self {
        Self {
            namespace,
            dialect: Dialect::AwsQuery,
        }
    }
}

/// The output members of one answer, already serialized (or nothing, for
/// actions without output such as `DeleteUser`): what a service returns, to
/// be framed by [`response`] with its style and the request id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryResult(Option<String>);

impl QueryResult {
    /// An action without output.
    pub fn empty() -> Self {
        Self(None)
    }

    /// An action whose output shape has no members (ELBv2's
    /// RegisterTargets): an empty `<{Action}Result>`, which clients expect.
    pub fn no_members() -> Self {
        Self(Some(String::new()))
    }

    /// Serializes the members of `output` (a structure).
    pub fn of<T: Serialize>(action: &str, output: &T) -> Result<Self, AwsError> {
        const ROOT: &str = "R";
        let xml = quick_xml::se::to_string_with_root(ROOT, output)
            .map_err(|e| AwsError::internal(format!("failed to encode the {action} answer: {e}")))?;
        // The members only: the frame is the dialect's.
        let members = xml
            .strip_prefix("<R>")
            .and_then(|x| x.strip_suffix("</R>"))
            .unwrap_or_default();
        Ok(Self(Some(members.to_string())))
    }

    /// The `<{action}Result>` element of the awsQuery dialect, if the
    /// action has output.
    pub fn as_xml(&self, action: &str) -> Option<String> {
        self.0
            .as_deref()
            .map(|members| format!("<{action}Result>{members}</{action}Result>"))
    }
}

/// The whole answer: the dialect's frame around `result`.
pub fn response(action: &str, style: XmlStyle, result: &QueryResult, request_id: &str) -> String {
    let mut out = format!("<{action}Response xmlns=\"{}\">", xml_escape(style.namespace));
    match style.dialect {
        Dialect::AwsQuery => {
            if let Some(r) = result.as_xml(action) {
                out.push_str(&r);
            }
            out.push_str(&format!(
                "<ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata>",
                xml_escape(request_id)
            ));
        }
        Dialect::Ec2 => {
            out.push_str(&format!("<requestId>{}</requestId>", xml_escape(request_id)));
            if let Some(members) = &result.0 {
                out.push_str(members);
            }
        }
    }
    out.push_str(&format!("</{action}Response>"));
    out
}

/// The error of a failure, in the service's style: awsQuery's
/// `ErrorResponse` in its namespace (`Sender` for a client fault, `Receiver`
/// for a server one), or EC2's `Response/Errors/Error`.
pub fn error_response(e: &AwsError, style: XmlStyle, request_id: &str) -> String {
    if style.dialect == Dialect::Ec2 {
        return ec2_error_response(e, request_id);
    }
    let xmlns = style.namespace;
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

/// EC2's error frame.
fn ec2_error_response(e: &AwsError, request_id: &str) -> String {
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Error<'a> {
        code: &'a str,
        message: &'a str,
    }
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Errors<'a> {
        error: Error<'a>,
    }
    #[derive(Serialize)]
    struct Response<'a> {
        #[serde(rename = "Errors")]
        errors: Errors<'a>,
        #[serde(rename = "RequestID")]
        request_id: &'a str,
    }
    let body = Response {
        errors: Errors {
            error: Error {
                code: &e.code,
                message: &e.message,
            },
        },
        request_id,
    };
    quick_xml::se::to_string_with_root("Response", &body).unwrap_or_default()
}

/// An EC2 list: `<item>…</item>` per item, inside the member's own element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Items<T>(pub Vec<T>);

impl<T: Serialize> Serialize for Items<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Items", 1)?;
        st.serialize_field("item", &self.0)?;
        st.end()
    }
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

/// Escapes text for an XML element or attribute.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
#[path = "xml_tests.rs"]
mod tests;

//! Tests of [`super`] (sigv4.rs).

use super::*;
use super::{claims::*, date::*, error::*, sign::*};
use crate::AwsError;
use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

// ---- the published AWS SigV4 test suite (aws-sig-v4-test-suite, 2015 edition) ----

const AKID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const REGION: &str = "us-east-1";
const SERVICE: &str = "service";
const AMZ_DATE: &str = "20150830T123600Z";
const SCOPE: &str = "20150830/us-east-1/service/aws4_request";
const NOW: OffsetDateTime = datetime!(2015-08-30 12:36:00 UTC);
const HOST: (&str, &str) = ("Host", "example.amazonaws.com");
const DATE: (&str, &str) = ("X-Amz-Date", AMZ_DATE);
const STS_TOKEN: &str = "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";

fn header_map(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    map
}

fn apply(map: &mut HeaderMap, added: &[(String, String)]) {
    for (name, value) in added {
        map.insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
}

fn parts<'a>(
    method: &'a str,
    raw_path: &'a str,
    raw_query: &'a str,
    headers: &'a HeaderMap,
    payload_sha256_hex: &'a str,
) -> HttpRequestParts<'a> {
    HttpRequestParts {
        method,
        raw_path,
        raw_query,
        headers,
        payload_sha256_hex,
    }
}

fn authz(signed_headers: &str, signature: &str) -> String {
    format!("AWS4-HMAC-SHA256 Credential={AKID}/{SCOPE}, SignedHeaders={signed_headers}, Signature={signature}")
}

fn signed_vanilla(now_of_signature: OffsetDateTime) -> (HeaderMap, SignedRequest) {
    let creds = Credentials::new(AKID, SECRET);
    let mut headers = header_map(&[HOST]);
    let added = sign("GET", "/", "", &headers, b"", &creds, REGION, SERVICE, now_of_signature);
    apply(&mut headers, &added);
    let signed = parse(&parts("GET", "/", "", &headers, EMPTY_PAYLOAD_SHA256)).unwrap();
    (headers, signed)
}

const GOOD_CREDENTIAL: &str = "Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request";

mod aws_vectors;
mod endpoint;
mod malformed;
mod properties;
mod round_trips;
mod scope_region;
mod suite;

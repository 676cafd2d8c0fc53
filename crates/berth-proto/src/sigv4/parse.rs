//! Extracting a request's signature claims, from the `Authorization` header
//! or from presigned query parameters ([`parse`]).

use super::canonical::decode_query;
use super::claims::{HttpRequestParts, SignedRequest};
use super::date::{format_amz_date, parse_amz_date, parse_digits, parse_http_date};
use super::error::{SigV4Error, echo};
use super::names::{ALGORITHM, MAX_PRESIGNED_EXPIRES_SECS, SCOPE_TERMINATOR, header_names, query_params};
use http::HeaderValue;
use time::OffsetDateTime;

/// The region of an `Authorization: AWS4-HMAC-SHA256 Credential=…` header's
/// credential scope, read without parsing the rest of the request (the
/// listener picks the region's services with it before it authenticates).
/// `None` when there is no such header or its credential has not the five
/// parts of a scope; [`parse`] is the full check.
pub fn header_scope_region(headers: &http::HeaderMap) -> Option<&str> {
    let value = headers.get(header_names::AUTHORIZATION)?.to_str().ok()?;
    let rest = value.strip_prefix(ALGORITHM)?;
    let start = rest.find("Credential=")? + "Credential=".len();
    let credential = rest[start..].split([',', ' ']).next()?;
    let mut parts = credential.split('/');
    let (_key, _date, region, _service, terminator) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    (terminator == SCOPE_TERMINATOR && parts.next().is_none() && !region.is_empty()).then_some(region)
}

/// Extracts the signature claims of a request, in either the header form
/// (`Authorization: AWS4-HMAC-SHA256 Credential=.., SignedHeaders=.., Signature=..`,
/// dated by `X-Amz-Date` or `Date`) or the presigned query form
/// (`X-Amz-Algorithm`, `X-Amz-Credential`, `X-Amz-Date`, `X-Amz-Expires`,
/// `X-Amz-SignedHeaders`, `X-Amz-Signature`).
pub fn parse(req: &HttpRequestParts<'_>) -> Result<SignedRequest, SigV4Error> {
    let query = decode_query(req.raw_query);
    let presigned = query
        .iter()
        .any(|(name, _)| name.as_slice() == query_params::ALGORITHM.as_bytes());
    let mut authorization = req.headers.get_all(header_names::AUTHORIZATION).iter();
    let first = authorization.next();
    let second = authorization.next();

    if presigned {
        if first.is_some() {
            return Err(SigV4Error::Incomplete(
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the \
                 Authorization header should be specified."
                    .into(),
            ));
        }
        return parse_presigned(req, &query);
    }
    match (first, second) {
        (None, _) => {
            let has = |name: &str| query.iter().any(|(n, _)| n.as_slice() == name.as_bytes());
            if has("AWSAccessKeyId") && has("Signature") {
                return Err(SigV4Error::UnsupportedAlgorithm("AWS Signature Version 2".into()));
            }
            Err(SigV4Error::Missing)
        }
        (Some(value), None) => parse_header_form(req, value, &query),
        (Some(_), Some(_)) => Err(SigV4Error::Incomplete(
            "The request has more than one Authorization header.".into(),
        )),
    }
}

fn parse_header_form(
    req: &HttpRequestParts<'_>,
    value: &HeaderValue,
    query: &[(Vec<u8>, Vec<u8>)],
) -> Result<SignedRequest, SigV4Error> {
    let Ok(text) = value.to_str() else {
        return Err(SigV4Error::Incomplete(
            "The Authorization header contains characters that are not visible ASCII.".into(),
        ));
    };
    let text = text.trim();
    if text.is_empty() {
        return Err(SigV4Error::Missing);
    }
    let (algorithm, rest) = text.split_once([' ', '\t']).unwrap_or((text, ""));
    if algorithm != ALGORITHM {
        return Err(SigV4Error::UnsupportedAlgorithm(echo(algorithm)));
    }

    let mut problems: Vec<String> = Vec::new();
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for item in rest.split(',').map(str::trim).filter(|item| !item.is_empty()) {
        let Some((key, value)) = item.split_once('=') else {
            problems.push(format!(
                "Invalid key=value pair (missing equal-sign) in Authorization header: '{}'.",
                echo(item)
            ));
            continue;
        };
        let key = key.trim();
        let slot = match key {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => continue,
        };
        if slot.is_some() {
            problems.push(format!("Authorization header has a duplicate '{key}' parameter."));
        } else {
            *slot = Some(value.trim());
        }
    }
    for (name, found) in [
        ("Credential", credential),
        ("Signature", signature),
        ("SignedHeaders", signed_headers),
    ] {
        if found.is_none() {
            problems.push(format!("Authorization header requires '{name}' parameter."));
        }
    }
    // `X-Amz-Date` wins over `Date`; the flag says which one was found.
    let date = match req.headers.get(header_names::X_AMZ_DATE) {
        Some(v) => Some((v, true)),
        None => req.headers.get(header_names::DATE).map(|v| (v, false)),
    };
    if date.is_none() {
        problems.push("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.".into());
    }
    let (Some(credential), Some(signed_headers), Some(signature), Some((date, is_amz_date)), true) =
        (credential, signed_headers, signature, date, problems.is_empty())
    else {
        return Err(SigV4Error::Incomplete(format!(
            "{} Authorization={}",
            problems.join(" "),
            echo(text)
        )));
    };

    let (amz_date, timestamp) = if is_amz_date {
        let s = date.to_str().unwrap_or_default();
        let t = parse_amz_date(s).ok_or_else(|| bad_date(date))?;
        (s.to_owned(), t)
    } else {
        let t = date
            .to_str()
            .ok()
            .and_then(parse_http_date)
            .ok_or_else(|| bad_date(date))?;
        (format_amz_date(t), t)
    };

    let session_token = match req.headers.get(header_names::X_AMZ_SECURITY_TOKEN) {
        Some(v) => Some(v.to_str().map(str::to_owned).map_err(|_| {
            SigV4Error::Incomplete(
                "The X-Amz-Security-Token header contains characters that are not visible ASCII.".into(),
            )
        })?),
        None => single_param(query, query_params::SECURITY_TOKEN)?.map(str::to_owned),
    };
    build_signed(
        credential,
        signed_headers,
        signature,
        amz_date,
        timestamp,
        session_token,
        false,
        None,
    )
}

fn parse_presigned(req: &HttpRequestParts<'_>, query: &[(Vec<u8>, Vec<u8>)]) -> Result<SignedRequest, SigV4Error> {
    let algorithm = single_param(query, query_params::ALGORITHM)?;
    let credential = single_param(query, query_params::CREDENTIAL)?;
    let signature = single_param(query, query_params::SIGNATURE)?;
    let signed_headers = single_param(query, query_params::SIGNED_HEADERS)?;
    let date = single_param(query, query_params::DATE)?;
    let expires = single_param(query, query_params::EXPIRES)?;

    let missing: Vec<String> = [
        (query_params::ALGORITHM, algorithm.is_some()),
        (query_params::CREDENTIAL, credential.is_some()),
        (query_params::SIGNATURE, signature.is_some()),
        (query_params::SIGNED_HEADERS, signed_headers.is_some()),
        (query_params::DATE, date.is_some()),
    ]
    .iter()
    .filter(|(_, present)| !present)
    .map(|(name, _)| format!("'{name}'"))
    .collect();
    let (Some(algorithm), Some(credential), Some(signature), Some(signed_headers), Some(date)) =
        (algorithm, credential, signature, signed_headers, date)
    else {
        return Err(SigV4Error::Incomplete(format!(
            "AWS query-string parameters must include {}. Re-examine the query-string parameters.",
            missing.join(", ")
        )));
    };
    if algorithm != ALGORITHM {
        return Err(SigV4Error::UnsupportedAlgorithm(echo(algorithm)));
    }
    let timestamp = parse_amz_date(date).ok_or_else(|| {
        SigV4Error::Incomplete(format!(
            "X-Amz-Date must be in ISO-8601 'basic format' (yyyymmddThhmmssZ). Got '{}'.",
            echo(date)
        ))
    })?;
    let expires_secs = match expires {
        None => None,
        Some(raw) => {
            let secs = parse_digits(raw.as_bytes())
                .ok_or_else(|| SigV4Error::Incomplete("X-Amz-Expires should be a number".into()))?;
            if secs > MAX_PRESIGNED_EXPIRES_SECS {
                return Err(SigV4Error::Incomplete(format!(
                    "X-Amz-Expires must be less than a week (in seconds) that is {MAX_PRESIGNED_EXPIRES_SECS}"
                )));
            }
            Some(secs)
        }
    };
    let session_token = match single_param(query, query_params::SECURITY_TOKEN)? {
        Some(token) => Some(token.to_owned()),
        None => req
            .headers
            .get(header_names::X_AMZ_SECURITY_TOKEN)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    };
    build_signed(
        credential,
        signed_headers,
        signature,
        date.to_owned(),
        timestamp,
        session_token,
        true,
        expires_secs,
    )
}

#[allow(clippy::too_many_arguments)]
fn build_signed(
    credential: &str,
    signed_headers: &str,
    signature: &str,
    amz_date: String,
    timestamp: OffsetDateTime,
    session_token: Option<String>,
    presigned: bool,
    expires_secs: Option<u64>,
) -> Result<SignedRequest, SigV4Error> {
    let parts: Vec<&str> = credential.split('/').collect();
    let [access_key_id, scope_date, region, service, terminator] = parts.as_slice() else {
        return Err(SigV4Error::Incomplete(format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{}'",
            echo(credential)
        )));
    };
    if access_key_id.is_empty() || region.is_empty() || service.is_empty() {
        return Err(SigV4Error::Incomplete(format!(
            "Credential has an empty access key, region or service: '{}'",
            echo(credential)
        )));
    }
    if *terminator != SCOPE_TERMINATOR {
        return Err(SigV4Error::Incomplete(format!(
            "Credential should be scoped with a valid terminator: '{SCOPE_TERMINATOR}', not '{}'.",
            echo(terminator)
        )));
    }
    let http_date = amz_date.get(..8).unwrap_or_default();
    if *scope_date != http_date {
        return Err(SigV4Error::Incomplete(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from '{}'.",
            echo(scope_date),
            http_date,
            amz_date
        )));
    }

    let signed_headers: Vec<String> = signed_headers
        .split(';')
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect();
    if !signed_headers.iter().any(|h| h == header_names::HOST) {
        return Err(SigV4Error::Incomplete(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".into(),
        ));
    }

    Ok(SignedRequest {
        access_key_id: (*access_key_id).to_owned(),
        scope_date: (*scope_date).to_owned(),
        region: (*region).to_owned(),
        service: (*service).to_owned(),
        amz_date,
        timestamp,
        signed_headers,
        signature: signature.trim().to_owned(),
        session_token,
        presigned,
        expires_secs,
    })
}

/// The value of a query parameter that may appear at most once.
fn single_param<'q>(query: &'q [(Vec<u8>, Vec<u8>)], name: &str) -> Result<Option<&'q str>, SigV4Error> {
    let mut found = query.iter().filter(|(n, _)| n.as_slice() == name.as_bytes());
    let first = found.next();
    if found.next().is_some() {
        return Err(SigV4Error::Incomplete(format!(
            "Duplicate query-string parameter '{name}'."
        )));
    }
    first
        .map(|(_, value)| {
            std::str::from_utf8(value)
                .map_err(|_| SigV4Error::Incomplete(format!("Query-string parameter '{name}' is not valid UTF-8.")))
        })
        .transpose()
}

fn bad_date(value: &HeaderValue) -> SigV4Error {
    let shown = String::from_utf8_lossy(value.as_bytes());
    SigV4Error::Incomplete(format!(
        "Date must be in ISO-8601 'basic format'. Got '{}'. See http://en.wikipedia.org/wiki/ISO_8601",
        echo(&shown)
    ))
}

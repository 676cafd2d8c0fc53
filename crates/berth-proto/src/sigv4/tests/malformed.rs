//! Malformed requests: missing, incomplete or foreign authentication.

use super::*;

fn parse_with(headers: &[(&str, &str)], query: &str) -> Result<SignedRequest, SigV4Error> {
    let headers = header_map(headers);
    parse(&parts("GET", "/", query, &headers, EMPTY_PAYLOAD_SHA256))
}

fn incomplete(result: Result<SignedRequest, SigV4Error>) -> String {
    match result {
        Err(SigV4Error::Incomplete(message)) => message,
        other => panic!("expected Incomplete, got {other:?}"),
    }
}

#[test]
fn missing_authentication() {
    let err = parse_with(&[HOST, DATE], "").unwrap_err();
    assert_eq!(err, SigV4Error::Missing);
    let aws: AwsError = err.into();
    assert_eq!(
        (aws.code.as_ref(), aws.status),
        ("MissingAuthenticationTokenException", 403)
    );
    assert_eq!(
        parse_with(&[HOST, DATE, ("Authorization", "  ")], "").unwrap_err(),
        SigV4Error::Missing
    );
    assert_eq!(
        parse_with(&[HOST], "Action=ListUsers&X-Amz-Credential=x").unwrap_err(),
        SigV4Error::Missing
    );
}

#[test]
fn other_algorithms_are_refused_clearly() {
    for (value, algorithm) in [
        (
            "AWS4-HMAC-SHA512 Credential=a/b/c/d/aws4_request, SignedHeaders=host, Signature=00",
            "AWS4-HMAC-SHA512",
        ),
        (
            "AWS4-ECDSA-P256-SHA256 Credential=a/b/c/aws4_request, SignedHeaders=host, Signature=00",
            "AWS4-ECDSA-P256-SHA256",
        ),
        ("AWS AKIDEXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=", "AWS"),
        ("Bearer eyJhbGciOi", "Bearer"),
        ("Basic QUtJRDpzZWNyZXQ=", "Basic"),
        ("aws4-hmac-sha256 Credential=x", "aws4-hmac-sha256"),
    ] {
        let err = parse_with(&[HOST, DATE, ("Authorization", value)], "").unwrap_err();
        assert_eq!(err, SigV4Error::UnsupportedAlgorithm(algorithm.into()), "{value}");
        let aws: AwsError = err.into();
        assert_eq!((aws.code.as_ref(), aws.status), ("IncompleteSignatureException", 400));
        assert!(aws.message.contains("Only 'AWS4-HMAC-SHA256'"), "{}", aws.message);
    }
    // SigV2 in the query string.
    assert_eq!(
        parse_with(&[HOST], "AWSAccessKeyId=AKID&Signature=abc&SignatureVersion=2").unwrap_err(),
        SigV4Error::UnsupportedAlgorithm("AWS Signature Version 2".into())
    );
    // Presigned with another algorithm.
    assert_eq!(
        parse_with(
            &[HOST],
            "X-Amz-Algorithm=AWS4-HMAC-SHA1&X-Amz-Credential=a&X-Amz-Date=b&X-Amz-SignedHeaders=host&X-Amz-Signature=c"
        )
        .unwrap_err(),
        SigV4Error::UnsupportedAlgorithm("AWS4-HMAC-SHA1".into())
    );
}

#[test]
fn incomplete_authorization_headers() {
    let message = incomplete(parse_with(
        &[
            HOST,
            DATE,
            (
                "Authorization",
                "AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date, Signature=abc",
            ),
        ],
        "",
    ));
    assert_eq!(
        message,
        "Authorization header requires 'Credential' parameter. Authorization=AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date, Signature=abc"
    );
    let aws: AwsError = SigV4Error::Incomplete(message).into();
    assert_eq!((aws.code.as_ref(), aws.status), ("IncompleteSignatureException", 400));

    let message = incomplete(parse_with(&[HOST, ("Authorization", "AWS4-HMAC-SHA256")], ""));
    for needed in [
        "requires 'Credential' parameter.",
        "requires 'Signature' parameter.",
        "requires 'SignedHeaders' parameter.",
        "requires existence of either a 'X-Amz-Date' or a 'Date' header.",
    ] {
        assert!(message.contains(needed), "{message}");
    }

    let header = |rest: &str| format!("AWS4-HMAC-SHA256 {rest}");
    let message = incomplete(parse_with(
        &[
            HOST,
            DATE,
            (
                "Authorization",
                &header(&format!("{GOOD_CREDENTIAL}, SignedHeaders, Signature=abc")),
            ),
        ],
        "",
    ));
    assert!(message.contains("missing equal-sign"), "{message}");
    let message = incomplete(parse_with(
        &[
            HOST,
            DATE,
            (
                "Authorization",
                &header(&format!(
                    "{GOOD_CREDENTIAL}, {GOOD_CREDENTIAL}, SignedHeaders=host, Signature=abc"
                )),
            ),
        ],
        "",
    ));
    assert!(message.contains("duplicate 'Credential'"), "{message}");

    let with = |credential: &str, signed_headers: &str, date: &str| {
        parse_with(
            &[
                HOST,
                ("X-Amz-Date", date),
                (
                    "Authorization",
                    &header(&format!(
                        "Credential={credential}, SignedHeaders={signed_headers}, Signature=abc"
                    )),
                ),
            ],
            "",
        )
    };
    let message = incomplete(with(
        "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request_x",
        "host",
        AMZ_DATE,
    ));
    assert_eq!(
        message,
        "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws4_request_x'."
    );
    let message = incomplete(with(
        "AKIDEXAMPLE/20150831/us-east-1/service/aws4_request",
        "host",
        AMZ_DATE,
    ));
    assert_eq!(
        message,
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20150831' != '20150830', from '20150830T123600Z'."
    );
    let message = incomplete(with("AKIDEXAMPLE/20150830/us-east-1", "host", AMZ_DATE));
    assert!(
        message.starts_with("Credential must have exactly 5 slash-delimited elements"),
        "{message}"
    );
    let message = incomplete(with("AKIDEXAMPLE/20150830//service/aws4_request", "host", AMZ_DATE));
    assert!(message.starts_with("Credential has an empty"), "{message}");
    let message = incomplete(with(
        "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request",
        "x-amz-date",
        AMZ_DATE,
    ));
    assert_eq!(
        message,
        "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
    );
    let message = incomplete(with(
        "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request",
        "host",
        "2015-08-30T12:36:00Z",
    ));
    assert!(
        message.starts_with("Date must be in ISO-8601 'basic format'. Got '2015-08-30T12:36:00Z'."),
        "{message}"
    );
    let message = incomplete(with(
        "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request",
        "host",
        "20150230T123600Z",
    ));
    assert!(message.starts_with("Date must be in ISO-8601"), "{message}");

    // Two Authorization headers, or both mechanisms at once.
    let value = header(&format!("{GOOD_CREDENTIAL}, SignedHeaders=host, Signature=abc"));
    let message = incomplete(parse_with(
        &[HOST, DATE, ("Authorization", &value), ("Authorization", &value)],
        "",
    ));
    assert!(message.contains("more than one Authorization header"), "{message}");
    let message = incomplete(parse_with(
        &[HOST, DATE, ("Authorization", &value)],
        "X-Amz-Algorithm=AWS4-HMAC-SHA256",
    ));
    assert!(message.starts_with("Only one auth mechanism allowed"), "{message}");

    // Non-ASCII bytes in the Authorization header.
    let mut headers = header_map(&[HOST, DATE]);
    headers.insert(
        "authorization",
        HeaderValue::from_bytes(b"AWS4-HMAC-SHA256 Credential=\xff\xfe").unwrap(),
    );
    let message = incomplete(parse(&parts("GET", "/", "", &headers, EMPTY_PAYLOAD_SHA256)));
    assert!(message.contains("not visible ASCII"), "{message}");

    // Long input is echoed shortened.
    let long = header(&"x".repeat(100_000));
    let message = incomplete(parse_with(&[HOST, DATE, ("Authorization", &long)], ""));
    assert!(message.len() < 2_000, "{}", message.len());
}

#[test]
fn incomplete_presigned_queries() {
    let message = incomplete(parse_with(
        &[HOST],
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20150830T123600Z",
    ));
    assert_eq!(
        message,
        "AWS query-string parameters must include 'X-Amz-Credential', 'X-Amz-Signature', 'X-Amz-SignedHeaders'. Re-examine the query-string parameters."
    );
    let base = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host&X-Amz-Signature=00";
    assert!(parse_with(&[HOST], base).is_ok());
    assert_eq!(parse_with(&[HOST], base).unwrap().expires_secs, None);
    assert_eq!(
        incomplete(parse_with(&[HOST], &format!("{base}&X-Amz-Expires=604801"))),
        "X-Amz-Expires must be less than a week (in seconds) that is 604800"
    );
    assert_eq!(
        incomplete(parse_with(&[HOST], &format!("{base}&X-Amz-Expires=-1"))),
        "X-Amz-Expires should be a number"
    );
    assert_eq!(
        incomplete(parse_with(
            &[HOST],
            &format!("{base}&X-Amz-Expires=99999999999999999999999")
        )),
        "X-Amz-Expires should be a number"
    );
    assert!(incomplete(parse_with(&[HOST], &format!("{base}&X-Amz-Signature=01"))).contains("Duplicate"));
    assert!(
        incomplete(parse_with(&[HOST], &base.replace("20150830T123600Z", "20150830")))
            .starts_with("X-Amz-Date must be")
    );
    assert!(incomplete(parse_with(&[HOST], &format!("{base}&X-Amz-Security-Token=%ff"))).contains("not valid UTF-8"));
}

#[test]
fn scope_check() {
    let (_, signed) = signed_vanilla(NOW);
    assert_eq!(signed.check_scope(REGION, SERVICE), Ok(()));
    let err = signed.check_scope("eu-west-1", SERVICE).unwrap_err();
    assert_eq!(
        err,
        SigV4Error::WrongScope("Credential should be scoped to a valid region. ".into())
    );
    let aws: AwsError = err.into();
    assert_eq!((aws.code.as_ref(), aws.status), ("InvalidSignatureException", 403));
    assert_eq!(
        signed.check_scope(REGION, "ecs").unwrap_err(),
        SigV4Error::WrongScope("Credential should be scoped to correct service: 'ecs'. ".into())
    );
}

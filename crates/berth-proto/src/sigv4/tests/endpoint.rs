//! Endpoint rules (check_claims, verify_for), payload declarations, encodings and hostile inputs.

use super::*;

const REGIONS: &[&str] = &[REGION];

/// A JSON call as botocore signs it: host, content-type, x-amz-date and
/// x-amz-target signed, optionally with a session token and x-amz-content-sha256.
fn signed_call(body: &[u8], extra: &[(&str, &str)], params: &SigningParams<'_>) -> HeaderMap {
    let mut headers = header_map(&[HOST, ("Content-Type", "application/x-amz-json-1.1")]);
    for (k, v) in extra {
        headers.insert(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    let added = sign_with("POST", "/", "", &headers, body, params);
    apply(&mut headers, &added);
    headers
}

#[test]
fn endpoint_scope_must_name_the_service_and_a_region() {
    let creds = Credentials::new(AKID, SECRET);
    let target = [("X-Amz-Target", "AmazonEC2ContainerServiceV20141113.ListClusters")];
    let body = b"{}";
    let payload = sha256_hex(body);
    let ssm = SigningParams::new(&creds, REGION, "ssm", NOW);
    let headers = signed_call(body, &target, &ssm);
    let req = parts("POST", "/", "", &headers, &payload);
    let signed = parse(&req).unwrap();
    // The signature itself is good (signed for ssm), the endpoint is not.
    assert_eq!(verify(&req, &signed, SECRET, NOW), Ok(()));
    let err = check_claims(&req, &signed, &Endpoint::new("ecs", REGIONS)).unwrap_err();
    assert_eq!(
        err,
        SigV4Error::WrongScope("Credential should be scoped to correct service: 'ecs'. ".into())
    );
    let aws: AwsError = err.into();
    assert_eq!((aws.code.as_ref(), aws.status), ("InvalidSignatureException", 403));
    assert_eq!(check_claims(&req, &signed, &Endpoint::new("ssm", REGIONS)), Ok(()));
    // A request whose service is not known yet is refused later, not here.
    let any = Endpoint {
        service: None,
        ..Endpoint::new("x", REGIONS)
    };
    assert_eq!(check_claims(&req, &signed, &any), Ok(()));

    let err = check_claims(&req, &signed, &Endpoint::new("ssm", &["eu-west-1"])).unwrap_err();
    assert_eq!(
        err,
        SigV4Error::WrongScope("Credential should be scoped to a valid region. ".into())
    );
    assert_eq!(
        check_claims(&req, &signed, &Endpoint::new("ssm", &["eu-west-1", REGION])),
        Ok(())
    );
}

#[test]
fn every_x_amz_header_present_must_be_signed() {
    let creds = Credentials::new(AKID, SECRET).with_session_token("tok");
    let body = b"{}";
    let payload = sha256_hex(body);
    let params = SigningParams::new(&creds, REGION, "ecs", NOW);
    let endpoint = Endpoint::new("ecs", REGIONS);
    let headers = signed_call(body, &[("X-Amz-Target", "Svc.Op")], &params);
    let req = parts("POST", "/", "", &headers, &payload);
    let signed = parse(&req).unwrap();
    assert_eq!(check_claims(&req, &signed, &endpoint), Ok(()));

    // X-Amz-Target added after signing (or left out of SignedHeaders):
    // the operation is not covered by the signature.
    let mut headers = signed_call(body, &[], &params);
    headers.insert("x-amz-target", HeaderValue::from_static("Svc.DeleteEverything"));
    let req = parts("POST", "/", "", &headers, &payload);
    let signed = parse(&req).unwrap();
    let err = check_claims(&req, &signed, &endpoint).unwrap_err();
    assert_eq!(err, SigV4Error::UnsignedHeaders("x-amz-target".into()));
    let aws: AwsError = err.into();
    assert_eq!(aws.code, "InvalidSignatureException");
    assert!(aws.message.contains("not signed: x-amz-target"), "{}", aws.message);

    // The same for a token or a date left out of SignedHeaders.
    for dropped in ["x-amz-security-token", "x-amz-date"] {
        let headers = signed_call(body, &[("X-Amz-Target", "Svc.Op")], &params);
        let authz = headers["authorization"]
            .to_str()
            .unwrap()
            .replace(&format!(";{dropped}"), "");
        let mut h = headers.clone();
        h.insert("authorization", HeaderValue::from_str(&authz).unwrap());
        let req = parts("POST", "/", "", &h, &payload);
        let signed = parse(&req).unwrap();
        assert_eq!(
            check_claims(&req, &signed, &endpoint),
            Err(SigV4Error::UnsignedHeaders(dropped.into())),
            "{dropped}"
        );
    }
    // A request dated by `Date` must sign it.
    let mut h = header_map(&[HOST, ("Date", "Sun, 30 Aug 2015 12:36:00 GMT")]);
    h.insert(
        "authorization",
        HeaderValue::from_str(&format!(
            "{ALGORITHM} Credential={AKID}/{SCOPE}, SignedHeaders=host, Signature={}",
            "0".repeat(64)
        ))
        .unwrap(),
    );
    let req = parts("GET", "/", "", &h, EMPTY_PAYLOAD_SHA256);
    let signed = parse(&req).unwrap();
    assert_eq!(
        check_claims(&req, &signed, &Endpoint::new(SERVICE, REGIONS)),
        Err(SigV4Error::UnsignedHeaders("date".into()))
    );
}

#[test]
fn unsigned_payload_only_where_the_endpoint_allows_it() {
    let creds = Credentials::new(AKID, SECRET);
    let mut params = SigningParams::new(&creds, REGION, "ecs", NOW);
    params.content_sha256_header = true;
    params.payload = PayloadSigning::Unsigned;
    let headers = signed_call(b"{}", &[("X-Amz-Target", "Svc.Op")], &params);
    let payload = sha256_hex(b"{\"any\":\"body\"}");
    let req = parts("POST", "/", "", &headers, &payload);
    let signed = parse(&req).unwrap();
    let strict = Endpoint::new("ecs", REGIONS);
    let err = check_claims(&req, &signed, &strict).unwrap_err();
    assert_eq!(err, SigV4Error::UnsignedPayloadRefused);
    let aws: AwsError = err.into();
    assert_eq!(aws.code, "InvalidSignatureException");
    assert_eq!(
        verify_for(&req, &signed, SECRET, NOW, UnsignedPayload::Refused),
        Err(SigV4Error::UnsignedPayloadRefused)
    );
    let lax = strict.allowing_unsigned_payload();
    assert_eq!(check_claims(&req, &signed, &lax), Ok(()));
    assert_eq!(verify_for(&req, &signed, SECRET, NOW, UnsignedPayload::Allowed), Ok(()));

    // A presigned request (UNSIGNED-PAYLOAD implied) is held to the body's hash.
    let creds = Credentials::new(AKID, SECRET);
    let presigned_query = presign(
        "GET",
        "/",
        "",
        &header_map(&[HOST]),
        &SigningParams::new(&creds, REGION, SERVICE, NOW),
        300,
    );
    let h = header_map(&[HOST]);
    let req = parts("GET", "/", &presigned_query, &h, EMPTY_PAYLOAD_SHA256);
    let signed = parse(&req).unwrap();
    assert_eq!(verify_for(&req, &signed, SECRET, NOW, UnsignedPayload::Allowed), Ok(()));
    assert_eq!(
        verify_for(&req, &signed, SECRET, NOW, UnsignedPayload::Refused),
        Err(SigV4Error::Mismatch)
    );
}

#[test]
fn declared_payloads() {
    let h = |v: &str| header_map(&[("x-amz-content-sha256", v)]);
    assert_eq!(declared_payload(&HeaderMap::new()), Ok(DeclaredPayload::Absent));
    assert_eq!(declared_payload(&h(UNSIGNED_PAYLOAD)), Ok(DeclaredPayload::Unsigned));
    assert_eq!(
        declared_payload(&h(&EMPTY_PAYLOAD_SHA256.to_uppercase())),
        Ok(DeclaredPayload::Sha256(EMPTY_PAYLOAD_SHA256.into()))
    );
    assert!(matches!(
        declared_payload(&h("STREAMING-AWS4-HMAC-SHA256-PAYLOAD")),
        Err(SigV4Error::InvalidContentSha256(_))
    ));
    // A declared hash that does not match the body is refused before the HMAC.
    let creds = Credentials::new(AKID, SECRET);
    let mut params = SigningParams::new(&creds, REGION, "ecs", NOW);
    params.content_sha256_header = true;
    let headers = signed_call(b"{}", &[("X-Amz-Target", "Svc.Op")], &params);
    let other = sha256_hex(b"{\"other\":1}");
    let req = parts("POST", "/", "", &headers, &other);
    let signed = parse(&req).unwrap();
    assert_eq!(
        verify_for(&req, &signed, SECRET, NOW, UnsignedPayload::Refused),
        Err(SigV4Error::ContentSha256Mismatch)
    );
    let good = sha256_hex(b"{}");
    let req = parts("POST", "/", "", &headers, &good);
    assert_eq!(verify_for(&req, &signed, SECRET, NOW, UnsignedPayload::Refused), Ok(()));
}

#[test]
fn bad_signatures_and_content_hashes() {
    let (headers, mut signed) = signed_vanilla(NOW);
    let req = parts("GET", "/", "", &headers, EMPTY_PAYLOAD_SHA256);
    let good = signed.signature.clone();
    for bad in ["", "zz", "00", &good[..63], &format!("{good}00"), &"g".repeat(64)] {
        signed.signature = bad.to_owned();
        assert_eq!(verify(&req, &signed, SECRET, NOW), Err(SigV4Error::Mismatch), "{bad}");
    }
    signed.signature = good.to_uppercase();
    assert_eq!(verify(&req, &signed, SECRET, NOW), Ok(()));
    let aws: AwsError = SigV4Error::Mismatch.into();
    assert_eq!(aws, AwsError::signature_mismatch());

    for value in ["STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "abc", ""] {
        let mut h = headers.clone();
        h.insert("x-amz-content-sha256", HeaderValue::from_str(value).unwrap());
        let err = verify(&parts("GET", "/", "", &h, EMPTY_PAYLOAD_SHA256), &signed, SECRET, NOW).unwrap_err();
        assert_eq!(err, SigV4Error::InvalidContentSha256(value.into()));
        let aws: AwsError = err.into();
        assert_eq!((aws.code.as_ref(), aws.status), ("IncompleteSignatureException", 400));
    }
    let mut h = headers.clone();
    h.append("x-amz-content-sha256", HeaderValue::from_static(EMPTY_PAYLOAD_SHA256));
    h.append("x-amz-content-sha256", HeaderValue::from_static(EMPTY_PAYLOAD_SHA256));
    assert!(matches!(
        verify(&parts("GET", "/", "", &h, EMPTY_PAYLOAD_SHA256), &signed, SECRET, NOW),
        Err(SigV4Error::Incomplete(_))
    ));
}

#[test]
fn non_utf8_header_values_are_signed_as_bytes() {
    let creds = Credentials::new(AKID, SECRET);
    let mut headers = header_map(&[HOST]);
    headers.insert("x-binary", HeaderValue::from_bytes(b"caf\xe9  \xff\t end").unwrap());
    let added = sign("GET", "/", "", &headers, b"", &creds, REGION, SERVICE, NOW);
    assert!(added[0].1.contains("SignedHeaders=host;x-amz-date;x-binary,"));
    apply(&mut headers, &added);
    let req = parts("GET", "/", "", &headers, EMPTY_PAYLOAD_SHA256);
    let signed = parse(&req).unwrap();
    assert_eq!(verify(&req, &signed, SECRET, NOW), Ok(()));
    let creq = canonical_request(&req, &signed.signed_headers, EMPTY_PAYLOAD_SHA256, false);
    assert!(creq.contains("x-binary:caf\u{fffd} \u{fffd} end\n"), "{creq}");

    // Non-ASCII date and token headers are errors, not panics.
    let mut h = headers.clone();
    h.insert("x-amz-date", HeaderValue::from_bytes(b"2015\xff").unwrap());
    assert!(matches!(
        parse(&parts("GET", "/", "", &h, EMPTY_PAYLOAD_SHA256)),
        Err(SigV4Error::Incomplete(_))
    ));
    let mut h = headers.clone();
    h.insert("x-amz-security-token", HeaderValue::from_bytes(b"\xff").unwrap());
    assert!(matches!(
        parse(&parts("GET", "/", "", &h, EMPTY_PAYLOAD_SHA256)),
        Err(SigV4Error::Incomplete(_))
    ));
    let mut h = headers.clone();
    h.insert("x-amz-content-sha256", HeaderValue::from_bytes(b"\xff").unwrap());
    assert!(matches!(
        verify(&parts("GET", "/", "", &h, EMPTY_PAYLOAD_SHA256), &signed, SECRET, NOW),
        Err(SigV4Error::InvalidContentSha256(_))
    ));
}

#[test]
fn http_date_header() {
    assert_eq!(
        parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
        Some(datetime!(1994-11-06 08:49:37 UTC))
    );
    for bad in [
        "",
        "Sun, 06 Nov 1994 08:49:37 UTC",
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun, 31 Feb 1994 08:49:37 GMT",
        "Sun, 06 Foo 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 25:49:37 GMT",
        "Sun, 06 Nov 1994 08-49-37 GMT",
    ] {
        assert_eq!(parse_http_date(bad), None, "{bad}");
    }
    assert_eq!(parse_amz_date("20150830T123600Z"), Some(NOW));
    for bad in [
        "",
        "20150830T123600",
        "20150830t123600Z",
        "2015083OT123600Z",
        "20151330T123600Z",
        "20150830T126000Z",
        "+0150830T123600Z",
        "２015083T123600Z",
    ] {
        assert_eq!(parse_amz_date(bad), None, "{bad}");
    }
    assert_eq!(format_amz_date(datetime!(2015-08-30 12:36:00.999 UTC)), AMZ_DATE);
}

#[test]
fn path_normalization_and_encoding() {
    for (raw, canonical) in [
        ("", "/"),
        ("/", "/"),
        ("//", "/"),
        ("/a/./b/../c/", "/a/c/"),
        ("/a/b/..", "/a/"),
        ("/a/b/.", "/a/b/"),
        ("/..", "/"),
        ("/../../a", "/a"),
        ("a/b", "/a/b"),
        ("*", "/%2A"),
        ("/%2e%2e/x", "/%252e%252e/x"),
        ("/v2/foo/blobs/uploads/", "/v2/foo/blobs/uploads/"),
        ("/a+b/c d/é", "/a%2Bb/c%20d/%C3%A9"),
        ("/~user/file.tar.gz", "/~user/file.tar.gz"),
    ] {
        assert_eq!(canonical_uri(raw), canonical, "{raw:?}");
    }
}

#[test]
fn query_canonicalization() {
    for (raw, canonical) in [
        ("", ""),
        ("a=1&b", "a=1&b="),
        ("b=%2f&a=x+y", "a=x%20y&b=%2F"),
        ("a=x%20y", "a=x%20y"),
        ("a=%2B", "a=%2B"),
        ("a=%zz&b=%4", "a=%25zz&b=%254"),
        ("a=1&&b=2&", "a=1&b=2"),
        ("=", "="),
        ("a=b=c", "a=b%3Dc"),
        ("é=ü", "%C3%A9=%C3%BC"),
        ("%e1%88%b4=bar", "%E1%88%B4=bar"),
        ("B=1&a=2&_=3&~=4", "B=1&_=3&a=2&~=4"),
        ("a=2&a=10&a=1", "a=1&a=10&a=2"),
    ] {
        assert_eq!(canonical_query_string(raw, false), canonical, "{raw:?}");
    }
    assert_eq!(canonical_query_string("X-Amz-Signature=abc&a=1", true), "a=1");
    assert_eq!(
        canonical_query_string("X-Amz-Signature=abc&a=1", false),
        "X-Amz-Signature=abc&a=1"
    );
}

#[test]
fn huge_inputs_do_not_panic() {
    let path = "/a/../".repeat(50_000) + &"%ff/./x//".repeat(20_000);
    let query: String = (0..50_000).map(|i| format!("k{i}=v%{i:02x}+&")).collect();
    let creds = Credentials::new(AKID, SECRET);
    let mut headers = header_map(&[HOST, ("x-big", &"v ".repeat(100_000))]);
    let added = sign(
        "GET",
        &path,
        &query,
        &headers,
        &[7u8; 1 << 20],
        &creds,
        REGION,
        SERVICE,
        NOW,
    );
    apply(&mut headers, &added);
    let payload = sha256_hex(&[7u8; 1 << 20]);
    let req = parts("GET", &path, &query, &headers, &payload);
    let signed = parse(&req).unwrap();
    assert_eq!(verify(&req, &signed, SECRET, NOW), Ok(()));

    let signed_headers = (0..10_000).map(|i| format!("h{i}")).collect::<Vec<_>>().join(";");
    let value = format!("AWS4-HMAC-SHA256 {GOOD_CREDENTIAL}, SignedHeaders=host;{signed_headers}, Signature=00");
    let headers = header_map(&[HOST, DATE, ("Authorization", &value)]);
    let req = parts("GET", "/", "", &headers, EMPTY_PAYLOAD_SHA256);
    assert_eq!(
        verify(&req, &parse(&req).unwrap(), SECRET, NOW),
        Err(SigV4Error::Mismatch)
    );
}

#[test]
fn extreme_clocks_do_not_panic() {
    let (headers, signed) = signed_vanilla(NOW);
    let req = parts("GET", "/", "", &headers, EMPTY_PAYLOAD_SHA256);
    for now in [
        OffsetDateTime::UNIX_EPOCH,
        datetime!(-9999-01-01 0:00 UTC),
        datetime!(9999-12-31 23:59:59 UTC),
    ] {
        assert!(verify(&req, &signed, SECRET, now).is_err());
    }
    let far = datetime!(9999-12-31 23:59:59 UTC);
    let (headers, signed) = signed_vanilla(far);
    assert_eq!(
        verify(
            &parts("GET", "/", "", &headers, EMPTY_PAYLOAD_SHA256),
            &signed,
            SECRET,
            far
        ),
        Ok(())
    );
}

#[test]
fn credentials_debug_hides_secrets() {
    let creds = Credentials::new(AKID, SECRET).with_session_token("token-value");
    let shown = format!("{creds:?}");
    assert!(shown.contains(AKID));
    assert!(!shown.contains(SECRET) && !shown.contains("token-value"), "{shown}");
}

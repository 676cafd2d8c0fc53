//! Sign, then verify: header form, unsigned payloads, clock skew, presigning.

use super::*;

fn sample_headers() -> HeaderMap {
    header_map(&[
        ("Host", "ecs.localhost:8443"),
        ("Content-Type", "application/x-amz-json-1.1"),
        ("X-Amz-Target", "AmazonEC2ContainerServiceV20141113.ListClusters"),
        ("User-Agent", "berth-agent/0.1"),
    ])
}

#[test]
fn sign_then_verify_header_form() {
    let body = br#"{"maxResults":10}"#;
    let payload = sha256_hex(body);
    let creds = Credentials::new("AKIABERTH", "berth-secret").with_session_token("tok/en+==");
    let unsigned = sample_headers();
    let added = sign(
        "POST",
        "/some%20path//x/./y",
        "b=2&a=%7E+1",
        &unsigned,
        body,
        &creds,
        "eu-west-1",
        "ecs",
        NOW,
    );
    let names: Vec<&str> = added.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["authorization", "x-amz-date", "x-amz-security-token"]);
    assert!(
        added[0]
            .1
            .contains("SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target,")
    );

    let mut headers = unsigned.clone();
    apply(&mut headers, &added);
    // Headers a proxy or HTTP stack may rewrite are not signed.
    headers.insert("user-agent", HeaderValue::from_static("something-else"));
    let req = parts("POST", "/some%20path//x/./y", "b=2&a=%7E+1", &headers, &payload);
    let signed = parse(&req).unwrap();
    assert_eq!(signed.access_key_id, "AKIABERTH");
    assert_eq!((signed.region.as_str(), signed.service.as_str()), ("eu-west-1", "ecs"));
    assert_eq!(signed.session_token.as_deref(), Some("tok/en+=="));
    assert_eq!(signed.check_scope("eu-west-1", "ecs"), Ok(()));
    assert_eq!(verify(&req, &signed, "berth-secret", NOW), Ok(()));
    assert_eq!(verify(&req, &signed, "berth-secreT", NOW), Err(SigV4Error::Mismatch));

    // The query is canonicalized: the same parameters, encoded differently, still verify.
    let req = parts("POST", "/some%20path//x/./y", "a=~%201&b=%32", &headers, &payload);
    assert_eq!(verify(&req, &signed, "berth-secret", NOW), Ok(()));
    // A different query does not.
    let req = parts("POST", "/some%20path//x/./y", "b=2&a=%7E+2", &headers, &payload);
    assert_eq!(verify(&req, &signed, "berth-secret", NOW), Err(SigV4Error::Mismatch));
    // Neither does a path that differs once encoded ("%20" is not " " on the wire).
    let req = parts("POST", "/some path//x/./y", "b=2&a=%7E+1", &headers, &payload);
    assert_eq!(verify(&req, &signed, "berth-secret", NOW), Err(SigV4Error::Mismatch));
}

#[test]
fn sign_with_content_sha256_and_unsigned_payload() {
    let creds = Credentials::new(AKID, SECRET);
    let mut params = SigningParams::new(&creds, REGION, SERVICE, NOW);
    params.content_sha256_header = true;
    let body = b"hello";
    let added = sign_with("PUT", "/blob", "", &header_map(&[HOST]), body, &params);
    assert_eq!(added[2], ("x-amz-content-sha256".to_owned(), sha256_hex(body)));
    assert!(
        added[0]
            .1
            .contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date,")
    );
    let mut headers = header_map(&[HOST]);
    apply(&mut headers, &added);
    let payload = sha256_hex(body);
    let req = parts("PUT", "/blob", "", &headers, &payload);
    assert_eq!(verify(&req, &parse(&req).unwrap(), SECRET, NOW), Ok(()));

    params.payload = PayloadSigning::Unsigned;
    let added = sign_with("PUT", "/blob", "", &header_map(&[HOST]), body, &params);
    assert_eq!(
        added[2],
        ("x-amz-content-sha256".to_owned(), UNSIGNED_PAYLOAD.to_owned())
    );
    let mut headers = header_map(&[HOST]);
    apply(&mut headers, &added);
    // The body is not covered: any body verifies.
    let other = sha256_hex(b"anything");
    let req = parts("PUT", "/blob", "", &headers, &other);
    assert_eq!(verify(&req, &parse(&req).unwrap(), SECRET, NOW), Ok(()));

    // Without the header, UNSIGNED-PAYLOAD is not assumed for header-signed requests.
    params.content_sha256_header = false;
    let added = sign_with("PUT", "/blob", "", &header_map(&[HOST]), body, &params);
    let mut headers = header_map(&[HOST]);
    apply(&mut headers, &added);
    let req = parts("PUT", "/blob", "", &headers, &payload);
    assert_eq!(
        verify(&req, &parse(&req).unwrap(), SECRET, NOW),
        Err(SigV4Error::Mismatch)
    );
}

#[test]
fn clock_skew_of_sixteen_minutes_fails_both_ways_with_aws_messages() {
    let (headers, signed) = signed_vanilla(NOW);
    let req = parts("GET", "/", "", &headers, EMPTY_PAYLOAD_SHA256);
    assert_eq!(verify(&req, &signed, SECRET, NOW + Duration::minutes(15)), Ok(()));
    assert_eq!(verify(&req, &signed, SECRET, NOW - Duration::minutes(15)), Ok(()));

    let late = verify(&req, &signed, SECRET, NOW + Duration::minutes(16)).unwrap_err();
    let message =
        "Signature expired: 20150830T123600Z is now earlier than 20150830T123700Z (20150830T125200Z - 15 min.)";
    assert_eq!(
        late,
        SigV4Error::Expired {
            message: message.into()
        }
    );
    let aws: AwsError = late.into();
    assert_eq!(
        (aws.code.as_ref(), aws.status, aws.message.as_str()),
        ("InvalidSignatureException", 403, message)
    );

    let early = verify(&req, &signed, SECRET, NOW - Duration::minutes(16)).unwrap_err();
    let message =
        "Signature not yet current: 20150830T123600Z is still later than 20150830T123500Z (20150830T122000Z + 15 min.)";
    assert_eq!(
        early,
        SigV4Error::NotYetValid {
            message: message.into()
        }
    );
    let aws: AwsError = early.into();
    assert_eq!(
        (aws.code.as_ref(), aws.status, aws.message.as_str()),
        ("InvalidSignatureException", 403, message)
    );

    // A server clock with an offset is read in UTC.
    let offset = (NOW + Duration::minutes(16)).to_offset(time::macros::offset!(+2));
    assert_eq!(
        verify(&req, &signed, SECRET, offset).unwrap_err(),
        SigV4Error::Expired {
            message:
                "Signature expired: 20150830T123600Z is now earlier than 20150830T123700Z (20150830T125200Z - 15 min.)"
                    .into()
        }
    );
}

#[test]
fn presign_round_trip_with_session_token_and_expiry() {
    let creds = Credentials::new(AKID, SECRET).with_session_token(STS_TOKEN);
    let host = header_map(&[HOST]);
    let params = SigningParams::new(&creds, REGION, SERVICE, NOW);
    let query = presign("GET", "/v2/repo/manifests/latest", "a=b c", &host, &params, 60);
    assert!(query.starts_with("a=b c&X-Amz-Algorithm=AWS4-HMAC-SHA256&"));
    assert!(query.contains("&X-Amz-Security-Token="));

    let req = parts("GET", "/v2/repo/manifests/latest", &query, &host, EMPTY_PAYLOAD_SHA256);
    let signed = parse(&req).unwrap();
    assert_eq!(signed.session_token.as_deref(), Some(STS_TOKEN));
    assert_eq!(signed.expires_secs, Some(60));
    assert_eq!(verify(&req, &signed, SECRET, NOW), Ok(()));
    assert_eq!(verify(&req, &signed, SECRET, NOW + Duration::seconds(60)), Ok(()));
    // Clients' clocks may run a little ahead.
    assert_eq!(verify(&req, &signed, SECRET, NOW - Duration::minutes(15)), Ok(()));
    assert_eq!(
        verify(&req, &signed, SECRET, NOW + Duration::seconds(61)),
        Err(SigV4Error::Expired {
            message:
                "Signature expired: 20150830T123600Z is now earlier than 20150830T123601Z (20150830T123701Z - 60 sec.)"
                    .into()
        })
    );
    assert!(matches!(
        verify(&req, &signed, SECRET, NOW - Duration::minutes(16)),
        Err(SigV4Error::NotYetValid { .. })
    ));
    // Any body verifies (UNSIGNED-PAYLOAD) ...
    let other = sha256_hex(b"body");
    assert_eq!(
        verify(
            &parts("GET", "/v2/repo/manifests/latest", &query, &host, &other),
            &signed,
            SECRET,
            NOW
        ),
        Ok(())
    );
    // ... but not another path or host.
    assert_eq!(
        verify(
            &parts("GET", "/v2/repo/manifests/other", &query, &host, EMPTY_PAYLOAD_SHA256),
            &signed,
            SECRET,
            NOW
        ),
        Err(SigV4Error::Mismatch)
    );
    let other_host = header_map(&[("Host", "evil.example.com")]);
    assert_eq!(
        verify(
            &parts(
                "GET",
                "/v2/repo/manifests/latest",
                &query,
                &other_host,
                EMPTY_PAYLOAD_SHA256
            ),
            &signed,
            SECRET,
            NOW
        ),
        Err(SigV4Error::Mismatch)
    );
    // Tampering with X-Amz-Expires breaks the signature.
    let longer = query.replace("X-Amz-Expires=60", "X-Amz-Expires=600");
    let req = parts("GET", "/v2/repo/manifests/latest", &longer, &host, EMPTY_PAYLOAD_SHA256);
    assert_eq!(
        verify(&req, &parse(&req).unwrap(), SECRET, NOW),
        Err(SigV4Error::Mismatch)
    );

    // Expiry is capped at a week.
    let capped = presign("GET", "/", "", &host, &params, 10 * MAX_PRESIGNED_EXPIRES_SECS);
    assert!(capped.contains("X-Amz-Expires=604800&"));
}

//! The published vectors and AWS's documentation examples, verified and re-signed.

use super::aws_vectors::vectors;
use super::*;

#[test]
fn aws_test_suite_vectors() {
    let key = signing_key(SECRET, "20150830", REGION, SERVICE);
    for v in vectors() {
        let name = v.name;
        // The fixture is self-consistent: the .sts hash is the hash of the .creq.
        assert_eq!(sha256_hex(v.creq.as_bytes()), v.creq_sha256, "{name}: fixture");

        let unsigned = header_map(v.headers);
        let mut headers = unsigned.clone();
        let authorization = authz(v.signed_headers, v.signature);
        headers.insert("authorization", HeaderValue::from_str(&authorization).unwrap());
        let payload = sha256_hex(v.body.as_bytes());
        let req = parts(v.method, v.path, v.query, &headers, &payload);

        let signed = parse(&req).unwrap_or_else(|e| panic!("{name}: parse: {e}"));
        assert_eq!(signed.access_key_id, AKID, "{name}");
        assert_eq!(signed.credential_scope(), SCOPE, "{name}");
        assert_eq!(signed.amz_date, AMZ_DATE, "{name}");
        assert_eq!(signed.timestamp, NOW, "{name}");
        assert_eq!(signed.signed_headers.join(";"), v.signed_headers, "{name}");
        assert_eq!(signed.signature, v.signature, "{name}");
        assert!(!signed.presigned, "{name}");
        let has_token = v
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("x-amz-security-token"));
        assert_eq!(
            signed.session_token.as_deref(),
            has_token.then_some(STS_TOKEN),
            "{name}"
        );

        let creq = canonical_request(&req, &signed.signed_headers, &payload, false);
        assert_eq!(creq, v.creq, "{name}: canonical request");
        let sts = string_to_sign(&signed.amz_date, &signed.credential_scope(), &creq);
        assert_eq!(
            sts,
            format!("AWS4-HMAC-SHA256\n{AMZ_DATE}\n{SCOPE}\n{}", v.creq_sha256),
            "{name}: string to sign"
        );
        assert_eq!(signature(&key, &sts), v.signature, "{name}: signature");

        assert_eq!(verify(&req, &signed, SECRET, NOW), Ok(()), "{name}: verify");
        assert_eq!(
            verify(&req, &signed, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEZ", NOW),
            Err(SigV4Error::Mismatch),
            "{name}: other secret"
        );
        let mut other_host = headers.clone();
        other_host.insert("host", HeaderValue::from_static("example.amazonaws.org"));
        assert_eq!(
            verify(
                &parts(v.method, v.path, v.query, &other_host, &payload),
                &signed,
                SECRET,
                NOW
            ),
            Err(SigV4Error::Mismatch),
            "{name}: changed host"
        );
        if v.signed_headers.contains("my-header1") {
            let mut more = headers.clone();
            more.append("my-header1", HeaderValue::from_static("value5"));
            assert_eq!(
                verify(&parts(v.method, v.path, v.query, &more, &payload), &signed, SECRET, NOW),
                Err(SigV4Error::Mismatch),
                "{name}: changed signed header"
            );
        }
        let other_body = sha256_hex(b"Param1=value2");
        assert_eq!(
            verify(
                &parts(v.method, v.path, v.query, &headers, &other_body),
                &signed,
                SECRET,
                NOW
            ),
            Err(SigV4Error::Mismatch),
            "{name}: changed body"
        );
        let other_method = if v.method == "GET" { "POST" } else { "GET" };
        assert_eq!(
            verify(
                &parts(other_method, v.path, v.query, &headers, &payload),
                &signed,
                SECRET,
                NOW
            ),
            Err(SigV4Error::Mismatch),
            "{name}: changed method"
        );

        if v.sign_reproduces {
            let mut input = unsigned.clone();
            input.remove("x-amz-date");
            let mut creds = Credentials::new(AKID, SECRET);
            if let Some(token) = input.remove("x-amz-security-token") {
                creds = creds.with_session_token(token.to_str().unwrap());
            }
            let added = sign(
                v.method,
                v.path,
                v.query,
                &input,
                v.body.as_bytes(),
                &creds,
                REGION,
                SERVICE,
                NOW,
            );
            assert_eq!(
                added[0],
                ("authorization".to_owned(), authorization.clone()),
                "{name}: sign"
            );
            assert_eq!(added[1], ("x-amz-date".to_owned(), AMZ_DATE.to_owned()), "{name}: sign");
        }
    }
}

/// The 2011 edition of the suite as botocore keeps it: a `Date` header
/// instead of `X-Amz-Date`, and already-encoded paths that the canonical
/// URI encodes a second time.
#[test]
fn botocore_date_header_and_double_encoding_vectors() {
    let now = datetime!(2011-09-09 23:36:00 UTC);
    let cases = [
        (
            "/%E1%88%B4",
            "GET\n/%25E1%2588%25B4\n\ndate:Mon, 09 Sep 2011 23:36:00 GMT\nhost:host.foo.com\n\ndate;host\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "47f4456c465167f4db3490a68903fe057412e6e030de38f71d9006467eb4922a",
            "57b1eb3df3b16a8479c0097b66c0b261cfd65b829419a3f2c3d05319722490b8",
        ),
        (
            "/%20/foo",
            "GET\n/%2520/foo\n\ndate:Mon, 09 Sep 2011 23:36:00 GMT\nhost:host.foo.com\n\ndate;host\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "35975885599128f8963ce9be7219598b2b5a344321bae304529556c891e9e6ba",
            "2be9e587d1ee1f0fd02128724b86b4358ba3630d39f493b6e06610a19a50779e",
        ),
    ];
    for (path, expected_creq, creq_sha256, expected_signature) in cases {
        assert_eq!(sha256_hex(expected_creq.as_bytes()), creq_sha256, "{path}: fixture");
        let headers = header_map(&[
            ("Date", "Mon, 09 Sep 2011 23:36:00 GMT"),
            ("Host", "host.foo.com"),
            (
                "Authorization",
                &format!(
                    "AWS4-HMAC-SHA256 Credential={AKID}/20110909/us-east-1/host/aws4_request, SignedHeaders=date;host, Signature={expected_signature}"
                ),
            ),
        ]);
        let req = parts("GET", path, "", &headers, EMPTY_PAYLOAD_SHA256);
        let signed = parse(&req).unwrap();
        assert_eq!(signed.amz_date, "20110909T233600Z");
        assert_eq!(signed.timestamp, now);
        assert_eq!(
            canonical_request(&req, &signed.signed_headers, EMPTY_PAYLOAD_SHA256, false),
            expected_creq
        );
        assert_eq!(verify(&req, &signed, SECRET, now), Ok(()), "{path}");
        assert_eq!(
            verify(&req, &signed, SECRET, now + Duration::minutes(16))
                .map_err(|e| matches!(e, SigV4Error::Expired { .. })),
            Err(true)
        );
    }
}

/// The worked example of AWS's "Create a signed AWS API request" page (IAM ListUsers).
#[test]
fn iam_documentation_example() {
    assert_eq!(
        hex::encode(signing_key(SECRET, "20120215", "us-east-1", "iam")),
        "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
    );

    let headers = header_map(&[
        ("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"),
        ("Host", "iam.amazonaws.com"),
        ("X-Amz-Date", AMZ_DATE),
    ]);
    let req = parts(
        "GET",
        "/",
        "Action=ListUsers&Version=2010-05-08",
        &headers,
        EMPTY_PAYLOAD_SHA256,
    );
    let creq = canonical_request(
        &req,
        &["content-type", "host", "x-amz-date"],
        EMPTY_PAYLOAD_SHA256,
        false,
    );
    assert_eq!(
        creq,
        "GET\n/\nAction=ListUsers&Version=2010-05-08\ncontent-type:application/x-www-form-urlencoded; charset=utf-8\nhost:iam.amazonaws.com\nx-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    let sts = string_to_sign(AMZ_DATE, "20150830/us-east-1/iam/aws4_request", &creq);
    assert_eq!(
        sts,
        "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/iam/aws4_request\nf536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
    );
    let key = signing_key(SECRET, "20150830", "us-east-1", "iam");
    assert_eq!(
        signature(&key, &sts),
        "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
    );
}

const S3_AKID: &str = "AKIAIOSFODNN7EXAMPLE";
const S3_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const S3_NOW: OffsetDateTime = datetime!(2013-05-24 00:00:00 UTC);

/// S3's "GET Object" header example: exercises `x-amz-content-sha256`.
#[test]
fn s3_documentation_header_example_with_content_sha256() {
    let headers = header_map(&[
        ("Host", "examplebucket.s3.amazonaws.com"),
        ("Range", "bytes=0-9"),
        ("x-amz-content-sha256", EMPTY_PAYLOAD_SHA256),
        ("x-amz-date", "20130524T000000Z"),
        (
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
        ),
    ]);
    let req = parts("GET", "/test.txt", "", &headers, EMPTY_PAYLOAD_SHA256);
    let signed = parse(&req).unwrap();
    let creq = canonical_request(&req, &signed.signed_headers, EMPTY_PAYLOAD_SHA256, false);
    assert_eq!(
        creq,
        "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\nx-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\nx-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(
        string_to_sign(&signed.amz_date, &signed.credential_scope(), &creq),
        "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"
    );
    assert_eq!(verify(&req, &signed, S3_SECRET, S3_NOW), Ok(()));

    // A body that does not match the declared hash is refused before the signature is looked at.
    let other = sha256_hex(b"x");
    let err = verify(
        &parts("GET", "/test.txt", "", &headers, &other),
        &signed,
        S3_SECRET,
        S3_NOW,
    )
    .unwrap_err();
    assert_eq!(err, SigV4Error::ContentSha256Mismatch);
    let aws: AwsError = err.into();
    assert_eq!((aws.code.as_ref(), aws.status), ("InvalidSignatureException", 403));
}

/// S3's presigned-URL example: [`presign`] reproduces the documented URL, and
/// [`verify`] accepts it (with `UNSIGNED-PAYLOAD`) until it expires.
#[test]
fn s3_documentation_presigned_example() {
    let creds = Credentials::new(S3_AKID, S3_SECRET);
    let host = header_map(&[("Host", "examplebucket.s3.amazonaws.com")]);
    let query = presign(
        "GET",
        "/test.txt",
        "",
        &host,
        &SigningParams::new(&creds, "us-east-1", "s3", S3_NOW),
        86400,
    );
    assert_eq!(
        query,
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
    );

    let req = parts("GET", "/test.txt", &query, &host, EMPTY_PAYLOAD_SHA256);
    let signed = parse(&req).unwrap();
    assert!(signed.presigned);
    assert_eq!(signed.expires_secs, Some(86400));
    assert_eq!(signed.signed_headers, ["host"]);
    assert_eq!(
        canonical_request(&req, &signed.signed_headers, UNSIGNED_PAYLOAD, true),
        "GET\n/test.txt\nX-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\nhost:examplebucket.s3.amazonaws.com\n\nhost\nUNSIGNED-PAYLOAD"
    );
    assert_eq!(verify(&req, &signed, S3_SECRET, S3_NOW), Ok(()));
    assert_eq!(
        verify(&req, &signed, S3_SECRET, S3_NOW + Duration::seconds(86400)),
        Ok(())
    );
    assert_eq!(
        verify(&req, &signed, S3_SECRET, S3_NOW + Duration::seconds(86401)),
        Err(SigV4Error::Expired {
            message: "Signature expired: 20130524T000000Z is now earlier than 20130524T000001Z (20130525T000001Z - 86400 sec.)"
                .into()
        })
    );
}

/// Query-signed requests as aws-c-auth (the CRT signer under aws-sdk-rust)
/// presigns them for non-S3 services: the payload line is the body's hash.
#[test]
fn aws_c_auth_presigned_vectors_with_body_hash() {
    let cases = [
        (
            "/",
            "Param2=value2&Param1=value1&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host&X-Amz-Expires=3600&X-Amz-Signature=86012e2c9ad4d77369f5d81c11f75158aae4f895a085212cc6d3f923d300bed5",
        ),
        (
            "/ሴ",
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host&X-Amz-Expires=3600&X-Amz-Signature=10eae3f14a260bd3911cc6d008d3c576d143b05b62f09782a7a4b37f52178e44",
        ),
    ];
    let headers = header_map(&[HOST]);
    for (path, query) in cases {
        let req = parts("GET", path, query, &headers, EMPTY_PAYLOAD_SHA256);
        let signed = parse(&req).unwrap();
        assert_eq!((signed.presigned, signed.expires_secs), (true, Some(3600)));
        assert_eq!(
            verify(&req, &signed, SECRET, NOW + Duration::minutes(30)),
            Ok(()),
            "{path}"
        );
        assert_eq!(verify(&req, &signed, "other", NOW), Err(SigV4Error::Mismatch), "{path}");
    }
}

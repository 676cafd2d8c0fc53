//! Properties: signatures verify, and any change to a signed request is caught.

use super::*;

fn flip_hex(signature: &str, at: usize, to: u8) -> String {
    let mut bytes = signature.as_bytes().to_vec();
    let at = at % bytes.len();
    let choices: Vec<u8> = b"0123456789abcdef"
        .iter()
        .copied()
        .filter(|c| *c != bytes[at])
        .collect();
    bytes[at] = choices[usize::from(to) % choices.len()];
    String::from_utf8(bytes).unwrap()
}

/// Method, raw path, raw query, extra headers, body.
type RandomRequest = (&'static str, String, String, Vec<(String, String)>, Vec<u8>);

fn request_strategy() -> impl Strategy<Value = RandomRequest> {
    (
        prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"]),
        (
            prop::collection::vec("[a-zA-Z0-9._~%+ !$&'()*,;=:@é-]{0,8}", 0..5),
            any::<bool>(),
        )
            .prop_map(|(segments, trailing)| {
                let mut path = format!("/{}", segments.join("/"));
                if trailing {
                    path.push('/');
                }
                path
            }),
        prop::collection::vec(("[a-zA-Z0-9._~%+ é-]{0,6}", "[a-zA-Z0-9._~%+= é-]{0,6}"), 0..5).prop_map(|pairs| {
            pairs
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("&")
        }),
        prop::collection::vec(("[a-z][a-z0-9-]{0,10}", "[ -~]{0,24}"), 0..4),
        prop::collection::vec(any::<u8>(), 0..64),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn signed_requests_verify_and_flipped_signatures_never_do(
        (method, path, query, extra, body) in request_strategy(),
        token in prop::option::of("[A-Za-z0-9/+=]{1,40}"),
        skew in -900i64..=900,
        flip_at in 0usize..64,
        flip_to in 0u8..15,
    ) {
        let mut creds = Credentials::new("AKIAPROPTEST", "proptest/secret+key");
        if let Some(token) = token {
            creds = creds.with_session_token(token);
        }
        let mut headers = header_map(&[("Host", "localhost:4566")]);
        for (name, value) in &extra {
            headers.append(
                HeaderName::from_bytes(format!("x-t-{name}").as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        let added = sign(method, &path, &query, &headers, &body, &creds, "us-west-2", "ecs", NOW);
        apply(&mut headers, &added);
        let payload = sha256_hex(&body);
        let req = parts(method, &path, &query, &headers, &payload);
        let signed = parse(&req).unwrap();
        prop_assert_eq!(verify(&req, &signed, "proptest/secret+key", NOW + Duration::seconds(skew)), Ok(()));

        let flipped = flip_hex(&signed.signature, flip_at, flip_to);
        let mut tampered = headers.clone();
        tampered.insert(
            "authorization",
            HeaderValue::from_str(&added[0].1.replace(&signed.signature, &flipped)).unwrap(),
        );
        let req = parts(method, &path, &query, &tampered, &payload);
        let signed = parse(&req).unwrap();
        prop_assert_eq!(signed.signature.as_str(), flipped.as_str());
        prop_assert_eq!(verify(&req, &signed, "proptest/secret+key", NOW), Err(SigV4Error::Mismatch));
    }

    #[test]
    fn presigned_requests_verify_and_flipped_signatures_never_do(
        (method, path, query, _extra, body) in request_strategy(),
        expires in 1u64..=MAX_PRESIGNED_EXPIRES_SECS,
        flip_at in 0usize..64,
        flip_to in 0u8..15,
    ) {
        let creds = Credentials::new("AKIAPROPTEST", "proptest/secret+key");
        let headers = header_map(&[("Host", "localhost:4566")]);
        let params = SigningParams::new(&creds, "us-west-2", "ecs", NOW);
        let signed_query = presign(method, &path, &query, &headers, &params, expires);
        let payload = sha256_hex(&body);
        let req = parts(method, &path, &signed_query, &headers, &payload);
        let signed = parse(&req).unwrap();
        prop_assert_eq!(verify(&req, &signed, "proptest/secret+key", NOW + Duration::seconds(expires as i64)), Ok(()));

        let (unsigned, signature) = signed_query.rsplit_once("&X-Amz-Signature=").unwrap();
        let tampered = format!("{unsigned}&X-Amz-Signature={}", flip_hex(signature, flip_at, flip_to));
        let req = parts(method, &path, &tampered, &headers, &payload);
        prop_assert_eq!(verify(&req, &parse(&req).unwrap(), "proptest/secret+key", NOW), Err(SigV4Error::Mismatch));
    }

    #[test]
    fn arbitrary_input_never_panics(
        authorization in "[ -~]{0,200}",
        date in "[ -~]{0,20}",
        query in "\\PC{0,120}",
        path in "\\PC{0,60}",
        method in "\\PC{0,8}",
    ) {
        let mut headers = header_map(&[("Host", "h")]);
        headers.insert("x-amz-date", HeaderValue::from_str(&date).unwrap());
        headers.insert("authorization", HeaderValue::from_str(&authorization).unwrap());
        for (h, q) in [(&headers, query.as_str()), (&HeaderMap::new(), query.as_str())] {
            let req = parts(&method, &path, q, h, EMPTY_PAYLOAD_SHA256);
            if let Ok(signed) = parse(&req) {
                let _ = verify(&req, &signed, "secret", NOW);
            }
            let _ = canonical_request(&req, &["host", "x-amz-date", "Bad Name", ""], EMPTY_PAYLOAD_SHA256, true);
        }
    }
}

//! [`header_scope_region`]: the region read cheaply from the header agrees
//! with the full [`parse`], and anything not shaped like a scope is `None`.

use super::*;

fn region_of(authorization: &str) -> Option<String> {
    header_scope_region(&header_map(&[("Authorization", authorization)])).map(str::to_string)
}

#[test]
fn agrees_with_the_full_parse_on_signed_requests() {
    let creds = Credentials::new("AKIABERTH", "berth-secret");
    for region in ["us-east-1", "eu-west-1", "ap-southeast-2"] {
        let body = br#"{}"#;
        let mut headers = header_map(&[HOST]);
        let added = sign("POST", "/", "", &headers, body, &creds, region, "ecs", NOW);
        apply(&mut headers, &added);
        let parsed = parse(&parts("POST", "/", "", &headers, &sha256_hex(body))).unwrap();
        assert_eq!(header_scope_region(&headers), Some(parsed.region.as_str()));
        assert_eq!(parsed.region, region);
    }
}

#[test]
fn only_a_five_part_scope_names_a_region() {
    let good = "AWS4-HMAC-SHA256 Credential=AKID/20150830/eu-west-1/ecs/aws4_request, SignedHeaders=host, Signature=00";
    assert_eq!(region_of(good).as_deref(), Some("eu-west-1"));
    let tight = "AWS4-HMAC-SHA256 Credential=AKID/20150830/eu-west-1/ecs/aws4_request,SignedHeaders=host,Signature=00";
    assert_eq!(region_of(tight).as_deref(), Some("eu-west-1"));
    for bad in [
        "AWS4-HMAC-SHA256 Credential=AKID/20150830/eu-west-1/ecs, SignedHeaders=host, Signature=00",
        "AWS4-HMAC-SHA256 Credential=AKID/20150830/eu-west-1/ecs/aws4_request/x, Signature=00",
        "AWS4-HMAC-SHA256 Credential=AKID/20150830//ecs/aws4_request, Signature=00",
        "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=00",
        "AWS AKID:c2lnbmF0dXJl",
        "",
    ] {
        assert_eq!(region_of(bad), None, "{bad}");
    }
    assert_eq!(header_scope_region(&header_map(&[HOST])), None);
}

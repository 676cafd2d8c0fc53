use super::*;

fn parse(text: &str) -> Result<Option<RequestHead>, HeadError> {
    parse_request_head(&mut BytesMut::from(text))
}

fn head(text: &str) -> RequestHead {
    parse(text).unwrap().expect("a complete head")
}

#[test]
fn a_head_is_parsed_once_complete_and_leaves_the_next_bytes() {
    let mut buf = BytesMut::from("GET /cart?id=7 HTTP/1.1\r\nHost: shop.example.com:8080\r\n");
    assert!(parse_request_head(&mut buf).unwrap().is_none());
    buf.extend_from_slice(b"Cookie: AWSALB=x\r\n\r\nGET /next HTTP/1.1\r\n");
    let head = parse_request_head(&mut buf).unwrap().unwrap();
    assert_eq!(head.method, Method::GET);
    assert_eq!(head.version, Version::HTTP_11);
    assert_eq!(head.path_and_query(), "/cart?id=7");
    assert_eq!((head.path(), head.query()), ("/cart", Some("id=7")));
    assert_eq!(head.host(), Some("shop.example.com:8080"));
    assert!(head.has_host_field());
    assert_eq!(head.body, BodyLength::None);
    assert!(head.keep_alive());
    assert_eq!(&buf[..], b"GET /next HTTP/1.1\r\n", "a pipelined request's bytes stay");
    let cookies: Vec<_> = head.fields().values("cookie").collect();
    assert_eq!(cookies, [&b"AWSALB=x"[..]]);
}

#[test]
fn blank_lines_before_a_request_are_skipped() {
    let head = head("\r\n\r\nGET / HTTP/1.1\r\n\r\n");
    assert_eq!(head.path(), "/");
}

#[test]
fn bodies_are_framed_by_length_or_chunked_and_ambiguity_is_refused() {
    assert_eq!(
        head("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n").body,
        BodyLength::Length(5)
    );
    assert_eq!(
        head("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n").body,
        BodyLength::None
    );
    assert_eq!(
        head("POST / HTTP/1.1\r\ncontent-length: 5, 5\r\n\r\n").body,
        BodyLength::Length(5)
    );
    assert_eq!(
        head("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n").body,
        BodyLength::Chunked
    );
    for bad in [
        "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
    ] {
        assert_eq!(parse(bad).err(), Some(HeadError::Framing), "{bad}");
    }
}

#[test]
fn malformed_long_and_crowded_heads_are_refused_with_alb_s_codes() {
    let garbage = parse("this is not HTTP\r\n\r\n").unwrap_err();
    assert!(matches!(garbage, HeadError::Malformed(_)));
    assert_eq!(garbage.status(), StatusCode::BAD_REQUEST);
    let mut long = BytesMut::from("GET / HTTP/1.1\r\nx-long: ");
    long.extend_from_slice(&vec![b'a'; MAX_HEAD]);
    assert_eq!(parse_request_head(&mut long).err(), Some(HeadError::TooLong));
    let mut crowded = String::from("GET / HTTP/1.1\r\n");
    for i in 0..=MAX_FIELDS {
        crowded.push_str(&format!("x-{i}: 1\r\n"));
    }
    crowded.push_str("\r\n");
    let e = parse(&crowded).unwrap_err();
    assert_eq!(e.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert!(matches!(parse("GET / HTTP/2.0\r\n\r\n"), Err(HeadError::Malformed(_))));
}

#[test]
fn keep_alive_follows_the_version_and_the_connection_field() {
    assert!(!head("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").keep_alive());
    assert!(!head("GET / HTTP/1.0\r\n\r\n").keep_alive());
    let asked = head("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
    assert!(asked.keep_alive());
    assert_eq!(asked.version, Version::HTTP_10);
}

#[test]
fn hop_by_hop_fields_and_the_ones_connection_names_are_not_forwarded() {
    let head = head(
        "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Private\r\nX-Private: 1\r\nTE: trailers\r\n\
         Keep-Alive: timeout=5\r\nAccept: */*\r\n\r\n",
    );
    let names: Vec<&[u8]> = head.forwarded_fields().map(|(n, _)| n).collect();
    assert_eq!(names, [&b"Host"[..], b"Accept"]);
    let plain = self::head("GET / HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n");
    assert_eq!(plain.forwarded_fields().count(), 2);
}

#[test]
fn an_upgrade_is_asked_by_connection_and_upgrade_fields_in_http_1_1() {
    let ws = head("GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
    assert_eq!(ws.upgrade(), Some(&b"websocket"[..]));
    assert_eq!(ws.forwarded_fields().count(), 0);
    assert_eq!(head("GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n").upgrade(), None);
    let old = head("GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n");
    assert_eq!(old.upgrade(), None);
}

#[test]
fn an_absolute_form_target_gives_the_path_and_the_host() {
    let head = head("GET http://shop.example.com:8080/a/b?c=1 HTTP/1.1\r\n\r\n");
    assert_eq!(head.path_and_query(), "/a/b?c=1");
    assert_eq!(head.host(), Some("shop.example.com:8080"));
    assert!(!head.has_host_field());
    let bare = self::head("GET http://shop.example.com HTTP/1.1\r\n\r\n");
    assert_eq!(bare.path_and_query(), "/");
    let with_host = self::head("GET http://a.example/x HTTP/1.1\r\nHost: b.example\r\n\r\n");
    assert_eq!(with_host.host(), Some("b.example"), "the Host field wins");
    assert!(matches!(
        parse("GET nope HTTP/1.1\r\n\r\n"),
        Err(HeadError::Malformed(_))
    ));
}

#[test]
fn expect_100_continue_is_read() {
    let head = head("PUT / HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n");
    assert!(head.expects_continue);
}

#[test]
fn a_head_split_at_any_byte_parses_the_same_and_leaves_the_next_request() {
    let text = b"POST /a?b=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nX-A: 1\r\n\r\nabcGET / HTTP/1.1\r\n\r\n";
    let head_len = text.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    for split in 1..text.len() {
        let mut buf = BytesMut::from(&text[..split]);
        let (head, read) = match parse_request_head(&mut buf).unwrap() {
            Some(head) => (head, split),
            None => {
                buf.extend_from_slice(&text[split..]);
                let head = parse_request_head(&mut buf)
                    .unwrap()
                    .expect("complete once all bytes came");
                (head, text.len())
            }
        };
        assert_eq!(head.path_and_query(), "/a?b=1", "split at {split}");
        assert_eq!(head.body, BodyLength::Length(3), "split at {split}");
        assert_eq!(head.fields().iter().count(), 3, "split at {split}");
        assert_eq!(
            &buf[..],
            &text[head_len..read],
            "split at {split}: the body and the next request stay"
        );
    }
}

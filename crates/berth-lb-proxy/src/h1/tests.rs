use super::*;

fn head(text: &str) -> ResponseHead {
    let mut buf = BytesMut::from(text);
    parse_response_head(&mut buf).unwrap().expect("a complete head")
}

const FORWARDED: Forwarded<'static> = Forwarded {
    client_ip: b"203.0.113.9",
    proto: "https",
    port: 8443,
    trace_id: b"1-5759e988-bd862e3fe1be46a994272793",
};

#[test]
fn a_request_head_is_the_method_the_origin_form_and_the_headers() {
    use http::header;
    let mut headers = HeaderMap::new();
    headers.insert(header::HOST, HeaderValue::from_static("app.example.com"));
    headers.insert("x-forwarded-for", HeaderValue::from_static("198.51.100.4"));
    headers.insert("x-forwarded-port", HeaderValue::from_static("1"));
    headers.insert("x-other", HeaderValue::from_static("kept"));
    let mut out = BytesMut::new();
    write_request_head(
        &mut out,
        &Method::GET,
        "/cart?id=7",
        map_fields(&headers),
        b"",
        RequestFraming::AsIs,
        &FORWARDED,
    );
    assert_eq!(
        std::str::from_utf8(&out).unwrap(),
        "GET /cart?id=7 HTTP/1.1\r\nhost: app.example.com\r\nx-other: kept\r\n\
         x-forwarded-for: 198.51.100.4, 203.0.113.9\r\nx-forwarded-proto: https\r\nx-forwarded-port: 8443\r\n\
         x-amzn-trace-id: Root=1-5759e988-bd862e3fe1be46a994272793\r\n\r\n"
    );
    out.clear();
    let port_0 = Forwarded { port: 0, ..FORWARDED };
    write_request_head(
        &mut out,
        &Method::POST,
        "/",
        map_fields(&HeaderMap::new()),
        b"",
        RequestFraming::Chunked,
        &port_0,
    );
    assert_eq!(
        std::str::from_utf8(&out).unwrap(),
        "POST / HTTP/1.1\r\nx-forwarded-for: 203.0.113.9\r\nx-forwarded-proto: https\r\nx-forwarded-port: 0\r\n\
         x-amzn-trace-id: Root=1-5759e988-bd862e3fe1be46a994272793\r\ntransfer-encoding: chunked\r\n\r\n"
    );
    assert_eq!(&chunk_prefix(255)[..], b"ff\r\n");
}

#[test]
fn a_request_s_trace_id_gets_a_self_and_an_empty_forwarded_for_is_not_kept() {
    let mut headers = HeaderMap::new();
    headers.insert("x-forwarded-for", HeaderValue::from_static(""));
    headers.insert(
        "x-amzn-trace-id",
        HeaderValue::from_static("Root=1-00000000-000000000000000000000001"),
    );
    let mut out = BytesMut::new();
    let forwarded = Forwarded {
        port: 65535,
        ..FORWARDED
    };
    write_request_head(
        &mut out,
        &Method::GET,
        "/",
        map_fields(&headers),
        b"",
        RequestFraming::AsIs,
        &forwarded,
    );
    let text = std::str::from_utf8(&out).unwrap();
    assert!(text.contains("\r\nx-forwarded-for: 203.0.113.9\r\n"), "{text}");
    assert!(text.contains("\r\nx-forwarded-port: 65535\r\n"), "{text}");
    assert!(
        text.contains(
            "\r\nx-amzn-trace-id: Root=1-00000000-000000000000000000000001;Self=1-5759e988-bd862e3fe1be46a994272793\r\n"
        ),
        "{text}"
    );
    // A trace header without a Root is replaced.
    headers.insert("x-amzn-trace-id", HeaderValue::from_static("garbage"));
    out.clear();
    write_request_head(
        &mut out,
        &Method::GET,
        "/",
        map_fields(&headers),
        b"",
        RequestFraming::AsIs,
        &forwarded,
    );
    let text = std::str::from_utf8(&out).unwrap();
    assert!(!text.contains("garbage"), "{text}");
    assert_eq!(text.matches("x-amzn-trace-id").count(), 1, "{text}");
}

#[test]
fn a_response_head_is_parsed_once_complete_and_leaves_the_body() {
    let mut buf = BytesMut::from("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: 1\r\n");
    assert_eq!(parse_response_head(&mut buf).unwrap().map(|h| h.status), None);
    buf.extend_from_slice(b"X-A: 2\r\n\r\nok");
    let head = parse_response_head(&mut buf).unwrap().unwrap();
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(head.fields().values("x-a").count(), 2);
    assert_eq!(head.reason(), b"OK");
    assert_eq!(head.header_map().unwrap().get_all("x-a").iter().count(), 2);
    assert_eq!(&buf[..], b"ok");
    assert!(head.keep_alive());
    assert_eq!(head.body_framing(&Method::GET), Ok(BodyFraming::Length(2)));
    assert_eq!(head.body_framing(&Method::HEAD), Ok(BodyFraming::Length(0)));
}

#[test]
fn garbage_and_bad_lengths_are_errors() {
    let mut buf = BytesMut::from("this is not HTTP\r\n\r\n");
    assert!(matches!(parse_response_head(&mut buf), Err(ParseError::Head(_))));
    let twice = head("HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\n");
    assert_eq!(twice.body_framing(&Method::GET), Err(ParseError::ContentLength));
    let signed = head("HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n");
    assert_eq!(signed.body_framing(&Method::GET), Err(ParseError::ContentLength));
    let mut long = BytesMut::from("HTTP/1.1 200 OK\r\n");
    long.extend_from_slice(&vec![b'x'; MAX_HEAD]);
    assert_eq!(parse_response_head(&mut long).err(), Some(ParseError::TooLong));
}

#[test]
fn framing_and_keep_alive_follow_rfc_9112() {
    let chunked = head("HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\ncontent-length: 9\r\n\r\n");
    assert_eq!(chunked.body_framing(&Method::GET), Ok(BodyFraming::Chunked));
    let open = head("HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n");
    assert_eq!(open.body_framing(&Method::GET), Ok(BodyFraming::UntilClose));
    assert!(!open.keep_alive());
    let none = head("HTTP/1.1 204 No Content\r\n\r\n");
    assert_eq!(none.body_framing(&Method::GET), Ok(BodyFraming::Length(0)));
    let old = head("HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n");
    assert!(!old.keep_alive());
    let kept = head("HTTP/1.0 200 OK\r\nconnection: Keep-Alive\r\n\r\n");
    assert!(kept.keep_alive());
}

#[test]
fn a_chunked_body_is_decoded_across_reads_with_extensions_and_trailers() {
    let mut state = Chunked::Size;
    let mut buf = BytesMut::from("5;ext=1\r\nhel");
    assert_eq!(state.decode(&mut buf), Ok(Decoded::Data(Bytes::from("hel"))));
    assert_eq!(state.decode(&mut buf), Ok(Decoded::NeedMore));
    buf.extend_from_slice(b"lo\r\n0\r\nx-t: 1\r\n");
    assert_eq!(state.decode(&mut buf), Ok(Decoded::Data(Bytes::from("lo"))));
    assert_eq!(state.decode(&mut buf), Ok(Decoded::NeedMore));
    buf.extend_from_slice(b"\r\nNEXT");
    assert_eq!(state.decode(&mut buf), Ok(Decoded::End));
    assert_eq!(&buf[..], b"NEXT", "the next response's bytes are left");
    let mut bad = BytesMut::from("zz\r\n");
    assert_eq!(Chunked::Size.decode(&mut bad), Err(ParseError::Chunk));
    let mut no_crlf = BytesMut::from("1\r\nabc");
    let mut state = Chunked::Size;
    assert_eq!(state.decode(&mut no_crlf), Ok(Decoded::Data(Bytes::from("a"))));
    assert_eq!(state.decode(&mut no_crlf), Err(ParseError::Chunk));
}

#[test]
fn a_connection_header_of_close_or_keep_alive_is_read_out_of_the_headers() {
    let kept = head("HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n");
    assert!(
        kept.fields().values("connection").next().is_none(),
        "hop-by-hop, not passed on"
    );
    assert!(kept.keep_alive());
    let closing = head("HTTP/1.1 200 OK\r\nConnection: Keep-Alive, close\r\n\r\n");
    assert!(closing.fields().values("connection").next().is_none());
    assert!(!closing.keep_alive(), "close wins");
    // One naming another header stays, for the proxy to drop both.
    let naming = head("HTTP/1.0 200 OK\r\nConnection: keep-alive, x-private\r\nx-private: 1\r\n\r\n");
    assert_eq!(
        naming.fields().values("connection").collect::<Vec<_>>(),
        [&b"keep-alive, x-private"[..]]
    );
    assert!(naming.keep_alive());
    let both = head("HTTP/1.1 200 OK\r\nConnection: x-private\r\nConnection: close\r\n\r\n");
    assert!(!both.keep_alive(), "the tokens of every Connection header count");
}

#[test]
fn raw_fields_keep_their_case_and_extra_lines_go_before_the_forwarded_ones() {
    let fields: [(&[u8], &[u8]); 2] = [(b"Accept", b"*/*"), (b"X-Forwarded-For", b"10.0.0.1")];
    let mut out = BytesMut::new();
    write_request_head(
        &mut out,
        &Method::GET,
        "/",
        fields,
        b"host: 10.0.0.5:80\r\n",
        RequestFraming::AsIs,
        &FORWARDED,
    );
    let text = std::str::from_utf8(&out).unwrap();
    assert!(
        text.starts_with(
            "GET / HTTP/1.1\r\nAccept: */*\r\nhost: 10.0.0.5:80\r\nx-forwarded-for: 10.0.0.1, 203.0.113.9\r\n"
        ),
        "{text}"
    );
}

use super::*;
use crate::h1::parse_response_head;

fn answer(text: &str) -> ResponseHead {
    parse_response_head(&mut BytesMut::from(text)).unwrap().unwrap()
}

fn written(head: &ResponseHead, cookies: &[String], framing: ClientFraming, connection: Connection) -> String {
    let mut out = BytesMut::new();
    write_answer_head(&mut out, head, cookies, framing, connection);
    String::from_utf8(out.to_vec()).unwrap()
}

#[test]
fn the_target_s_head_is_copied_with_its_reason_and_without_hop_by_hop_fields() {
    let head = answer(
        "HTTP/1.1 201 Made\r\nServer: nginx\r\nDate: Tue, 08 Dec 2026 10:00:00 GMT\r\nContent-Length: 2\r\n\
         Connection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n",
    );
    let text = written(&head, &[], ClientFraming::AsIs, Connection::Kept);
    assert_eq!(
        text,
        "HTTP/1.1 201 Made\r\nServer: nginx\r\nDate: Tue, 08 Dec 2026 10:00:00 GMT\r\nContent-Length: 2\r\n\r\n"
    );
}

#[test]
fn a_chunked_answer_drops_its_length_and_says_how_the_connection_ends() {
    let head = answer("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 9\r\nDate: x\r\n\r\n");
    let text = written(
        &head,
        &["AWSALB=v; Path=/".into()],
        ClientFraming::Chunked,
        Connection::Close,
    );
    assert_eq!(
        text,
        "HTTP/1.1 200 OK\r\nDate: x\r\nset-cookie: AWSALB=v; Path=/\r\nconnection: close\r\ntransfer-encoding: chunked\r\n\r\n"
    );
    let kept = written(&head, &[], ClientFraming::AsIs, Connection::KeptAsAsked);
    assert!(kept.contains("\r\nconnection: keep-alive\r\n"), "{kept}");
}

#[test]
fn fields_a_connection_header_names_are_dropped_and_a_missing_date_is_added() {
    let head = answer("HTTP/1.1 200 OK\r\nConnection: x-private\r\nX-Private: 1\r\nX-Kept: 2\r\n\r\n");
    let text = written(&head, &[], ClientFraming::AsIs, Connection::Kept);
    assert!(!text.to_ascii_lowercase().contains("x-private"), "{text}");
    assert!(text.contains("\r\nX-Kept: 2\r\n"), "{text}");
    assert!(text.contains("\r\ndate: ") && text.ends_with(" GMT\r\n\r\n"), "{text}");
}

#[test]
fn an_empty_reason_is_the_status_s_own() {
    let head = answer("HTTP/1.1 404 \r\nDate: x\r\n\r\n");
    assert!(written(&head, &[], ClientFraming::AsIs, Connection::Kept).starts_with("HTTP/1.1 404 Not Found\r\n"));
}

#[test]
fn chunks_and_numbers_are_written_in_their_bases() {
    let mut out = BytesMut::new();
    write_chunk(&mut out, &[b'a'; 26]);
    assert_eq!(&out[..4], b"1a\r\n");
    assert!(out.ends_with(b"a\r\n"));
    out.clear();
    decimal(&mut out, 0);
    decimal(&mut out, 18_446_744_073_709_551_615);
    assert_eq!(&out[..], b"018446744073709551615");
}

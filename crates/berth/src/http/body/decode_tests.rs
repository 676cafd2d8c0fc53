use super::*;
use flate2::{Compression, write::GzEncoder};
use sha2::{Digest, Sha256};
use std::io::Write;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn sent(bytes: Vec<u8>) -> ReadBody {
    ReadBody {
        sha256_hex: hex::encode(Sha256::digest(&bytes)),
        bytes: Bytes::from(bytes),
        _room: Vec::new(),
    }
}

fn free(b: &Budget) -> usize {
    b.all.available_permits()
}

#[test]
fn codings_are_read_in_order_without_identity() {
    assert_eq!(codings("gzip"), vec!["gzip"]);
    assert_eq!(codings(" GZIP , identity,br"), vec!["gzip", "br"]);
    assert!(codings("identity").is_empty());
    assert!(codings("").is_empty());
}

#[test]
fn gzip_is_inflated_and_the_hash_stays_that_of_the_bytes_sent() {
    let budget = Budget::new(1 << 20, 0);
    let data = b"{\"Namespace\":\"n\"}".repeat(1000);
    let packed = gzip(&data);
    let hash = hex::encode(Sha256::digest(&packed));
    let body = decode(sent(packed), "gzip", data.len(), &budget).unwrap();
    assert_eq!(&body.bytes[..], &data[..]);
    assert_eq!(body.sha256_hex, hash);
    assert!(free(&budget) <= (1 << 20) - data.len());
    drop(body);
    assert_eq!(free(&budget), 1 << 20);
    // Two members (RFC 1952) are one body; identity leaves bytes as they are.
    let mut two = gzip(b"ab");
    two.extend(gzip(b"cd"));
    assert_eq!(&decode(sent(two), "x-gzip", 10, &budget).unwrap().bytes[..], b"abcd");
    assert_eq!(
        &decode(sent(b"abc".to_vec()), "identity", 10, &budget).unwrap().bytes[..],
        b"abc"
    );
    assert_eq!(&decode(sent(gzip(b"")), "gzip", 0, &budget).unwrap().bytes[..], b"");
}

#[test]
fn the_limit_applies_to_the_decompressed_size() {
    let budget = Budget::new(1 << 20, 0);
    // Exactly the limit fits; one byte more does not.
    assert_eq!(
        decode(sent(gzip(&[7; 100])), "gzip", 100, &budget).unwrap().bytes.len(),
        100
    );
    assert_eq!(
        decode(sent(gzip(&[7; 101])), "gzip", 100, &budget).err(),
        Some(BodyError::TooLarge(100))
    );
    // A bomb: 64 MiB of zeros in ~64 KiB is refused at the limit, never held whole
    // (the budget is far smaller than what it inflates to).
    let bomb = gzip(&vec![0; 64 << 20]);
    assert!(bomb.len() < 128 * 1024);
    assert_eq!(
        decode(sent(bomb), "gzip", 512 * 1024, &budget).err(),
        Some(BodyError::TooLarge(512 * 1024))
    );
    assert_eq!(free(&budget), 1 << 20);
}

#[test]
fn decoded_bytes_take_room_in_the_budget() {
    let budget = Budget::new(1000, 0);
    assert_eq!(
        decode(sent(gzip(&[1; 5000])), "gzip", 10_000, &budget).err(),
        Some(BodyError::Busy)
    );
    assert_eq!(free(&budget), 1000);
}

#[test]
fn not_gzip_and_unknown_codings_are_refused() {
    let budget = Budget::new(1 << 20, 0);
    let Some(BodyError::Encoding(why)) = decode(sent(b"{\"a\":1}".to_vec()), "gzip", 100, &budget).err() else {
        panic!("plain bytes are not gzip");
    };
    assert!(why.starts_with("The request body is not valid gzip"), "{why}");
    // Cut short: the trailer (CRC, length) is missing.
    let mut cut = gzip(&[5; 1000]);
    cut.truncate(cut.len() - 4);
    assert!(matches!(
        decode(sent(cut), "gzip", 2000, &budget).err(),
        Some(BodyError::Encoding(_))
    ));
    assert_eq!(
        decode(sent(b"x".to_vec()), "br", 100, &budget).err(),
        Some(BodyError::Encoding(
            "Content-Encoding br is not supported (only gzip).".into()
        ))
    );
    assert_eq!(free(&budget), 1 << 20);
}

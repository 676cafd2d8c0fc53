//! Tests of [`super`] (awslogs.rs).

use super::*;
use super::{batch::*, config::*, events::*};
use crate::client::ApiClient;
use regex::Regex;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn opts(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
    kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn rec(ts: &str, text: &str) -> Vec<u8> {
    format!("{ts} {text}\n").into_bytes()
}

#[test]
fn options_follow_dockers_rules() {
    assert!(
        parse_options(&opts(&[]))
            .unwrap_err()
            .to_string()
            .contains("awslogs-group")
    );
    let c = parse_options(&opts(&[
        ("awslogs-group", "g"),
        ("awslogs-region", "eu-west-1"),
        ("awslogs-stream-prefix", "web"),
        ("awslogs-create-group", "true"),
    ]))
    .unwrap();
    assert!(c.create_group);
    assert_eq!(stream_name(&c, "app", "abc123").as_deref(), Some("web/app/abc123"));
    assert_eq!(c.batch_bytes(), MAX_BATCH_BYTES);
    let c = parse_options(&opts(&[("awslogs-group", "g")])).unwrap();
    assert_eq!(stream_name(&c, "app", "abc"), None, "no prefix: the container id");
    assert!(
        parse_options(&opts(&[("awslogs-group", "g"), ("awslogs-create-group", "yes")]))
            .unwrap_err()
            .to_string()
            .contains("awslogs-create-group")
    );
    assert!(
        parse_options(&opts(&[("awslogs-group", "g"), ("bogus", "1")]))
            .unwrap_err()
            .to_string()
            .contains("unknown log opt 'bogus'")
    );
    assert!(
        parse_options(&opts(&[
            ("awslogs-group", "g"),
            ("awslogs-multiline-pattern", "^x"),
            ("awslogs-datetime-format", "%Y")
        ]))
        .unwrap_err()
        .to_string()
        .contains("at the same time")
    );
    assert!(
        parse_options(&opts(&[("awslogs-group", "g"), ("awslogs-multiline-pattern", "(")]))
            .unwrap_err()
            .to_string()
            .contains("multiline pattern")
    );
    assert_eq!(
        parse_options(&opts(&[("awslogs-group", "g"), ("mode", "fast")]))
            .unwrap_err()
            .to_string(),
        "logger: logging mode not supported: fast"
    );
    assert!(
        parse_options(&opts(&[("awslogs-group", "g"), ("max-buffer-size", "4m")]))
            .unwrap_err()
            .to_string()
            .contains("only supported with 'mode=non-blocking'")
    );
    assert!(
        parse_options(&opts(&[
            ("awslogs-group", "g"),
            ("mode", "non-blocking"),
            ("max-buffer-size", "lots")
        ]))
        .is_err()
    );
    let c = parse_options(&opts(&[
        ("awslogs-group", "g"),
        ("mode", "non-blocking"),
        ("max-buffer-size", "512k"),
    ]))
    .unwrap();
    assert_eq!(c.non_blocking_buffer, Some(512 * 1024));
    assert_eq!(c.batch_bytes(), 512 * 1024);
    assert_eq!(parse_size("4m"), Some(4 << 20));
    assert_eq!(parse_size("1.5k"), Some(1536));
    assert_eq!(parse_size("25MB"), Some(25 << 20));
    assert_eq!(parse_size("x"), None);
}

#[test]
fn datetime_formats_become_dockers_regexes() {
    let re = Regex::new(&format!("^{}", strftime_to_regex(r"\[%b %d, %Y %H:%M:%S\]"))).unwrap();
    assert!(re.is_match("[May 01, 2017 19:00:01] A message was logged"));
    assert!(!re.is_match("  with a continuation"));
    let re = Regex::new(&format!("^{}", strftime_to_regex("%Y-%m-%dT%H:%M:%S%L%z"))).unwrap();
    assert!(re.is_match("2024-02-29T23:59:59.123+0100 x"));
    assert_eq!(strftime_to_regex("100%"), "100%");
}

#[test]
fn timestamps_are_read_to_the_nanosecond() {
    assert_eq!(parse_timestamp("1970-01-01T00:00:01.000000002Z"), Some(1_000_000_002));
    assert_eq!(
        parse_timestamp("2024-01-02T03:04:05.123456789Z").map(|n| n / 1_000_000),
        Some(1_704_164_645_123)
    );
    assert_eq!(parse_timestamp("garbage"), None);
}

#[test]
fn records_become_events_with_positions() {
    let mut a = Assembler::new(None, DEFAULT_MULTILINE_FLUSH, Cursor::default());
    let mut frame = rec("2024-01-02T03:04:05.000000001Z", "one");
    frame.extend(rec("2024-01-02T03:04:05.000000001Z", "two"));
    let ev = a.push_frame(0, &frame, 0);
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0].message, "one");
    assert_eq!(ev[0].timestamp_ms, 1_704_164_645_000);
    assert_eq!(ev[1].end.count, 2, "two records share the timestamp");
    // A record split by Docker (no newline) continues in the next frame.
    assert!(a.push_frame(1, b"2024-01-02T03:04:06.000000000Z abc", 0).is_empty());
    let ev = a.push_frame(0, &rec("2024-01-02T03:04:06.500000000Z", "out"), 0);
    assert_eq!(ev[0].message, "out", "stdout and stderr are joined separately");
    let ev = a.push_frame(1, &rec("2024-01-02T03:04:07.000000000Z", "def"), 0);
    assert_eq!(ev[0].message, "abcdef");
    assert_eq!(ev[0].timestamp_ms, 1_704_164_646_000, "the first record's time");
    // Resuming from a cursor skips what it covers, even at the same timestamp.
    let mut a = Assembler::new(
        None,
        DEFAULT_MULTILINE_FLUSH,
        Cursor {
            ts_ns: parse_timestamp("2024-01-02T03:04:05.000000001Z").unwrap(),
            count: 1,
        },
    );
    let ev = a.push_frame(0, &frame, 0);
    assert_eq!(ev.iter().map(|e| e.message.as_str()).collect::<Vec<_>>(), vec!["two"]);
}

#[test]
fn a_new_read_of_the_docker_log_skips_what_was_read() {
    let mut a = Assembler::new(None, DEFAULT_MULTILINE_FLUSH, Cursor::default());
    let mut frame = rec("2024-01-02T03:04:05.000000001Z", "one");
    frame.extend(rec("2024-01-02T03:04:05.000000001Z", "two"));
    assert_eq!(a.push_frame(0, &frame, 0).len(), 2);
    a.restart();
    assert_eq!(a.resume_point().count, 2);
    // Docker sends everything since the second before again, then more.
    assert!(a.push_frame(0, &frame, 0).is_empty());
    let ev = a.push_frame(0, &rec("2024-01-02T03:04:05.000000001Z", "three"), 0);
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].end.count, 3);
}

#[test]
fn long_lines_are_split_like_docker() {
    let long = "é".repeat(MAX_EVENT_BYTES);
    let parts = split_message(&long);
    assert_eq!(parts.concat(), long);
    assert!(parts.iter().all(|p| p.len() <= MAX_EVENT_BYTES));
    assert_eq!(parts.len(), 2);
    let mut a = Assembler::new(None, DEFAULT_MULTILINE_FLUSH, Cursor::default());
    let ev = a.push_frame(0, &rec("2024-01-02T03:04:05Z", &long), 0);
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0].end, Cursor::default(), "only the last piece moves the cursor");
    assert_eq!(ev[1].end.count, 1);
}

#[test]
fn multiline_patterns_group_lines() {
    let re = Regex::new("^INFO|^ERROR").unwrap();
    let mut a = Assembler::new(Some(re), Duration::from_secs(1), Cursor::default());
    let ts = "2024-01-02T03:04:05.000000001Z";
    let mut out = Vec::new();
    for (i, l) in ["INFO start", "ERROR boom", "  at a()", "  at b()", "INFO next"]
        .iter()
        .enumerate()
    {
        out.extend(a.push_frame(0, &rec(ts, l), i as u64));
    }
    let msgs: Vec<&str> = out.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(msgs, vec!["INFO start", "ERROR boom\n  at a()\n  at b()"]);
    assert_eq!(out[1].end.count, 4);
    assert_eq!(a.next_flush_ms(), Some(1004));
    assert!(a.flush_due(1003).is_none());
    assert_eq!(a.flush_due(1004).unwrap().message, "INFO next");
    assert!(a.finish(2000).is_empty());
}

#[test]
fn batches_respect_cloudwatch_limits_and_order() {
    let ev = |ts: i64, m: &str, n: u32| Event {
        timestamp_ms: ts,
        message: m.to_string(),
        end: Cursor {
            ts_ns: ts * 1_000_000,
            count: n,
        },
    };
    let mut b = Batcher::new(MAX_BATCH_BYTES);
    b.push(ev(2, "b", 1), 0);
    b.push(ev(1, "a", 1), 10);
    assert!(!b.due(249, LINGER));
    assert!(b.due(250, LINGER));
    let batch = b.take(250).unwrap();
    assert_eq!(batch.events, vec![(1, "a".to_string()), (2, "b".to_string())]);
    assert_eq!(batch.end.ts_ns, 1_000_000, "the end is the last event read");
    assert!(b.take(250).is_none());

    for i in 0..(MAX_BATCH_EVENTS + 5) {
        b.push(ev(i as i64, "x", 1), 0);
    }
    assert!(b.due(0, LINGER), "a full batch goes at once");
    assert_eq!(b.take(0).unwrap().events.len(), MAX_BATCH_EVENTS);
    assert_eq!(b.len(), 5);
    b.take(0);

    let big = "y".repeat(100_000);
    for i in 0..11 {
        b.push(ev(i, &big, 1), 0);
    }
    assert!(b.due(0, LINGER));
    let batch = b.take(0).unwrap();
    assert_eq!(batch.events.len(), 10, "1 MiB including 26 bytes per event");
    assert!(batch.events.iter().map(|e| e.1.len() + EVENT_OVERHEAD).sum::<usize>() <= MAX_BATCH_BYTES);
    b.take(0);

    b.push(ev(0, "old", 1), 0);
    b.push(ev(MAX_BATCH_SPAN_MS + 1, "new", 1), 0);
    assert_eq!(b.take(0).unwrap().events.len(), 1, "a batch spans at most 24 h");
}

/// A CloudWatch Logs stand-in that stores the first PutLogEvents and
/// then drops the connection without answering (a server killed right
/// after its commit); it answers everything else.
async fn lossy_server() -> (String, Arc<Mutex<Vec<(i64, String)>>>, Arc<Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stored: Arc<Mutex<Vec<(i64, String)>>> = Arc::default();
    let calls: Arc<Mutex<Vec<String>>> = Arc::default();
    let (s2, c2) = (stored.clone(), calls.clone());
    tokio::spawn(async move {
        let mut puts = 0;
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 65536];
            // One request per connection: headers, then Content-Length bytes.
            let (head_end, len) = loop {
                let n = sock.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    break (0, 0);
                }
                buf.extend_from_slice(&chunk[..n]);
                if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buf[..p]).to_ascii_lowercase();
                    let len = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    break (p + 4, len);
                }
            };
            if head_end == 0 {
                continue;
            }
            while buf.len() < head_end + len {
                let n = sock.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
            let target = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("x-amz-target:")
                        .map(|v| v.trim().to_string())
                })
                .unwrap_or_default();
            let body: Value = serde_json::from_slice(&buf[head_end..]).unwrap_or(Value::Null);
            let op = target.rsplit('.').next().unwrap_or_default().to_string();
            c2.lock().unwrap().push(op.clone());
            let answer = match op.as_str() {
                "putlogevents" => {
                    let events: Vec<(i64, String)> = body["logEvents"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|e| {
                            (
                                e["timestamp"].as_i64().unwrap(),
                                e["message"].as_str().unwrap().to_string(),
                            )
                        })
                        .collect();
                    s2.lock().unwrap().extend(events);
                    puts += 1;
                    if puts == 1 {
                        drop(sock); // committed, answer lost
                        continue;
                    }
                    json!({})
                }
                "getlogevents" => {
                    let all = s2.lock().unwrap().clone();
                    let limit = body["limit"].as_u64().unwrap_or(10_000) as usize;
                    let tail = &all[all.len().saturating_sub(limit)..];
                    json!({"events": tail.iter().map(|(t, m)| json!({"timestamp": t, "message": m})).collect::<Vec<_>>()})
                }
                _ => json!({}),
            };
            let text = answer.to_string();
            let resp = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.1\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                text.len()
            );
            let _ = sock.write_all(resp.as_bytes()).await;
        }
    });
    (format!("http://{addr}"), stored, calls)
}

#[tokio::test]
async fn a_batch_whose_answer_was_lost_is_not_sent_twice() {
    let (endpoint, stored, calls) = lossy_server().await;
    let api = ApiClient::new(&endpoint, berth_proto::sigv4::Credentials::new("a", "b"), "us-east-1").unwrap();
    let cfg = parse_options(&opts(&[("awslogs-group", "g")])).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.json");
    let mut state = ShipState::default();
    let end = Cursor { ts_ns: 9, count: 1 };
    let batch = Batch {
        events: vec![(1, "one".into()), (2, "two".into())],
        end,
    };
    Shippers::put(&api, &cfg, "s", batch.clone(), &mut state, &path).await;
    assert_eq!(
        stored.lock().unwrap().len(),
        2,
        "stored once: {:?}",
        calls.lock().unwrap()
    );
    assert_eq!(
        *calls.lock().unwrap(),
        vec!["putlogevents", "getlogevents"],
        "the stream was read back instead of sending again"
    );
    assert_eq!(state.committed, end);
    assert_eq!(ShipState::load(&path).in_flight, None);

    // An agent restarted with the batch in flight finds it stored too;
    // a batch that is not there is not taken for stored.
    assert!(Shippers::stored(&api, "g", "s", 2, batch.digest()).await);
    assert!(!Shippers::stored(&api, "g", "s", 1, batch.digest()).await);
    let other = Batch {
        events: vec![(1, "one".into()), (2, "TWO".into())],
        end,
    };
    assert!(!Shippers::stored(&api, "g", "s", 2, other.digest()).await);
    // The next batch is sent (and answered) normally.
    Shippers::put(&api, &cfg, "s", other, &mut state, &path).await;
    assert_eq!(stored.lock().unwrap().len(), 4);
}

#[test]
fn batches_are_recognized_by_digest() {
    let a = vec![(1, "x".to_string()), (2, "y".to_string())];
    let b = vec![(1, "x".to_string()), (2, "z".to_string())];
    let c = vec![(1, "xy".to_string())];
    assert_eq!(digest(&a), digest(&a.clone()));
    assert_ne!(digest(&a), digest(&b));
    assert_ne!(digest(&[(1, "x".into()), (1, "y".into())]), digest(&c));
    let s = ShipState {
        committed: Cursor { ts_ns: 5, count: 2 },
        in_flight: Some(InFlight {
            end: Cursor { ts_ns: 9, count: 1 },
            events: 2,
            digest: digest(&a),
        }),
        done: false,
    };
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.json");
    s.save(&p);
    assert_eq!(ShipState::load(&p), s);
    assert_eq!(ShipState::load(&dir.path().join("missing.json")), ShipState::default());
}

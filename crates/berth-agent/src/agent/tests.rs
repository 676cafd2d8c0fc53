//! Tests of [`super`] (agent.rs).

use super::*;

#[test]
fn a_data_dir_serves_one_agent_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let first = lock_data_dir(dir.path()).unwrap();
    let err = lock_data_dir(dir.path()).unwrap_err().to_string();
    assert!(err.contains("another agent (pid"), "{err}");
    drop(first);
    lock_data_dir(dir.path()).unwrap();
}

#[test]
fn backoff_grows_with_jitter_and_caps_at_ten_seconds() {
    let mut b = retry_backoff();
    let first = b.next_delay();
    assert!(first <= Duration::from_millis(250) && first >= Duration::from_millis(125));
    let mut last = Duration::ZERO;
    for _ in 0..20 {
        last = b.next_delay();
        assert!(last <= b.cap());
    }
    assert_eq!(b.cap(), Duration::from_secs(10));
    assert!(last >= b.cap() / 2);
    b.reset();
    assert!(b.next_delay() <= Duration::from_millis(250));
}

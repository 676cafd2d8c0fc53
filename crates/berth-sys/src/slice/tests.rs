use super::*;

/// Runs `f` on a thread of its own, so that the test harness's threads
/// keep their slice.
fn on_new_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(f).join().expect("the test thread panicked")
}

#[test]
fn the_attr_struct_is_the_kernels_first_version() {
    assert_eq!(ATTR_SIZE, 48);
}

#[test]
fn a_slice_set_is_the_slice_the_kernel_reports_and_policy_and_nice_are_kept() {
    on_new_thread(|| {
        let before = get().expect("sched_getattr");
        let reported = current_thread_slice().expect("/proc/thread-self/sched");
        set_current_thread_slice(Duration::from_micros(250)).expect("sched_setattr");
        let after = get().expect("sched_getattr");
        assert_eq!(after.sched_policy, before.sched_policy);
        assert_eq!(after.sched_nice, before.sched_nice);
        let now = current_thread_slice().unwrap();
        if kernel_grants_slices() {
            assert_eq!(after.sched_runtime, 250_000);
            assert_eq!(now, Some(Duration::from_micros(250)));
        } else {
            assert_eq!(now, reported, "a kernel before 6.12 keeps its own slice");
        }
    });
}

#[test]
fn a_slice_out_of_the_kernels_range_is_brought_into_it() {
    on_new_thread(|| {
        set_current_thread_slice(Duration::from_nanos(1)).expect("sched_setattr");
        let short = current_thread_slice().unwrap();
        set_current_thread_slice(Duration::from_secs(5)).expect("sched_setattr");
        let long = current_thread_slice().unwrap();
        if kernel_grants_slices() {
            assert_eq!((short, long), (Some(MIN), Some(MAX)));
        } else {
            assert_eq!(short, long, "a kernel before 6.12 keeps its own slice");
        }
    });
}

#[test]
fn the_slice_is_read_from_the_sched_file() {
    let text = "berth-lb-0 (123, #threads: 4)\n----\nse.exec_start    :   1.5\nse.slice                 :               100000\npolicy : 0\n";
    assert_eq!(parse_slice(text), Some(Duration::from_micros(100)));
    assert_eq!(parse_slice("policy : 0\n"), None);
}

#[test]
fn slices_are_granted_from_linux_6_12() {
    assert!(grants_slices("6.12.0\n"));
    assert!(grants_slices("6.18.44-fc-v1272"));
    assert!(grants_slices("7.0.1"));
    assert!(!grants_slices("6.11.9-amd64"));
    assert!(!grants_slices("5.15.0-91-generic"));
    assert!(!grants_slices(""));
}

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
        // Kernels before 6.6 report no slice; before 6.12 they keep their own.
        if reported.is_some() && after.sched_runtime == 250_000 {
            assert_eq!(current_thread_slice().unwrap(), Some(Duration::from_micros(250)));
        }
    });
}

#[test]
fn a_slice_out_of_the_kernels_range_is_brought_into_it() {
    on_new_thread(|| {
        set_current_thread_slice(Duration::from_nanos(1)).expect("sched_setattr");
        let short = get().unwrap().sched_runtime;
        set_current_thread_slice(Duration::from_secs(5)).expect("sched_setattr");
        let long = get().unwrap().sched_runtime;
        // A kernel that honours slices reports what was asked for.
        if short != 0 && long != 0 {
            assert_eq!((short, long), (100_000, 100_000_000));
        }
    });
}

#[test]
fn the_slice_is_read_from_the_sched_file() {
    let text = "berth-lb-0 (123, #threads: 4)\n----\nse.exec_start    :   1.5\nse.slice                 :               100000\npolicy : 0\n";
    assert_eq!(parse_slice(text), Some(Duration::from_micros(100)));
    assert_eq!(parse_slice("policy : 0\n"), None);
}

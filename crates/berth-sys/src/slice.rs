//! A thread's CPU slice under Linux's fair scheduler (EEVDF): how long the
//! thread may run before the scheduler looks again, and how early its
//! deadline falls when it becomes runnable. Linux 6.12 and later let a
//! SCHED_OTHER, SCHED_BATCH or SCHED_IDLE thread ask for its own slice
//! (`sched_attr.sched_runtime`, 100 µs to 100 ms; unprivileged). A
//! thread with a shorter slice than its neighbours' is run sooner after it
//! wakes, in shorter turns; its share of the CPU (its weight, from its nice
//! value) is unchanged. Earlier kernels accept the call and keep their
//! default slice ([`current_thread_slice`] tells).

use std::io;
use std::time::Duration;

/// The shortest slice Linux grants.
pub const MIN: Duration = Duration::from_micros(100);
/// The longest slice Linux grants.
pub const MAX: Duration = Duration::from_millis(100);

const SCHED_OTHER: u32 = 0;
const SCHED_BATCH: u32 = 3;
const SCHED_IDLE: u32 = 5;

/// `struct sched_attr` (include/uapi/linux/sched/types.h), its first
/// version (`SCHED_ATTR_SIZE_VER0`, 48 bytes).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct SchedAttr {
    size: u32,
    sched_policy: u32,
    sched_flags: u64,
    sched_nice: i32,
    sched_priority: u32,
    sched_runtime: u64,
    sched_deadline: u64,
    sched_period: u64,
}

const ATTR_SIZE: u32 = std::mem::size_of::<SchedAttr>() as u32;

/// Asks for the calling thread's slice to be `slice` (raised to [`MIN`],
/// lowered to [`MAX`]), keeping its policy and nice value. Refused
/// (`Unsupported`) for a real-time or deadline thread, whose turns the
/// slice does not govern.
pub fn set_current_thread_slice(slice: Duration) -> io::Result<()> {
    let mut attr = get()?;
    if !matches!(attr.sched_policy, SCHED_OTHER | SCHED_BATCH | SCHED_IDLE) {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!(
                "the thread's scheduling policy ({}) is not a fair one: a slice applies to SCHED_OTHER, SCHED_BATCH and SCHED_IDLE threads",
                attr.sched_policy
            ),
        ));
    }
    attr.size = ATTR_SIZE;
    attr.sched_flags = 0;
    attr.sched_runtime = u64::try_from(slice.clamp(MIN, MAX).as_nanos()).unwrap_or(u64::MAX);
    set(&attr)
}

/// The calling thread's slice as the kernel reports it (`se.slice` in
/// /proc/thread-self/sched); `None` when it does not (before Linux 6.6).
pub fn current_thread_slice() -> io::Result<Option<Duration>> {
    let text = std::fs::read_to_string("/proc/thread-self/sched")?;
    Ok(parse_slice(&text))
}

fn parse_slice(sched: &str) -> Option<Duration> {
    sched.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        (name.trim() == "se.slice")
            .then(|| value.trim().parse().ok().map(Duration::from_nanos))
            .flatten()
    })
}

/// Whether the running kernel honours a thread's own slice (Linux 6.12 and
/// later; earlier ones accept [`set_current_thread_slice`] and keep their
/// default).
pub fn kernel_grants_slices() -> bool {
    std::fs::read_to_string("/proc/sys/kernel/osrelease").is_ok_and(|release| grants_slices(&release))
}

/// Whether a kernel release (`6.18.44-…`) is 6.12 or later.
fn grants_slices(release: &str) -> bool {
    let mut numbers = release
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(|n| n.parse::<u32>().unwrap_or(0));
    let major = numbers.next().unwrap_or(0);
    let minor = numbers.next().unwrap_or(0);
    (major, minor) >= (6, 12)
}

/// `sched_getattr(2)` of the calling thread.
fn get() -> io::Result<SchedAttr> {
    let mut attr = SchedAttr::default();
    #[allow(unsafe_code)]
    // SAFETY: `attr` is a live, writable, `repr(C)` `struct sched_attr` of
    // ATTR_SIZE bytes, borrowed for the call only; the kernel writes at most
    // the ATTR_SIZE bytes it is told of. pid 0 is the calling thread.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_sched_getattr,
            0 as libc::pid_t,
            &raw mut attr,
            ATTR_SIZE,
            0 as libc::c_uint,
        )
    };
    if rc == 0 {
        Ok(attr)
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `sched_setattr(2)` of the calling thread.
fn set(attr: &SchedAttr) -> io::Result<()> {
    #[allow(unsafe_code)]
    // SAFETY: `attr` is a live, initialised `repr(C)` `struct sched_attr`
    // whose `size` is its own size; the kernel only reads that many bytes,
    // during the call. pid 0 is the calling thread.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_sched_setattr,
            0 as libc::pid_t,
            std::ptr::from_ref(attr),
            0 as libc::c_uint,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests;

//! The open-file limit: raised from the soft to the hard limit at start, so
//! the connection cap (not EMFILE) is what bounds the listener.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Raises RLIMIT_NOFILE's soft limit to the hard one; returns (before, after).
pub fn raise_nofile() -> std::io::Result<(Option<u64>, Option<u64>)> {
    let cur = getrlimit(Resource::Nofile);
    if cur.current == cur.maximum {
        return Ok((cur.current, cur.current));
    }
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: cur.maximum,
            maximum: cur.maximum,
        },
    )?;
    Ok((cur.current, getrlimit(Resource::Nofile).current))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_soft_limit_ends_at_the_hard_one() {
        let (_, after) = super::raise_nofile().unwrap();
        let now = rustix::process::getrlimit(rustix::process::Resource::Nofile);
        assert_eq!(after, now.maximum);
        assert_eq!(now.current, now.maximum);
    }
}

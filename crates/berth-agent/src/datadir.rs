//! Data directories shared by the server and the agent: one process per
//! directory (an exclusive `flock` on a lock file holding the owner's pid),
//! and private permissions (directories 0700, files 0600).

use std::io::{Read, Seek, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    #[error(
        "another {what} (pid {pid}) is running with the data dir {dir}: stop it, or give this one its own --data-dir"
    )]
    Held { what: String, dir: PathBuf, pid: String },
    #[error("cannot lock {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// An exclusive lock on `DIR/FILE_NAME`, held while the returned file lives
/// (the OS releases it when the process dies). The file holds the pid of its
/// holder, which a refused second process names.
pub fn lock(dir: &Path, file_name: &str, what: &str) -> Result<std::fs::File, DataDirError> {
    let path = dir.join(file_name);
    let io = |source| DataDirError::Io {
        path: path.clone(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => {
            file.set_len(0).map_err(io)?;
            file.rewind().map_err(io)?;
            writeln!(file, "{}", std::process::id()).map_err(io)?;
            file.flush().map_err(io)?;
            Ok(file)
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            let pid = pid.trim();
            Err(DataDirError::Held {
                what: what.to_string(),
                dir: dir.to_path_buf(),
                pid: if pid.is_empty() {
                    "unknown".into()
                } else {
                    pid.to_string()
                },
            })
        }
        Err(std::fs::TryLockError::Error(e)) => Err(io(e)),
    }
}

/// Sets the process umask to 0o077: every file and directory created from
/// now on (SQLite databases and their WAL, blobs, logs) is private to the
/// owner, whatever the umask the process was started with.
pub fn private_umask() {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
}

/// Tightens `dir` and everything under it: directories to 0700 and files to
/// 0600 where they allow more (to group or others). Symlinks are not
/// followed. Returns how many entries were changed.
pub fn tighten(dir: &Path) -> std::io::Result<usize> {
    let mut changed = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        let meta = match std::fs::symlink_metadata(&p) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let ft = meta.file_type();
        if ft.is_symlink() {
            continue;
        }
        let mode = meta.permissions().mode() & 0o7777;
        let want = if ft.is_dir() { mode & 0o700 } else { mode & 0o600 };
        if mode & 0o077 != 0 {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(want))?;
            changed += 1;
        }
        if ft.is_dir() {
            for entry in std::fs::read_dir(&p)? {
                stack.push(entry?.path());
            }
        }
    }
    Ok(changed)
}

/// Creates `dir` (and its parents) and makes it private: 0700, with
/// everything already in it tightened. Returns how many entries were changed.
pub fn prepare(dir: &Path) -> std::io::Result<usize> {
    std::fs::create_dir_all(dir)?;
    tighten(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_data_dir_serves_one_process_at_a_time_and_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let first = lock(dir.path(), "lock", "server").unwrap();
        let err = lock(dir.path(), "lock", "server").unwrap_err().to_string();
        assert!(err.contains("another server"), "{err}");
        assert!(err.contains(&format!("pid {}", std::process::id())), "{err}");
        drop(first);
        lock(dir.path(), "lock", "server").unwrap();
    }

    #[test]
    fn wider_modes_are_tightened_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("logs");
        std::fs::create_dir(&sub).unwrap();
        let a = sub.join("events.db");
        let b = dir.path().join("private");
        std::fs::write(&a, "x").unwrap();
        std::fs::write(&b, "x").unwrap();
        let set = |p: &Path, m| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
        set(dir.path(), 0o755);
        set(&sub, 0o775);
        set(&a, 0o644);
        set(&b, 0o600);
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("link")).unwrap();
        assert_eq!(tighten(dir.path()).unwrap(), 3);
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(dir.path()), 0o700);
        assert_eq!(mode(&sub), 0o700);
        assert_eq!(mode(&a), 0o600);
        assert_eq!(mode(&b), 0o600);
        assert_ne!(mode(Path::new("/etc/passwd")), 0o600, "symlinks are not followed");
        assert_eq!(tighten(dir.path()).unwrap(), 0);
    }
}

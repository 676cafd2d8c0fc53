//! A small on-disk queue of state-change reports (`DATA_DIR/outbox/`), so a
//! report survives an agent restart until the control plane ACKs it. One
//! file per report, named by a sequence number; delivered in order.

use crate::model::Report;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub struct Outbox {
    dir: PathBuf,
    next_seq: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("outbox {path}: {source}")]
pub struct OutboxError {
    path: PathBuf,
    source: std::io::Error,
}

impl Outbox {
    /// Opens (creating) the outbox and returns the reports still waiting, in
    /// order. Unreadable entries are dropped with a warning.
    pub fn open(dir: &Path) -> Result<(Self, Vec<(u64, Report)>), OutboxError> {
        let err = |source| OutboxError {
            path: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(err)?;
        let mut pending = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(err)? {
            let entry = entry.map_err(err)?;
            let name = entry.file_name().to_string_lossy().to_string();
            let Some(seq) = name.strip_suffix(".json").and_then(|s| s.parse::<u64>().ok()) else {
                continue;
            };
            match std::fs::read_to_string(entry.path())
                .ok()
                .and_then(|t| serde_json::from_str::<Report>(&t).ok())
            {
                Some(r) => pending.push((seq, r)),
                None => {
                    tracing::warn!(file = %entry.path().display(), "dropping an unreadable outbox entry");
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        pending.sort_by_key(|(seq, _)| *seq);
        let next_seq = pending.last().map_or(1, |(s, _)| s + 1);
        Ok((
            Self {
                dir: dir.to_path_buf(),
                next_seq,
            },
            pending,
        ))
    }

    fn path(&self, seq: u64) -> PathBuf {
        self.dir.join(format!("{seq:020}.json"))
    }

    /// Stores a report durably and returns its sequence number.
    pub fn push(&mut self, report: &Report) -> Result<u64, OutboxError> {
        let seq = self.next_seq;
        self.next_seq += 1;
        let path = self.path(seq);
        let tmp = self.dir.join(format!("{seq:020}.tmp"));
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(serde_json::to_string(report).unwrap_or_default().as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        };
        write().map_err(|source| OutboxError {
            path: path.clone(),
            source,
        })?;
        Ok(seq)
    }

    /// Forgets a delivered report.
    pub fn remove(&self, seq: u64) {
        let path = self.path(seq);
        if let Err(e) = std::fs::remove_file(&path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(file = %path.display(), error = %e, "cannot remove a delivered outbox entry");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SingleContainerStateChange;

    fn report(name: &str) -> Report {
        Report::SubmitContainerStateChange(SingleContainerStateChange {
            cluster: Some("c".into()),
            task: Some("t".into()),
            container_name: Some(name.into()),
            status: Some("RUNNING".into()),
            ..Default::default()
        })
    }

    #[test]
    fn reports_survive_a_reopen_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let (mut ob, pending) = Outbox::open(dir.path()).unwrap();
        assert!(pending.is_empty());
        let a = ob.push(&report("a")).unwrap();
        let b = ob.push(&report("b")).unwrap();
        let c = ob.push(&report("c")).unwrap();
        assert!(a < b && b < c);
        ob.remove(b);
        std::fs::write(dir.path().join("00000000000000000099.json"), "garbage").unwrap();
        drop(ob);
        let (mut ob, pending) = Outbox::open(dir.path()).unwrap();
        assert_eq!(pending, vec![(a, report("a")), (c, report("c"))]);
        assert!(!dir.path().join("00000000000000000099.json").exists());
        assert!(ob.push(&report("d")).unwrap() > c);
    }
}

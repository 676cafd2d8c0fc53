//! The agent's identity and memory across restarts: `DATA_DIR/agent-state.json`
//! (docs/agent-protocol.md §1), written atomically (temp file + rename).

use rand::Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

pub const STATE_FILE: &str = "agent-state.json";

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct AgentState {
    /// `i-` + 17 hex digits, generated once per data dir.
    pub instance_id: String,
    /// The cluster the instance registered with.
    pub cluster: Option<String>,
    pub container_instance_arn: Option<String>,
    /// Tasks whose engine reached STOPPED (task ARN → epoch seconds), so a
    /// restarted agent never starts one of them again, whatever the server
    /// still believes. Forgotten once the server stops sending the task.
    pub finished_tasks: BTreeMap<String, f64>,
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} is not valid agent state ({source}); move it away to start with a new identity")]
    Parse { path: PathBuf, source: serde_json::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

/// A fresh EC2-style instance id.
pub fn new_instance_id() -> String {
    let mut rng = rand::thread_rng();
    let hex: String = (0..17).map(|_| format!("{:x}", rng.gen_range(0..16u8))).collect();
    format!("i-{hex}")
}

impl AgentState {
    /// Loads the state, or creates (and saves) a new identity.
    pub fn load_or_create(dir: &Path) -> Result<Self, StateError> {
        let path = dir.join(STATE_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let mut s: AgentState = serde_json::from_str(&text).map_err(|source| StateError::Parse {
                    path: path.clone(),
                    source,
                })?;
                if s.instance_id.is_empty() {
                    s.instance_id = new_instance_id();
                    s.save(dir)?;
                }
                Ok(s)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let s = AgentState {
                    instance_id: new_instance_id(),
                    ..Default::default()
                };
                s.save(dir)?;
                Ok(s)
            }
            Err(source) => Err(StateError::Read { path, source }),
        }
    }

    pub fn save(&self, dir: &Path) -> Result<(), StateError> {
        let path = dir.join(STATE_FILE);
        let tmp = dir.join(format!("{STATE_FILE}.tmp"));
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(dir)?;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(serde_json::to_string_pretty(self).unwrap_or_default().as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        };
        write().map_err(|source| StateError::Write { path, source })
    }

    /// The instance ARN to re-register with: only when it was registered in
    /// the same cluster.
    pub fn arn_for(&self, cluster: &str) -> Option<&str> {
        match (&self.cluster, &self.container_instance_arn) {
            (Some(c), Some(arn)) if c == cluster => Some(arn),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_is_created_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let s = AgentState::load_or_create(dir.path()).unwrap();
        assert!(s.instance_id.starts_with("i-"));
        assert_eq!(s.instance_id.len(), 19);
        assert!(s.instance_id[2..].chars().all(|c| c.is_ascii_hexdigit()));
        let mut s2 = AgentState::load_or_create(dir.path()).unwrap();
        assert_eq!(s, s2);
        s2.cluster = Some("default".into());
        s2.container_instance_arn = Some("arn:ci".into());
        s2.finished_tasks.insert("arn:task".into(), 1.0);
        s2.save(dir.path()).unwrap();
        let s3 = AgentState::load_or_create(dir.path()).unwrap();
        assert_eq!(s3, s2);
        assert_eq!(s3.arn_for("default"), Some("arn:ci"));
        assert_eq!(s3.arn_for("other"), None);
    }

    #[test]
    fn corrupt_state_is_an_actionable_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(STATE_FILE), "{not json").unwrap();
        let e = AgentState::load_or_create(dir.path()).unwrap_err().to_string();
        assert!(e.contains("move it away"), "{e}");
    }
}

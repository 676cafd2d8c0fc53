//! The record a running `berth up`/`berth server` leaves in its data dir
//! (`DATA_DIR/endpoint.json`, 0600), so the terminal commands next to it
//! (`berth status`, `berth logs`, `berth tasks wait`) find the endpoint and
//! the credentials without flags. Removed again at a clean shutdown.
//!
//! Secrets: the record holds a secret only when it is already public
//! (`berth up`'s `test`/`test`); a `berth server`'s root secret stays in
//! `root-credentials` (0600), which the record names; a secret given through
//! the environment is never written.

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

pub const FILE_NAME: &str = "endpoint.json";

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalRecord {
    /// How a client on this machine reaches the server, e.g. `http://127.0.0.1:4600`.
    pub endpoint: String,
    pub region: String,
    pub pid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_access_key: Option<String>,
    /// A file holding the access key id and the secret on two lines (`root-credentials`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_file: Option<PathBuf>,
    /// The CA to trust (`--tls`: DATA_DIR/tls/ca.pem).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_bundle: Option<PathBuf>,
}

impl std::fmt::Debug for LocalRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalRecord")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("pid", &self.pid)
            .field("access_key_id", &self.access_key_id)
            .field("credentials_file", &self.credentials_file)
            .field("ca_bundle", &self.ca_bundle)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} is not a Berth endpoint record ({source}); remove it or pass --endpoint")]
    Malformed { path: PathBuf, source: serde_json::Error },
}

/// Writes the record atomically (a 0600 temporary file renamed into place).
pub fn write(dir: &Path, record: &LocalRecord) -> std::io::Result<()> {
    let tmp = dir.join(format!(".{FILE_NAME}.tmp"));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(&serde_json::to_vec_pretty(record).map_err(std::io::Error::other)?)?;
    f.write_all(b"\n")?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join(FILE_NAME))
}

/// Removes the record (at a clean shutdown); a missing one is fine.
pub fn remove(dir: &Path) {
    let _ = std::fs::remove_file(dir.join(FILE_NAME));
}

/// The record in `dir`, if there is one.
pub fn read(dir: &Path) -> Result<Option<LocalRecord>, RecordError> {
    let path = dir.join(FILE_NAME);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| RecordError::Malformed { path, source }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(RecordError::Io { path, source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_record_round_trips_privately_and_hides_its_secret_from_debug() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read(dir.path()).unwrap().is_none());
        let rec = LocalRecord {
            endpoint: "http://127.0.0.1:4600".into(),
            region: "us-east-1".into(),
            pid: 42,
            access_key_id: Some("test".into()),
            secret_access_key: Some("s3cr3t".into()),
            credentials_file: None,
            ca_bundle: None,
        };
        write(dir.path(), &rec).unwrap();
        let mode = std::fs::metadata(dir.path().join(FILE_NAME))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(read(dir.path()).unwrap(), Some(rec.clone()));
        assert!(!format!("{rec:?}").contains("s3cr3t"));
        remove(dir.path());
        assert!(read(dir.path()).unwrap().is_none());
    }

    #[test]
    fn a_broken_record_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), "{").unwrap();
        let e = read(dir.path()).unwrap_err().to_string();
        assert!(e.contains("endpoint.json") && e.contains("--endpoint"), "{e}");
    }
}

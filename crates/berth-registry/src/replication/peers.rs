//! The other Berth servers this one replicates to (cross-account), from
//! the operator's settings: which server serves a destination account and
//! the credentials (an IAM user of that account, made for this server)
//! the replicator signs with there. Parsing is pure; the secret is read
//! from a file only the server's user may read.

use berth_proto::sigv4::Credentials;
use std::collections::BTreeMap;
use std::path::Path;

/// One peer: the destination account's Berth server.
#[derive(Clone)]
pub struct Peer {
    pub account: String,
    /// `http[s]://HOST[:PORT]`, no path.
    pub url: String,
    pub credentials: Credentials,
}

impl std::fmt::Debug for Peer {
    // Never the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer")
            .field("account", &self.account)
            .field("url", &self.url)
            .field("access_key_id", &self.credentials.access_key_id)
            .finish()
    }
}

/// `--ecr-replication-peer ACCOUNT=URL`.
pub fn parse_peer(s: &str) -> Result<(String, String), String> {
    let (account, url) = s
        .split_once('=')
        .ok_or_else(|| format!("'{s}': expected ACCOUNT=URL, e.g. 111122223333=https://berth-b.example:8443"))?;
    check_account(account)?;
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| format!("'{url}': the peer URL starts with http:// or https://"))?;
    let host = rest.trim_end_matches('/');
    if host.is_empty() || host.contains('/') || host.contains('?') {
        return Err(format!(
            "'{url}': the peer URL is a scheme, a host and a port, without a path"
        ));
    }
    Ok((account.to_string(), url.trim_end_matches('/').to_string()))
}

/// `--ecr-replication-peer-credentials ACCOUNT=ACCESS_KEY_ID:SECRET_FILE`.
pub fn parse_peer_credentials(s: &str) -> Result<(String, String, String), String> {
    let (account, rest) = s
        .split_once('=')
        .ok_or_else(|| format!("'{s}': expected ACCOUNT=ACCESS_KEY_ID:SECRET_FILE"))?;
    check_account(account)?;
    let (key, file) = rest
        .split_once(':')
        .filter(|(k, f)| !k.is_empty() && !f.is_empty())
        .ok_or_else(|| format!("'{rest}': expected ACCESS_KEY_ID:SECRET_FILE"))?;
    Ok((account.to_string(), key.to_string(), file.to_string()))
}

fn check_account(a: &str) -> Result<(), String> {
    if a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(format!("'{a}' is not a 12-digit account id"))
    }
}

/// Reads a secret access key from `path`: refused when group or others
/// may read it (it must be 0600 or stricter) or when it is empty.
pub fn read_secret(path: &Path) -> Result<String, String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(format!(
                "{} is readable by others (mode {mode:o}): chmod 600 it",
                path.display()
            ));
        }
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let secret = text.trim().to_string();
    if secret.is_empty() {
        return Err(format!("{} is empty: it holds the secret access key", path.display()));
    }
    Ok(secret)
}

/// Joins the two settings: every peer has credentials, every credential a peer.
pub fn peers(
    urls: &[(String, String)],
    credentials: &[(String, String, String)],
) -> Result<BTreeMap<String, Peer>, String> {
    let mut out = BTreeMap::new();
    for (account, url) in urls {
        let Some((_, key, file)) = credentials.iter().find(|(a, _, _)| a == account) else {
            return Err(format!(
                "the replication peer of account {account} has no credentials: add --ecr-replication-peer-credentials {account}=ACCESS_KEY_ID:SECRET_FILE"
            ));
        };
        let secret = read_secret(Path::new(file))?;
        let peer = Peer {
            account: account.clone(),
            url: url.clone(),
            credentials: Credentials::new(key.clone(), secret),
        };
        if out.insert(account.clone(), peer).is_some() {
            return Err(format!("account {account} has two replication peers"));
        }
    }
    if let Some((a, _, _)) = credentials.iter().find(|(a, _, _)| !out.contains_key(a)) {
        return Err(format!(
            "replication peer credentials for account {a}, which has no --ecr-replication-peer"
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_peers_and_refuses_malformed_ones() {
        assert_eq!(
            parse_peer("111122223333=http://127.0.0.1:9000/"),
            Ok(("111122223333".into(), "http://127.0.0.1:9000".into()))
        );
        assert!(parse_peer("1111=http://x").is_err());
        assert!(parse_peer("111122223333=ftp://x").is_err());
        assert!(parse_peer("111122223333=http://x/v2").is_err());
        assert_eq!(
            parse_peer_credentials("111122223333=AKIAX:/run/secret"),
            Ok(("111122223333".into(), "AKIAX".into(), "/run/secret".into()))
        );
        assert!(parse_peer_credentials("111122223333=AKIAX").is_err());
    }

    #[test]
    fn a_peer_needs_credentials_and_a_private_secret_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret");
        std::fs::write(&file, "s3cret\n").unwrap();
        let urls = vec![("111122223333".to_string(), "http://h:1".to_string())];
        assert!(peers(&urls, &[]).is_err());
        let creds = vec![(
            "111122223333".to_string(),
            "AKIAX".to_string(),
            file.display().to_string(),
        )];
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(peers(&urls, &creds).unwrap_err().contains("chmod 600"));
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let p = peers(&urls, &creds).unwrap();
        assert_eq!(p["111122223333"].credentials.secret_access_key, "s3cret");
        assert!(!format!("{:?}", p["111122223333"]).contains("s3cret"));
        assert!(peers(&[], &creds).is_err());
    }
}

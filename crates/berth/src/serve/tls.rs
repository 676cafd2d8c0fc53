//! TLS: a rustls acceptor from PEM files (`--tls-cert`/`--tls-key`), and the
//! self-signed CA and server certificate `berth up --tls` keeps in
//! `DATA_DIR/tls/` (ca.pem, ca-key.pem, server.pem, server-key.pem), reused on
//! later starts and re-issued from the same CA when the names change.

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the TLS certificate {path}: {message}")]
    Cert { path: PathBuf, message: String },
    #[error("cannot read the TLS private key {path}: {message}")]
    Key { path: PathBuf, message: String },
    #[error("the TLS certificate {cert} and key {key} do not make a usable server identity: {message}")]
    Config {
        cert: PathBuf,
        key: PathBuf,
        message: String,
    },
    #[error("cannot generate the TLS certificates: {0}")]
    Generate(String),
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

/// A rustls server for the certificate chain and key in these PEM files
/// (ALPN h2 and http/1.1).
pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsError::Cert {
            path: cert.into(),
            message: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::Cert {
            path: cert.into(),
            message: "no PEM CERTIFICATE block in it".into(),
        });
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key {
        path: key.into(),
        message: e.to_string(),
    })?;
    // ring (builds here with no system packages); rustls deprecates it only
    // for lacking post-quantum key exchange.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(chain, key_der))
        .map_err(|e| TlsError::Config {
            cert: cert.into(),
            key: key.into(),
            message: e.to_string(),
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The files of a generated identity.
#[derive(Debug, Clone)]
pub struct Generated {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// False when the files of an earlier start were reused as they were.
    pub issued: bool,
}

const CA_NAME: &str = "Berth local CA";

fn ca_params() -> Result<rcgen::CertificateParams, rcgen::Error> {
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new())?;
    p.distinguished_name.push(rcgen::DnType::CommonName, CA_NAME);
    p.distinguished_name.push(rcgen::DnType::OrganizationName, "Berth");
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    p.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    p.not_before = rcgen::date_time_ymd(2024, 1, 1);
    p.not_after = rcgen::date_time_ymd(2044, 1, 1);
    Ok(p)
}

/// The names a generated server certificate covers: localhost, the loopback
/// addresses, and `extra` (the listen address, the registry host), ports
/// and duplicates dropped, unspecified addresses skipped.
pub fn subject_names(extra: &[String]) -> Vec<String> {
    let mut names: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    for e in extra {
        let host = host_of(e);
        if host.is_empty() || host == "0.0.0.0" || host == "::" {
            continue;
        }
        if !names.iter().any(|n| n.eq_ignore_ascii_case(&host)) {
            names.push(host);
        }
    }
    names
}

/// `host`, `host:port`, `[v6]:port` or a bare IPv6 address → the host.
fn host_of(s: &str) -> String {
    let s = s.trim();
    if let Some(rest) = s.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("").to_string();
    }
    if s.parse::<std::net::Ipv6Addr>().is_ok() {
        return s.to_string();
    }
    s.rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(s, |(h, _)| h)
        .to_string()
}

/// Makes sure `dir` holds a CA and a server certificate for `names`
/// (see [`subject_names`]), generating what is missing.
pub fn ensure_generated(dir: &Path, names: &[String]) -> Result<Generated, TlsError> {
    let files = Generated {
        ca: dir.join("ca.pem"),
        cert: dir.join("server.pem"),
        key: dir.join("server-key.pem"),
        issued: false,
    };
    let ca_key_path = dir.join("ca-key.pem");
    let names_path = dir.join("server-names");
    let wanted = names.join("\n");
    std::fs::create_dir_all(dir).map_err(|source| TlsError::Write {
        path: dir.into(),
        source,
    })?;
    let gen_err = |e: rcgen::Error| TlsError::Generate(e.to_string());
    let ca_key = match std::fs::read_to_string(&ca_key_path) {
        Ok(pem) if files.ca.is_file() => rcgen::KeyPair::from_pem(&pem).map_err(gen_err)?,
        _ => {
            let key = rcgen::KeyPair::generate().map_err(gen_err)?;
            let ca = ca_params().map_err(gen_err)?.self_signed(&key).map_err(gen_err)?;
            write_private(&ca_key_path, &key.serialize_pem())?;
            write_file(&files.ca, &ca.pem())?;
            // A new CA invalidates any server certificate of the old one.
            let _ = std::fs::remove_file(&names_path);
            key
        }
    };
    let current = std::fs::read_to_string(&names_path).unwrap_or_default();
    if current == wanted && files.cert.is_file() && files.key.is_file() {
        return Ok(files);
    }
    let issuer = rcgen::Issuer::new(ca_params().map_err(gen_err)?, ca_key);
    let key = rcgen::KeyPair::generate().map_err(gen_err)?;
    let mut params = rcgen::CertificateParams::new(names.to_vec()).map_err(gen_err)?;
    params.distinguished_name.push(rcgen::DnType::CommonName, "Berth");
    params.is_ca = rcgen::IsCa::ExplicitNoCa;
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2044, 1, 1);
    let cert = params.signed_by(&key, &issuer).map_err(gen_err)?;
    write_private(&files.key, &key.serialize_pem())?;
    write_file(&files.cert, &cert.pem())?;
    write_file(&names_path, &wanted)?;
    Ok(Generated { issued: true, ..files })
}

fn write_private(path: &Path, text: &str) -> Result<(), TlsError> {
    write_mode(path, text, 0o600)
}

fn write_file(path: &Path, text: &str) -> Result<(), TlsError> {
    // Certificates are public, but the data dir is private: 0600 as well.
    write_mode(path, text, 0o600)
}

fn write_mode(path: &Path, text: &str, mode: u32) -> Result<(), TlsError> {
    let tmp = path.with_extension("tmp");
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|source| TlsError::Write {
        path: path.into(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cover_loopback_and_the_given_hosts_once() {
        let n = subject_names(&[
            "0.0.0.0:4600".into(),
            "registry.example:4600".into(),
            "10.0.0.5:4600".into(),
            "[fd00::1]:4600".into(),
            "127.0.0.1:4600".into(),
        ]);
        assert_eq!(
            n,
            [
                "localhost",
                "127.0.0.1",
                "::1",
                "registry.example",
                "10.0.0.5",
                "fd00::1"
            ]
        );
    }

    #[test]
    fn generated_files_are_reused_and_reissued_when_names_change() {
        let dir = tempfile::tempdir().unwrap();
        let names = subject_names(&[]);
        let first = ensure_generated(dir.path(), &names).unwrap();
        assert!(first.issued);
        acceptor(&first.cert, &first.key).unwrap();
        let ca = std::fs::read_to_string(&first.ca).unwrap();
        let cert = std::fs::read_to_string(&first.cert).unwrap();
        let again = ensure_generated(dir.path(), &names).unwrap();
        assert!(!again.issued);
        assert_eq!(std::fs::read_to_string(&again.cert).unwrap(), cert);
        let more = subject_names(&["berth.internal:4600".into()]);
        let third = ensure_generated(dir.path(), &more).unwrap();
        assert!(third.issued);
        assert_ne!(std::fs::read_to_string(&third.cert).unwrap(), cert);
        assert_eq!(std::fs::read_to_string(&third.ca).unwrap(), ca, "same CA");
        use std::os::unix::fs::PermissionsExt;
        for f in [&third.key, &dir.path().join("ca-key.pem")] {
            assert_eq!(std::fs::metadata(f).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }

    #[test]
    fn unreadable_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.pem");
        let e = acceptor(&missing, &missing).err().unwrap().to_string();
        assert!(e.contains("nope.pem"), "{e}");
        std::fs::write(&missing, "not pem").unwrap();
        let e = acceptor(&missing, &missing).err().unwrap().to_string();
        assert!(e.contains("no PEM CERTIFICATE"), "{e}");
    }
}

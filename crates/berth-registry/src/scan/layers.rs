//! The files a scan needs, read from an image's layers (pure over
//! `io::Read`; [`WANTED`], and rpm's databases [`NOTED`]): each layer a tar, gzip-compressed or not; the layers
//! applied in order with OCI whiteouts honoured (`.wh.NAME` removes NAME
//! from the layers below, `.wh..wh..opq` empties its directory), so a
//! package database a later layer deleted is not scanned.
//!
//! The tar reader knows what image layers use: ustar/GNU headers, GNU long
//! names (`L`) and PAX `path` records (`x`).

use flate2::read::GzDecoder;
use std::collections::BTreeMap;
use std::io::{self, Read};

/// The files a scan reads, by path without a leading `/`.
pub const WANTED: [&str; 5] = [
    "var/lib/dpkg/status",
    "lib/apk/db/installed",
    "etc/os-release",
    RPMDB_SQLITE[0],
    RPMDB_SQLITE[1],
];

/// rpm's sqlite database, where rpm ≥ 4.16 keeps it (Fedora and openSUSE
/// moved it under `usr/lib/sysimage`, `var/lib/rpm` a symbolic link there).
pub const RPMDB_SQLITE: [&str; 2] = ["var/lib/rpm/rpmdb.sqlite", "usr/lib/sysimage/rpm/rpmdb.sqlite"];

/// Files whose presence is kept, not their contents: rpm's Berkeley DB
/// (`Packages`) and ndb (`Packages.db`) databases, which the scanner does
/// not read (an image with one is unsupported rather than clean).
pub const NOTED: [&str; 4] = [
    "var/lib/rpm/Packages",
    "var/lib/rpm/Packages.db",
    "usr/lib/sysimage/rpm/Packages",
    "usr/lib/sysimage/rpm/Packages.db",
];

/// At most this much of one wanted file is kept.
const MAX_FILE: u64 = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("the layer is not a tar archive: {0}")]
    NotTar(String),
    #[error("the layer is compressed with zstd, which the scanner does not read")]
    Zstd,
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// One layer's changes to the wanted files.
#[derive(Debug, Default, PartialEq)]
struct Changes {
    /// Whiteouts: paths removed (a directory's whole subtree).
    removed: Vec<String>,
    /// Directories made opaque.
    opaque: Vec<String>,
    files: BTreeMap<String, Vec<u8>>,
}

fn normalize(name: &str) -> String {
    let mut s = name.trim_start_matches("./").trim_start_matches('/').to_string();
    while s.ends_with('/') {
        s.pop();
    }
    s
}

fn under(path: &str, dir: &str) -> bool {
    dir.is_empty() || path == dir || path.strip_prefix(dir).is_some_and(|r| r.starts_with('/'))
}

fn octal(field: &[u8]) -> Result<u64, LayerError> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        // GNU base-256.
        return Ok(field[1..].iter().fold(0u64, |n, b| (n << 8) | u64::from(*b)));
    }
    let s: String = field.iter().take_while(|b| **b != 0).map(|b| *b as char).collect();
    let s = s.trim();
    if s.is_empty() {
        return Ok(0);
    }
    u64::from_str_radix(s, 8).map_err(|_| LayerError::NotTar(format!("bad number field {s:?}")))
}

fn cstr(field: &[u8]) -> String {
    String::from_utf8_lossy(&field[..field.iter().position(|b| *b == 0).unwrap_or(field.len())]).into_owned()
}

fn read_data(r: &mut impl Read, size: u64, keep: bool) -> Result<Vec<u8>, LayerError> {
    let mut out = vec![];
    if keep {
        r.by_ref().take(size).read_to_end(&mut out)?;
        if (out.len() as u64) < size {
            return Err(LayerError::NotTar("the archive ends inside an entry".into()));
        }
    } else {
        let n = io::copy(&mut r.by_ref().take(size), &mut io::sink())?;
        if n < size {
            return Err(LayerError::NotTar("the archive ends inside an entry".into()));
        }
    }
    let pad = (512 - size % 512) % 512;
    io::copy(&mut r.by_ref().take(pad), &mut io::sink())?;
    Ok(out)
}

/// The changes one (uncompressed) tar makes to the wanted files.
fn changes(mut r: impl Read) -> Result<Changes, LayerError> {
    let mut out = Changes::default();
    let mut long_name: Option<String> = None;
    let mut header = [0u8; 512];
    loop {
        match r.read_exact(&mut header) {
            Ok(()) => {}
            // A tar may end without its two zero blocks.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(out),
            Err(e) => return Err(e.into()),
        }
        if header.iter().all(|b| *b == 0) {
            return Ok(out);
        }
        let sum: u64 = header
            .iter()
            .enumerate()
            .map(|(i, b)| if (148..156).contains(&i) { 32 } else { u64::from(*b) })
            .sum();
        if octal(&header[148..156])? != sum {
            return Err(LayerError::NotTar("a header's checksum does not match".into()));
        }
        let size = octal(&header[124..136])?;
        let kind = header[156];
        let mut name = cstr(&header[0..100]);
        if &header[257..262] == b"ustar" {
            let prefix = cstr(&header[345..500]);
            if !prefix.is_empty() {
                name = format!("{prefix}/{name}");
            }
        }
        match kind {
            b'L' => {
                long_name = Some(cstr(&read_data(&mut r, size.min(1 << 20), true)?));
                continue;
            }
            b'x' => {
                let data = read_data(&mut r, size.min(1 << 20), true)?;
                for rec in String::from_utf8_lossy(&data).lines() {
                    // "LEN path=VALUE"
                    if let Some((_, kv)) = rec.split_once(' ')
                        && let Some(p) = kv.strip_prefix("path=")
                    {
                        long_name = Some(p.to_string());
                    }
                }
                continue;
            }
            _ => {}
        }
        let path = normalize(&long_name.take().unwrap_or(name));
        let (dir, base) = path.rsplit_once('/').unwrap_or(("", path.as_str()));
        if base == ".wh..wh..opq" {
            out.opaque.push(dir.to_string());
        } else if let Some(hidden) = base.strip_prefix(".wh.") {
            out.removed.push(if dir.is_empty() {
                hidden.to_string()
            } else {
                format!("{dir}/{hidden}")
            });
        }
        let regular = kind == b'0' || kind == 0;
        let wanted = regular && WANTED.contains(&path.as_str()) && size <= MAX_FILE;
        let data = read_data(&mut r, size, wanted)?;
        if wanted {
            out.files.insert(path, data);
        } else if regular && NOTED.contains(&path.as_str()) {
            out.files.insert(path, Vec::new());
        }
    }
}

/// The wanted files of an image, its layers applied in order.
#[derive(Debug, Default, PartialEq)]
pub struct Files(pub BTreeMap<String, Vec<u8>>);

impl Files {
    /// Applies one layer (its bytes as stored: gzip or plain tar).
    pub fn apply(&mut self, mut layer: impl Read) -> Result<(), LayerError> {
        let mut magic = [0u8; 4];
        let n = read_prefix(&mut layer, &mut magic)?;
        let head = io::Cursor::new(magic[..n].to_vec()).chain(layer);
        let c = match magic {
            [0x1f, 0x8b, ..] => changes(GzDecoder::new(head))?,
            [0x28, 0xb5, 0x2f, 0xfd] => return Err(LayerError::Zstd),
            _ => changes(head)?,
        };
        // A layer's whiteouts hide the layers below it, not its own files.
        for dir in &c.opaque {
            self.0.retain(|p, _| !(under(p, dir) && p != dir));
        }
        for gone in &c.removed {
            self.0.retain(|p, _| !under(p, gone));
        }
        self.0.extend(c.files);
        Ok(())
    }

    pub fn get(&self, path: &str) -> Option<&str> {
        self.0.get(path).and_then(|b| std::str::from_utf8(b).ok())
    }

    pub fn bytes(&self, path: &str) -> Option<&[u8]> {
        self.0.get(path).map(Vec::as_slice)
    }

    pub fn has(&self, path: &str) -> bool {
        self.0.contains_key(path)
    }
}

fn read_prefix(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    /// A ustar archive of (name, data) regular files.
    pub(crate) fn tar(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = vec![];
        for (name, data) in entries {
            let mut h = [0u8; 512];
            h[..name.len()].copy_from_slice(name.as_bytes());
            h[100..107].copy_from_slice(b"0000644");
            h[124..135].copy_from_slice(format!("{:011o}", data.len()).as_bytes());
            h[136..147].copy_from_slice(b"00000000000");
            h[156] = b'0';
            h[257..263].copy_from_slice(b"ustar\0");
            h[263..265].copy_from_slice(b"00");
            h[148..156].copy_from_slice(b"        ");
            let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
            h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
            out.extend_from_slice(&h);
            out.extend_from_slice(data);
            out.resize(out.len().div_ceil(512) * 512, 0);
        }
        out.extend_from_slice(&[0u8; 1024]);
        out
    }

    fn gz(b: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(vec![], Compression::fast());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn layers_apply_in_order_with_whiteouts() {
        let mut f = Files::default();
        f.apply(
            &gz(&tar(&[
                ("etc/os-release", b"ID=debian\n"),
                ("./var/lib/dpkg/status", b"one"),
                ("bin/sh", b"x"),
            ]))[..],
        )
        .unwrap();
        assert_eq!(f.get("var/lib/dpkg/status"), Some("one"));
        f.apply(&tar(&[("var/lib/dpkg/status", b"two")])[..]).unwrap();
        assert_eq!(f.get("var/lib/dpkg/status"), Some("two"));
        f.apply(&tar(&[("var/lib/dpkg/.wh.status", b"")])[..]).unwrap();
        assert_eq!(f.get("var/lib/dpkg/status"), None);
        f.apply(&tar(&[("etc/.wh..wh..opq", b""), ("lib/apk/db/installed", b"P:a\nV:1\n")])[..])
            .unwrap();
        assert_eq!(f.get("etc/os-release"), None);
        assert_eq!(f.get("lib/apk/db/installed"), Some("P:a\nV:1\n"));
        // An opaque directory keeps the files of its own layer.
        f.apply(&tar(&[("lib/apk/db/installed", b"new"), ("lib/apk/.wh..wh..opq", b"")])[..])
            .unwrap();
        assert_eq!(f.get("lib/apk/db/installed"), Some("new"));
        // rpm's databases: sqlite kept, Berkeley DB only noted.
        f.apply(
            &tar(&[
                ("var/lib/rpm/rpmdb.sqlite", b"SQLite"),
                ("var/lib/rpm/Packages", b"bdb"),
            ])[..],
        )
        .unwrap();
        assert_eq!(f.bytes("var/lib/rpm/rpmdb.sqlite"), Some(&b"SQLite"[..]));
        assert_eq!(f.bytes("var/lib/rpm/Packages"), Some(&b""[..]));
        f.apply(&tar(&[("var/lib/rpm/.wh.rpmdb.sqlite", b"")])[..]).unwrap();
        assert!(!f.has("var/lib/rpm/rpmdb.sqlite") && f.has("var/lib/rpm/Packages"));
    }

    #[test]
    fn what_is_not_a_tar_is_an_error() {
        let mut f = Files::default();
        let mut bad = tar(&[("a", b"x")]);
        bad[0] = b'b';
        assert!(matches!(f.apply(&bad[..]), Err(LayerError::NotTar(_))));
        assert!(matches!(
            f.apply(&[0x28, 0xb5, 0x2f, 0xfd, 0][..]),
            Err(LayerError::Zstd)
        ));
    }
}

//! The `.json` files of a zip archive (OSV publishes each ecosystem as one
//! zip of records, e.g. `Debian/all.zip`), read from its central directory
//! (pure): stored and deflated entries; zip64 and encrypted archives are
//! refused.

use flate2::read::DeflateDecoder;
use std::io::Read;

fn u16_at(b: &[u8], i: usize) -> Option<usize> {
    Some(u16::from_le_bytes(b.get(i..i + 2)?.try_into().ok()?) as usize)
}

fn u32_at(b: &[u8], i: usize) -> Option<usize> {
    Some(u32::from_le_bytes(b.get(i..i + 4)?.try_into().ok()?) as usize)
}

/// Whether `bytes` start like a zip archive.
pub fn is_zip(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06")
}

/// (name, contents) of every `.json` entry, in the archive's order.
pub fn json_entries(b: &[u8]) -> Result<Vec<(String, Vec<u8>)>, String> {
    let bad = || "the zip archive is damaged".to_string();
    let eocd = (0..b.len().saturating_sub(21))
        .rev()
        .take(65_557)
        .find(|&i| b[i..].starts_with(b"PK\x05\x06"))
        .ok_or_else(bad)?;
    let count = u16_at(b, eocd + 10).ok_or_else(bad)?;
    let mut at = u32_at(b, eocd + 16).ok_or_else(bad)?;
    if count == 0xffff || at == 0xffff_ffff {
        return Err("zip64 archives are not read; unzip it and import the directory".into());
    }
    let mut out = vec![];
    for _ in 0..count {
        if !b.get(at..).is_some_and(|r| r.starts_with(b"PK\x01\x02")) {
            return Err(bad());
        }
        let flags = u16_at(b, at + 8).ok_or_else(bad)?;
        let method = u16_at(b, at + 10).ok_or_else(bad)?;
        let csize = u32_at(b, at + 20).ok_or_else(bad)?;
        let usize_ = u32_at(b, at + 24).ok_or_else(bad)?;
        let (nlen, xlen, clen) = (
            u16_at(b, at + 28).ok_or_else(bad)?,
            u16_at(b, at + 30).ok_or_else(bad)?,
            u16_at(b, at + 32).ok_or_else(bad)?,
        );
        let local = u32_at(b, at + 42).ok_or_else(bad)?;
        let name = String::from_utf8_lossy(b.get(at + 46..at + 46 + nlen).ok_or_else(bad)?).into_owned();
        at += 46 + nlen + xlen + clen;
        if !name.ends_with(".json") {
            continue;
        }
        if flags & 1 != 0 {
            return Err(format!("{name} is encrypted"));
        }
        if csize == 0xffff_ffff || usize_ == 0xffff_ffff {
            return Err("zip64 archives are not read; unzip it and import the directory".into());
        }
        if !b.get(local..).is_some_and(|r| r.starts_with(b"PK\x03\x04")) {
            return Err(bad());
        }
        let start = local + 30 + u16_at(b, local + 26).ok_or_else(bad)? + u16_at(b, local + 28).ok_or_else(bad)?;
        let data = b.get(start..start + csize).ok_or_else(bad)?;
        let contents = match method {
            0 => data.to_vec(),
            8 => {
                let mut v = Vec::with_capacity(usize_);
                DeflateDecoder::new(data)
                    .read_to_end(&mut v)
                    .map_err(|e| format!("{name}: {e}"))?;
                v
            }
            m => {
                return Err(format!(
                    "{name}: compression method {m} is not read (stored and deflate are)"
                ));
            }
        };
        out.push((name, contents));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::DeflateEncoder;
    use std::io::Write;

    /// A zip of (name, data, deflate?) entries.
    fn zip(entries: &[(&str, &[u8], bool)]) -> Vec<u8> {
        let (mut out, mut central) = (vec![], vec![]);
        for (name, data, deflate) in entries {
            let body = if *deflate {
                let mut e = DeflateEncoder::new(vec![], Compression::fast());
                e.write_all(data).unwrap();
                e.finish().unwrap()
            } else {
                data.to_vec()
            };
            let method: u16 = if *deflate { 8 } else { 0 };
            let offset = out.len() as u32;
            let mut local = b"PK\x03\x04".to_vec();
            local.extend_from_slice(&[20, 0, 0, 0]);
            local.extend_from_slice(&method.to_le_bytes());
            local.extend_from_slice(&[0; 8]); // time, date, crc
            local.extend_from_slice(&(body.len() as u32).to_le_bytes());
            local.extend_from_slice(&(data.len() as u32).to_le_bytes());
            local.extend_from_slice(&(name.len() as u16).to_le_bytes());
            local.extend_from_slice(&0u16.to_le_bytes());
            local.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&local);
            out.extend_from_slice(&body);
            let mut c = b"PK\x01\x02".to_vec();
            c.extend_from_slice(&[20, 0, 20, 0, 0, 0]);
            c.extend_from_slice(&method.to_le_bytes());
            c.extend_from_slice(&[0; 8]);
            c.extend_from_slice(&(body.len() as u32).to_le_bytes());
            c.extend_from_slice(&(data.len() as u32).to_le_bytes());
            c.extend_from_slice(&(name.len() as u16).to_le_bytes());
            c.extend_from_slice(&[0; 8]); // extra, comment, disk, internal attrs
            c.extend_from_slice(&[0; 4]); // external attrs
            c.extend_from_slice(&offset.to_le_bytes());
            c.extend_from_slice(name.as_bytes());
            central.extend_from_slice(&c);
        }
        let cd_at = out.len() as u32;
        out.extend_from_slice(&central);
        out.extend_from_slice(b"PK\x05\x06");
        out.extend_from_slice(&[0; 4]);
        let n = (entries.len() as u16).to_le_bytes();
        out.extend_from_slice(&n);
        out.extend_from_slice(&n);
        out.extend_from_slice(&(central.len() as u32).to_le_bytes());
        out.extend_from_slice(&cd_at.to_le_bytes());
        out.extend_from_slice(&[0; 2]);
        out
    }

    #[test]
    fn json_entries_stored_and_deflated() {
        let z = zip(&[
            ("a.json", b"[1]", false),
            ("README", b"x", false),
            ("dir/b.json", b"{\"id\": \"x\"}", true),
        ]);
        assert!(is_zip(&z));
        assert_eq!(
            json_entries(&z).unwrap(),
            vec![
                ("a.json".to_string(), b"[1]".to_vec()),
                ("dir/b.json".to_string(), b"{\"id\": \"x\"}".to_vec())
            ]
        );
    }

    #[test]
    fn a_damaged_archive_is_an_error() {
        let z = zip(&[("a.json", b"[1]", true)]);
        assert!(json_entries(&z[..z.len() / 2]).is_err());
        assert!(!is_zip(b"[]"));
    }
}

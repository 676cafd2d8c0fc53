//! Reading rpm's sqlite database (`rpmdb.sqlite`, rpm ≥ 4.16) out of an
//! image: the bytes the layer walk kept are written to a private temp file
//! (0600, removed when read) and opened read-only with SQLite's defensive
//! settings (the file comes from an image anyone could push); each row of
//! `Packages(hnum, blob)` is a header [`super::rpm::parse_header`] reads.
//! rpm's `gpg-pubkey` pseudo-packages are skipped.
//!
//! Berkeley DB (`Packages`) and ndb (`Packages.db`) databases are not read.

use super::rpm::{self, Package};
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags};
use std::io::Write;

/// The offset of SQLite's read/write format version bytes (2 in WAL mode).
const FORMAT_VERSION_AT: usize = 18;

fn sql(e: rusqlite::Error) -> String {
    format!("the rpm database is not a readable SQLite database: {e}")
}

/// The packages of an `rpmdb.sqlite` file's bytes.
pub fn packages(db: &[u8]) -> Result<Vec<Package>, String> {
    if !db.starts_with(b"SQLite format 3\0") || db.len() < 100 {
        return Err("the rpm database is not a SQLite database".into());
    }
    let mut file = tempfile::Builder::new()
        .prefix("berth-rpmdb-")
        .suffix(".sqlite")
        .tempfile()
        .map_err(|e| format!("cannot write a temporary copy of the rpm database: {e}"))?;
    // A database left in WAL mode would want its -wal/-shm files beside
    // it: the copy is marked a rollback-journal database (no WAL content
    // is in an image rpm closed cleanly).
    let mut head = db[..100].to_vec();
    if head[FORMAT_VERSION_AT] == 2 {
        head[FORMAT_VERSION_AT] = 1;
        head[FORMAT_VERSION_AT + 1] = 1;
    }
    file.write_all(&head)
        .and_then(|()| file.write_all(&db[100..]))
        .and_then(|()| file.flush())
        .map_err(|e| format!("cannot write a temporary copy of the rpm database: {e}"))?;
    let conn = Connection::open_with_flags(
        file.path(),
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sql)?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)
        .map_err(sql)?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA, false)
        .map_err(sql)?;
    let is_table: bool = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'Packages'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .map_err(sql)?
        > 0;
    if !is_table {
        return Err("the rpm database has no Packages table".into());
    }
    let mut stmt = conn
        .prepare("SELECT hnum, blob FROM Packages ORDER BY hnum")
        .map_err(sql)?;
    let mut rows = stmt.query([]).map_err(sql)?;
    let mut out = vec![];
    while let Some(row) = rows.next().map_err(sql)? {
        let hnum: i64 = row.get(0).map_err(sql)?;
        let blob = row.get_ref(1).map_err(sql)?.as_blob().map_err(|e| sql(e.into()))?;
        let p = rpm::parse_header(blob).map_err(|e| format!("the rpm database's package {hnum}: {e}"))?;
        if p.name != "gpg-pubkey" {
            out.push(p);
        }
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::scan::rpm::tests::header;
    use crate::scan::rpm::{TAG_NAME, TAG_RELEASE, TAG_SOURCERPM, TAG_VERSION};

    /// An `rpmdb.sqlite` holding `blobs`, as bytes.
    pub(crate) fn database(blobs: &[Vec<u8>], wal: bool) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rpmdb.sqlite");
        let c = Connection::open(&path).unwrap();
        if wal {
            c.pragma_update(None, "journal_mode", "WAL").unwrap();
        }
        c.execute_batch("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)")
            .unwrap();
        for b in blobs {
            c.execute("INSERT INTO Packages (blob) VALUES (?1)", [b]).unwrap();
        }
        drop(c);
        std::fs::read(&path).unwrap()
    }

    #[test]
    fn the_packages_of_a_database_in_either_journal_mode() {
        let blobs = vec![
            header(
                &[
                    (TAG_NAME, "openssl-libs"),
                    (TAG_VERSION, "3.0.7"),
                    (TAG_RELEASE, "24.el9"),
                    (TAG_SOURCERPM, "openssl-3.0.7-24.el9.src.rpm"),
                ],
                Some(1),
            ),
            header(
                &[(TAG_NAME, "gpg-pubkey"), (TAG_VERSION, "1"), (TAG_RELEASE, "1")],
                None,
            ),
        ];
        for wal in [false, true] {
            let got = packages(&database(&blobs, wal)).unwrap();
            assert_eq!(got.len(), 1, "wal={wal}");
            assert_eq!(
                (got[0].source.as_str(), got[0].evr()),
                ("openssl", "1:3.0.7-24.el9".into())
            );
        }
    }

    #[test]
    fn what_is_not_an_rpm_database_is_an_error() {
        assert!(packages(b"not sqlite").unwrap_err().contains("not a SQLite"));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.sqlite");
        Connection::open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE Other (x)")
            .unwrap();
        let other = std::fs::read(&path).unwrap();
        assert!(packages(&other).unwrap_err().contains("no Packages table"));
        let bad = database(&[vec![0, 0, 0]], false);
        assert!(packages(&bad).unwrap_err().contains("package 1"));
    }
}

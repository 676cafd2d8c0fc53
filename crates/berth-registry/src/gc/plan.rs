//! Which blobs a collection may delete (pure): the *mark* of mark-and-sweep.
//!
//! Roots: every blob an image record of any repository names (its manifest,
//! config, layers; child manifests of an index are images themselves), and
//! every blob younger than the grace window — by its newest repository link
//! (an upload or mount into a repository, refreshed when a client checks
//! the blob exists) or by its file. Everything else is garbage: blobs whose
//! images were deleted or expired, uploads never referenced, files a crash
//! left without a link.

use std::collections::{BTreeMap, HashSet};

/// A repository's link to a blob (`ecr/layers/REPO#DIGEST`).
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    pub key: String,
    pub digest: String,
    /// The store revision the collection read it at.
    pub revision: i64,
    /// When it was created or last refreshed (epoch seconds).
    pub created_at: f64,
}

/// A stored blob file.
#[derive(Debug, Clone, PartialEq)]
pub struct File {
    pub digest: String,
    pub size: u64,
    pub written_at: f64,
}

/// A blob to delete: its file (when there is one) and the links to remove
/// first.
#[derive(Debug, Clone, PartialEq)]
pub struct Garbage {
    pub digest: String,
    pub size: Option<u64>,
    pub links: Vec<Link>,
}

/// The garbage among `files` and `links`, by digest.
pub fn plan(referenced: &HashSet<String>, links: &[Link], files: &[File], now: f64, grace_secs: f64) -> Vec<Garbage> {
    let cutoff = now - grace_secs;
    let mut by_digest: BTreeMap<&str, Garbage> = BTreeMap::new();
    let mut young: HashSet<&str> = HashSet::new();
    for f in files {
        if f.written_at > cutoff {
            young.insert(&f.digest);
        }
        by_digest
            .entry(&f.digest)
            .or_insert_with(|| Garbage {
                digest: f.digest.clone(),
                size: None,
                links: vec![],
            })
            .size = Some(f.size);
    }
    for l in links {
        if l.created_at > cutoff {
            young.insert(&l.digest);
        }
        by_digest
            .entry(&l.digest)
            .or_insert_with(|| Garbage {
                digest: l.digest.clone(),
                size: None,
                links: vec![],
            })
            .links
            .push(l.clone());
    }
    by_digest
        .into_iter()
        .filter(|(d, _)| !referenced.contains(*d) && !young.contains(d))
        .map(|(_, g)| g)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: f64 = 1_000_000.0;
    const GRACE: f64 = 3600.0;

    fn file(d: &str, age: f64) -> File {
        File {
            digest: d.into(),
            size: 10,
            written_at: NOW - age,
        }
    }

    fn link(repo: &str, d: &str, age: f64) -> Link {
        Link {
            key: format!("ecr/layers/{repo}#{d}"),
            digest: d.into(),
            revision: 7,
            created_at: NOW - age,
        }
    }

    fn digests(g: &[Garbage]) -> Vec<&str> {
        g.iter().map(|g| g.digest.as_str()).collect()
    }

    #[test]
    fn referenced_blobs_are_roots_whatever_their_age() {
        let referenced: HashSet<String> = ["a".to_string()].into();
        let g = plan(
            &referenced,
            &[link("r", "a", 1e6)],
            &[file("a", 1e6), file("b", 1e6)],
            NOW,
            GRACE,
        );
        assert_eq!(digests(&g), ["b"]);
    }

    #[test]
    fn young_files_and_young_links_are_roots() {
        let none = HashSet::new();
        let files = [file("young-file", 10.0), file("old", 1e5), file("young-link", 1e5)];
        let links = [
            link("r", "young-link", 10.0),
            link("s", "young-link", 1e5),
            link("r", "old", 1e5),
        ];
        let g = plan(&none, &links, &files, NOW, GRACE);
        assert_eq!(digests(&g), ["old"]);
        assert_eq!(g[0].size, Some(10));
        assert_eq!(g[0].links.len(), 1);
    }

    #[test]
    fn links_without_files_and_files_without_links_are_garbage() {
        let none = HashSet::new();
        let g = plan(&none, &[link("r", "dangling", 1e5)], &[file("orphan", 1e5)], NOW, GRACE);
        assert_eq!(digests(&g), ["dangling", "orphan"]);
        assert_eq!(g[0].size, None);
        assert!(g[1].links.is_empty());
    }

    #[test]
    fn a_zero_grace_window_keeps_only_referenced_blobs() {
        let referenced: HashSet<String> = ["kept".to_string()].into();
        let g = plan(&referenced, &[], &[file("kept", 0.0), file("new", 0.5)], NOW, 0.0);
        assert_eq!(digests(&g), ["new"]);
    }
}

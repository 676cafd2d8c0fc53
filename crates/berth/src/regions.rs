//! The regions a server serves (`--regions us-east-1,eu-west-1`, default
//! one): their names checked once, and the pure rules of where a region's
//! state lives. The regional services themselves are built in
//! `http/regional.rs`.

use std::path::{Path, PathBuf};

/// The store key recording the home region: the region whose keys are
/// stored without a prefix (a data dir's only region before Berth served
/// several; the first region served otherwise).
pub const HOME_REGION_KEY: &str = "meta/home-region";

/// The served regions, in the order given; the first is the default (the
/// local agent's, the one printed, the one IAM and STS calls signed for
/// their global `us-east-1` endpoint run in when it is not served).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Regions(Vec<String>);

impl Regions {
    /// One region.
    pub fn one(region: &str) -> Self {
        Self(vec![region.to_string()])
    }

    /// Checks each name (the AWS form `xx-name-N`) and refuses an empty list
    /// and duplicates.
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Self, String> {
        let mut out: Vec<String> = Vec::with_capacity(names.len());
        for name in names {
            let name = name.as_ref().trim();
            if !is_region_name(name) {
                return Err(format!(
                    "'{name}' is not a region name: expected the AWS form, e.g. us-east-1 or eu-west-1"
                ));
            }
            if out.iter().any(|r| r == name) {
                return Err(format!("the region {name} is listed twice"));
            }
            out.push(name.to_string());
        }
        if out.is_empty() {
            return Err("at least one region must be served".to_string());
        }
        Ok(Self(out))
    }

    /// The default region.
    pub fn first(&self) -> &str {
        &self.0[0]
    }

    pub fn names(&self) -> &[String] {
        &self.0
    }

    pub fn contains(&self, region: &str) -> bool {
        self.0.iter().any(|r| r == region)
    }
}

/// An AWS region name: lowercase words joined by `-`, the first two
/// letters, the last a number (`us-east-1`, `ap-southeast-2`, `us-gov-west-1`).
pub fn is_region_name(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let [first, middle @ .., last] = parts.as_slice() else {
        return false;
    };
    parts.len() >= 3
        && first.len() == 2
        && first.bytes().all(|b| b.is_ascii_lowercase())
        && middle
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && !last.is_empty()
        && last.len() <= 2
        && last.bytes().all(|b| b.is_ascii_digit())
}

/// Where a region keeps its state: the home region where a data dir kept
/// everything before regions (keys without a prefix, files at the top of
/// the data dir), any other under `regions/<name>/` (keys and files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    Home,
    Prefixed,
}

impl Layout {
    pub fn of(region: &str, home: &str) -> Self {
        if region == home { Layout::Home } else { Layout::Prefixed }
    }

    /// The directory of the region's own files (logs, audit trail, registry blobs).
    pub fn data_dir(&self, data_dir: &Path, region: &str) -> PathBuf {
        match self {
            Layout::Home => data_dir.to_path_buf(),
            Layout::Prefixed => data_dir.join("regions").join(region),
        }
    }
}

/// The home region, given what the store records (a data dir served before
/// keeps its own) and the regions served now (a new one takes the first).
pub fn home_region(recorded: Option<&str>, regions: &Regions) -> String {
    recorded.unwrap_or(regions.first()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_names_have_the_aws_form() {
        for ok in [
            "us-east-1",
            "eu-west-1",
            "ap-southeast-2",
            "us-gov-west-1",
            "us-isob-east-1",
            "il-central-1",
        ] {
            assert!(is_region_name(ok), "{ok}");
        }
        for bad in [
            "",
            "us",
            "us-east",
            "US-EAST-1",
            "us-east-",
            "useast-1",
            "us--east-1",
            "u-east-1",
            "us-east-1a",
            "us-east-100",
            "us_east_1",
        ] {
            assert!(!is_region_name(bad), "{bad}");
        }
    }

    #[test]
    fn a_list_is_checked_whole() {
        let r = Regions::parse(&["us-east-1", " eu-west-1"]).unwrap();
        assert_eq!(r.names(), ["us-east-1", "eu-west-1"]);
        assert_eq!(r.first(), "us-east-1");
        assert!(r.contains("eu-west-1") && !r.contains("us-west-2"));
        assert_eq!(
            Regions::parse(&["us-east-1", "us-east-1"]).unwrap_err(),
            "the region us-east-1 is listed twice"
        );
        assert!(
            Regions::parse(&["us-east-1", "mars"])
                .unwrap_err()
                .contains("'mars' is not a region name")
        );
        assert!(Regions::parse::<&str>(&[]).is_err());
    }

    #[test]
    fn the_home_region_is_recorded_once_and_keeps_the_unprefixed_layout() {
        let served = Regions::parse(&["eu-west-1", "us-east-1"]).unwrap();
        // A data dir first served for us-east-1 keeps it, whatever the order now.
        assert_eq!(home_region(Some("us-east-1"), &served), "us-east-1");
        assert_eq!(home_region(None, &served), "eu-west-1");
        let dir = Path::new("/data");
        assert_eq!(Layout::of("us-east-1", "us-east-1"), Layout::Home);
        assert_eq!(
            Layout::of("eu-west-1", "us-east-1").data_dir(dir, "eu-west-1"),
            Path::new("/data/regions/eu-west-1")
        );
        assert_eq!(Layout::Home.data_dir(dir, "us-east-1"), dir);
    }
}

//! Which Berth a terminal command talks to, and as whom — found the way the
//! AWS tools find an endpoint and credentials, plus the record a local
//! `berth up` leaves in its data dir (crate::local):
//!
//! - endpoint: `--endpoint` (`BERTH_ENDPOINT`), `AWS_ENDPOINT_URL_ECS`,
//!   `AWS_ENDPOINT_URL`, the profile's `endpoint_url`, the local record, then
//!   `http://127.0.0.1:4600`;
//! - credentials: `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`
//!   (`AWS_SESSION_TOKEN`); then, talking to the local server with no profile
//!   named, the record's; then the profile (`--profile`, `AWS_PROFILE`,
//!   `default`) from the shared files; then `BERTH_ROOT_ACCESS_KEY_ID`/
//!   `BERTH_ROOT_SECRET_ACCESS_KEY`;
//! - region: `--region`, `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's,
//!   the record's, `us-east-1`.
//!
//! `resolve` is pure over an [`Env`], so every rule has a unit test.

use super::profile::{self, Profile};
use crate::local::LocalRecord;
use berth_proto::sigv4::Credentials;
use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};

pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:4600";
const DEFAULT_REGION: &str = "us-east-1";

/// How a command prints its answer.
#[derive(ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Output {
    /// For people.
    #[default]
    Text,
    /// For scripts: one JSON document (`berth logs`: one JSON object per line).
    Json,
}

/// The flags every terminal command shares.
#[derive(Args, Clone, Debug, Default)]
pub struct Target {
    /// The Berth endpoint (default: AWS_ENDPOINT_URL_ECS, AWS_ENDPOINT_URL, the profile's
    /// endpoint_url, the `berth up` running with --data-dir, then http://127.0.0.1:4600).
    #[arg(long, env = "BERTH_ENDPOINT")]
    pub endpoint: Option<String>,
    /// The region to sign requests for (default: AWS_REGION, AWS_DEFAULT_REGION, the profile's, the local server's).
    #[arg(long)]
    pub region: Option<String>,
    /// The AWS CLI profile to take credentials, region and endpoint_url from (default: AWS_PROFILE, then `default`).
    #[arg(long)]
    pub profile: Option<String>,
    /// The data dir of a local `berth up`/`berth server` whose endpoint and credentials to use.
    #[arg(long, env = "BERTH_DATA_DIR", default_value = ".berth")]
    pub data_dir: PathBuf,
    /// PEM CA certificates to trust for an https:// endpoint (`berth up --tls`: DATA_DIR/tls/ca.pem).
    #[arg(long, env = "AWS_CA_BUNDLE")]
    pub ca_bundle: Option<PathBuf>,
    /// text for people, json for scripts.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

/// Where the process reads its environment and files (a fake in tests).
pub trait Env {
    fn var(&self, key: &str) -> Option<String>;
    fn read(&self, path: &Path) -> Option<String>;
}

/// The real process environment and file system.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, key: &str) -> Option<String> {
        std::env::var(key).ok().filter(|v| !v.is_empty())
    }
    fn read(&self, path: &Path) -> Option<String> {
        std::fs::read_to_string(path).ok()
    }
}

/// The resolved target, with where each part came from (for messages).
#[derive(Debug)]
pub struct Resolved {
    pub endpoint: String,
    pub endpoint_from: String,
    pub region: String,
    pub credentials: Credentials,
    pub credentials_from: String,
    pub ca_bundle: Option<PathBuf>,
}

/// Resolves `args` against the environment and the local record (with the
/// path it was read from).
pub fn resolve(args: &Target, env: &dyn Env, record: Option<(&Path, &LocalRecord)>) -> anyhow::Result<Resolved> {
    let explicit_profile = args.profile.clone().or_else(|| env.var("AWS_PROFILE"));
    let profile_name = explicit_profile.clone().unwrap_or_else(|| "default".into());
    let profile = load_profile(env, &profile_name)?;
    if profile.is_none()
        && let Some(name) = &explicit_profile
    {
        anyhow::bail!("The config profile ({name}) could not be found");
    }
    let profile = profile.unwrap_or_default();

    let record_endpoint = record.map(|(path, r)| {
        (
            r.endpoint.clone(),
            format!("the server running from {}", path.display()),
        )
    });
    let (endpoint, endpoint_from) = args
        .endpoint
        .clone()
        .map(|e| (e, "--endpoint".to_string()))
        .or_else(|| {
            env.var("AWS_ENDPOINT_URL_ECS")
                .map(|e| (e, "AWS_ENDPOINT_URL_ECS".into()))
        })
        .or_else(|| env.var("AWS_ENDPOINT_URL").map(|e| (e, "AWS_ENDPOINT_URL".into())))
        .or_else(|| {
            profile
                .endpoint_url
                .clone()
                .map(|e| (e, format!("the endpoint_url of profile {profile_name}")))
        })
        .or(record_endpoint)
        .unwrap_or_else(|| (DEFAULT_ENDPOINT.to_string(), "the default".to_string()));
    let endpoint = endpoint.trim_end_matches('/').to_string();
    // The record speaks for the server it describes, not for another endpoint.
    let local = record.filter(|(_, r)| r.endpoint.trim_end_matches('/') == endpoint);

    let (credentials, credentials_from) = credentials(env, &profile, &profile_name, explicit_profile.is_some(), local)?;
    let region = args
        .region
        .clone()
        .or_else(|| env.var("AWS_REGION"))
        .or_else(|| env.var("AWS_DEFAULT_REGION"))
        .or_else(|| profile.region.clone())
        .or_else(|| local.map(|(_, r)| r.region.clone()))
        .unwrap_or_else(|| DEFAULT_REGION.to_string());
    let ca_bundle = args
        .ca_bundle
        .clone()
        .or_else(|| profile.ca_bundle.clone())
        .or_else(|| local.and_then(|(_, r)| r.ca_bundle.clone()));
    Ok(Resolved {
        endpoint,
        endpoint_from,
        region,
        credentials,
        credentials_from,
        ca_bundle,
    })
}

fn load_profile(env: &dyn Env, name: &str) -> anyhow::Result<Option<Profile>> {
    let home = env.var("HOME").map(PathBuf::from);
    let file = |var: &str, default: &str| {
        env.var(var)
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".aws").join(default)))
    };
    let credentials = file("AWS_SHARED_CREDENTIALS_FILE", "credentials").and_then(|p| env.read(&p));
    let config = file("AWS_CONFIG_FILE", "config").and_then(|p| env.read(&p));
    profile::find(name, credentials.as_deref(), config.as_deref()).map_err(anyhow::Error::msg)
}

fn credentials(
    env: &dyn Env,
    profile: &Profile,
    profile_name: &str,
    profile_named: bool,
    local: Option<(&Path, &LocalRecord)>,
) -> anyhow::Result<(Credentials, String)> {
    let pair = |k: Option<String>, s: Option<String>, t: Option<String>| match (k, s) {
        (Some(access_key_id), Some(secret_access_key)) => Some(Credentials {
            access_key_id,
            secret_access_key,
            session_token: t,
        }),
        _ => None,
    };
    if let Some(c) = pair(
        env.var("AWS_ACCESS_KEY_ID"),
        env.var("AWS_SECRET_ACCESS_KEY"),
        env.var("AWS_SESSION_TOKEN"),
    ) {
        return Ok((c, "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY".into()));
    }
    let from_record = |(path, r): (&Path, &LocalRecord)| -> anyhow::Result<Option<(Credentials, String)>> {
        let source = format!("the server running from {}", path.display());
        if let Some(c) = pair(r.access_key_id.clone(), r.secret_access_key.clone(), None) {
            return Ok(Some((c, source)));
        }
        let Some(file) = &r.credentials_file else {
            return Ok(None);
        };
        let Some(text) = env.read(file) else {
            anyhow::bail!(
                "the server running from {} keeps its root credentials in {}, which cannot be read by this user",
                path.display(),
                file.display()
            );
        };
        let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
        Ok(pair(lines.next().map(String::from), lines.next().map(String::from), None).map(|c| (c, source)))
    };
    if !profile_named
        && let Some(local) = local
        && let Some(found) = from_record(local)?
    {
        return Ok(found);
    }
    if let Some(c) = pair(
        profile.access_key_id.clone(),
        profile.secret_access_key.clone(),
        profile.session_token.clone(),
    ) {
        return Ok((c, format!("profile {profile_name}")));
    }
    if let Some(local) = local
        && let Some(found) = from_record(local)?
    {
        return Ok(found);
    }
    if let Some(c) = pair(
        env.var("BERTH_ROOT_ACCESS_KEY_ID"),
        env.var("BERTH_ROOT_SECRET_ACCESS_KEY"),
        None,
    ) {
        return Ok((c, "BERTH_ROOT_ACCESS_KEY_ID/BERTH_ROOT_SECRET_ACCESS_KEY".into()));
    }
    anyhow::bail!(
        "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, name a profile of ~/.aws/credentials \
         with --profile or AWS_PROFILE, or run next to `berth up` (its data dir: --data-dir)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[derive(Default, Clone)]
    struct Fake {
        vars: HashMap<String, String>,
        files: HashMap<PathBuf, String>,
    }

    impl Fake {
        fn var(mut self, k: &str, v: &str) -> Self {
            self.vars.insert(k.into(), v.into());
            self
        }
        fn file(mut self, p: &str, text: &str) -> Self {
            self.files.insert(p.into(), text.into());
            self
        }
    }

    impl Env for Fake {
        fn var(&self, key: &str) -> Option<String> {
            self.vars.get(key).cloned()
        }
        fn read(&self, path: &Path) -> Option<String> {
            self.files.get(path).cloned()
        }
    }

    fn record() -> LocalRecord {
        LocalRecord {
            endpoint: "http://127.0.0.1:39001".into(),
            region: "eu-west-1".into(),
            pid: 7,
            access_key_id: Some("test".into()),
            secret_access_key: Some("test".into()),
            credentials_file: None,
            ca_bundle: None,
        }
    }

    const DIR: &str = ".berth";

    #[test]
    fn next_to_berth_up_nothing_needs_saying() {
        let r = record();
        let got = resolve(&Target::default(), &Fake::default(), Some((Path::new(DIR), &r))).unwrap();
        assert_eq!(got.endpoint, "http://127.0.0.1:39001");
        assert_eq!(got.region, "eu-west-1");
        assert_eq!(got.credentials.access_key_id, "test");
        assert!(got.credentials_from.contains(".berth"), "{}", got.credentials_from);
    }

    #[test]
    fn the_endpoint_follows_the_aws_order() {
        let r = record();
        let local = Some((Path::new(DIR), &r));
        let env = Fake::default()
            .var("AWS_ENDPOINT_URL", "http://a:1")
            .var("AWS_ACCESS_KEY_ID", "k")
            .var("AWS_SECRET_ACCESS_KEY", "s");
        assert_eq!(resolve(&Target::default(), &env, local).unwrap().endpoint, "http://a:1");
        let env = env.var("AWS_ENDPOINT_URL_ECS", "http://ecs:2/");
        assert_eq!(
            resolve(&Target::default(), &env, local).unwrap().endpoint,
            "http://ecs:2"
        );
        let args = Target {
            endpoint: Some("http://flag:3".into()),
            ..Default::default()
        };
        let got = resolve(&args, &env, local).unwrap();
        assert_eq!(
            (got.endpoint.as_str(), got.endpoint_from.as_str()),
            ("http://flag:3", "--endpoint")
        );
        // Another server than the local one: the record's region is not taken.
        assert_eq!(got.region, "us-east-1");
        let none = resolve(
            &Target::default(),
            &Fake::default()
                .var("AWS_ACCESS_KEY_ID", "k")
                .var("AWS_SECRET_ACCESS_KEY", "s"),
            None,
        )
        .unwrap();
        assert_eq!(none.endpoint, DEFAULT_ENDPOINT);
    }

    #[test]
    fn credentials_follow_the_aws_chain() {
        let r = record();
        let local = Some((Path::new(DIR), &r));
        let files = Fake::default()
            .var("HOME", "/home/u")
            .file("/home/u/.aws/credentials", "[default]\naws_access_key_id=AKIAPROF\naws_secret_access_key=p\n[dev]\naws_access_key_id=AKIADEV\naws_secret_access_key=d\n")
            .file("/home/u/.aws/config", "[profile dev]\nregion = ap-south-1\nendpoint_url = http://dev:9\n");
        // Next to the local server with no profile named, its record wins over the default profile.
        assert_eq!(
            resolve(&Target::default(), &files, local)
                .unwrap()
                .credentials
                .access_key_id,
            "test"
        );
        // Another endpoint: the default profile.
        let args = Target {
            endpoint: Some("http://elsewhere:1".into()),
            ..Default::default()
        };
        assert_eq!(
            resolve(&args, &files, local).unwrap().credentials.access_key_id,
            "AKIAPROF"
        );
        // A named profile: its keys, its region and its endpoint_url.
        let env = files.clone().var("AWS_PROFILE", "dev");
        let got = resolve(&Target::default(), &env, local).unwrap();
        assert_eq!(got.credentials.access_key_id, "AKIADEV");
        assert_eq!(
            (got.endpoint.as_str(), got.region.as_str()),
            ("http://dev:9", "ap-south-1")
        );
        // The environment wins over everything.
        let env = env
            .var("AWS_ACCESS_KEY_ID", "AKIAENV")
            .var("AWS_SECRET_ACCESS_KEY", "e")
            .var("AWS_SESSION_TOKEN", "t");
        let got = resolve(&Target::default(), &env, local).unwrap();
        assert_eq!(got.credentials.access_key_id, "AKIAENV");
        assert_eq!(got.credentials.session_token.as_deref(), Some("t"));
        // A profile that does not exist is said so, as the AWS CLI says it.
        let args = Target {
            profile: Some("ghost".into()),
            ..Default::default()
        };
        let e = resolve(&args, &files, local).unwrap_err().to_string();
        assert_eq!(e, "The config profile (ghost) could not be found");
    }

    #[test]
    fn a_server_record_names_its_root_credentials_file() {
        let r = LocalRecord {
            access_key_id: None,
            secret_access_key: None,
            credentials_file: Some("/d/root-credentials".into()),
            ..record()
        };
        let env = Fake::default().file("/d/root-credentials", "AKIAROOT\nsecret\n");
        let got = resolve(&Target::default(), &env, Some((Path::new(DIR), &r))).unwrap();
        assert_eq!(got.credentials.access_key_id, "AKIAROOT");
        let e = resolve(&Target::default(), &Fake::default(), Some((Path::new(DIR), &r))).unwrap_err();
        assert!(e.to_string().contains("cannot be read"), "{e}");
        // Nothing at all: the message says every way.
        let e = resolve(&Target::default(), &Fake::default(), None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("AWS_ACCESS_KEY_ID") && e.contains("--profile") && e.contains("berth up"),
            "{e}"
        );
        let env = Fake::default()
            .var("BERTH_ROOT_ACCESS_KEY_ID", "r")
            .var("BERTH_ROOT_SECRET_ACCESS_KEY", "s");
        assert_eq!(
            resolve(&Target::default(), &env, None)
                .unwrap()
                .credentials
                .access_key_id,
            "r"
        );
    }
}

//! `berth doctor`: checks what `berth up` needs on this machine — Docker,
//! cgroups, the open-file limit, the port, the data dir, disk space, the aws
//! CLI — and says what to do about each problem. Exits 1 when a check fails.

use crate::cli::Output;
use clap::Args;
use serde::Serialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Args, Clone, Debug)]
pub struct DoctorArgs {
    /// The address `berth up` would listen on.
    #[arg(long, default_value = "127.0.0.1:4600", env = "BERTH_LISTEN")]
    listen: SocketAddr,
    /// The data dir `berth up` would use.
    #[arg(long, default_value = ".berth", env = "BERTH_DATA_DIR")]
    data_dir: PathBuf,
    /// text for people, json for scripts.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub level: Level,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

fn check(name: &'static str, level: Level, detail: impl Into<String>, fix: Option<&str>) -> Check {
    Check {
        name,
        level,
        detail: detail.into(),
        fix: fix.map(str::to_string),
    }
}

pub async fn doctor(args: DoctorArgs) -> anyhow::Result<()> {
    let checks = vec![
        docker().await,
        cgroups(Path::new("/sys/fs/cgroup")),
        open_files(),
        port(args.listen).await,
        data_dir(&args.data_dir),
        disk(&args.data_dir),
        aws_cli(),
    ];
    if args.output == Output::Json {
        crate::cli::print_json(&serde_json::to_value(&checks)?)?;
    } else {
        print!("{}", render(&checks));
    }
    let failed: Vec<&str> = checks
        .iter()
        .filter(|c| c.level == Level::Fail)
        .map(|c| c.name)
        .collect();
    if !failed.is_empty() {
        anyhow::bail!("{} check(s) failed: {}", failed.len(), failed.join(", "));
    }
    Ok(())
}

fn render(checks: &[Check]) -> String {
    let mut out = String::new();
    for c in checks {
        let level = match c.level {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Fail => "FAIL",
        };
        out += &format!("{level:<5} {:<10} {}\n", c.name, c.detail);
        if let Some(fix) = &c.fix {
            out += &format!("{:16} fix: {fix}\n", "");
        }
    }
    out
}

async fn docker() -> Check {
    let host = std::env::var("DOCKER_HOST")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unix:///var/run/docker.sock".into());
    let fix_start = "start Docker Engine (`sudo systemctl start docker`, or `sudo dockerd &`), or set DOCKER_HOST; \
                     without it `berth up` serves the API but runs no tasks";
    let docker = match bollard::Docker::connect_with_host(&host) {
        Ok(d) => d.with_timeout(Duration::from_secs(5)),
        Err(e) => return check("docker", Level::Fail, format!("{host}: {e}"), Some(fix_start)),
    };
    match tokio::time::timeout(Duration::from_secs(5), docker.version()).await {
        Ok(Ok(v)) => check(
            "docker",
            Level::Ok,
            format!(
                "Docker Engine {} (API {}) at {host}",
                v.version.unwrap_or_default(),
                v.api_version.unwrap_or_default()
            ),
            None,
        ),
        Ok(Err(e)) => {
            let text = e.to_string();
            let fix = if text.contains("ermission denied") {
                "run as root, or add your user to the `docker` group (`sudo usermod -aG docker $USER`, then log in again)"
            } else {
                fix_start
            };
            check("docker", Level::Fail, format!("{host}: {text}"), Some(fix))
        }
        Err(_) => check(
            "docker",
            Level::Fail,
            format!("{host}: no answer within 5 s"),
            Some(fix_start),
        ),
    }
}

/// cgroup v2 with the cpu and memory controllers (or v1 with memory): what
/// Docker needs to enforce the tasks' CPU and memory limits.
pub fn cgroups(root: &Path) -> Check {
    if let Ok(text) = std::fs::read_to_string(root.join("cgroup.controllers")) {
        let have: Vec<&str> = text.split_whitespace().collect();
        let missing: Vec<&str> = ["cpu", "memory"].into_iter().filter(|c| !have.contains(c)).collect();
        return if missing.is_empty() {
            check("cgroups", Level::Ok, format!("cgroup v2 ({})", have.join(" ")), None)
        } else {
            check(
                "cgroups",
                Level::Warn,
                format!(
                    "cgroup v2 without the {} controller(s): task limits are not enforced",
                    missing.join(", ")
                ),
                Some(
                    "enable them (systemd: `systemd.unified_cgroup_hierarchy=1`; in a container, delegate the controllers)",
                ),
            )
        };
    }
    if root.join("memory").is_dir() {
        return check("cgroups", Level::Ok, "cgroup v1 (memory controller present)", None);
    }
    check(
        "cgroups",
        Level::Warn,
        format!(
            "no cgroup hierarchy at {}: task limits are not enforced",
            root.display()
        ),
        Some("mount cgroup2 on /sys/fs/cgroup (`mount -t cgroup2 none /sys/fs/cgroup`)"),
    )
}

fn open_files() -> Check {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    judge_open_files(limit.current, limit.maximum)
}

/// Berth raises the soft limit to the hard one at start; every connection,
/// agent session and log follow holds a descriptor.
pub fn judge_open_files(soft: Option<u64>, hard: Option<u64>) -> Check {
    let show = |v: Option<u64>| v.map_or("unlimited".to_string(), |v| v.to_string());
    let detail = format!("soft {}, hard {}", show(soft), show(hard));
    match hard {
        Some(h) if h < 65_536 => check(
            "files",
            Level::Warn,
            format!("{detail}: Berth raises the soft limit to the hard one, which allows few connections"),
            Some("raise the hard limit: `LimitNOFILE=1048576` in the systemd unit, or `ulimit -Hn 1048576` as root"),
        ),
        _ => check(
            "files",
            Level::Ok,
            format!("{detail} (raised to the hard limit at start)"),
            None,
        ),
    }
}

async fn port(listen: SocketAddr) -> Check {
    match std::net::TcpListener::bind(listen) {
        Ok(_) => check("port", Level::Ok, format!("{listen} is free"), None),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            let url = format!("http://{listen}/healthz");
            let answer = reqwest::Client::builder()
                .timeout(Duration::from_secs(3))
                .build()
                .ok()
                .map(|c| c.get(&url).send());
            let berth = match answer {
                Some(send) => matches!(send.await, Ok(r) if r.status().is_success()),
                None => false,
            };
            if berth {
                check(
                    "port",
                    Level::Ok,
                    format!("{listen}: a Berth is already running there"),
                    None,
                )
            } else {
                check(
                    "port",
                    Level::Fail,
                    format!("{listen} is taken by another program"),
                    Some("stop it, or give Berth another address: `berth up --listen 127.0.0.1:4601`"),
                )
            }
        }
        Err(e) => check(
            "port",
            Level::Fail,
            format!("cannot listen on {listen}: {e}"),
            Some("choose an address of this machine with --listen"),
        ),
    }
}

pub fn data_dir(dir: &Path) -> Check {
    use std::os::unix::fs::PermissionsExt;
    let meta = match std::fs::metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return check(
                "data dir",
                Level::Ok,
                format!("{} does not exist yet: `berth up` creates it (0700)", dir.display()),
                None,
            );
        }
        Err(e) => {
            return check(
                "data dir",
                Level::Fail,
                format!("{}: {e}", dir.display()),
                Some("choose another with --data-dir"),
            );
        }
    };
    if !meta.is_dir() {
        return check(
            "data dir",
            Level::Fail,
            format!("{} is not a directory", dir.display()),
            Some("remove it or choose another with --data-dir"),
        );
    }
    let probe = dir.join(format!(".doctor-{}", std::process::id()));
    if let Err(e) = std::fs::write(&probe, b"") {
        return check(
            "data dir",
            Level::Fail,
            format!("{} is not writable: {e}", dir.display()),
            Some("run as its owner, or choose another with --data-dir"),
        );
    }
    let _ = std::fs::remove_file(&probe);
    // A running server holds DATA_DIR/lock (and wrote its pid in it).
    let held = std::fs::File::open(dir.join("lock"))
        .ok()
        .filter(|f| matches!(f.try_lock_shared(), Err(std::fs::TryLockError::WouldBlock)));
    let mode = meta.permissions().mode() & 0o777;
    let mut detail = format!("{} (mode {mode:o})", dir.display());
    if held.is_some() {
        let pid = std::fs::read_to_string(dir.join("lock")).unwrap_or_default();
        detail += &format!(", in use by a running Berth (pid {})", pid.trim());
    }
    if mode & 0o077 != 0 {
        return check(
            "data dir",
            Level::Warn,
            format!("{detail}: readable by others"),
            Some("`berth up` tightens it to 0700/0600 at start; or `chmod -R go= DIR` now"),
        );
    }
    check("data dir", Level::Ok, detail, None)
}

fn disk(dir: &Path) -> Check {
    let at = std::iter::successors(Some(dir), |p| p.parent())
        .find(|p| p.exists())
        .unwrap_or(Path::new("."));
    match rustix::fs::statvfs(at) {
        Ok(s) => {
            let free = s.f_bavail.saturating_mul(s.f_frsize);
            let gib = free as f64 / (1u64 << 30) as f64;
            if free < 2 << 30 {
                check(
                    "disk",
                    Level::Warn,
                    format!("{gib:.1} GiB free at {}", at.display()),
                    Some("images and logs need room: free some space or choose another --data-dir"),
                )
            } else {
                check(
                    "disk",
                    Level::Ok,
                    format!("{gib:.1} GiB free at {}", at.display()),
                    None,
                )
            }
        }
        Err(e) => check("disk", Level::Warn, format!("{}: {e}", at.display()), None),
    }
}

fn aws_cli() -> Check {
    match std::process::Command::new("aws").arg("--version").output() {
        Ok(o) if o.status.success() => {
            let v = String::from_utf8_lossy(if o.stdout.is_empty() { &o.stderr } else { &o.stdout })
                .trim()
                .to_string();
            check("aws cli", Level::Ok, v, None)
        }
        _ => check(
            "aws cli",
            Level::Warn,
            "`aws` is not on PATH (Berth itself does not need it)",
            Some("`pip install awscli` (or `apt install awscli`) to follow the README's examples"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroups_are_judged_from_the_hierarchy() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(cgroups(d.path()).level, Level::Warn);
        std::fs::create_dir(d.path().join("memory")).unwrap();
        assert_eq!(cgroups(d.path()).level, Level::Ok);
        std::fs::write(d.path().join("cgroup.controllers"), "cpuset io pids\n").unwrap();
        let c = cgroups(d.path());
        assert_eq!(c.level, Level::Warn);
        assert!(c.detail.contains("cpu, memory"), "{}", c.detail);
        std::fs::write(d.path().join("cgroup.controllers"), "cpuset cpu io memory pids\n").unwrap();
        assert_eq!(cgroups(d.path()).level, Level::Ok);
    }

    #[test]
    fn a_low_hard_file_limit_is_a_warning_with_a_fix() {
        let low = judge_open_files(Some(1024), Some(4096));
        assert_eq!(low.level, Level::Warn);
        assert!(low.fix.unwrap().contains("LimitNOFILE"));
        assert_eq!(judge_open_files(Some(1024), Some(1 << 20)).level, Level::Ok);
        assert_eq!(judge_open_files(None, None).level, Level::Ok);
    }

    #[test]
    fn the_data_dir_is_judged_and_a_running_berth_named() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("data");
        assert_eq!(data_dir(&dir).level, Level::Ok);
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(data_dir(&dir).level, Level::Warn);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        let _held = berth_agent::datadir::lock(&dir, "lock", "Berth server").unwrap();
        let c = data_dir(&dir);
        assert_eq!(c.level, Level::Ok);
        assert!(
            c.detail.contains(&format!("pid {}", std::process::id())),
            "{}",
            c.detail
        );
        let file = d.path().join("file");
        std::fs::write(&file, "").unwrap();
        assert_eq!(data_dir(&file).level, Level::Fail);
    }

    #[test]
    fn failures_print_their_fix() {
        let text = render(&[check("port", Level::Fail, "taken", Some("use --listen"))]);
        assert_eq!(text, "FAIL  port       taken\n                 fix: use --listen\n");
    }
}

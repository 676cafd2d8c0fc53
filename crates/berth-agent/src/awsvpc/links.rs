//! Runs [`super::plan`]'s steps (IO): `ip` in the agent's namespace, or in
//! a task's through `nsenter --net=/proc/<pid>/ns/net`; `nft -f -`;
//! `iptables` for the forward accepts; the `ip_forward` sysctl.

use super::plan::{Batch, Place, Step};
use std::process::Stdio;
use tokio::io::AsyncWriteExt;

async fn command(program: &str, args: &[String], input: Option<&str>) -> Result<String, String> {
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin
            .write_all(text.as_bytes())
            .await
            .map_err(|e| format!("cannot write to {program}: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .await
        .map_err(|e| format!("{program} did not finish: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "`{program} {}` exited with {}: {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Runs `ip args` where `place` says; its standard output.
pub async fn ip(place: Place, args: &[String]) -> Result<String, String> {
    match place {
        Place::Host => command("ip", args, None).await,
        Place::Task(pid) => {
            let mut all = vec![format!("--net=/proc/{pid}/ns/net"), "ip".to_string()];
            all.extend(args.iter().cloned());
            command("nsenter", &all, None).await
        }
    }
}

/// Runs a batch of `ip` commands (`ip -batch -`) where it says, in one
/// process.
pub async fn ip_batch(batch: &Batch) -> Result<(), String> {
    let input = Some(batch.text.as_str());
    let args = ["-batch".to_string(), "-".to_string()];
    match batch.place {
        Place::Host => command("ip", &args, input).await.map(|_| ()),
        Place::Task(pid) => {
            let mut all = vec![format!("--net=/proc/{pid}/ns/net"), "ip".to_string()];
            all.extend(args);
            command("nsenter", &all, input).await.map(|_| ())
        }
    }
}

/// Runs the steps in order; the first failure of a step that must not
/// fail ends the plan with its error.
pub async fn run(steps: &[Step]) -> Result<(), String> {
    for s in steps {
        match ip(s.place, &s.args).await {
            Ok(_) => {}
            Err(_) if s.may_fail => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// `nft -f -` with `text`.
pub async fn nft(text: &str) -> Result<(), String> {
    command("nft", &["-f".to_string(), "-".to_string()], Some(text))
        .await
        .map(|_| ())
        .map_err(|e| format!("{e} (nft is Debian's package nftables)"))
}

/// Turns IPv4 forwarding on in the agent's namespace.
pub fn enable_forwarding() -> Result<(), String> {
    let path = "/proc/sys/net/ipv4/ip_forward";
    if std::fs::read_to_string(path).is_ok_and(|v| v.trim() == "1") {
        return Ok(());
    }
    std::fs::write(path, "1").map_err(|e| format!("cannot turn IPv4 forwarding on ({path}): {e}"))
}

/// This host's source address towards `endpoint` (an http(s) URL): the
/// default `--host-address`. A UDP socket is connected, nothing is sent.
pub async fn source_address(endpoint: &str) -> Option<std::net::Ipv4Addr> {
    let url = reqwest::Url::parse(endpoint).ok()?;
    let host = url.host_str()?.to_string();
    let port = url.port_or_known_default()?;
    let target = tokio::net::lookup_host((host.as_str(), port))
        .await
        .ok()?
        .find(std::net::SocketAddr::is_ipv4)?;
    let socket = std::net::UdpSocket::bind(("0.0.0.0", 0)).ok()?;
    socket.connect(target).ok()?;
    match socket.local_addr().ok()?.ip() {
        std::net::IpAddr::V4(a) => Some(a),
        std::net::IpAddr::V6(_) => None,
    }
}

/// The chain Docker leaves to its users in `FORWARD`.
const DOCKER_USER: &str = "DOCKER-USER";

/// Adds (`add`) or removes each rule in `DOCKER-USER` when the namespace
/// has that chain (Docker's FORWARD policy is DROP there); nothing
/// otherwise (no iptables, or a namespace Docker does not manage).
pub async fn forward_accepts(rules: &[Vec<String>], add: bool) -> Result<(), String> {
    let list = vec!["-S".to_string(), DOCKER_USER.to_string()];
    if command("iptables", &list, None).await.is_err() {
        return Ok(());
    }
    for rule in rules {
        let with = |op: &str| {
            let mut a = vec![op.to_string(), DOCKER_USER.to_string()];
            a.extend(rule.iter().cloned());
            a
        };
        let present = command("iptables", &with("-C"), None).await.is_ok();
        if add && !present {
            command("iptables", &with("-I"), None).await?;
        } else if !add && present {
            command("iptables", &with("-D"), None).await?;
        }
    }
    Ok(())
}

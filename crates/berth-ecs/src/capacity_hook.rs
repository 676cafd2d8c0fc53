//! The capacity hook of a host group (`berth server --capacity-hook
//! GROUP=COMMAND`): the operator's command the managed-scaling controller
//! runs when a custom capacity provider over the group needs more hosts,
//! or fewer (the hosts to remove named).
//! It is run directly (the command split on whitespace, never through a
//! shell), with `BERTH_HOST_GROUP`, `BERTH_CLUSTER`,
//! `BERTH_DESIRED_CAPACITY`, `BERTH_CURRENT_CAPACITY`,
//! `BERTH_REMOVE_INSTANCES` and `BERTH_REMOVE_CONTAINER_INSTANCES` in its
//! environment (and of the server's only PATH, HOME, LANG and TZ); its
//! exit status and standard error are logged. What it
//! does (start agents with `--host-group GROUP`, call a cloud API) is the
//! operator's; it should return quickly.

use std::time::Duration;

/// How long a hook may run before it is killed.
pub const HOOK_TIMEOUT: Duration = Duration::from_secs(60);

/// The server's environment variables a hook gets.
const PASSED_ON: [&str; 4] = ["PATH", "HOME", "LANG", "TZ"];

/// One `--capacity-hook GROUP=COMMAND`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapacityHook {
    pub group: String,
    /// The program and its arguments.
    pub command: Vec<String>,
}

/// A host group name (`berth agent --host-group`): 1 to 255 characters, no
/// whitespace, `=` or `/` (an Auto Scaling group name's rule, less what an
/// ARN or the hook flag would split on).
pub fn parse_host_group(s: &str) -> Result<String, String> {
    if s.is_empty() || s.len() > 255 || s.chars().any(|c| c.is_whitespace() || c == '=' || c == '/') {
        return Err(format!(
            "invalid host group {s:?}: 1 to 255 characters, without whitespace, '=' or '/'"
        ));
    }
    Ok(s.to_string())
}

/// Parses `GROUP=COMMAND` (the command split on whitespace).
pub fn parse_capacity_hook(s: &str) -> Result<CapacityHook, String> {
    let (group, command) = s
        .split_once('=')
        .ok_or_else(|| format!("expected GROUP=COMMAND, got {s:?}"))?;
    let group = parse_host_group(group)?;
    let command: Vec<String> = command.split_whitespace().map(str::to_string).collect();
    if command.is_empty() {
        return Err(format!("the capacity hook of host group {group} has no command"));
    }
    Ok(CapacityHook { group, command })
}

/// A host a scale-in asks the hook to remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemovedHost {
    /// The agent's instance id (`i-…`, `ec2InstanceId`).
    pub ec2_instance_id: String,
    pub container_instance_arn: String,
}

/// Runs `hook` for `cluster`, asking for `desired` hosts where there are
/// `current` — fewer by removing `remove` (their ids in
/// `BERTH_REMOVE_INSTANCES`, their ARNs in
/// `BERTH_REMOVE_CONTAINER_INSTANCES`, space-separated; both empty when
/// the group grows); logs the outcome. Whether the hook succeeded (exit
/// status 0); never fails the caller.
pub async fn run_hook(hook: &CapacityHook, cluster: &str, desired: u32, current: u32, remove: &[RemovedHost]) -> bool {
    let joined = |f: fn(&RemovedHost) -> &str| remove.iter().map(f).collect::<Vec<_>>().join(" ");
    let mut cmd = tokio::process::Command::new(&hook.command[0]);
    // The server's environment (its root credentials among it) is not
    // the hook's: only what locates programs and the locale is passed on.
    cmd.env_clear();
    for (k, v) in std::env::vars_os().filter(|(k, _)| PASSED_ON.iter().any(|p| k == p)) {
        cmd.env(k, v);
    }
    cmd.args(&hook.command[1..])
        .env("BERTH_HOST_GROUP", &hook.group)
        .env("BERTH_CLUSTER", cluster)
        .env("BERTH_DESIRED_CAPACITY", desired.to_string())
        .env("BERTH_CURRENT_CAPACITY", current.to_string())
        .env("BERTH_REMOVE_INSTANCES", joined(|h| &h.ec2_instance_id))
        .env(
            "BERTH_REMOVE_CONTAINER_INSTANCES",
            joined(|h| &h.container_instance_arn),
        )
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    tracing::info!(group = %hook.group, cluster, desired, current, removed = remove.len(), "running the capacity hook");
    let child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(group = %hook.group, error = %e, program = %hook.command[0], "cannot run the capacity hook");
            return false;
        }
    };
    match tokio::time::timeout(HOOK_TIMEOUT, child.wait_with_output()).await {
        Ok(Ok(out)) => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            if out.status.success() {
                tracing::info!(group = %hook.group, stderr = %stderr.trim(), "the capacity hook succeeded");
                true
            } else {
                tracing::warn!(group = %hook.group, status = %out.status, stderr = %stderr.trim(), "the capacity hook failed");
                false
            }
        }
        Ok(Err(e)) => {
            tracing::warn!(group = %hook.group, error = %e, "the capacity hook could not be waited for");
            false
        }
        Err(_) => {
            tracing::warn!(group = %hook.group, "the capacity hook ran over {HOOK_TIMEOUT:?} and was killed");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hook_and_group_flags() {
        let h = parse_capacity_hook("pool=/usr/local/bin/add-host --fast").unwrap();
        assert_eq!(h.group, "pool");
        assert_eq!(h.command, vec!["/usr/local/bin/add-host", "--fast"]);
        assert!(parse_capacity_hook("pool").is_err());
        assert!(parse_capacity_hook("pool=  ").is_err());
        assert!(parse_capacity_hook("=cmd").is_err());
        assert!(parse_host_group("a b").is_err());
        assert!(parse_host_group(&"g".repeat(256)).is_err());
        assert_eq!(parse_host_group("web-pool_1").unwrap(), "web-pool_1");
    }
}

//! Task-level cgroup limits of FARGATE tasks: the task's `cpu` (a CFS quota
//! of `cpu / 1024` CPUs) and `memory` (a hard limit) on a parent cgroup
//! `/berth-task-<task id>` that all the task's containers are created under
//! (Docker's `CgroupParent`; runc and runsc both honour it), as Fargate
//! bounds the whole task. Only with Docker's `cgroupfs` driver (cgroup v1
//! or v2): the `systemd` driver wants slice names and is not supported (the
//! task then runs with its containers' own limits, and the agent says so).

use std::path::{Path, PathBuf};

/// The CFS period the quota is given in (µs).
pub const CPU_PERIOD_US: i64 = 100_000;

/// Where cgroups are mounted.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupVersion {
    V1,
    V2,
}

/// How this host's task cgroups are made (None: they are not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskCgroups {
    pub root: PathBuf,
    pub version: CgroupVersion,
}

/// A task's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskLimits {
    /// µs of CPU time per [`CPU_PERIOD_US`].
    pub cpu_quota_us: Option<i64>,
    pub memory_bytes: Option<i64>,
}

/// The limits of a task of `launch_type` with task-level `cpu` (units) and
/// `memory` (MiB): FARGATE tasks only (EC2 tasks keep ECS's per-container
/// limits).
pub fn limits_of(launch_type: Option<&str>, cpu: Option<&str>, memory: Option<&str>) -> Option<TaskLimits> {
    if launch_type != Some("FARGATE") {
        return None;
    }
    let cpu = cpu.and_then(|c| c.trim().parse::<i64>().ok()).filter(|c| *c > 0);
    let memory = memory.and_then(|m| m.trim().parse::<i64>().ok()).filter(|m| *m > 0);
    let limits = TaskLimits {
        cpu_quota_us: cpu.map(|units| units * CPU_PERIOD_US / 1024),
        memory_bytes: memory.map(|mib| mib * 1024 * 1024),
    };
    (limits.cpu_quota_us.is_some() || limits.memory_bytes.is_some()).then_some(limits)
}

/// The parent cgroup of a task's containers (Docker's `CgroupParent`).
pub fn parent_of(task_id: &str) -> String {
    format!("/berth-task-{task_id}")
}

impl TaskCgroups {
    /// From Docker's cgroup driver and version (`docker info`).
    pub fn for_docker(driver: Option<&str>, version: Option<&str>) -> Option<Self> {
        if driver != Some("cgroupfs") {
            return None;
        }
        let version = match version {
            Some("2") => CgroupVersion::V2,
            _ => CgroupVersion::V1,
        };
        Some(Self {
            root: PathBuf::from(CGROUP_ROOT),
            version,
        })
    }

    /// The files to write (path, content), parents first made.
    pub fn writes(&self, parent: &str, limits: &TaskLimits) -> Vec<(PathBuf, String)> {
        let rel = parent.trim_start_matches('/');
        let mut out = vec![];
        match self.version {
            CgroupVersion::V1 => {
                if let Some(q) = limits.cpu_quota_us {
                    let dir = self.root.join("cpu").join(rel);
                    out.push((dir.join("cpu.cfs_period_us"), CPU_PERIOD_US.to_string()));
                    out.push((dir.join("cpu.cfs_quota_us"), q.to_string()));
                }
                if let Some(m) = limits.memory_bytes {
                    out.push((
                        self.root.join("memory").join(rel).join("memory.limit_in_bytes"),
                        m.to_string(),
                    ));
                }
            }
            CgroupVersion::V2 => {
                let dir = self.root.join(rel);
                if let Some(q) = limits.cpu_quota_us {
                    out.push((dir.join("cpu.max"), format!("{q} {CPU_PERIOD_US}")));
                }
                if let Some(m) = limits.memory_bytes {
                    out.push((dir.join("memory.max"), m.to_string()));
                }
            }
        }
        out
    }

    /// Makes the task's parent cgroup with its limits (idempotent).
    pub fn apply(&self, parent: &str, limits: &TaskLimits) -> std::io::Result<()> {
        for (file, content) in self.writes(parent, limits) {
            if let Some(dir) = file.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(&file, content)
                .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", file.display())))?;
        }
        Ok(())
    }

    /// Removes the task's parent cgroup in every hierarchy Docker made it in;
    /// false while one is left (a container's cgroup the runtime has not
    /// removed yet, e.g. gVisor's sandbox still exiting: try again).
    pub fn remove(&self, parent: &str) -> bool {
        let rel = parent.trim_start_matches('/');
        let dirs: Vec<PathBuf> = match self.version {
            CgroupVersion::V2 => vec![self.root.join(rel)],
            CgroupVersion::V1 => std::fs::read_dir(&self.root)
                .map(|rd| rd.flatten().map(|e| e.path().join(rel)).collect())
                .unwrap_or_default(),
        };
        for d in dirs.iter().filter(|d| d.is_dir()) {
            remove_tree(d);
        }
        !dirs.iter().any(|d| d.is_dir())
    }
}

/// rmdir of a cgroup and its (empty) children.
fn remove_tree(dir: &Path) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_tree(&e.path());
            }
        }
    }
    if let Err(e) = std::fs::remove_dir(dir) {
        tracing::debug!(dir = %dir.display(), error = %e, "cannot remove a task cgroup");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fargate_tasks_get_their_task_level_limits() {
        let l = limits_of(Some("FARGATE"), Some("256"), Some("512")).unwrap();
        assert_eq!(l.cpu_quota_us, Some(25_000));
        assert_eq!(l.memory_bytes, Some(512 * 1024 * 1024));
        assert_eq!(limits_of(Some("EC2"), Some("256"), Some("512")), None);
        assert_eq!(limits_of(Some("FARGATE"), None, None), None);
        assert_eq!(parent_of("abc"), "/berth-task-abc");
    }

    #[test]
    fn files_for_each_cgroup_version() {
        let l = TaskLimits {
            cpu_quota_us: Some(50_000),
            memory_bytes: Some(1 << 30),
        };
        let v1 = TaskCgroups::for_docker(Some("cgroupfs"), Some("1")).unwrap();
        assert_eq!(
            v1.writes("/berth-task-t", &l),
            vec![
                (
                    PathBuf::from("/sys/fs/cgroup/cpu/berth-task-t/cpu.cfs_period_us"),
                    "100000".into()
                ),
                (
                    PathBuf::from("/sys/fs/cgroup/cpu/berth-task-t/cpu.cfs_quota_us"),
                    "50000".into()
                ),
                (
                    PathBuf::from("/sys/fs/cgroup/memory/berth-task-t/memory.limit_in_bytes"),
                    "1073741824".into()
                ),
            ]
        );
        let v2 = TaskCgroups::for_docker(Some("cgroupfs"), Some("2")).unwrap();
        assert_eq!(
            v2.writes("/berth-task-t", &l),
            vec![
                (
                    PathBuf::from("/sys/fs/cgroup/berth-task-t/cpu.max"),
                    "50000 100000".into()
                ),
                (
                    PathBuf::from("/sys/fs/cgroup/berth-task-t/memory.max"),
                    "1073741824".into()
                ),
            ]
        );
        assert_eq!(TaskCgroups::for_docker(Some("systemd"), Some("2")), None);
    }

    #[test]
    fn applied_and_removed_under_a_root() {
        let dir = tempfile::tempdir().unwrap();
        let cg = TaskCgroups {
            root: dir.path().to_path_buf(),
            version: CgroupVersion::V2,
        };
        let l = limits_of(Some("FARGATE"), Some("1024"), Some("2048")).unwrap();
        cg.apply("/berth-task-x", &l).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("berth-task-x/cpu.max")).unwrap(),
            "100000 100000"
        );
        // A real cgroup dir holds only kernel files; here the written ones go first.
        for f in ["cpu.max", "memory.max"] {
            std::fs::remove_file(dir.path().join("berth-task-x").join(f)).unwrap();
        }
        std::fs::create_dir(dir.path().join("berth-task-x/ctr")).unwrap();
        std::fs::write(dir.path().join("berth-task-x/ctr/busy"), "").unwrap();
        assert!(!cg.remove("/berth-task-x"), "a container's cgroup still there");
        std::fs::remove_file(dir.path().join("berth-task-x/ctr/busy")).unwrap();
        assert!(cg.remove("/berth-task-x"));
        assert!(!dir.path().join("berth-task-x").exists());
    }
}

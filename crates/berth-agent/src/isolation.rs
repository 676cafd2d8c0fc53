//! How a Fargate task's containers are isolated from the host kernel
//! (docs/security.md, "Isolation"): under gVisor when the Docker daemon has
//! a runtime named `runsc` (registered by `scripts/setup-runsc`; the agent
//! never edits the daemon's configuration), else under runc, with a loud
//! warning and the instance attribute `ecs.isolation=runc` saying so.
//! EC2-launch tasks always run under the daemon's default runtime.

/// The Docker runtime name the agent looks for.
pub const GVISOR_RUNTIME: &str = "runsc";

/// The instance attribute that says which isolation Fargate tasks get.
pub const ATTRIBUTE: &str = "ecs.isolation";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Isolation {
    /// Fargate tasks' containers run under gVisor (this Docker runtime).
    Gvisor { runtime: String },
    /// No gVisor runtime: Fargate tasks share the host kernel like EC2 ones.
    Runc,
}

impl Isolation {
    /// From the runtimes the Docker daemon lists (`docker info`).
    pub fn from_runtimes<S: AsRef<str>>(runtimes: &[S]) -> Self {
        if runtimes.iter().any(|r| r.as_ref() == GVISOR_RUNTIME) {
            Isolation::Gvisor {
                runtime: GVISOR_RUNTIME.to_string(),
            }
        } else {
            Isolation::Runc
        }
    }

    /// The value of [`ATTRIBUTE`].
    pub fn as_str(&self) -> &'static str {
        match self {
            Isolation::Gvisor { .. } => "gvisor",
            Isolation::Runc => "runc",
        }
    }

    /// The Docker runtime for a container of a task of `launch_type`
    /// (None: the daemon's default).
    pub fn runtime_for(&self, launch_type: Option<&str>) -> Option<&str> {
        match (self, launch_type) {
            (Isolation::Gvisor { runtime }, Some("FARGATE")) => Some(runtime),
            _ => None,
        }
    }

    /// Says at start-up what Fargate tasks get; loudly when it is runc.
    pub fn announce(&self) {
        match self {
            Isolation::Gvisor { runtime } => {
                tracing::info!(runtime = %runtime, "FARGATE tasks run under gVisor")
            }
            Isolation::Runc => tracing::warn!(
                "NO gVisor: the Docker daemon has no runtime named '{GVISOR_RUNTIME}', so FARGATE tasks run under runc \
                 and share the host kernel like EC2 tasks (instance attribute {ATTRIBUTE}=runc). Run \
                 scripts/setup-runsc as root to install and register gVisor, then restart the agent."
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gvisor_only_when_docker_has_runsc_and_only_for_fargate_tasks() {
        let g = Isolation::from_runtimes(&["runc", "runsc", "io.containerd.runc.v2"]);
        assert_eq!(g.as_str(), "gvisor");
        assert_eq!(g.runtime_for(Some("FARGATE")), Some("runsc"));
        assert_eq!(g.runtime_for(Some("EC2")), None);
        assert_eq!(g.runtime_for(None), None);
        let r = Isolation::from_runtimes(&["runc"]);
        assert_eq!(r, Isolation::Runc);
        assert_eq!(r.as_str(), "runc");
        assert_eq!(r.runtime_for(Some("FARGATE")), None);
    }
}

//! Why a task's containers could not run, with ECS's error codes. `Display`
//! is the text ECS shows as the container's `reason` and the task's
//! `stoppedReason` (`CannotPullContainerError: …`), written in this one
//! place. Pure.

/// Why a task could not get its secrets, its registry auth or its execution
/// role's credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: {detail}"
)]
pub struct ResourceInitializationError {
    pub detail: String,
}

impl ResourceInitializationError {
    pub fn new(detail: impl Into<String>) -> Self {
        Self { detail: detail.into() }
    }
}

/// Why one container did not run (or stopped), by ECS error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContainerFailure {
    #[error("CannotPullContainerError: {0}")]
    CannotPull(String),
    #[error("CannotCreateContainerError: {0}")]
    CannotCreate(String),
    #[error("CannotStartContainerError: {0}")]
    CannotStart(String),
    #[error("OutOfMemoryError: Container killed due to memory usage")]
    OutOfMemory,
    #[error(transparent)]
    ResourceInitialization(#[from] ResourceInitializationError),
    /// The awsvpc task's network namespace or address could not be set up.
    #[error("ResourceInitializationError: failed to configure ENI: {0}")]
    TaskNetwork(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_read_as_ecs_writes_them() {
        assert_eq!(
            ContainerFailure::CannotPull("pull access denied".into()).to_string(),
            "CannotPullContainerError: pull access denied"
        );
        assert_eq!(
            ContainerFailure::OutOfMemory.to_string(),
            "OutOfMemoryError: Container killed due to memory usage"
        );
        assert_eq!(
            ContainerFailure::from(ResourceInitializationError::new("no role")).to_string(),
            "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: no role"
        );
    }
}

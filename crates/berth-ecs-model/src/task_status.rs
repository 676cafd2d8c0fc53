//! The lifecycle status of an ECS task and its one order: a task moves
//! PROVISIONING → … → STOPPED and never backwards.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The statuses of an ECS task (`lastStatus`, `desiredStatus`), in lifecycle
/// order: the derived `Ord` is the lifecycle order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskStatus {
    Provisioning,
    Pending,
    Activating,
    Running,
    Deactivating,
    Stopping,
    Deprovisioning,
    Stopped,
}

/// A status string that is not one of [`TaskStatus`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown task status '{0}'")]
pub struct UnknownTaskStatus(pub String);

impl TaskStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [TaskStatus; 8] = [
        TaskStatus::Provisioning,
        TaskStatus::Pending,
        TaskStatus::Activating,
        TaskStatus::Running,
        TaskStatus::Deactivating,
        TaskStatus::Stopping,
        TaskStatus::Deprovisioning,
        TaskStatus::Stopped,
    ];

    /// The statuses ECS counts as pending (`pendingCount`,
    /// `pendingTasksCount`): before RUNNING.
    pub const PENDING: [TaskStatus; 3] = [TaskStatus::Provisioning, TaskStatus::Pending, TaskStatus::Activating];

    /// The ECS string (`"RUNNING"`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Provisioning => "PROVISIONING",
            TaskStatus::Pending => "PENDING",
            TaskStatus::Activating => "ACTIVATING",
            TaskStatus::Running => "RUNNING",
            TaskStatus::Deactivating => "DEACTIVATING",
            TaskStatus::Stopping => "STOPPING",
            TaskStatus::Deprovisioning => "DEPROVISIONING",
            TaskStatus::Stopped => "STOPPED",
        }
    }

    /// The position in the lifecycle: PROVISIONING is 0, STOPPED is 7.
    pub const fn rank(self) -> u8 {
        self as u8
    }

    /// The rank of a status string. This is the one place that decides what
    /// an unknown status ranks: `None`, lower than every known status
    /// (`Option`'s order), so anything known is progress over it and it is
    /// never progress over anything. Callers that must refuse unknown
    /// statuses parse with [`FromStr`] instead.
    pub fn rank_of(status: &str) -> Option<u8> {
        status.parse::<TaskStatus>().ok().map(TaskStatus::rank)
    }
}

impl FromStr for TaskStatus {
    type Err = UnknownTaskStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TaskStatus::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownTaskStatus(s.to_string()))
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<TaskStatus> for String {
    fn from(s: TaskStatus) -> String {
        s.as_str().to_string()
    }
}

impl PartialEq<str> for TaskStatus {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for TaskStatus {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<TaskStatus> for str {
    fn eq(&self, other: &TaskStatus) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<TaskStatus> for String {
    fn eq(&self, other: &TaskStatus) -> bool {
        self.as_str() == other.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_strings_and_serde_agree() {
        for w in TaskStatus::ALL.windows(2) {
            assert!(w[0] < w[1]);
            assert!(w[0].rank() < w[1].rank());
        }
        for s in TaskStatus::ALL {
            assert_eq!(s.as_str().parse::<TaskStatus>(), Ok(s));
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{}\"", s.as_str()));
            assert_eq!(serde_json::from_str::<TaskStatus>(&format!("\"{s}\"")).unwrap(), s);
        }
        assert_eq!(TaskStatus::Provisioning.rank(), 0);
        assert_eq!(TaskStatus::Stopped.rank(), 7);
        assert!(TaskStatus::PENDING.iter().all(|p| *p < TaskStatus::Running));
    }

    #[test]
    fn unknown_ranks_below_every_known_status() {
        assert_eq!(TaskStatus::rank_of("BOGUS"), None);
        assert!("BOGUS".parse::<TaskStatus>().is_err());
        for s in TaskStatus::ALL {
            assert!(TaskStatus::rank_of("BOGUS") < TaskStatus::rank_of(s.as_str()));
        }
    }
}

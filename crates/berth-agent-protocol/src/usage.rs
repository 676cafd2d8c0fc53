//! `BerthPublishTaskUsage` (docs/agent-protocol.md §7): what the tasks of
//! one container instance used since the agent's previous report, measured
//! from Docker stats. The server turns these reports into the `AWS/ECS`
//! CPUUtilization and MemoryUtilization metrics (as the ECS agent's
//! telemetry session feeds ECS's own).

use serde::{Deserialize, Serialize};

/// The body of `BerthPublishTaskUsage`: every task of the instance with a
/// running container that was measured over the interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageReport {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    pub container_instance: String,
    #[serde(default)]
    pub tasks: Vec<TaskUsage>,
}

/// One task's containers, measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskUsage {
    pub task_arn: String,
    #[serde(default)]
    pub containers: Vec<ContainerUsage>,
}

/// What one container used: CPU units (1024 a core) averaged over the
/// interval, and memory in MiB (usage less the inactive page cache, as
/// `docker stats` shows it) at its end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerUsage {
    pub name: String,
    pub cpu_units: f64,
    pub memory_mib: f64,
}

impl TaskUsage {
    /// The task's CPU units and MiB: the sums over its containers.
    pub fn totals(&self) -> (f64, f64) {
        self.containers
            .iter()
            .fold((0.0, 0.0), |(c, m), u| (c + u.cpu_units, m + u.memory_mib))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_report_has_the_documented_names() {
        let r = UsageReport {
            cluster: Some("default".into()),
            container_instance: "arn:ci".into(),
            tasks: vec![TaskUsage {
                task_arn: "arn:t".into(),
                containers: vec![ContainerUsage {
                    name: "app".into(),
                    cpu_units: 512.5,
                    memory_mib: 12.0,
                }],
            }],
        };
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(
            v,
            json!({"cluster": "default", "containerInstance": "arn:ci", "tasks": [
                {"taskArn": "arn:t", "containers": [{"name": "app", "cpuUnits": 512.5, "memoryMib": 12.0}]}
            ]})
        );
        assert_eq!(serde_json::from_value::<UsageReport>(v).unwrap(), r);
        assert!(serde_json::from_value::<UsageReport>(json!({"cluster": "c"})).is_err());
    }

    #[test]
    fn totals_sum_the_containers() {
        let t = TaskUsage {
            task_arn: "t".into(),
            containers: vec![
                ContainerUsage {
                    name: "a".into(),
                    cpu_units: 100.0,
                    memory_mib: 10.0,
                },
                ContainerUsage {
                    name: "b".into(),
                    cpu_units: 28.0,
                    memory_mib: 6.0,
                },
            ],
        };
        assert_eq!(t.totals(), (128.0, 16.0));
    }
}

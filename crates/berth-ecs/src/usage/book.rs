//! What the agents reported since the last publication, in memory: per
//! cluster and task, the sums of the CPU units and MiB of each report, so
//! a publication uses each task's mean over its window. Usage is a
//! measurement, not intent: it is not stored, and a restart loses at most
//! one window (ECS, too, publishes nothing for a minute it did not
//! measure).

use std::collections::HashMap;
use std::sync::Mutex;

/// The sums of one task's reports.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Sums {
    cpu: f64,
    memory: f64,
    reports: u32,
}

/// See the module documentation.
#[derive(Debug, Default)]
pub struct UsageBook {
    /// cluster name → task ARN → sums.
    clusters: Mutex<HashMap<String, HashMap<String, Sums>>>,
}

/// One window of one cluster: task ARN → (CPU units, MiB), each the mean
/// of the task's reports.
pub type Window = HashMap<String, (f64, f64)>;

impl UsageBook {
    /// Adds one report of a task: its CPU units and MiB.
    pub fn record(&self, cluster: &str, task_arn: &str, cpu_units: f64, memory_mib: f64) {
        let mut clusters = self.clusters.lock().unwrap_or_else(|p| p.into_inner());
        let sums = clusters
            .entry(cluster.to_string())
            .or_default()
            .entry(task_arn.to_string())
            .or_default();
        sums.cpu += cpu_units;
        sums.memory += memory_mib;
        sums.reports += 1;
    }

    /// Takes every cluster's window, leaving the book empty.
    pub fn drain(&self) -> HashMap<String, Window> {
        let taken = std::mem::take(&mut *self.clusters.lock().unwrap_or_else(|p| p.into_inner()));
        taken
            .into_iter()
            .map(|(cluster, tasks)| {
                let window = tasks
                    .into_iter()
                    .map(|(arn, s)| {
                        let n = f64::from(s.reports.max(1));
                        (arn, (s.cpu / n, s.memory / n))
                    })
                    .collect();
                (cluster, window)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_holds_each_tasks_mean_and_draining_empties_it() {
        let book = UsageBook::default();
        book.record("c", "t1", 500.0, 10.0);
        book.record("c", "t1", 524.0, 30.0);
        book.record("c", "t2", 0.0, 1.0);
        book.record("d", "t3", 8.0, 2.0);
        let w = book.drain();
        assert_eq!(w["c"]["t1"], (512.0, 20.0));
        assert_eq!(w["c"]["t2"], (0.0, 1.0));
        assert_eq!(w["d"]["t3"], (8.0, 2.0));
        assert!(book.drain().is_empty());
    }
}

//! What a container used, from two Docker stats readings (pure): CPU
//! units (1024 a core) over the interval between them, as `docker stats`
//! computes its CPU % (the container's CPU time over the host's, times the
//! online CPUs), and memory as `docker stats` shows it (usage less the
//! inactive page cache). `usage_sampler.rs` reads the stats and reports.

use bollard::models::{ContainerCpuStats, ContainerMemoryStats};
use std::collections::HashMap;

/// One reading of a container's CPU counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuReading {
    /// CPU time the container used since it started, in nanoseconds.
    pub total_ns: u64,
    /// CPU time of the whole host since boot (all CPUs), in nanoseconds.
    pub system_ns: u64,
    pub online_cpus: u32,
}

impl CpuReading {
    /// The reading in Docker's stats, when it has the counters.
    pub fn of(stats: &ContainerCpuStats) -> Option<Self> {
        let online = stats.online_cpus.filter(|n| *n > 0).or_else(|| {
            let per_cpu = stats.cpu_usage.as_ref()?.percpu_usage.as_ref()?.len();
            u32::try_from(per_cpu).ok().filter(|n| *n > 0)
        })?;
        Some(Self {
            total_ns: stats.cpu_usage.as_ref()?.total_usage?,
            system_ns: stats.system_cpu_usage?,
            online_cpus: online,
        })
    }
}

/// CPU units used on average between two readings: the container's share
/// of the host's CPU time, times the online CPUs, times 1024. None when
/// the host's clock did not move or a counter went back (a restarted
/// container starts its counter again).
pub fn cpu_units(prev: &CpuReading, cur: &CpuReading) -> Option<f64> {
    let used = cur.total_ns.checked_sub(prev.total_ns)?;
    let host = cur.system_ns.checked_sub(prev.system_ns)?;
    if host == 0 {
        return None;
    }
    Some(used as f64 / host as f64 * f64::from(cur.online_cpus) * 1024.0)
}

/// Bytes in use as `docker stats` shows them: the usage less the inactive
/// file cache (`total_inactive_file` on cgroup v1, `inactive_file` on v2),
/// when that is smaller than the usage.
pub fn memory_used_bytes(stats: &ContainerMemoryStats) -> Option<u64> {
    let usage = stats.usage?;
    let cache = stats.stats.as_ref().and_then(|s| {
        s.get("total_inactive_file")
            .filter(|v| **v < usage)
            .or_else(|| s.get("inactive_file").filter(|v| **v < usage))
            .copied()
    });
    Some(usage - cache.unwrap_or(0))
}

pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// The last CPU reading of each container, so that each report covers the
/// whole interval since the previous one.
#[derive(Debug, Default)]
pub struct CpuBook {
    last: HashMap<String, CpuReading>,
}

impl CpuBook {
    /// Records `reading` for container `id`; the CPU units used since the
    /// previous reading, None for the first one.
    pub fn observe(&mut self, id: &str, reading: CpuReading) -> Option<f64> {
        let prev = self.last.insert(id.to_string(), reading)?;
        cpu_units(&prev, &reading)
    }

    /// Forgets the containers not in `live` (stopped or removed).
    pub fn retain(&mut self, live: &[&str]) {
        self.last.retain(|id, _| live.contains(&id.as_str()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::ContainerCpuUsage;

    fn reading(total_ns: u64, system_ns: u64, online_cpus: u32) -> CpuReading {
        CpuReading {
            total_ns,
            system_ns,
            online_cpus,
        }
    }

    #[test]
    fn half_a_core_of_two_is_512_units() {
        // 1 s of wall time on 2 CPUs: the host counts 2 s; the container used 0.5 s.
        let units = cpu_units(&reading(0, 10_000_000_000, 2), &reading(500_000_000, 12_000_000_000, 2)).unwrap();
        assert!((units - 512.0).abs() < 1e-9, "{units}");
        // A whole core of four.
        let units = cpu_units(&reading(1_000, 0, 4), &reading(1_000_001_000, 4_000_000_000, 4)).unwrap();
        assert!((units - 1024.0).abs() < 1e-9, "{units}");
    }

    #[test]
    fn no_units_without_time_or_after_a_restart() {
        assert_eq!(cpu_units(&reading(0, 5, 2), &reading(10, 5, 2)), None);
        assert_eq!(cpu_units(&reading(100, 5, 2), &reading(10, 50, 2)), None);
        assert_eq!(cpu_units(&reading(0, 5, 2), &reading(0, 50, 2)), Some(0.0));
    }

    #[test]
    fn a_reading_needs_its_counters() {
        let stats = ContainerCpuStats {
            cpu_usage: Some(ContainerCpuUsage {
                total_usage: Some(7),
                percpu_usage: Some(vec![3, 4, 0]),
                ..Default::default()
            }),
            system_cpu_usage: Some(99),
            online_cpus: None,
            ..Default::default()
        };
        assert_eq!(CpuReading::of(&stats), Some(reading(7, 99, 3)));
        let with_online = ContainerCpuStats {
            online_cpus: Some(8),
            ..stats.clone()
        };
        assert_eq!(CpuReading::of(&with_online).unwrap().online_cpus, 8);
        // One-shot stats of a stopped container: no system counter.
        let empty = ContainerCpuStats {
            system_cpu_usage: None,
            ..stats
        };
        assert_eq!(CpuReading::of(&empty), None);
    }

    #[test]
    fn memory_leaves_the_inactive_cache_out() {
        let v2 = ContainerMemoryStats {
            usage: Some(100 << 20),
            stats: Some(HashMap::from([("inactive_file".to_string(), 30 << 20)])),
            ..Default::default()
        };
        assert_eq!(memory_used_bytes(&v2), Some(70 << 20));
        assert_eq!(mib(memory_used_bytes(&v2).unwrap()), 70.0);
        let v1 = ContainerMemoryStats {
            usage: Some(100),
            stats: Some(HashMap::from([
                ("total_inactive_file".to_string(), 40),
                ("inactive_file".to_string(), 10),
            ])),
            ..Default::default()
        };
        assert_eq!(memory_used_bytes(&v1), Some(60));
        // A cache figure not below the usage is not subtracted.
        let odd = ContainerMemoryStats {
            usage: Some(100),
            stats: Some(HashMap::from([("inactive_file".to_string(), 100)])),
            ..Default::default()
        };
        assert_eq!(memory_used_bytes(&odd), Some(100));
        assert_eq!(memory_used_bytes(&ContainerMemoryStats::default()), None);
    }

    #[test]
    fn the_book_reports_the_interval_since_the_last_reading() {
        let mut book = CpuBook::default();
        assert_eq!(book.observe("a", reading(0, 0, 1)), None);
        assert_eq!(book.observe("a", reading(500, 1_000, 1)), Some(512.0));
        assert_eq!(book.observe("a", reading(1_500, 2_000, 1)), Some(1024.0));
        book.retain(&["b"]);
        assert_eq!(book.observe("a", reading(2_000, 3_000, 1)), None);
    }
}

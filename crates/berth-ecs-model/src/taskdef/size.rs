//! Task-level cpu and memory: numeric strings, or "1 vCPU" / "2 GB"; the
//! Fargate task sizes.

use berth_proto::AwsError;

fn parse_scaled(raw: &str, units: &[(&str, f64)]) -> Option<u64> {
    let trimmed = raw.trim();
    let lower = trimmed.to_ascii_lowercase();
    let (number, scale) = units
        .iter()
        .find_map(|(suffix, scale)| lower.strip_suffix(suffix).map(|n| (n.trim().to_string(), *scale)))
        .unwrap_or((lower.clone(), 1.0));
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let value = number.parse::<f64>().ok()? * scale;
    if !value.is_finite() || value <= 0.0 || value.fract() != 0.0 || value > i32::MAX as f64 {
        return None;
    }
    Some(value as u64)
}

/// Normalizes a task-level `cpu` ("1024", "1 vCPU", "0.25 vcpu") to CPU units.
pub fn normalize_task_cpu(raw: &str) -> Result<u64, AwsError> {
    parse_scaled(raw, &[("vcpus", 1024.0), ("vcpu", 1024.0)]).ok_or_else(|| {
        AwsError::client(format!(
            "Invalid 'cpu' setting for task: '{raw}'. Specify CPU units as an integer (for example 1024) or vCPUs (for example 1 vCPU)."
        ))
    })
}

/// Normalizes a task-level `memory` ("2048", "2 GB", "0.5GB") to MiB.
pub fn normalize_task_memory(raw: &str) -> Result<u64, AwsError> {
    parse_scaled(raw, &[("gib", 1024.0), ("gb", 1024.0), ("mib", 1.0), ("mb", 1.0)]).ok_or_else(|| {
        AwsError::client(format!(
            "Invalid 'memory' setting for task: '{raw}'. Specify MiB as an integer (for example 2048) or GB (for example 2 GB)."
        ))
    })
}

/// Whether Fargate offers a task size with this CPU (units) and memory (MiB).
pub fn is_valid_fargate_size(cpu: u64, memory: u64) -> bool {
    let stepped = |lo: u64, hi: u64, step: u64| (lo..=hi).contains(&memory) && memory.is_multiple_of(step);
    match cpu {
        256 => matches!(memory, 512 | 1024 | 2048),
        512 => stepped(1024, 4096, 1024),
        1024 => stepped(2048, 8192, 1024),
        2048 => stepped(4096, 16_384, 1024),
        4096 => stepped(8192, 30_720, 1024),
        8192 => stepped(16_384, 61_440, 4096),
        16_384 => stepped(32_768, 122_880, 8192),
        _ => false,
    }
}

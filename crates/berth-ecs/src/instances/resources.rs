//! `totalResources` of RegisterContainerInstance: parsed into the
//! scheduler's resource set plus the other resources shown as given.

use berth_ecs_model::instance::DEFAULT_RESERVED_PORTS;
use berth_proto::AwsError;
use berth_scheduler::Resources;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeSet;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ResourceIn {
    name: String,
    #[serde(rename = "type")]
    _kind: Option<String>,
    double_value: Option<f64>,
    long_value: Option<i64>,
    integer_value: Option<i64>,
    string_set_value: Option<Vec<String>>,
}

impl ResourceIn {
    fn number(&self) -> Result<u32, AwsError> {
        let n = match (self.integer_value, self.long_value, self.double_value) {
            (Some(i), _, _) if i != 0 => i,
            (_, Some(l), _) if l != 0 => l,
            (_, _, Some(d)) if d != 0.0 => d as i64,
            _ => 0,
        };
        u32::try_from(n).map_err(|_| {
            AwsError::invalid_parameter(format!(
                "Resource {} must be a non-negative integer, got {n}.",
                self.name
            ))
        })
    }

    fn ports(&self) -> Result<BTreeSet<u16>, AwsError> {
        self.string_set_value
            .iter()
            .flatten()
            .map(|p| {
                p.trim().parse::<u16>().map_err(|_| {
                    AwsError::invalid_parameter(format!(
                        "Resource {} must list port numbers (0-65535), got '{p}'.",
                        self.name
                    ))
                })
            })
            .collect()
    }
}

/// Parses `totalResources`: CPU and MEMORY are required (Berth has no EC2
/// API to look them up); PORTS defaults to the ports ECS always reserves.
pub(super) fn parse_resources(list: &[ResourceIn]) -> Result<(Resources, Vec<Value>), AwsError> {
    let mut cpu = None;
    let mut memory = None;
    let mut ports = None;
    let mut ports_udp = BTreeSet::new();
    let mut other = vec![];
    for r in list {
        match r.name.as_str() {
            "CPU" => cpu = Some(r.number()?),
            "MEMORY" => memory = Some(r.number()?),
            "PORTS" => ports = Some(r.ports()?),
            "PORTS_UDP" => ports_udp = r.ports()?,
            _ => other.push(json!({
                "name": r.name,
                "type": r._kind.clone().unwrap_or_else(|| "INTEGER".into()),
                "doubleValue": r.double_value.unwrap_or(0.0),
                "longValue": r.long_value.unwrap_or(0),
                "integerValue": r.integer_value.unwrap_or(0),
                "stringSetValue": r.string_set_value.clone().unwrap_or_default(),
            })),
        }
    }
    let (Some(cpu), Some(memory)) = (cpu, memory) else {
        return Err(AwsError::invalid_parameter(
            "totalResources must include CPU (1024 units per core) and MEMORY (MiB): Berth cannot look them up from EC2.",
        ));
    };
    Ok((
        Resources {
            cpu,
            memory,
            ports: ports.unwrap_or_else(|| DEFAULT_RESERVED_PORTS.into_iter().collect()),
            ports_udp,
        },
        other,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_ecs_model::instance::render_resources;

    fn res(name: &str, int: i64, set: Option<Vec<&str>>) -> ResourceIn {
        ResourceIn {
            name: name.into(),
            _kind: None,
            double_value: None,
            long_value: None,
            integer_value: Some(int),
            string_set_value: set.map(|s| s.into_iter().map(String::from).collect()),
        }
    }

    #[test]
    fn resources_parse_and_render() {
        let (r, other) = parse_resources(&[
            res("CPU", 2048, None),
            res("MEMORY", 3800, None),
            res("PORTS", 0, Some(vec!["22", "2375"])),
            res("GPU", 1, None),
        ])
        .unwrap();
        assert_eq!((r.cpu, r.memory), (2048, 3800));
        assert_eq!(r.ports, [22, 2375].into_iter().collect());
        assert_eq!(other.len(), 1);
        let rendered = render_resources(&r, &other);
        assert_eq!(rendered[0]["integerValue"], 2048);
        assert_eq!(rendered[2]["stringSetValue"], json!(["22", "2375"]));
        assert_eq!(rendered[4]["name"], "GPU");
        // PORTS defaults to the ECS reserved ports.
        let (r, _) = parse_resources(&[res("CPU", 1024, None), res("MEMORY", 512, None)]).unwrap();
        assert!(r.ports.contains(&51678));
        // CPU and MEMORY are required; negative or bad ports are rejected.
        assert!(parse_resources(&[res("CPU", 1024, None)]).is_err());
        assert!(parse_resources(&[res("CPU", -1, None), res("MEMORY", 512, None)]).is_err());
        assert!(
            parse_resources(&[
                res("CPU", 1, None),
                res("MEMORY", 1, None),
                res("PORTS", 0, Some(vec!["x"]))
            ])
            .is_err()
        );
    }
}

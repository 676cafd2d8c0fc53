//! One host, counted once (docs/agent-protocol.md §1): a Docker agent sends
//! its host's id (the Docker daemon's ID) and the host's total CPU units and
//! memory as attributes. RegisterContainerInstance refuses a registration
//! when it and the registered instances of the same host, in any cluster,
//! would hold more than the host has. A registration without a host id (the
//! hollow runtime, other clients) is not checked. Pure.

use berth_proto::AwsError;

/// The Docker daemon's ID of the agent's host.
pub const HOST_ID: &str = "berth.host-id";
/// The host's CPU units (1024 per core).
pub const HOST_CPU: &str = "berth.host-cpu";
/// The host's memory an agent may register, in MiB.
pub const HOST_MEMORY: &str = "berth.host-memory";

/// What a registration says about its host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub id: String,
    pub cpu: u32,
    pub memory: u32,
}

/// A registered instance of the host and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub arn: String,
    pub cluster: String,
    pub cpu: u32,
    pub memory: u32,
    pub agent_connected: bool,
}

/// The host a registration names, if any. With a host id, the host's CPU
/// and memory must be given too.
/// `attribute` gives the value of the registration's attribute of a name.
pub fn host_of<'a>(attribute: impl Fn(&str) -> Option<&'a str>) -> Result<Option<Host>, AwsError> {
    let value = |name: &str| attribute(name).map(str::trim).filter(|v| !v.is_empty());
    let Some(id) = value(HOST_ID) else { return Ok(None) };
    let number = |name: &str| {
        value(name).and_then(|v| v.parse::<u32>().ok()).ok_or_else(|| {
            AwsError::invalid_parameter(format!(
                "The attribute {HOST_ID} needs {name} too, a non-negative integer."
            ))
        })
    };
    Ok(Some(Host {
        id: id.to_string(),
        cpu: number(HOST_CPU)?,
        memory: number(HOST_MEMORY)?,
    }))
}

/// Refuses a registration of `cpu` units and `memory` MiB when the
/// instances already holding the host (`holders`: the instance being
/// re-registered left out) and it would exceed the host's totals.
pub fn check(host: &Host, holders: &[Claim], cpu: u32, memory: u32) -> Result<(), AwsError> {
    let held_cpu: u64 = holders.iter().map(|c| u64::from(c.cpu)).sum();
    let held_memory: u64 = holders.iter().map(|c| u64::from(c.memory)).sum();
    let over_cpu = held_cpu + u64::from(cpu) > u64::from(host.cpu);
    let over_memory = held_memory + u64::from(memory) > u64::from(host.memory);
    if !over_cpu && !over_memory {
        return Ok(());
    }
    let over = match (over_cpu, over_memory) {
        (true, true) => "CPU and memory",
        (true, false) => "CPU",
        _ => "memory",
    };
    let holding = if holders.is_empty() {
        "no other container instance holds any of it".to_string()
    } else {
        let list: Vec<String> = holders
            .iter()
            .map(|c| {
                format!(
                    "{} (cluster {}, {} CPU units, {} MiB, agent {})",
                    c.arn,
                    c.cluster,
                    c.cpu,
                    c.memory,
                    if c.agent_connected { "connected" } else { "disconnected" }
                )
            })
            .collect();
        format!(
            "container instances already registered on it hold {held_cpu} CPU units and {held_memory} MiB: {}",
            list.join(", ")
        )
    };
    Err(AwsError::client(format!(
        "This registration of {cpu} CPU units and {memory} MiB would count host {} twice: the host has {} CPU units and {} MiB, and {holding}; too much {over}. \
         Give each agent on this host a share that fits (berth agent --cpu UNITS --memory MIB; berth up --agent-cpu/--agent-memory), \
         or, for an instance whose agent is gone, deregister it: aws ecs deregister-container-instance --cluster CLUSTER --container-instance ARN --force.",
        host.id, host.cpu, host.memory
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> Host {
        Host {
            id: "ABCD:EF01".into(),
            cpu: 2048,
            memory: 8000,
        }
    }

    fn claim(arn: &str, cpu: u32, memory: u32) -> Claim {
        Claim {
            arn: arn.into(),
            cluster: "default".into(),
            cpu,
            memory,
            agent_connected: true,
        }
    }

    /// The attribute lookup of a registration holding `pairs`.
    fn attrs<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<&'a str> {
        move |name| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }

    #[test]
    fn a_lone_registration_fits_up_to_the_whole_host() {
        assert!(check(&host(), &[], 2048, 8000).is_ok());
        let e = check(&host(), &[], 2049, 8000).unwrap_err();
        assert_eq!(e.code, "ClientException");
        assert!(e.message.contains("too much CPU"), "{}", e.message);
        assert!(e.message.contains("no other container instance"), "{}", e.message);
    }

    #[test]
    fn shares_that_add_up_to_the_host_fit_one_more_does_not() {
        let holders = [claim("arn:a", 1024, 4000), claim("arn:b", 512, 2000)];
        assert!(check(&host(), &holders, 512, 2000).is_ok());
        let e = check(&host(), &holders, 512, 2001).unwrap_err();
        assert!(e.message.contains("too much memory"), "{}", e.message);
        let e = check(&host(), &holders, 513, 2001).unwrap_err();
        assert!(e.message.contains("too much CPU and memory"), "{}", e.message);
    }

    #[test]
    fn the_refusal_names_the_holders_and_what_to_do() {
        let mut stale = claim("arn:stale", 2048, 8000);
        stale.agent_connected = false;
        stale.cluster = "prod".into();
        let e = check(&host(), &[stale], 2048, 8000).unwrap_err();
        let m = &e.message;
        assert!(
            m.contains("arn:stale (cluster prod, 2048 CPU units, 8000 MiB, agent disconnected)"),
            "{m}"
        );
        assert!(m.contains("host ABCD:EF01"), "{m}");
        assert!(m.contains("--cpu UNITS --memory MIB"), "{m}");
        assert!(m.contains("deregister-container-instance"), "{m}");
        assert!(m.contains("--force"), "{m}");
    }

    #[test]
    fn the_host_comes_from_the_attributes() {
        assert_eq!(host_of(attrs(&[("ecs.os-type", "linux")])).unwrap(), None);
        assert_eq!(host_of(attrs(&[(HOST_ID, " ")])).unwrap(), None);
        let h = host_of(attrs(&[
            (HOST_ID, "ABCD:EF01"),
            (HOST_CPU, "2048"),
            (HOST_MEMORY, "8000"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(h, host());
        let e = host_of(attrs(&[(HOST_ID, "x"), (HOST_CPU, "2048")])).unwrap_err();
        assert_eq!(e.code, "InvalidParameterException");
        assert!(host_of(attrs(&[(HOST_ID, "x"), (HOST_CPU, "-1"), (HOST_MEMORY, "1")])).is_err());
    }
}

//! The task metadata endpoint's view of this task: the ids in each
//! container's environment, and the snapshot published at each report.

use super::state::Engine;
use crate::metadata::doc::{ContainerSnapshot, Interface, TaskSnapshot};
use berth_ecs_model::{ContainerStatus, TaskStatus};

impl Engine {
    /// `ECS_CONTAINER_METADATA_URI_V4` and `ECS_CONTAINER_METADATA_URI`
    /// for the container of slot `i` (none when the agent serves no
    /// endpoint).
    pub(super) fn metadata_env(&self, i: usize) -> Vec<(String, String)> {
        let Some(endpoint) = &self.ctx.credentials else {
            return Vec::new();
        };
        let id = endpoint.metadata().register(self.arn(), self.slots[i].def.name());
        crate::metadata::env(&endpoint.base_uri(), &id)
    }

    /// Publishes what the endpoint answers for this task.
    pub(super) fn publish_metadata(&self) {
        let Some(endpoint) = &self.ctx.credentials else { return };
        endpoint.metadata().publish(self.metadata_snapshot());
    }

    fn metadata_snapshot(&self) -> TaskSnapshot {
        let t = &self.task;
        let td = &t.task_definition;
        let desired = t.desired_status.unwrap_or(TaskStatus::Running);
        let interface = match (&self.interface, &self.ctx.network) {
            (Some(l), Some(n)) => Some(Interface {
                ipv4: l.ip.to_string(),
                mac: l.mac.clone(),
                subnet_cidr: n.subnet().to_string(),
                gateway: n.subnet().gateway().to_string(),
            }),
            _ => None,
        };
        TaskSnapshot {
            cluster: t.cluster_arn.clone(),
            task_arn: t.task_arn.clone(),
            service_name: t
                .group
                .as_deref()
                .and_then(|g| g.strip_prefix("service:"))
                .map(str::to_string),
            family: td.family.clone().unwrap_or_default(),
            revision: td.revision.unwrap_or_default(),
            desired_status: desired,
            known_status: self.reported_status,
            cpu: t.cpu.clone().or_else(|| td.cpu.clone()),
            memory: t.memory.clone().or_else(|| td.memory.clone()),
            pull_started_at: self.pull_started_at,
            pull_stopped_at: self.pull_stopped_at,
            availability_zone: t.availability_zone.clone(),
            launch_type: t.launch_type.clone(),
            network_mode: td.effective_network_mode().to_string(),
            interface,
            containers: self
                .slots
                .iter()
                .map(|s| {
                    let server = t.server_container(s.def.name());
                    let log = s.def.log_configuration.as_ref();
                    ContainerSnapshot {
                        name: s.def.name().to_string(),
                        docker_name: s.docker_name.clone(),
                        docker_id: s.id.clone(),
                        image: s.def.image().to_string(),
                        desired_status: if desired == TaskStatus::Stopped {
                            ContainerStatus::Stopped
                        } else {
                            ContainerStatus::Running
                        },
                        known_status: s.state.ecs_status(),
                        exit_code: match s.state {
                            crate::lifecycle::RunState::Exited { exit_code } => exit_code,
                            _ => None,
                        },
                        cpu: s.def.cpu.unwrap_or(0),
                        memory: s.def.memory.or(s.def.memory_reservation),
                        container_arn: server.and_then(|c| c.container_arn.clone()),
                        log_driver: log.map(|l| l.log_driver.clone()),
                        log_options: log.and_then(|l| l.options.clone()).unwrap_or_default(),
                        ports: s
                            .bindings
                            .iter()
                            .map(|b| crate::metadata::doc::Port {
                                container_port: b.container_port.unwrap_or_default(),
                                protocol: b.protocol.clone().unwrap_or_else(|| "tcp".into()),
                                host_port: b.host_port.unwrap_or_default(),
                                host_ip: b.bind_ip.clone().unwrap_or_default(),
                            })
                            .collect(),
                    }
                })
                .collect(),
        }
    }

    /// Adopted containers carry the metadata ids of the agent run that
    /// created them: register them again. The ports they carry, for the
    /// namespaces to serve in.
    pub(super) fn readopt_metadata(&self, container: &str, env: &[String]) -> Option<u16> {
        let endpoint = self.ctx.credentials.as_ref()?;
        let (id, port) = crate::metadata::from_container_env(env)?;
        endpoint
            .metadata()
            .register_existing(self.arn(), container, &id)
            .then_some(port)
    }
}

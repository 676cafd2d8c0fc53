//! `ECS Container Instance State Change`: every change of a container
//! instance that ECS counts as one (its `version` moves, its status or its
//! agent connection changes), with the instance in `detail` as ECS sends
//! it (`containerInstanceArn`, `ec2InstanceId`, `clusterArn`, `status`,
//! `agentConnected`, `attributes`, `registeredResources`,
//! `remainingResources`, `version`, `versionInfo`, `updatedAt`). Fargate
//! hosts are not container instances and send none, as on AWS.

use super::rfc3339;
use berth_ecs_model::instance::{InstanceRecord, render_resources};
use serde_json::{Value, json};

/// An instance's (version, status, agentConnected) as last seen.
pub(crate) type Seen = (i64, String, bool);

pub(crate) fn seen(rec: &InstanceRecord) -> Seen {
    let status = serde_json::to_value(&rec.status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    (rec.version, status, rec.agent_connected)
}

/// The cluster ARN of a container instance ARN
/// (`…:container-instance/CLUSTER/ID` → `…:cluster/CLUSTER`).
fn cluster_arn(instance_arn: &str) -> String {
    match instance_arn.split_once(":container-instance/") {
        Some((head, rest)) => {
            let cluster = rest.split('/').next().unwrap_or_default();
            format!("{head}:cluster/{cluster}")
        }
        None => String::new(),
    }
}

/// The detail of the event a write of `rec` at `now` (epoch seconds)
/// makes, when it differs from what was last seen (pure).
pub(crate) fn change(last: Option<&Seen>, rec: &InstanceRecord, now: f64) -> Option<(Seen, Value)> {
    if rec.is_fargate_host() {
        return None;
    }
    let current = seen(rec);
    if last == Some(&current) {
        return None;
    }
    let mut detail = json!({
        "agentConnected": rec.agent_connected,
        "attributes": rec.attributes,
        "clusterArn": cluster_arn(&rec.container_instance_arn),
        "containerInstanceArn": rec.container_instance_arn,
        "ec2InstanceId": rec.ec2_instance_id,
        "registeredResources": render_resources(&rec.registered_resources, &rec.other_resources),
        "remainingResources": render_resources(&rec.remaining_resources, &rec.other_resources),
        "status": rec.status,
        "version": rec.version,
        "versionInfo": rec.version_info,
        "updatedAt": rfc3339(now),
    });
    if let Some(r) = &rec.status_reason {
        detail["statusReason"] = json!(r);
    }
    Some((current, detail))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(version: i64, status: &str, connected: bool, fargate: bool) -> InstanceRecord {
        let res = json!({"cpu": 1024, "memory": 2048, "ports": [22], "portsUdp": []});
        let mut attributes = vec![json!({"name": "ecs.os-type", "value": "linux"})];
        if fargate {
            attributes.push(json!({"name": "berth.fargate-host", "value": "true"}));
        }
        serde_json::from_value(json!({
            "containerInstanceArn": "arn:aws:ecs:us-east-1:000000000000:container-instance/prod/0123",
            "ec2InstanceId": "i-0123", "version": version, "registeredResources": res, "remainingResources": res,
            "status": status, "agentConnected": connected, "attributes": attributes, "registeredAt": 1.0,
            "berth": {"cluster": "prod", "id": "0123"},
        }))
        .expect("an instance record")
    }

    #[test]
    fn a_changed_instance_sends_its_state_once() {
        let (seen, detail) = change(None, &instance(1, "ACTIVE", true, false), 1_700_000_000.0).expect("sent");
        assert_eq!(detail["clusterArn"], "arn:aws:ecs:us-east-1:000000000000:cluster/prod");
        assert_eq!(detail["status"], "ACTIVE");
        assert_eq!(detail["version"], 1);
        assert_eq!(detail["remainingResources"][0]["name"], "CPU");
        assert_eq!(detail["updatedAt"], "2023-11-14T22:13:20Z");
        assert!(change(Some(&seen), &instance(1, "ACTIVE", true, false), 0.0).is_none());
        for next in [
            instance(2, "ACTIVE", true, false),
            instance(1, "DRAINING", true, false),
            instance(1, "ACTIVE", false, false),
        ] {
            assert!(change(Some(&seen), &next, 0.0).is_some());
        }
    }

    #[test]
    fn fargate_hosts_send_nothing() {
        assert!(change(None, &instance(1, "ACTIVE", true, true), 0.0).is_none());
    }
}

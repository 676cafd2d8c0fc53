//! awsvpc launches and the zones of their subnets (docs/compatibility.md,
//! the `awsvpc` bullets): the subnets are looked up in EC2 (here a
//! directory of three subnets in zones a, b and c), the tasks placed only
//! on instances of those zones with their ENI in the subnet of their
//! instance's zone, and the zones instances register in told to EC2.

#[path = "support/ecs_env.rs"]
mod support;

use async_trait::async_trait;
use berth_ecs::security_groups::{LaunchNetwork, SecurityGroupDirectory};
use berth_ecs_model::SubnetZone;
use berth_proto::AwsError;
use berth_testkit::EcsEnv;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use support::*;

const A: &str = "subnet-0000000a";
const B: &str = "subnet-0000000b";
const C: &str = "subnet-0000000c";

/// EC2 as far as ECS asks it: three subnets, one per zone, and the zones
/// it was told of.
#[derive(Default)]
struct Directory {
    zones: Mutex<Vec<String>>,
}

#[async_trait]
impl SecurityGroupDirectory for Directory {
    async fn launch_network(&self, subnets: &[String], groups: &[String]) -> Result<LaunchNetwork, AwsError> {
        let subnet_zones = subnets
            .iter()
            .map(|s| {
                let zone = match s.as_str() {
                    A => "us-east-1a",
                    B => "us-east-1b",
                    C => "us-east-1c",
                    _ => {
                        return Err(AwsError::invalid_parameter(format!(
                            "The subnet ID '{s}' does not exist"
                        )));
                    }
                };
                Ok(SubnetZone {
                    subnet: s.clone(),
                    zone: zone.into(),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(LaunchNetwork {
            groups: if groups.is_empty() {
                vec!["sg-00000001".into()]
            } else {
                groups.to_vec()
            },
            subnet_zones,
        })
    }

    async fn zone_registered(&self, zone: &str) -> Result<(), AwsError> {
        self.zones.lock().unwrap().push(zone.to_string());
        Ok(())
    }
}

async fn env() -> (Env, Arc<Directory>) {
    let directory = Arc::new(Directory::default());
    let mut e = EcsEnv::new().default_cluster().await;
    e.ecs = e.ecs.with_security_groups(directory.clone());
    let env = Env(e);
    env.task_definition_with(
        "vpc",
        json!({"networkMode": "awsvpc", "containerDefinitions": [{"name": "app", "image": "busybox", "memory": 64}]}),
    )
    .await;
    (env, directory)
}

fn subnet_of(task: &Value) -> &str {
    task["attachments"][0]["details"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "subnetId")
        .unwrap()["value"]
        .as_str()
        .unwrap()
}

fn run(subnets: &[&str], count: u32) -> Value {
    json!({"taskDefinition": "vpc", "count": count,
           "networkConfiguration": {"awsvpcConfiguration": {"subnets": subnets}}})
}

#[tokio::test]
async fn tasks_are_placed_in_their_subnets_zones_with_the_eni_in_their_hosts_zone() {
    let (env, directory) = env().await;
    let a = env.instance(4096, 8192, "us-east-1a").await;
    let b = env.instance(4096, 8192, "us-east-1b").await;
    assert_eq!(*directory.zones.lock().unwrap(), ["us-east-1a", "us-east-1b"]);

    let out = env.run(run(&[B], 3)).await;
    assert_eq!(out["failures"], json!([]));
    for t in out["tasks"].as_array().unwrap() {
        assert_eq!(t["containerInstanceArn"], json!(b));
        assert_eq!(t["availabilityZone"], "us-east-1b");
        assert_eq!(subnet_of(t), B);
    }

    // Both zones, spread by zone (a group of its own): one per zone, each in its zone's subnet.
    let mut both = run(&[A, B], 2);
    both["group"] = json!("spread");
    both["placementStrategy"] = json!([{"type": "spread", "field": "attribute:ecs.availability-zone"}]);
    let out = env.run(both).await;
    let mut placed: Vec<(String, String)> = out["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["containerInstanceArn"].as_str().unwrap().to_string(),
                subnet_of(t).to_string(),
            )
        })
        .collect();
    placed.sort();
    let mut want = vec![(a.clone(), A.to_string()), (b.clone(), B.to_string())];
    want.sort();
    assert_eq!(placed, want);

    // A zone no instance is in: no task, every instance says why.
    let out = env.run(run(&[C], 1)).await;
    assert_eq!(out["tasks"], json!([]));
    let failures = out["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 2);
    assert!(failures.iter().all(|f| f["reason"] == "ATTRIBUTE"), "{failures:?}");
    assert!(
        failures
            .iter()
            .all(|f| f["detail"].as_str().unwrap().contains("us-east-1c"))
    );

    // A subnet EC2 does not have: refused, nothing stored.
    let before = env.list_tasks(json!({})).await.len();
    let e = env.err("RunTask", run(&["subnet-0000000d"], 1)).await;
    assert_eq!(e.code, "InvalidParameterException");
    assert_eq!(env.list_tasks(json!({})).await.len(), before);
}

#[tokio::test]
async fn the_zones_of_registered_instances_are_told_to_ec2_at_start() {
    let (env, directory) = env().await;
    env.instance(1024, 2048, "us-east-1b").await;
    env.instance(1024, 2048, "us-east-1b").await;
    env.instance(1024, 2048, "us-east-1c").await;
    directory.zones.lock().unwrap().clear();
    env.ecs.sync_registered_zones().await.unwrap();
    assert_eq!(*directory.zones.lock().unwrap(), ["us-east-1b", "us-east-1c"]);
}

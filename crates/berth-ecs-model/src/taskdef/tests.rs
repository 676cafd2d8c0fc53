//! Tests of [`super`] (taskdef.rs).

use super::*;
use super::{model::*, reference::*};
use crate::Tag;
use berth_core::arn::Scope;
use serde_json::Value;
use serde_json::json;
use std::collections::HashSet;

fn def(v: Value) -> TaskDefinition {
    serde_json::from_value(v).unwrap()
}

fn ok(v: Value) -> TaskDefinition {
    prepare_registration(def(v)).unwrap()
}

fn err(v: Value) -> String {
    let e = prepare_registration(def(v)).unwrap_err();
    assert_eq!(e.code, "ClientException", "{e}");
    e.message
}

fn simple() -> Value {
    json!({"family": "web", "containerDefinitions": [{"name": "app", "image": "busybox", "memory": 128}]})
}

fn fargate() -> Value {
    json!({
        "family": "web",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": [{"name": "app", "image": "busybox"}]
    })
}

fn with(mut base: Value, path: &[&str], value: Value) -> Value {
    let mut cur = &mut base;
    for (i, p) in path.iter().enumerate() {
        if i + 1 == path.len() {
            cur[*p] = value;
            break;
        }
        cur = if let Ok(idx) = p.parse::<usize>() {
            &mut cur[idx]
        } else {
            &mut cur[*p]
        };
    }
    base
}

#[test]
fn defaults_are_filled_as_ecs_does() {
    let d = ok(simple());
    let v = serde_json::to_value(&d).unwrap();
    let c = &v["containerDefinitions"][0];
    assert_eq!(c["cpu"], 0);
    assert_eq!(c["essential"], true);
    assert_eq!(c["portMappings"], json!([]));
    assert_eq!(c["environment"], json!([]));
    assert_eq!(c["mountPoints"], json!([]));
    assert_eq!(c["volumesFrom"], json!([]));
    assert_eq!(c["systemControls"], json!([]));
    assert!(c.get("links").is_none());
    assert!(v.get("networkMode").is_none(), "ECS omits networkMode when not given");
    assert_eq!(v["volumes"], json!([]));
    assert_eq!(v["placementConstraints"], json!([]));
    assert_eq!(v["compatibilities"], json!(["EXTERNAL", "EC2"]));
    assert_eq!(d.effective_network_mode(), "bridge");
}

#[test]
fn unknown_members_round_trip() {
    let v = with(
        simple(),
        &["containerDefinitions", "0", "futureField"],
        json!({"x": [1, 2]}),
    );
    let v = with(v, &["futureTaskField"], json!("kept"));
    let out = serde_json::to_value(ok(v)).unwrap();
    assert_eq!(out["containerDefinitions"][0]["futureField"], json!({"x": [1, 2]}));
    assert_eq!(out["futureTaskField"], "kept");
}

#[test]
fn computed_fields_from_the_client_are_ignored() {
    let v = with(simple(), &["revision"], json!(99));
    let v = with(v, &["status"], json!("INACTIVE"));
    let d = ok(v);
    assert_eq!(d.revision, None);
    assert_eq!(d.status, None);
    let s = Scope::new("us-east-1", "000000000000");
    let r = d.registered(&s, 3, 1.5, "arn:aws:iam::000000000000:root");
    assert_eq!(
        r.task_definition_arn.as_deref(),
        Some("arn:aws:ecs:us-east-1:000000000000:task-definition/web:3")
    );
    assert_eq!(r.status.as_ref().map(crate::Recorded::as_str), Some("ACTIVE"));
    assert_eq!(r.registered_at, Some(1.5));
}

#[test]
fn family_rules() {
    assert_eq!(err(with(simple(), &["family"], json!(""))), "Family can not be blank.");
    assert_eq!(
        err(with(simple(), &["family"], json!("a b"))),
        "Family contains invalid characters."
    );
    assert!(err(with(simple(), &["family"], json!("a".repeat(256)))).contains("255"));
    ok(with(simple(), &["family"], json!("A-z_09")));
}

#[test]
fn container_count_and_names() {
    let c = json!({"name": "x", "image": "i", "memory": 10});
    let many: Vec<Value> = (0..11)
        .map(|i| with(c.clone(), &["name"], json!(format!("c{i}"))))
        .collect();
    assert_eq!(
        err(with(simple(), &["containerDefinitions"], json!(many))),
        "Too many containers."
    );
    let ten: Vec<Value> = (0..10)
        .map(|i| with(c.clone(), &["name"], json!(format!("c{i}"))))
        .collect();
    ok(with(simple(), &["containerDefinitions"], json!(ten)));
    assert_eq!(
        err(with(simple(), &["containerDefinitions"], json!([]))),
        "Container list cannot be empty."
    );
    assert_eq!(
        err(with(simple(), &["containerDefinitions"], json!([c.clone(), c.clone()]))),
        "Container names must be unique within a Task Definition."
    );
    assert_eq!(
        err(with(
            simple(),
            &["containerDefinitions", "0", "name"],
            json!("bad name")
        )),
        "Container.name contains invalid characters."
    );
    assert_eq!(
        err(with(simple(), &["containerDefinitions", "0", "name"], Value::Null)),
        "Container.name should not be null or empty."
    );
    assert_eq!(
        err(with(simple(), &["containerDefinitions", "0", "image"], json!(" "))),
        "Container.image should not be null or empty."
    );
}

#[test]
fn memory_rules() {
    let no_mem = with(simple(), &["containerDefinitions", "0", "memory"], Value::Null);
    assert_eq!(
        err(no_mem.clone()),
        "Invalid setting for container 'app'. At least one of 'memory' or 'memoryReservation' must be specified."
    );
    // Task-level memory makes container memory optional.
    ok(with(no_mem.clone(), &["memory"], json!("512")));
    ok(with(
        no_mem,
        &["containerDefinitions", "0", "memoryReservation"],
        json!(64),
    ));
    assert!(
        err(with(simple(), &["containerDefinitions", "0", "memory"], json!(5)))
            .starts_with("Invalid 'memory' setting for container 'app'")
    );
    ok(with(simple(), &["containerDefinitions", "0", "memory"], json!(6)));
    let res = with(
        simple(),
        &["containerDefinitions", "0", "memoryReservation"],
        json!(256),
    );
    assert!(err(res).contains("'memory' must be greater than or equal to 'memoryReservation'"));
    let over = with(simple(), &["memory"], json!("64"));
    assert_eq!(
        err(over),
        "The 'memory' setting for container 'app' is greater than for the task."
    );
    let two = json!([
        {"name": "a", "image": "i", "memoryReservation": 300},
        {"name": "b", "image": "i", "memoryReservation": 300}
    ]);
    let sum = with(
        with(simple(), &["containerDefinitions"], two),
        &["memory"],
        json!("512"),
    );
    assert!(err(sum).starts_with("The sum of all container 'memoryReservation'"));
}

#[test]
fn cpu_and_memory_normalization() {
    assert_eq!(normalize_task_cpu("1024").unwrap(), 1024);
    assert_eq!(normalize_task_cpu("1 vCPU").unwrap(), 1024);
    assert_eq!(normalize_task_cpu("0.25 vcpu").unwrap(), 256);
    assert_eq!(normalize_task_cpu("2vCPU").unwrap(), 2048);
    assert!(normalize_task_cpu("abc").is_err());
    assert!(normalize_task_cpu("-1").is_err());
    assert!(normalize_task_cpu("0.1 vCPU").is_err(), "102.4 units is not an integer");
    assert_eq!(normalize_task_memory("2 GB").unwrap(), 2048);
    assert_eq!(normalize_task_memory("0.5GB").unwrap(), 512);
    assert_eq!(normalize_task_memory("512").unwrap(), 512);
    assert_eq!(normalize_task_memory("1gb").unwrap(), 1024);
    assert!(normalize_task_memory("").is_err());
    // 0 is not a task size (AWS: cpu between 128 and 196608 units).
    assert!(normalize_task_cpu("0").is_err());
    assert!(normalize_task_memory("0").is_err());
    assert!(normalize_task_memory("0 GB").is_err());
    let d = ok(with(
        with(fargate(), &["cpu"], json!("1 vCPU")),
        &["memory"],
        json!("2 GB"),
    ));
    assert_eq!(d.cpu.as_deref(), Some("1024"));
    assert_eq!(d.memory.as_deref(), Some("2048"));
    assert!(err(with(simple(), &["cpu"], json!("64"))).contains("between 128 and 196608"));
}

#[test]
fn fargate_sizes() {
    let valid = [
        (256, 512),
        (256, 2048),
        (512, 1024),
        (512, 4096),
        (1024, 8192),
        (2048, 16_384),
        (4096, 30_720),
        (8192, 16_384),
        (8192, 61_440),
        (16_384, 32_768),
        (16_384, 122_880),
    ];
    for (c, m) in valid {
        assert!(is_valid_fargate_size(c, m), "{c}/{m}");
    }
    let invalid = [
        (256, 1536),
        (256, 4096),
        (512, 512),
        (512, 1536),
        (1024, 1024),
        (4096, 31_744),
        (8192, 18_432),
        (16_384, 36_864),
        (999, 2048),
        (128, 512),
    ];
    for (c, m) in invalid {
        assert!(!is_valid_fargate_size(c, m), "{c}/{m}");
    }
}

#[test]
fn fargate_requirements() {
    let d = ok(fargate());
    assert_eq!(d.compatibilities, Some(vec!["EC2".into(), "FARGATE".into()]));
    assert_eq!(
        err(with(fargate(), &["networkMode"], json!("bridge"))),
        "Fargate only supports network mode \u{2018}awsvpc\u{2019}."
    );
    assert_eq!(
        err(with(fargate(), &["networkMode"], Value::Null)),
        "Fargate only supports network mode \u{2018}awsvpc\u{2019}."
    );
    assert_eq!(
        err(with(
            with(fargate(), &["cpu"], json!("999")),
            &["memory"],
            json!("2048")
        )),
        "No Fargate configuration exists for given values: 999 CPU, 2048 memory. See the Amazon ECS documentation for the valid values."
    );
    assert_eq!(
        err(with(fargate(), &["cpu"], Value::Null)),
        "Fargate requires that 'cpu' be defined at the task level."
    );
    assert_eq!(
        err(with(
            with(fargate(), &["memory"], Value::Null),
            &["containerDefinitions", "0", "memory"],
            json!(256)
        )),
        "Fargate requires that 'memory' be defined at the task level."
    );
    let awslogs = json!({"logDriver": "awslogs", "options": {"awslogs-group": "g", "awslogs-region": "us-east-1"}});
    let with_logs = with(fargate(), &["containerDefinitions", "0", "logConfiguration"], awslogs);
    assert_eq!(
        err(with_logs.clone()),
        "Fargate requires task definition to have execution role ARN to support log driver awslogs."
    );
    let d = ok(with(
        with_logs,
        &["executionRoleArn"],
        json!("arn:aws:iam::000000000000:role/exec"),
    ));
    assert!(d.compatibilities.unwrap().contains(&"FARGATE".to_string()));
    let syslog = json!({"logDriver": "syslog"});
    assert!(
        err(with(
            fargate(),
            &["containerDefinitions", "0", "logConfiguration"],
            syslog
        ))
        .contains("not supported on Fargate")
    );
    assert!(err(with(fargate(), &["ipcMode"], json!("host"))).contains("do not support ipcMode"));
    assert!(
        err(with(
            fargate(),
            &["containerDefinitions", "0", "privileged"],
            json!(true)
        ))
        .contains("privileged")
    );
    assert!(
        err(with(
            fargate(),
            &["containerDefinitions", "0", "stopTimeout"],
            json!(121)
        ))
        .contains("120")
    );
    let host_vol = json!([{"name": "v", "host": {"sourcePath": "/data"}}]);
    assert!(err(with(fargate(), &["volumes"], host_vol)).contains("sourcePath"));
    let ecr = "000000000000.dkr.ecr.us-east-1.amazonaws.com/app:1";
    assert!(err(with(fargate(), &["containerDefinitions", "0", "image"], json!(ecr))).contains("ECR images"));
}

#[test]
fn compatibilities_are_computed() {
    // awsvpc with a valid size: Fargate-compatible even if not required.
    let v = with(
        with(
            with(simple(), &["networkMode"], json!("awsvpc")),
            &["cpu"],
            json!("512"),
        ),
        &["memory"],
        json!("1024"),
    );
    assert_eq!(ok(v).compatibilities, Some(vec!["EC2".into(), "FARGATE".into()]));
    // bridge: EXTERNAL and EC2.
    assert_eq!(
        ok(simple()).compatibilities,
        Some(vec!["EXTERNAL".into(), "EC2".into()])
    );
    // awsvpc without task size: only EC2.
    let v = with(simple(), &["networkMode"], json!("awsvpc"));
    assert_eq!(ok(v).compatibilities, Some(vec!["EC2".into()]));
    // EXTERNAL required with awsvpc is rejected.
    let v = with(
        with(simple(), &["networkMode"], json!("awsvpc")),
        &["requiresCompatibilities"],
        json!(["EXTERNAL"]),
    );
    assert!(err(v).contains("EXTERNAL"));
    let v = with(simple(), &["requiresCompatibilities"], json!(["EC2", "EXTERNAL"]));
    assert_eq!(
        ok(v).requires_compatibilities,
        vec!["EC2".to_string(), "EXTERNAL".to_string()]
    );
    assert!(err(with(simple(), &["requiresCompatibilities"], json!(["LAMBDA"]))).contains("LAMBDA"));
    assert!(err(with(simple(), &["networkMode"], json!("overlay"))).contains("networkMode"));
}

#[test]
fn port_mapping_rules() {
    let pm = |v: Value| with(simple(), &["containerDefinitions", "0", "portMappings"], v);
    // bridge: omitted hostPort is dynamic (0); protocol defaults to tcp.
    let d = ok(pm(json!([{"containerPort": 80}])));
    let p = &d.container_definitions[0].port_mappings.as_ref().unwrap()[0];
    assert_eq!((p.host_port, p.protocol.as_deref()), (Some(0), Some("tcp")));
    ok(pm(json!([{"containerPort": 80, "hostPort": 8080, "protocol": "udp"}])));
    // awsvpc and host: hostPort must equal containerPort, or is set to it.
    for mode in ["awsvpc", "host"] {
        let d = ok(with(pm(json!([{"containerPort": 80}])), &["networkMode"], json!(mode)));
        assert_eq!(
            d.container_definitions[0].port_mappings.as_ref().unwrap()[0].host_port,
            Some(80)
        );
        let e = err(with(
            pm(json!([{"containerPort": 80, "hostPort": 81}])),
            &["networkMode"],
            json!(mode),
        ));
        assert_eq!(
            e,
            format!("When networkMode={mode}, the host ports and container ports in port mappings must match.")
        );
    }
    assert!(
        err(with(
            pm(json!([{"containerPort": 80}])),
            &["networkMode"],
            json!("none")
        ))
        .contains("networkMode=none")
    );
    assert!(err(pm(json!([{"containerPort": 80, "protocol": "sctp"}]))).contains("protocol"));
    assert!(err(pm(json!([{"containerPort": 0}]))).contains("containerPort"));
    assert!(err(pm(json!([{"containerPort": 70000}]))).contains("containerPort"));
    assert!(err(pm(json!([{"hostPort": 80}]))).contains("containerPort is required"));
    ok(pm(json!([{"containerPortRange": "8000-8010"}])));
    assert!(err(pm(json!([{"containerPortRange": "9-8"}]))).contains("containerPortRange"));
}

#[test]
fn links_and_hostname() {
    let two = json!([
        {"name": "web", "image": "i", "memory": 64, "links": ["db:database"]},
        {"name": "db", "image": "i", "memory": 64}
    ]);
    let base = with(simple(), &["containerDefinitions"], two);
    ok(base.clone());
    assert_eq!(
        err(with(base.clone(), &["networkMode"], json!("awsvpc"))),
        "Links are not supported when networkMode=awsvpc."
    );
    assert_eq!(
        err(with(base.clone(), &["networkMode"], json!("host"))),
        "Links are not supported when networkMode=host."
    );
    assert!(err(with(base, &["containerDefinitions", "0", "links"], json!(["cache"]))).contains("'cache'"));
    let h = with(
        with(simple(), &["containerDefinitions", "0", "hostname"], json!("h")),
        &["networkMode"],
        json!("awsvpc"),
    );
    assert_eq!(
        err(h),
        "hostname is not supported on container when networkMode=awsvpc."
    );
    ok(with(simple(), &["containerDefinitions", "0", "hostname"], json!("h")));
}

#[test]
fn essential_and_dependencies() {
    let v = with(simple(), &["containerDefinitions", "0", "essential"], json!(false));
    assert_eq!(err(v), "Task definition doesn't have any essential container.");
    let pair = |dep: Value, init: Value| {
        let mut init_c = json!({"name": "init", "image": "i", "memory": 64, "essential": false});
        if let Value::Object(m) = init {
            for (k, v) in m {
                init_c[k] = v;
            }
        }
        with(
            simple(),
            &["containerDefinitions"],
            json!([{"name": "app", "image": "i", "memory": 64, "dependsOn": dep}, init_c]),
        )
    };
    ok(pair(
        json!([{"containerName": "init", "condition": "SUCCESS"}]),
        json!({}),
    ));
    ok(pair(
        json!([{"containerName": "init", "condition": "START"}]),
        json!({}),
    ));
    assert!(
        err(pair(
            json!([{"containerName": "nope", "condition": "START"}]),
            json!({})
        ))
        .contains("'nope'")
    );
    assert!(
        err(pair(
            json!([{"containerName": "init", "condition": "READY"}]),
            json!({})
        ))
        .contains("READY")
    );
    assert!(
        err(pair(
            json!([{"containerName": "init", "condition": "HEALTHY"}]),
            json!({})
        ))
        .contains("healthCheck")
    );
    let hc = json!({"healthCheck": {"command": ["CMD", "true"]}});
    ok(pair(json!([{"containerName": "init", "condition": "HEALTHY"}]), hc));
    assert_eq!(
        err(pair(
            json!([{"containerName": "init", "condition": "COMPLETE"}]),
            json!({"essential": true})
        )),
        "A dependency container with SUCCESS or COMPLETE condition cannot be an essential container"
    );
    let cyc = pair(
        json!([{"containerName": "init", "condition": "START"}]),
        json!({"dependsOn": [{"containerName": "app", "condition": "START"}]}),
    );
    assert!(err(cyc).contains("cycle"));
}

#[test]
fn health_check_defaults_and_limits() {
    let v = with(
        simple(),
        &["containerDefinitions", "0", "healthCheck"],
        json!({"command": ["CMD-SHELL", "true"]}),
    );
    let d = ok(v);
    let hc = d.container_definitions[0].health_check.as_ref().unwrap();
    assert_eq!(
        (hc.interval, hc.timeout, hc.retries, hc.start_period),
        (Some(30), Some(5), Some(3), None)
    );
    let bad = |hc: Value| err(with(simple(), &["containerDefinitions", "0", "healthCheck"], hc));
    assert!(bad(json!({"command": ["true"]})).contains("CMD"));
    assert!(bad(json!({"command": ["CMD", "x"], "interval": 4})).contains("interval"));
    assert!(bad(json!({"command": ["CMD", "x"], "retries": 11})).contains("retries"));
    assert!(bad(json!({"command": ["CMD", "x"], "startPeriod": 301})).contains("startPeriod"));
}

#[test]
fn volumes_and_mounts() {
    let v = with(
        simple(),
        &["volumes"],
        json!([{"name": "data", "host": {"sourcePath": "/d"}}]),
    );
    let mounted = with(
        v.clone(),
        &["containerDefinitions", "0", "mountPoints"],
        json!([{"sourceVolume": "data", "containerPath": "/data"}]),
    );
    ok(mounted);
    let unknown = with(
        v.clone(),
        &["containerDefinitions", "0", "mountPoints"],
        json!([{"sourceVolume": "logs", "containerPath": "/l"}]),
    );
    assert!(err(unknown).contains("unknown volume 'logs'"));
    let no_path = with(
        v,
        &["containerDefinitions", "0", "mountPoints"],
        json!([{"sourceVolume": "data"}]),
    );
    assert!(err(no_path).contains("containerPath"));
    let dup = with(simple(), &["volumes"], json!([{"name": "a"}, {"name": "a"}]));
    assert!(err(dup).contains("unique"));
    let vf = with(
        simple(),
        &["containerDefinitions", "0", "volumesFrom"],
        json!([{"sourceContainer": "other"}]),
    );
    assert!(err(vf).contains("volumesFrom"));
    let scope = with(
        simple(),
        &["volumes"],
        json!([{"name": "a", "dockerVolumeConfiguration": {"scope": "global"}}]),
    );
    assert!(err(scope).contains("scope"));
}

#[test]
fn other_container_rules() {
    let c = |field: &str, v: Value| with(simple(), &["containerDefinitions", "0", field], v);
    assert!(err(c("cpu", json!(-1))).contains("'cpu'"));
    assert!(err(c("stopTimeout", json!(1))).contains("stopTimeout"));
    assert!(err(c("logConfiguration", json!({"logDriver": "carrier-pigeon"}))).contains("log driver"));
    assert!(err(c("resourceRequirements", json!([{"type": "GPU", "value": "0"}]))).contains("GPU"));
    assert!(err(c("environmentFiles", json!([{"type": "http", "value": "x"}]))).contains("environmentFiles"));
    assert!(
        err(c("restartPolicy", json!({"enabled": true, "restartAttemptPeriod": 10}))).contains("restartAttemptPeriod")
    );
    assert!(err(c("secrets", json!([{"name": "A", "valueFrom": ""}]))).contains("secret"));
    assert!(err(with(simple(), &["pidMode"], json!("vm"))).contains("pidMode"));
    assert!(err(with(simple(), &["ipcMode"], json!("vm"))).contains("ipcMode"));
    assert!(err(with(simple(), &["ephemeralStorage"], json!({"sizeInGiB": 20}))).contains("ephemeral"));
    assert!(
        err(with(
            simple(),
            &["placementConstraints"],
            json!([{"type": "distinctInstance"}])
        ))
        .contains("memberOf")
    );
    ok(with(
        simple(),
        &["placementConstraints"],
        json!([{"type": "memberOf", "expression": "attribute:ecs.os-type == linux"}]),
    ));
    assert!(err(with(simple(), &["runtimePlatform"], json!({"cpuArchitecture": "MIPS"}))).contains("MIPS"));
}

#[test]
fn requires_attributes_follow_the_features_used() {
    let v = json!({
        "family": "web",
        "networkMode": "awsvpc",
        "taskRoleArn": "arn:aws:iam::000000000000:role/task",
        "executionRoleArn": "arn:aws:iam::000000000000:role/exec",
        "cpu": "256", "memory": "512",
        "containerDefinitions": [{
            "name": "app",
            "image": "000000000000.dkr.ecr.us-east-1.amazonaws.com/app:1",
            "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "g"}},
            "secrets": [{"name": "A", "valueFrom": "arn:aws:ssm:us-east-1:000000000000:parameter/a"},
                        {"name": "B", "valueFrom": "arn:aws:secretsmanager:us-east-1:000000000000:secret:b"}],
            "healthCheck": {"command": ["CMD", "true"]},
            "dependsOn": [{"containerName": "side", "condition": "START"}]
        }, {"name": "side", "image": "busybox", "essential": false}]
    });
    let attrs = requires_attributes(&ok(v));
    for want in [
        "com.amazonaws.ecs.capability.ecr-auth",
        "ecs.capability.execution-role-ecr-pull",
        "com.amazonaws.ecs.capability.logging-driver.awslogs",
        "com.amazonaws.ecs.capability.docker-remote-api.1.19",
        "ecs.capability.execution-role-awslogs",
        "ecs.capability.secrets.ssm.environment-variables",
        "ecs.capability.secrets.asm.environment-variables",
        "ecs.capability.container-health-check",
        "ecs.capability.container-ordering",
        "com.amazonaws.ecs.capability.task-iam-role",
        "com.amazonaws.ecs.capability.docker-remote-api.1.18",
        "ecs.capability.task-eni",
    ] {
        assert!(attrs.iter().any(|a| a == want), "missing {want} in {attrs:?}");
    }
    let uniq: HashSet<_> = attrs.iter().collect();
    assert_eq!(uniq.len(), attrs.len(), "no duplicates");
    assert!(requires_attributes(&ok(simple())).is_empty());
    let host = with(
        with(simple(), &["networkMode"], json!("host")),
        &["taskRoleArn"],
        json!("arn:aws:iam::0:role/r"),
    );
    assert!(
        requires_attributes(&ok(host)).contains(&"com.amazonaws.ecs.capability.task-iam-role-network-host".to_string())
    );
}

#[test]
fn records_store_the_api_shape_with_tags_beside_it() {
    let s = Scope::new("us-east-1", "000000000000");
    let rec = TaskDefinitionRecord {
        task_definition: ok(with(simple(), &["extra"], json!(1))).registered(&s, 2, 1.0, "me"),
        tags: vec![Tag {
            key: "k".into(),
            value: "v".into(),
        }],
    };
    let v = serde_json::to_value(&rec).unwrap();
    assert_eq!(v["status"], "ACTIVE");
    assert_eq!(v["revision"], 2);
    assert_eq!(v["extra"], 1);
    assert_eq!(v["tags"], json!([{"key": "k", "value": "v"}]));
    let back: TaskDefinitionRecord = serde_json::from_value(v).unwrap();
    assert_eq!(back, rec);
    assert!(!back.task_definition.other.contains_key("tags"));
}

#[test]
fn references_parse() {
    let r = |s: &str| parse_task_definition_ref(s).map(|(r, _)| r);
    assert_eq!(r("web").unwrap(), TaskDefinitionRef::Family("web".into()));
    assert_eq!(r("web:3").unwrap(), TaskDefinitionRef::Revision("web".into(), 3));
    let (arn, scope) = parse_task_definition_ref("arn:aws:ecs:us-east-1:000000000000:task-definition/web:7").unwrap();
    assert_eq!(arn, TaskDefinitionRef::Revision("web".into(), 7));
    assert_eq!(scope, Some(("us-east-1".into(), "000000000000".into())));
    assert!(r("web:0").is_err());
    assert!(r("web:x").is_err());
    assert!(r("we b").is_err());
    assert!(r("arn:aws:ecs:us-east-1:000000000000:cluster/web").is_err());
}

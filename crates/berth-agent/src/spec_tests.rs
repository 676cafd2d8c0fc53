//! Tests of spec.rs: container definitions to Docker create bodies.

use super::*;
use crate::model::*;

fn task(defs: Vec<ContainerDefinition>, mode: Option<&str>) -> Task {
    Task {
        task_arn: "arn:aws:ecs:us-east-1:000000000000:task/default/0123456789abcdef0123456789abcdef".into(),
        desired_status: Some(berth_ecs_model::TaskStatus::Running),
        task_definition: TaskDefinition {
            family: Some("web".into()),
            revision: Some(4),
            network_mode: mode.map(str::to_string),
            container_definitions: defs,
            ..Default::default()
        },
        ..Default::default()
    }
}

fn placement<'a>(extra: &'a BTreeMap<String, String>) -> Placement<'a> {
    Placement {
        cluster: "default",
        instance_arn: "arn:aws:ecs:us-east-1:000000000000:container-instance/default/abc",
        extra_labels: extra,
    }
}

fn web() -> ContainerDefinition {
    ContainerDefinition {
        name: Some("web".into()),
        image: Some("busybox:latest".into()),
        ..Default::default()
    }
}

#[test]
fn docker_names_are_deterministic_and_valid() {
    let t = task(vec![web()], None);
    assert_eq!(docker_name(&t, "web"), "ecs-web-4-web-0123456789abcdef0123456789abcdef");
    assert_eq!(
        docker_name(&t, "we b/x"),
        "ecs-web-4-we-b-x-0123456789abcdef0123456789abcdef"
    );
}

#[test]
fn resources_command_env_and_overrides() {
    let mut d = web();
    d.cpu = Some(256);
    d.memory = Some(128);
    d.memory_reservation = Some(64);
    d.command = Some(vec!["httpd".into()]);
    d.entry_point = Some(vec!["/bin/busybox".into()]);
    d.environment = Some(vec![
        KeyValuePair {
            name: Some("A".into()),
            value: Some("1".into()),
        },
        KeyValuePair {
            name: Some("B".into()),
            value: Some("2".into()),
        },
    ]);
    d.working_directory = Some("/srv".into());
    d.user = Some("nobody".into());
    let mut t = task(vec![d.clone()], None);
    let extra = BTreeMap::new();
    let body = container_spec(&t, &d, &placement(&extra), &BTreeMap::new()).unwrap();
    let h = body.host_config.as_ref().unwrap();
    assert_eq!(h.cpu_shares, Some(256));
    assert_eq!(h.memory, Some(128 * MIB));
    assert_eq!(h.memory_reservation, Some(64 * MIB));
    assert_eq!(h.network_mode.as_deref(), Some("bridge"));
    assert_eq!(body.cmd, Some(vec!["httpd".to_string()]));
    assert_eq!(body.entrypoint, Some(vec!["/bin/busybox".to_string()]));
    assert_eq!(body.env, Some(vec!["A=1".to_string(), "B=2".to_string()]));
    assert_eq!(body.working_dir.as_deref(), Some("/srv"));
    assert_eq!(body.user.as_deref(), Some("nobody"));
    assert_eq!(body.stop_timeout, Some(30));

    t.overrides = Some(TaskOverride {
        container_overrides: vec![ContainerOverride {
            name: Some("web".into()),
            command: Some(vec!["sleep".into(), "5".into()]),
            environment: Some(vec![
                KeyValuePair {
                    name: Some("B".into()),
                    value: Some("two".into()),
                },
                KeyValuePair {
                    name: Some("C".into()),
                    value: Some("3".into()),
                },
            ]),
            cpu: Some(0),
            memory: Some(256),
            ..Default::default()
        }],
        ..Default::default()
    });
    let body = container_spec(&t, &d, &placement(&extra), &BTreeMap::new()).unwrap();
    let h = body.host_config.as_ref().unwrap();
    assert_eq!(h.cpu_shares, Some(2), "cpu 0 gets the 2-share minimum");
    assert_eq!(h.memory, Some(256 * MIB));
    assert_eq!(body.cmd, Some(vec!["sleep".to_string(), "5".to_string()]));
    assert_eq!(
        body.env,
        Some(vec!["A=1".to_string(), "B=two".to_string(), "C=3".to_string()])
    );
}

#[test]
fn labels_include_ecs_and_berth_labels_over_docker_labels() {
    let mut d = web();
    d.docker_labels = Some(BTreeMap::from([
        ("team".to_string(), "a".to_string()),
        (LABEL_TASK_ARN.to_string(), "spoofed".to_string()),
    ]));
    let t = task(vec![d.clone()], None);
    let extra = BTreeMap::from([("berth.test".to_string(), "1".to_string())]);
    let body = container_spec(&t, &d, &placement(&extra), &BTreeMap::new()).unwrap();
    let l = body.labels.unwrap();
    assert_eq!(l["team"], "a");
    assert_eq!(l[LABEL_TASK_ARN], t.task_arn);
    assert_eq!(l[LABEL_CONTAINER_NAME], "web");
    assert_eq!(l[LABEL_FAMILY], "web");
    assert_eq!(l[LABEL_VERSION], "4");
    assert_eq!(l[LABEL_CLUSTER], "default");
    assert!(l[LABEL_INSTANCE].contains("container-instance"));
    assert_eq!(l["berth.test"], "1");
}

#[test]
fn bridge_ports_fixed_dynamic_and_ranges() {
    let mut d = web();
    d.port_mappings = Some(vec![
        PortMapping {
            container_port: Some(80),
            host_port: Some(8080),
            ..Default::default()
        },
        PortMapping {
            container_port: Some(81),
            host_port: Some(0),
            protocol: Some("udp".into()),
            ..Default::default()
        },
        PortMapping {
            container_port_range: Some("9000-9001".into()),
            ..Default::default()
        },
    ]);
    let t = task(vec![d.clone()], Some("bridge"));
    let extra = BTreeMap::new();
    let body = container_spec(&t, &d, &placement(&extra), &BTreeMap::new()).unwrap();
    let mut exposed = body.exposed_ports.clone().unwrap();
    exposed.sort();
    assert_eq!(exposed, vec!["80/tcp", "81/udp", "9000/tcp", "9001/tcp"]);
    let pb = body.host_config.unwrap().port_bindings.unwrap();
    let hp = |k: &str| pb[k].as_ref().unwrap()[0].host_port.clone().unwrap();
    assert_eq!(hp("80/tcp"), "8080");
    assert_eq!(hp("81/udp"), "");
    assert_eq!(hp("9000/tcp"), "");
}

#[test]
fn awsvpc_joins_the_pause_namespace_publishing_nothing_and_host_mode_binds_nothing() {
    let mut d = web();
    d.port_mappings = Some(vec![PortMapping {
        container_port: Some(8080),
        ..Default::default()
    }]);
    d.hostname = Some("h".into());
    let extra = BTreeMap::new();
    let t = task(vec![d.clone()], Some("awsvpc"));
    let body = container_spec(&t, &d, &placement(&extra), &BTreeMap::new()).unwrap();
    let h = body.host_config.unwrap();
    assert_eq!(
        h.network_mode,
        Some(format!("container:{}", crate::awsvpc::pause::container_name(&t)))
    );
    assert!(h.port_bindings.is_none());
    assert!(body.exposed_ports.is_none());
    assert_eq!(body.hostname, None);
    assert!(network_bindings("awsvpc", &d, None).is_empty());
    for (what, set) in [
        (
            "dnsServers",
            ContainerDefinition {
                dns_servers: Some(vec!["1.1.1.1".into()]),
                ..d.clone()
            },
        ),
        (
            "extraHosts",
            ContainerDefinition {
                extra_hosts: Some(vec![HostEntry {
                    hostname: "a".into(),
                    ip_address: "10.0.0.1".into(),
                }]),
                ..d.clone()
            },
        ),
    ] {
        let e = validate(&task(vec![set], Some("awsvpc"))).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("container web: {what} is not supported for containers of an awsvpc task on the Berth agent")
        );
    }

    let t = task(vec![d.clone()], Some("host"));
    let body = container_spec(&t, &d, &placement(&extra), &BTreeMap::new()).unwrap();
    let h = body.host_config.unwrap();
    assert_eq!(h.network_mode.as_deref(), Some("host"));
    assert!(h.port_bindings.is_none());
    assert_eq!(body.exposed_ports, Some(vec!["8080/tcp".to_string()]));
    let nb = network_bindings("host", &d, None);
    assert_eq!(nb[0].host_port, Some(8080));

    let mut bad = d.clone();
    bad.port_mappings.as_mut().unwrap()[0].host_port = Some(9090);
    let t = task(vec![bad.clone()], Some("host"));
    assert!(
        container_spec(&t, &bad, &placement(&extra), &BTreeMap::new())
            .unwrap_err()
            .to_string()
            .contains("hostPort must equal containerPort")
    );
}

#[test]
fn volumes_mounts_links_and_volumes_from() {
    let mut d = web();
    d.mount_points = Some(vec![
        MountPoint {
            source_volume: Some("data".into()),
            container_path: Some("/data".into()),
            read_only: Some(true),
        },
        MountPoint {
            source_volume: Some("scratch".into()),
            container_path: Some("/scratch".into()),
            read_only: None,
        },
        MountPoint {
            source_volume: Some("shared".into()),
            container_path: Some("/shared".into()),
            read_only: None,
        },
    ]);
    d.volumes_from = Some(vec![VolumeFrom {
        source_container: Some("side".into()),
        read_only: Some(true),
    }]);
    d.links = Some(vec!["db:database".into(), "cache".into()]);
    let mut t = task(vec![d.clone()], None);
    t.task_definition.volumes = vec![
        Volume {
            name: Some("data".into()),
            host: Some(HostVolumeProperties {
                source_path: Some("/srv/data".into()),
            }),
            ..Default::default()
        },
        Volume {
            name: Some("scratch".into()),
            ..Default::default()
        },
        Volume {
            name: Some("shared".into()),
            docker_volume_configuration: Some(DockerVolumeConfiguration {
                scope: Some("shared".into()),
                autoprovision: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        },
    ];
    let extra = BTreeMap::new();
    let p = placement(&extra);
    let vols = volume_plan(&t, &p);
    assert_eq!(
        vols["data"],
        VolumePlan::Bind {
            host_path: "/srv/data".into()
        }
    );
    let VolumePlan::Docker {
        name,
        task_scoped,
        labels,
        ..
    } = &vols["scratch"]
    else {
        panic!()
    };
    assert!(task_scoped);
    assert_eq!(name, "ecs-web-4-scratch-0123456789abcdef0123456789abcdef");
    assert_eq!(labels[LABEL_TASK_ARN], t.task_arn);
    assert!(
        matches!(&vols["shared"], VolumePlan::Docker { name, task_scoped: false, autoprovision: true, .. } if name == "shared")
    );

    let body = container_spec(&t, &d, &p, &vols).unwrap();
    let h = body.host_config.unwrap();
    assert_eq!(
        h.binds.unwrap(),
        vec![
            "/srv/data:/data:ro".to_string(),
            "ecs-web-4-scratch-0123456789abcdef0123456789abcdef:/scratch".to_string(),
            "shared:/shared".to_string()
        ]
    );
    assert_eq!(
        h.volumes_from.unwrap(),
        vec!["ecs-web-4-side-0123456789abcdef0123456789abcdef:ro".to_string()]
    );
    assert_eq!(
        h.links.unwrap(),
        vec![
            "ecs-web-4-db-0123456789abcdef0123456789abcdef:database".to_string(),
            "ecs-web-4-cache-0123456789abcdef0123456789abcdef:cache".to_string()
        ]
    );
}

#[test]
fn linux_parameters_health_check_and_misc() {
    let mut d = web();
    d.memory = Some(100);
    d.linux_parameters = Some(LinuxParameters {
        capabilities: Some(KernelCapabilities {
            add: Some(vec!["NET_ADMIN".into()]),
            drop: Some(vec!["MKNOD".into()]),
        }),
        init_process_enabled: Some(true),
        shared_memory_size: Some(64),
        tmpfs: Some(vec![Tmpfs {
            container_path: "/run".into(),
            size: 16,
            mount_options: Some(vec!["noexec".into()]),
        }]),
        max_swap: Some(50),
        swappiness: Some(10),
        other: Default::default(),
        devices: Some(vec![Device {
            host_path: "/dev/fuse".into(),
            container_path: None,
            permissions: Some(vec!["read".into(), "write".into()]),
        }]),
    });
    d.ulimits = Some(vec![Ulimit {
        name: "nofile".into(),
        soft_limit: 1024,
        hard_limit: 4096,
    }]);
    d.health_check = Some(HealthCheck {
        command: vec!["CMD-SHELL".into(), "true".into()],
        interval: Some(2),
        timeout: None,
        retries: Some(5),
        start_period: Some(1),
    });
    d.readonly_root_filesystem = Some(true);
    d.privileged = Some(false);
    d.hostname = Some("web1".into());
    d.dns_servers = Some(vec!["10.0.0.2".into()]);
    d.extra_hosts = Some(vec![HostEntry {
        hostname: "db".into(),
        ip_address: "10.0.0.3".into(),
    }]);
    d.stop_timeout = Some(5);
    d.log_configuration = Some(LogConfiguration {
        log_driver: "json-file".into(),
        options: Some(BTreeMap::from([("max-size".to_string(), "1m".to_string())])),
        secret_options: None,
    });
    let t = task(vec![d.clone()], None);
    let extra = BTreeMap::new();
    let body = container_spec(&t, &d, &placement(&extra), &BTreeMap::new()).unwrap();
    let hc = body.healthcheck.clone().unwrap();
    assert_eq!(hc.test.unwrap(), vec!["CMD-SHELL", "true"]);
    assert_eq!(hc.interval, Some(2 * NANOS));
    assert_eq!(hc.timeout, Some(5 * NANOS));
    assert_eq!(hc.retries, Some(5));
    assert_eq!(hc.start_period, Some(NANOS));
    assert_eq!(body.hostname.as_deref(), Some("web1"));
    assert_eq!(body.stop_timeout, Some(5));
    let h = body.host_config.unwrap();
    assert_eq!(h.cap_add, Some(vec!["NET_ADMIN".to_string()]));
    assert_eq!(h.cap_drop, Some(vec!["MKNOD".to_string()]));
    assert_eq!(h.init, Some(true));
    assert_eq!(h.shm_size, Some(64 * MIB));
    assert_eq!(h.tmpfs.unwrap()["/run"], "size=16m,noexec");
    assert_eq!(h.memory_swap, Some(150 * MIB));
    assert_eq!(h.memory_swappiness, Some(10));
    assert_eq!(h.devices.unwrap()[0].cgroup_permissions.as_deref(), Some("rw"));
    let u = &h.ulimits.unwrap()[0];
    assert_eq!(
        (u.name.as_deref(), u.soft, u.hard),
        (Some("nofile"), Some(1024), Some(4096))
    );
    assert_eq!(h.readonly_rootfs, Some(true));
    assert_eq!(h.dns, Some(vec!["10.0.0.2".to_string()]));
    assert_eq!(h.extra_hosts, Some(vec!["db:10.0.0.3".to_string()]));
    let lc = h.log_config.unwrap();
    assert_eq!(lc.typ.as_deref(), Some("json-file"));
    assert_eq!(lc.config.unwrap()["max-size"], "1m");
}

#[test]
fn awslogs_containers_log_to_json_file_and_carry_their_ship_spec() {
    let mut d = web();
    d.log_configuration = Some(LogConfiguration {
        log_driver: "awslogs".into(),
        options: Some(BTreeMap::from([
            ("awslogs-group".to_string(), "/ecs/web".to_string()),
            ("awslogs-stream-prefix".to_string(), "ecs".to_string()),
            ("awslogs-region".to_string(), "us-east-1".to_string()),
        ])),
        secret_options: None,
    });
    let t = task(vec![d.clone()], None);
    assert!(validate(&t).is_ok());
    let extra = BTreeMap::new();
    let body = container_spec(&t, &d, &placement(&extra), &BTreeMap::new()).unwrap();
    let lc = body.host_config.unwrap().log_config.unwrap();
    assert_eq!(lc.typ.as_deref(), Some("json-file"));
    assert_eq!(lc.config, None);
    let ship: crate::awslogs::ShipSpec =
        serde_json::from_str(&body.labels.unwrap()[crate::labels::LABEL_AWSLOGS]).unwrap();
    assert_eq!(ship.stream.as_deref(), Some("ecs/web/0123456789abcdef0123456789abcdef"));
    assert_eq!(ship.options["awslogs-group"], "/ecs/web");
}

#[test]
fn health_check_without_prefix_runs_as_cmd() {
    assert_eq!(health_test(&["curl".into(), "-f".into()]), vec!["CMD", "curl", "-f"]);
}

#[test]
fn validate_rejects_what_cannot_run() {
    let mut d = web();
    d.log_configuration = Some(LogConfiguration {
        log_driver: "awslogs".into(),
        options: None,
        secret_options: None,
    });
    assert!(
        validate(&task(vec![d], None))
            .unwrap_err()
            .to_string()
            .contains("must specify a value for log opt 'awslogs-group'")
    );
    let mut d = web();
    d.log_configuration = Some(LogConfiguration {
        log_driver: "awsfirelens".into(),
        options: None,
        secret_options: None,
    });
    assert!(
        validate(&task(vec![d], None))
            .unwrap_err()
            .to_string()
            .contains("awsfirelens")
    );
    let mut d = web();
    d.mount_points = Some(vec![MountPoint {
        source_volume: Some("nope".into()),
        container_path: Some("/x".into()),
        read_only: None,
    }]);
    assert!(validate(&task(vec![d], None)).unwrap_err().to_string().contains("nope"));
    assert!(
        validate(&task(vec![web()], Some("nat")))
            .unwrap_err()
            .to_string()
            .contains("nat")
    );
    let mut d = web();
    d.port_mappings = Some(vec![PortMapping {
        container_port_range: Some("90-80".into()),
        ..Default::default()
    }]);
    assert!(validate(&task(vec![d], None)).is_err());
    assert!(validate(&task(vec![web()], None)).is_ok());
}

#[test]
fn network_bindings_report_real_host_ports() {
    let mut d = web();
    d.port_mappings = Some(vec![PortMapping {
        container_port: Some(8080),
        ..Default::default()
    }]);
    let mut pm: PortMap = HashMap::new();
    pm.insert(
        "8080/tcp".into(),
        Some(vec![
            PortBinding {
                host_ip: Some("0.0.0.0".into()),
                host_port: Some("49153".into()),
            },
            PortBinding {
                host_ip: Some("::".into()),
                host_port: Some("49153".into()),
            },
        ]),
    );
    pm.insert("9999/tcp".into(), None);
    let nb = network_bindings("bridge", &d, Some(&pm));
    assert_eq!(nb.len(), 2);
    assert!(
        nb.iter().all(|b| b.host_port == Some(49153)
            && b.container_port == Some(8080)
            && b.protocol.as_deref() == Some("tcp"))
    );
    assert!(network_bindings("none", &d, Some(&pm)).is_empty());
}

#[test]
fn the_ipv4_binding_comes_first_when_docker_gives_ipv6_another_port() {
    let mut d = web();
    d.port_mappings = Some(vec![PortMapping {
        container_port: Some(8080),
        ..Default::default()
    }]);
    let mut pm: PortMap = HashMap::new();
    pm.insert(
        "8080/tcp".into(),
        Some(vec![
            PortBinding {
                host_ip: Some("::".into()),
                host_port: Some("32839".into()),
            },
            PortBinding {
                host_ip: Some("0.0.0.0".into()),
                host_port: Some("32840".into()),
            },
        ]),
    );
    let nb = network_bindings("bridge", &d, Some(&pm));
    let shown: Vec<_> = nb.iter().map(|b| (b.bind_ip.as_deref(), b.host_port)).collect();
    assert_eq!(shown, [(Some("0.0.0.0"), Some(32840)), (Some("::"), Some(32839))]);
}

#[test]
fn docker_health_maps_to_ecs() {
    assert_eq!(health(Some(&HealthStatusEnum::HEALTHY)), Health::Healthy);
    assert_eq!(health(Some(&HealthStatusEnum::UNHEALTHY)), Health::Unhealthy);
    assert_eq!(health(Some(&HealthStatusEnum::STARTING)), Health::Unknown);
    assert_eq!(health(None), Health::Unknown);
}

#[test]
fn a_stop_with_a_notice_waits_the_notice_not_the_stop_timeout() {
    let mut d = web();
    d.stop_timeout = Some(5);
    assert_eq!(stop_grace_secs(&d, true, Some(120)), 120);
    assert_eq!(stop_grace_secs(&d, true, None), 5);
    // An essential container's exit stops the task: no notice applies.
    assert_eq!(stop_grace_secs(&d, false, Some(120)), 5);
}

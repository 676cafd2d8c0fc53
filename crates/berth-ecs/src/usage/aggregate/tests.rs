use super::*;

fn task(service: Option<&str>, cpu: f64, mem: f64, used: Option<(f64, f64)>) -> TaskFigures {
    TaskFigures {
        service: service.map(str::to_string),
        cpu_reserved: cpu,
        memory_reserved: mem,
        used,
    }
}

fn find<'a>(out: &'a [Datum], metric: EcsMetric, service: Option<&str>) -> Option<&'a Datum> {
    out.iter()
        .find(|d| d.metric == metric && d.service.as_deref() == service)
}

#[test]
fn the_documented_cluster_example() {
    // Developer guide: 18,432 CPU units and 33,926 MiB registered; ten tasks
    // of 1,024 units and 2,048 MiB → 55 % CPU and 60 % memory reserved.
    let c = ClusterFigures {
        name: "c".into(),
        cpu_registered: 18_432.0,
        memory_registered: 33_926.0,
        tasks: (0..10).map(|_| task(None, 1024.0, 2048.0, None)).collect(),
    };
    let out = aggregate(&[c]);
    let cpu = find(&out, EcsMetric::CpuReservation, None).unwrap();
    assert_eq!(cpu.average().round(), 56.0); // 55.55…: "55 %" in the guide, truncated
    assert!((cpu.average() - 10_240.0 * 100.0 / 18_432.0).abs() < 1e-9);
    let mem = find(&out, EcsMetric::MemoryReservation, None).unwrap();
    assert_eq!(mem.average().floor(), 60.0);
    // Nothing measured: no utilization.
    assert!(find(&out, EcsMetric::CpuUtilization, None).is_none());
    assert_eq!(out.len(), 2);
}

#[test]
fn service_utilization_is_sum_used_over_sum_reserved_with_task_extremes() {
    let c = ClusterFigures {
        name: "c".into(),
        cpu_registered: 4096.0,
        memory_registered: 8192.0,
        tasks: vec![
            task(Some("web"), 512.0, 256.0, Some((512.0, 64.0))),
            task(Some("web"), 1024.0, 256.0, Some((256.0, 128.0))),
            // Not measured in this window: counts for reservation only.
            task(Some("web"), 512.0, 256.0, None),
            task(Some("idle"), 256.0, 128.0, Some((0.0, 1.0))),
            task(None, 256.0, 128.0, Some((128.0, 10.0))),
        ],
    };
    let out = aggregate(&[c]);
    let web = find(&out, EcsMetric::CpuUtilization, Some("web")).unwrap();
    assert_eq!(web.sample_count, 2.0);
    assert!((web.average() - 100.0 * 768.0 / 1536.0).abs() < 1e-9);
    assert_eq!(web.minimum, 25.0);
    assert_eq!(web.maximum, 100.0);
    let web_mem = find(&out, EcsMetric::MemoryUtilization, Some("web")).unwrap();
    assert!((web_mem.average() - 100.0 * 192.0 / 512.0).abs() < 1e-9);
    assert_eq!((web_mem.minimum, web_mem.maximum), (25.0, 50.0));
    let idle = find(&out, EcsMetric::CpuUtilization, Some("idle")).unwrap();
    assert_eq!((idle.sum, idle.minimum, idle.maximum), (0.0, 0.0, 0.0));
    // The cluster: every measured task against what the instances registered.
    let cpu = find(&out, EcsMetric::CpuUtilization, None).unwrap();
    assert_eq!(cpu.average(), 100.0 * 896.0 / 4096.0);
    let mem = find(&out, EcsMetric::MemoryUtilization, None).unwrap();
    assert_eq!(mem.average(), 100.0 * 203.0 / 8192.0);
    let reserved = find(&out, EcsMetric::CpuReservation, None).unwrap();
    assert_eq!(reserved.average(), 100.0 * 2560.0 / 4096.0);
    assert_eq!(out.len(), 8);
}

#[test]
fn utilization_may_exceed_100_percent() {
    let c = ClusterFigures {
        name: "c".into(),
        cpu_registered: 2048.0,
        memory_registered: 1024.0,
        tasks: vec![task(Some("burst"), 256.0, 64.0, Some((1024.0, 96.0)))],
    };
    let out = aggregate(&[c]);
    assert_eq!(
        find(&out, EcsMetric::CpuUtilization, Some("burst")).unwrap().average(),
        400.0
    );
    assert_eq!(
        find(&out, EcsMetric::MemoryUtilization, Some("burst"))
            .unwrap()
            .average(),
        150.0
    );
}

#[test]
fn nothing_without_running_tasks_or_registered_capacity() {
    let empty = ClusterFigures {
        name: "e".into(),
        cpu_registered: 1024.0,
        memory_registered: 1024.0,
        tasks: vec![],
    };
    assert!(aggregate(&[empty]).is_empty());
    // No instance (tasks left over from a deregistered one): no cluster
    // percentages, the service's own still.
    let orphan = ClusterFigures {
        name: "o".into(),
        tasks: vec![task(Some("s"), 512.0, 128.0, Some((256.0, 32.0)))],
        ..Default::default()
    };
    let out = aggregate(&[orphan]);
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|d| d.service.as_deref() == Some("s")));
    // A task reserving no CPU has no CPU utilization of its own.
    let free = ClusterFigures {
        name: "f".into(),
        tasks: vec![task(Some("s"), 0.0, 128.0, Some((256.0, 32.0)))],
        ..Default::default()
    };
    let out = aggregate(&[free]);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].metric, EcsMetric::MemoryUtilization);
}

#[test]
fn memory_reserved_prefers_the_soft_limit_unless_the_task_has_its_own() {
    let sizes = |m: Option<f64>, r: Option<f64>| ContainerSizes {
        memory: m,
        memory_reservation: r,
    };
    // Container limits only: the record's figure is Σ hard limits; ECS
    // reserves the soft ones where set.
    assert_eq!(
        reserved_memory(768.0, &[sizes(Some(512.0), Some(128.0)), sizes(Some(256.0), None)]),
        384.0
    );
    assert_eq!(reserved_memory(64.0, &[sizes(None, Some(64.0))]), 64.0);
    // Task-level memory (different from the containers' sum): it is reserved.
    assert_eq!(reserved_memory(2048.0, &[sizes(Some(512.0), Some(128.0))]), 2048.0);
    // A container without either: the task must have its own.
    assert_eq!(
        reserved_memory(1024.0, &[sizes(None, None), sizes(Some(64.0), None)]),
        1024.0
    );
}

#[test]
fn the_metric_names_are_cloudwatchs() {
    let names: Vec<&str> = [
        EcsMetric::CpuUtilization,
        EcsMetric::MemoryUtilization,
        EcsMetric::CpuReservation,
        EcsMetric::MemoryReservation,
    ]
    .iter()
    .map(|m| m.name())
    .collect();
    assert_eq!(
        names,
        [
            "CPUUtilization",
            "MemoryUtilization",
            "CPUReservation",
            "MemoryReservation"
        ]
    );
}

//! Placements per second: one `place` call of 10 tasks on clusters of 1,000
//! and 10,000 container instances, with binpack and with spread.
//!
//! `cargo bench -p berth-scheduler` — short by design (10 samples, 3 s).

use std::hint::black_box;
use std::time::Duration;

use berth_scheduler::{
    InstanceView, PlacementConstraint, PlacementRequest, PlacementStrategy, TaskDemand, TaskOnInstance, place,
    service_default_strategies,
};
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const ZONES: [&str; 3] = ["us-east-1a", "us-east-1b", "us-east-1c"];
const TYPES: [&str; 3] = ["t2.small", "m5.large", "c5.xlarge"];

/// A cluster of `n` instances over 3 zones, partly used, each running a few
/// tasks of a few groups, with the usual ECS attributes.
fn cluster(n: usize) -> Vec<InstanceView> {
    let mut rng = StdRng::seed_from_u64(n as u64);
    (0..n)
        .map(|k| {
            let mut i = InstanceView::new(
                format!("arn:aws:ecs:us-east-1:123456789012:container-instance/bench/{k:032x}"),
                format!("i-{k:017x}"),
                4096,
                16384,
            )
            .with_attribute("ecs.availability-zone", Some(ZONES[k % 3]))
            .with_attribute("ecs.instance-type", Some(TYPES[k % 3]))
            .with_attribute("ecs.os-type", Some("linux"))
            .with_attribute("ecs.cpu-architecture", Some("x86_64"))
            .with_attribute("ecs.capability.privileged-container", None);
            i.remaining.cpu = rng.gen_range(0..=4096);
            i.remaining.memory = rng.gen_range(0..=16384);
            i.remaining.ports.extend([22, 2375, 2376, 51678, 51679]);
            i.registered.ports = i.remaining.ports.clone();
            for _ in 0..rng.gen_range(0..4) {
                std::sync::Arc::make_mut(&mut i.tasks).push(TaskOnInstance {
                    group: ["service:web", "service:api", "family:batch"][rng.gen_range(0..3)].into(),
                    ..Default::default()
                });
            }
            i
        })
        .collect()
}

fn request(strategies: Vec<PlacementStrategy>) -> PlacementRequest {
    PlacementRequest {
        demand: TaskDemand {
            cpu: 256,
            memory: 512,
            ..Default::default()
        },
        group: "service:web".into(),
        family: "web".into(),
        task_definition_arn: "arn:aws:ecs:us-east-1:123456789012:task-definition/web:1".into(),
        constraints: vec![PlacementConstraint::member_of("attribute:ecs.os-type == linux")],
        strategies,
        count: 10,
        ..Default::default()
    }
}

fn placement(c: &mut Criterion) {
    let mut group = c.benchmark_group("place_10_tasks");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(10));
    for n in [1_000, 10_000] {
        let base = cluster(n);
        let cases = [
            ("binpack_memory", vec![PlacementStrategy::binpack("memory")]),
            ("spread_az_instance", service_default_strategies()),
        ];
        for (name, strategies) in cases {
            let req = request(strategies);
            let mut rng = StdRng::seed_from_u64(7);
            group.bench_with_input(BenchmarkId::new(name, n), &n, |b, _| {
                b.iter_batched_ref(
                    || base.clone(),
                    |instances| black_box(place(instances, &req, &mut rng).unwrap()),
                    BatchSize::LargeInput,
                )
            });
        }
    }
    group.finish();
}

criterion_group!(benches, placement);
criterion_main!(benches);

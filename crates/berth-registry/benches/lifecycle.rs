//! The pure parts of the registry's housekeeping at scale: one lifecycle
//! policy evaluation over 100,000 images, and one garbage-collection mark
//! over 100,000 blob files and their repository links.
//!
//! `cargo bench -p berth-registry --bench lifecycle` (bench/lifecycle.py
//! runs it and reads criterion's estimates).

use berth_registry::gc::plan::{File, Link, plan};
use berth_registry::lifecycle::{ImageFacts, Policy, evaluate};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::collections::HashSet;
use std::hint::black_box;
use std::time::Duration;

const N: usize = 100_000;
const NOW: f64 = 1_800_000_000.0;

/// A CI's repository: one image per commit over 100 days, most tagged
/// `prod-N`, `dev-N` or `pr-N`, one in ten left untagged.
fn images() -> Vec<ImageFacts> {
    (0..N)
        .map(|i| ImageFacts {
            digest: format!("sha256:{i:064x}"),
            tags: match i % 10 {
                0 => vec![],
                1..=3 => vec![format!("prod-{i}")],
                4..=7 => vec![format!("dev-{i}"), format!("sha-{i:x}")],
                _ => vec![format!("pr-{i}")],
            },
            pushed_at: NOW - (N - i) as f64 * 86.4,
            last_pulled_at: (i % 4 == 0).then_some(NOW - (i % 50) as f64 * 86_400.0),
            protected: false,
        })
        .collect()
}

const POLICY: &str = r#"{"rules":[
 {"rulePriority":1,"selection":{"tagStatus":"tagged","tagPatternList":["prod-*"],"countType":"imageCountMoreThan","countNumber":100},"action":{"type":"expire"}},
 {"rulePriority":2,"selection":{"tagStatus":"tagged","tagPrefixList":["dev-","sha-"],"countType":"sinceImagePushed","countUnit":"days","countNumber":14},"action":{"type":"expire"}},
 {"rulePriority":3,"selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":1},"action":{"type":"expire"}},
 {"rulePriority":4,"selection":{"tagStatus":"any","countType":"sinceImagePulled","countUnit":"days","countNumber":30},"action":{"type":"expire"}}]}"#;

fn lifecycle(c: &mut Criterion) {
    let policy = Policy::parse(POLICY).unwrap();
    let imgs = images();
    let mut g = c.benchmark_group("lifecycle");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("evaluate_100k_images", |b| {
        b.iter(|| black_box(evaluate(&policy, black_box(&imgs), NOW)).len())
    });
    g.finish();
}

fn gc_mark(c: &mut Criterion) {
    // Half the blobs referenced, a quarter young, the rest garbage.
    let files: Vec<File> = (0..N)
        .map(|i| File {
            digest: format!("sha256:{i:064x}"),
            size: 1024 + i as u64,
            written_at: if i % 4 == 1 { NOW - 10.0 } else { NOW - 86_400.0 },
        })
        .collect();
    let links: Vec<Link> = (0..N)
        .map(|i| Link {
            key: format!("ecr/layers/repo-{}#sha256:{i:064x}", i % 50),
            digest: format!("sha256:{i:064x}"),
            revision: i as i64,
            created_at: NOW - 86_400.0,
        })
        .collect();
    let referenced: HashSet<String> = (0..N).step_by(2).map(|i| format!("sha256:{i:064x}")).collect();
    let mut g = c.benchmark_group("gc");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("mark_100k_blobs", |b| {
        b.iter_batched(
            || (),
            |()| black_box(plan(&referenced, &links, &files, NOW, 3600.0)).len(),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, lifecycle, gc_mark);
criterion_main!(benches);

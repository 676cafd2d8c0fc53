use super::*;

fn task(service: Option<&str>, family: &str, running: bool, used: Option<(f64, f64)>) -> InsightsTask {
    InsightsTask {
        figures: TaskFigures {
            service: service.map(str::to_string),
            cpu_reserved: 256.0,
            memory_reserved: 128.0,
            used,
        },
        family: family.to_string(),
        running,
    }
}

fn cluster(level: InsightsLevel) -> InsightsCluster {
    InsightsCluster {
        name: "c".into(),
        level,
        container_instances: 2,
        services: vec![
            InsightsService {
                name: "web".into(),
                desired: 3,
                deployments: 1,
            },
            InsightsService {
                name: "idle".into(),
                desired: 0,
                deployments: 1,
            },
        ],
        tasks: vec![
            task(Some("web"), "web-td", true, Some((100.0, 50.0))),
            task(Some("web"), "web-td", true, Some((28.0, 14.0))),
            task(Some("web"), "web-td", false, None),
            task(None, "batch", true, None),
        ],
    }
}

fn value(data: &[InsightsDatum], metric: InsightsMetric, scope: &InsightsScope) -> Option<f64> {
    data.iter()
        .find(|d| d.metric == metric && &d.scope == scope)
        .map(|d| d.value)
}

#[test]
fn a_disabled_cluster_publishes_nothing() {
    assert!(insights(&[cluster(InsightsLevel::Disabled)]).is_empty());
    assert_eq!(InsightsLevel::parse("disabled"), InsightsLevel::Disabled);
    assert_eq!(InsightsLevel::parse("enabled"), InsightsLevel::Enabled);
    assert_eq!(InsightsLevel::parse("enhanced"), InsightsLevel::Enhanced);
}

#[test]
fn cluster_figures_sum_running_tasks_and_count_everything() {
    let data = insights(&[cluster(InsightsLevel::Enabled)]);
    let c = InsightsScope::Cluster;
    use InsightsMetric::*;
    assert_eq!(value(&data, CpuReserved, &c), Some(768.0));
    assert_eq!(value(&data, MemoryReserved, &c), Some(384.0));
    assert_eq!(value(&data, CpuUtilized, &c), Some(128.0));
    assert_eq!(value(&data, MemoryUtilized, &c), Some(64.0));
    assert_eq!(value(&data, RunningTaskCount, &c), Some(3.0));
    assert_eq!(value(&data, PendingTaskCount, &c), Some(1.0));
    assert_eq!(value(&data, TaskCount, &c), Some(3.0));
    assert_eq!(value(&data, ServiceCount, &c), Some(2.0));
    assert_eq!(value(&data, ContainerInstanceCount, &c), Some(2.0));
    assert_eq!(value(&data, DesiredTaskCount, &c), None);
}

#[test]
fn service_figures_cover_every_active_service() {
    let data = insights(&[cluster(InsightsLevel::Enhanced)]);
    use InsightsMetric::*;
    let web = InsightsScope::Service("web".into());
    assert_eq!(value(&data, DesiredTaskCount, &web), Some(3.0));
    assert_eq!(value(&data, RunningTaskCount, &web), Some(2.0));
    assert_eq!(value(&data, PendingTaskCount, &web), Some(1.0));
    assert_eq!(value(&data, DeploymentCount, &web), Some(1.0));
    assert_eq!(value(&data, CpuReserved, &web), Some(512.0));
    assert_eq!(value(&data, MemoryUtilized, &web), Some(64.0));
    // A service without tasks still has its counts, and no utilization.
    let idle = InsightsScope::Service("idle".into());
    assert_eq!(value(&data, RunningTaskCount, &idle), Some(0.0));
    assert_eq!(value(&data, CpuReserved, &idle), Some(0.0));
    assert_eq!(value(&data, CpuUtilized, &idle), None);
    // Services in name order, after the cluster's own data.
    let services: Vec<&InsightsScope> = data
        .iter()
        .filter(|d| matches!(d.scope, InsightsScope::Service(_)))
        .map(|d| &d.scope)
        .collect();
    assert_eq!(services.first(), Some(&&idle));
}

#[test]
fn family_figures_cover_families_with_running_tasks() {
    let data = insights(&[cluster(InsightsLevel::Enabled)]);
    use InsightsMetric::*;
    let web = InsightsScope::TaskDefinitionFamily("web-td".into());
    assert_eq!(value(&data, CpuReserved, &web), Some(512.0));
    assert_eq!(value(&data, CpuUtilized, &web), Some(128.0));
    let batch = InsightsScope::TaskDefinitionFamily("batch".into());
    assert_eq!(value(&data, MemoryReserved, &batch), Some(128.0));
    assert_eq!(value(&data, MemoryUtilized, &batch), None, "not measured");
    assert_eq!(value(&data, RunningTaskCount, &batch), None);
}

#[test]
fn names_units_and_dimensions_are_container_insights_ones() {
    use InsightsMetric::*;
    assert_eq!((CpuUtilized.name(), CpuUtilized.unit()), ("CpuUtilized", "None"));
    assert_eq!(
        (MemoryReserved.name(), MemoryReserved.unit()),
        ("MemoryReserved", "Megabytes")
    );
    assert_eq!(
        (ContainerInstanceCount.name(), ContainerInstanceCount.unit()),
        ("ContainerInstanceCount", "Count")
    );
    let d = InsightsDatum {
        metric: CpuReserved,
        cluster: "c".into(),
        scope: InsightsScope::TaskDefinitionFamily("f".into()),
        value: 1.0,
    };
    assert_eq!(
        d.dimensions(),
        [
            ("ClusterName", "c".to_string()),
            ("TaskDefinitionFamily", "f".to_string())
        ]
    );
}

#[test]
fn the_family_is_read_from_the_task_definition_arn() {
    assert_eq!(
        family_of("arn:aws:ecs:us-east-1:000000000000:task-definition/web-td:12"),
        "web-td"
    );
    assert_eq!(family_of("web:3"), "web");
}

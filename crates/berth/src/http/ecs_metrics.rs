//! The `AWS/ECS` metrics ECS computes (`berth_ecs::usage`) written into the
//! region's CloudWatch metrics: each datum a statistic set in Percent, at
//! one-minute storage resolution, dimensioned `ClusterName` (and
//! `ServiceName`) as ECS publishes them; and the `ECS/ContainerInsights`
//! data of the clusters with Container Insights on, each a single value in
//! its metric's unit.

use async_trait::async_trait;
use berth_ecs::usage::{Datum, InsightsDatum};
use berth_metrics::inputs::Dimension;
use berth_metrics::rules::{Sample, metric};
use berth_metrics::stats::Aggregate;
use std::sync::Arc;

/// ECS's namespace.
pub(crate) const NAMESPACE: &str = "AWS/ECS";

/// Managed scaling's namespace (`CapacityProviderReservation`).
pub(crate) const MANAGED_SCALING_NAMESPACE: &str = "AWS/ECS/ManagedScaling";

/// Container Insights' namespace.
pub(crate) const INSIGHTS_NAMESPACE: &str = "ECS/ContainerInsights";

pub(crate) struct EcsMetricsSink(pub(crate) Arc<berth_metrics::Metrics>);

/// One datum as the stored sample (pure).
fn sample(at: f64, d: &Datum) -> Sample {
    let mut dims = vec![Dimension {
        name: "ClusterName".into(),
        value: d.cluster.clone(),
    }];
    if let Some(s) = &d.service {
        dims.push(Dimension {
            name: "ServiceName".into(),
            value: s.clone(),
        });
    }
    Sample {
        metric: metric(NAMESPACE, d.metric.name(), &dims).into(),
        ts: at as i64,
        unit: "Percent".into(),
        agg: Aggregate::statistic_set(d.sample_count, d.sum, d.minimum, d.maximum),
        high_resolution: false,
    }
}

/// One Container Insights datum as the stored sample (pure).
fn insights_sample(at: f64, d: &InsightsDatum) -> Sample {
    let dims: Vec<Dimension> = d
        .dimensions()
        .into_iter()
        .map(|(name, value)| Dimension {
            name: name.into(),
            value,
        })
        .collect();
    Sample {
        metric: metric(INSIGHTS_NAMESPACE, d.metric.name(), &dims).into(),
        ts: at as i64,
        unit: d.metric.unit().into(),
        agg: Aggregate::value(d.value, 1.0),
        high_resolution: false,
    }
}

/// One `CapacityProviderReservation` as the stored sample (pure).
fn reservation_sample(at: f64, d: &berth_ecs::ReservationDatum) -> Sample {
    let dims = [
        Dimension {
            name: "CapacityProviderName".into(),
            value: d.capacity_provider.clone(),
        },
        Dimension {
            name: "ClusterName".into(),
            value: d.cluster.clone(),
        },
    ];
    Sample {
        metric: metric(MANAGED_SCALING_NAMESPACE, "CapacityProviderReservation", &dims).into(),
        ts: at as i64,
        unit: "Percent".into(),
        agg: Aggregate::value(d.value, 1.0),
        high_resolution: false,
    }
}

#[async_trait]
impl berth_ecs::UsageSink for EcsMetricsSink {
    async fn publish_managed_scaling(&self, at: f64, data: Vec<berth_ecs::ReservationDatum>) {
        let samples = data.iter().map(|d| reservation_sample(at, d)).collect();
        if let Err(e) = self.0.put_samples(samples).await {
            tracing::warn!(error = %e, "cannot store the AWS/ECS/ManagedScaling metrics");
        }
    }

    async fn publish(&self, at: f64, data: Vec<Datum>) {
        let samples = data.iter().map(|d| sample(at, d)).collect();
        if let Err(e) = self.0.put_samples(samples).await {
            tracing::warn!(error = %e, "cannot store the AWS/ECS metrics");
        }
    }

    async fn publish_insights(&self, at: f64, data: Vec<InsightsDatum>) {
        let samples = data.iter().map(|d| insights_sample(at, d)).collect();
        if let Err(e) = self.0.put_samples(samples).await {
            tracing::warn!(error = %e, "cannot store the ECS/ContainerInsights metrics");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_ecs::usage::EcsMetric;

    #[test]
    fn a_reservation_is_a_percent_value_in_the_managed_scaling_namespace() {
        let d = berth_ecs::ReservationDatum {
            cluster: "c".into(),
            capacity_provider: "pool".into(),
            value: 200.0,
        };
        let s = reservation_sample(60.0, &d);
        assert_eq!(s.metric.namespace, "AWS/ECS/ManagedScaling");
        assert_eq!(s.metric.metric_name, "CapacityProviderReservation");
        assert_eq!(s.unit, "Percent");
        assert_eq!(s.ts, 60);
    }

    #[test]
    fn a_service_datum_is_a_percent_statistic_set_with_both_dimensions() {
        let d = Datum {
            metric: EcsMetric::CpuUtilization,
            cluster: "c".into(),
            service: Some("web".into()),
            sample_count: 2.0,
            sum: 100.0,
            minimum: 25.0,
            maximum: 75.0,
        };
        let s = sample(120.7, &d);
        assert_eq!(s.metric.namespace, "AWS/ECS");
        assert_eq!(s.metric.metric_name, "CPUUtilization");
        let dims: Vec<(&str, &str)> = s
            .metric
            .dimensions
            .iter()
            .map(|d| (d.name.as_str(), d.value.as_str()))
            .collect();
        assert_eq!(dims, [("ClusterName", "c"), ("ServiceName", "web")]);
        assert_eq!((s.ts, s.unit.as_str(), s.high_resolution), (120, "Percent", false));
        assert_eq!(s.agg, Aggregate::statistic_set(2.0, 100.0, 25.0, 75.0));
    }

    #[test]
    fn an_insights_datum_is_one_value_in_its_unit_with_its_dimensions() {
        use berth_ecs::usage::insights::{InsightsMetric, InsightsScope};
        let d = InsightsDatum {
            metric: InsightsMetric::MemoryReserved,
            cluster: "c".into(),
            scope: InsightsScope::Service("web".into()),
            value: 256.0,
        };
        let s = insights_sample(60.2, &d);
        assert_eq!(s.metric.namespace, "ECS/ContainerInsights");
        assert_eq!(s.metric.metric_name, "MemoryReserved");
        let dims: Vec<(&str, &str)> = s
            .metric
            .dimensions
            .iter()
            .map(|d| (d.name.as_str(), d.value.as_str()))
            .collect();
        assert_eq!(dims, [("ClusterName", "c"), ("ServiceName", "web")]);
        assert_eq!((s.ts, s.unit.as_str()), (60, "Megabytes"));
        assert_eq!(s.agg, Aggregate::value(256.0, 1.0));
    }
}

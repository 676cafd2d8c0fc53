//! Application Auto Scaling wired to the region's ECS and CloudWatch: ECS
//! services are read and their desired count set through
//! `berth_ecs::Ecs::service_scale`/`scale_service`; target-tracking alarms
//! are made through `berth_metrics::Metrics`' managed alarms; and the
//! alarms' actions (Application Auto Scaling policy ARNs) run their policy
//! ([`PolicyRunner`], the metrics' `ActionRunner`).

use async_trait::async_trait;
use berth_autoscaling::{AlarmReading, AlarmSpec, AlarmWatch, Autoscaling, Decide, ServiceState, Trigger};
use berth_metrics::alarms::actions::{ActionError, ActionRunner, StateChange};
use berth_metrics::alarms::inputs::PutMetricAlarmInput;
use berth_metrics::alarms::model::StateValue;
use berth_metrics::inputs::{Dimension, Metric, MetricDataQuery, MetricStat};
use berth_proto::AwsError;
use std::sync::{Arc, OnceLock};

pub(crate) struct EcsScaling(pub(crate) berth_ecs::Ecs);

fn state_of(s: &berth_ecs::ServiceScale) -> ServiceState {
    ServiceState {
        desired_count: s.desired_count,
        running_count: s.running_count,
        deploying: s.deploying,
        daemon: s.daemon,
    }
}

#[async_trait]
impl berth_autoscaling::EcsServices for EcsScaling {
    async fn service(&self, cluster: &str, service: &str) -> Result<Option<ServiceState>, AwsError> {
        Ok(self.0.service_scale(cluster, service).await?.as_ref().map(state_of))
    }

    async fn set_desired_count(
        &self,
        cluster: &str,
        service: &str,
        decide: Decide<'_>,
    ) -> Result<Option<(ServiceState, i64)>, AwsError> {
        let written = self.0.scale_service(cluster, service, |s| decide(&state_of(s))).await?;
        Ok(written.map(|(before, count)| (state_of(&before), count)))
    }
}

pub(crate) struct MetricsAlarms(pub(crate) Arc<berth_metrics::Metrics>);

/// A target-tracking alarm as PutMetricAlarm's input (pure): one metric's
/// statistic over `period`, or the policy's metric math with each metric
/// read over `period`.
fn alarm_input(a: AlarmSpec) -> PutMetricAlarmInput {
    let dims = |d: Vec<(String, String)>| -> Vec<Dimension> {
        d.into_iter().map(|(name, value)| Dimension { name, value }).collect()
    };
    let (single, metrics) = match a.metric {
        AlarmWatch::Metric(m) => (Some(m), None),
        AlarmWatch::Math(queries) => {
            let period = a.period;
            let queries = queries
                .into_iter()
                .map(|q| MetricDataQuery {
                    id: q.id,
                    metric_stat: q.metric_stat.map(|s| MetricStat {
                        metric: Metric {
                            namespace: s.namespace,
                            metric_name: s.metric_name,
                            dimensions: dims(s.dimensions),
                        },
                        period,
                        stat: s.stat,
                        unit: s.unit,
                    }),
                    expression: q.expression,
                    label: q.label,
                    return_data: q.return_data,
                    period: None,
                    account_id: None,
                })
                .collect();
            (None, Some(queries))
        }
    };
    let period = single.is_some().then_some(a.period);
    let (metric_name, namespace, statistic, dimensions, unit) = match single {
        Some(m) => (
            Some(m.metric_name),
            Some(m.namespace),
            Some(m.statistic),
            dims(m.dimensions),
            m.unit,
        ),
        None => (None, None, None, vec![], None),
    };
    PutMetricAlarmInput {
        alarm_name: a.name,
        alarm_description: Some(a.description),
        actions_enabled: Some(true),
        ok_actions: None,
        alarm_actions: Some(vec![a.action]),
        insufficient_data_actions: None,
        metric_name,
        namespace,
        statistic,
        extended_statistic: None,
        dimensions,
        period,
        unit,
        evaluation_periods: Some(a.evaluation_periods),
        datapoints_to_alarm: Some(a.datapoints_to_alarm),
        threshold: Some(a.threshold),
        comparison_operator: Some(a.comparison.to_string()),
        treat_missing_data: None,
        evaluate_low_sample_count_percentile: None,
        metrics,
        tags: None,
        threshold_metric_id: None,
        evaluation_window: None,
        warm_up_configuration: None,
        evaluation_criteria: None,
        evaluation_interval: None,
        action_configuration: None,
    }
}

#[async_trait]
impl berth_autoscaling::PolicyAlarms for MetricsAlarms {
    async fn put(&self, alarm: AlarmSpec) -> Result<String, AwsError> {
        self.0.put_managed_alarm(alarm_input(alarm)).await
    }

    async fn delete(&self, names: Vec<String>) -> Result<(), AwsError> {
        self.0.delete_managed_alarms(names).await
    }

    async fn read(&self, name: &str) -> Result<Option<AlarmReading>, AwsError> {
        Ok(self.0.alarm_view(name).await?.map(|v| AlarmReading {
            in_alarm: v.state == StateValue::Alarm,
            threshold: v.threshold,
            above: v.above,
            value: v.newest,
        }))
    }
}

/// The region's alarm actions: each Application Auto Scaling policy ARN
/// runs its policy, once Application Auto Scaling is started (the metrics
/// are built first: the runner is filled in after).
#[derive(Default)]
pub(crate) struct PolicyRunner(OnceLock<Autoscaling>);

impl PolicyRunner {
    pub(crate) fn serve(&self, autoscaling: Autoscaling) {
        let _ = self.0.set(autoscaling);
    }
}

#[async_trait]
impl ActionRunner for PolicyRunner {
    async fn run(&self, action_arn: &str, change: &StateChange) -> Result<(), ActionError> {
        let Some(aas) = self.0.get() else {
            return Err(ActionError(
                "Application Auto Scaling is starting: the policy was not run".into(),
            ));
        };
        if change.new != StateValue::Alarm {
            return Ok(());
        }
        aas.run_policy(
            action_arn,
            &Trigger {
                alarm_name: change.alarm_name.clone(),
            },
        )
        .await
        .map_err(ActionError)
    }

    /// CloudWatch invokes a scaling policy at every evaluation while its
    /// alarm stays in ALARM; the policy's cooldown decides whether it acts.
    fn repeats(&self, action_arn: &str) -> bool {
        self.0.get().is_some_and(|a| a.is_policy_arn(action_arn))
    }
}

/// The region's Application Auto Scaling over its ECS and metrics, its
/// scheduled actions running, its policies run by `runner`.
pub(crate) fn start(
    store: Arc<dyn berth_store::Store>,
    scope: berth_core::arn::Scope,
    ecs: &berth_ecs::Ecs,
    metrics: Arc<berth_metrics::Metrics>,
    time_scale: berth_core::time_scale::TimeScale,
    runner: &PolicyRunner,
) -> Autoscaling {
    let aas = Autoscaling::new(
        store,
        scope,
        Arc::new(EcsScaling(ecs.clone())),
        Arc::new(MetricsAlarms(metrics)),
    )
    .with_time_scale(time_scale);
    aas.spawn_scheduler();
    runner.serve(aas.clone());
    aas
}

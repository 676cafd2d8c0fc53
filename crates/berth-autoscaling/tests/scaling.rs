//! Application Auto Scaling over a store in memory, a simulated ECS and
//! simulated alarms, its clock set by the test: registration clamps,
//! target tracking with its cooldowns, several policies on one target,
//! scale-in held by a deployment and by suspension, step scaling,
//! scheduled actions and activities.

use async_trait::async_trait;
use berth_autoscaling::{
    AlarmReading, AlarmSpec, Autoscaling, Decide, EcsServices, PolicyAlarms, ServiceState, Trigger,
};
use berth_core::arn::Scope;
use berth_proto::{AwsError, JsonService, RequestContext};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct FakeEcs(Mutex<HashMap<String, ServiceState>>);

#[async_trait]
impl EcsServices for FakeEcs {
    async fn service(&self, cluster: &str, service: &str) -> Result<Option<ServiceState>, AwsError> {
        Ok(self.0.lock().unwrap().get(&format!("{cluster}/{service}")).cloned())
    }
    async fn set_desired_count(
        &self,
        cluster: &str,
        service: &str,
        decide: Decide<'_>,
    ) -> Result<Option<(ServiceState, i64)>, AwsError> {
        let mut all = self.0.lock().unwrap();
        let Some(s) = all.get_mut(&format!("{cluster}/{service}")) else {
            return Ok(None);
        };
        let before = s.clone();
        let Some(n) = decide(&before) else { return Ok(None) };
        s.desired_count = n;
        Ok(Some((before, n)))
    }
}

#[derive(Default)]
struct FakeAlarms(Mutex<HashMap<String, (AlarmSpec, AlarmReading)>>);

impl FakeAlarms {
    fn fire(&self, name: &str, value: Option<f64>) {
        let mut all = self.0.lock().unwrap();
        let (_, r) = all.get_mut(name).expect("alarm");
        r.in_alarm = true;
        r.value = value;
    }
    fn calm(&self, name: &str) {
        self.0.lock().unwrap().get_mut(name).expect("alarm").1.in_alarm = false;
    }
    fn names(&self) -> Vec<String> {
        let mut n: Vec<String> = self.0.lock().unwrap().keys().cloned().collect();
        n.sort();
        n
    }
    fn add(&self, name: &str, threshold: f64, above: bool) {
        let spec = AlarmSpec {
            name: name.into(),
            description: String::new(),
            metric: berth_autoscaling::AlarmWatch::Metric(berth_autoscaling::AlarmMetric {
                namespace: "App".into(),
                metric_name: "M".into(),
                dimensions: vec![],
                statistic: "Average".into(),
                unit: None,
            }),
            period: 60,
            evaluation_periods: 1,
            datapoints_to_alarm: 1,
            threshold,
            comparison: "GreaterThanThreshold",
            action: String::new(),
        };
        let reading = AlarmReading {
            in_alarm: false,
            threshold,
            above,
            value: None,
        };
        self.0.lock().unwrap().insert(name.into(), (spec, reading));
    }
}

#[async_trait]
impl PolicyAlarms for FakeAlarms {
    async fn put(&self, alarm: AlarmSpec) -> Result<String, AwsError> {
        let reading = AlarmReading {
            in_alarm: false,
            threshold: alarm.threshold,
            above: alarm.comparison.starts_with("Greater"),
            value: None,
        };
        let arn = format!("arn:aws:cloudwatch:us-east-1:000000000000:alarm:{}", alarm.name);
        self.0.lock().unwrap().insert(alarm.name.clone(), (alarm, reading));
        Ok(arn)
    }
    async fn delete(&self, names: Vec<String>) -> Result<(), AwsError> {
        let mut all = self.0.lock().unwrap();
        for n in names {
            all.remove(&n);
        }
        Ok(())
    }
    async fn read(&self, name: &str) -> Result<Option<AlarmReading>, AwsError> {
        Ok(self.0.lock().unwrap().get(name).map(|(_, r)| r.clone()))
    }
}

struct Env {
    aas: Autoscaling,
    ecs: Arc<FakeEcs>,
    alarms: Arc<FakeAlarms>,
    clock: Arc<AtomicU64>,
    ctx: RequestContext,
}

const RESOURCE: &str = "service/default/web";

impl Env {
    fn new() -> Self {
        let ecs = Arc::new(FakeEcs::default());
        ecs.0.lock().unwrap().insert(
            "default/web".into(),
            ServiceState {
                desired_count: 2,
                running_count: 2,
                deploying: false,
                daemon: false,
            },
        );
        let alarms = Arc::new(FakeAlarms::default());
        let clock = Arc::new(AtomicU64::new(1_000_000));
        let c = clock.clone();
        let aas = Autoscaling::new(
            Arc::new(berth_store::MemoryStore::new()),
            Scope::new("us-east-1", "000000000000"),
            ecs.clone(),
            alarms.clone(),
        )
        .with_clock(move || c.load(Ordering::SeqCst) as f64);
        Self {
            aas,
            ecs,
            alarms,
            clock,
            ctx: RequestContext::root("000000000000", "us-east-1"),
        }
    }
    fn advance(&self, secs: u64) {
        self.clock.fetch_add(secs, Ordering::SeqCst);
    }
    fn desired(&self) -> i64 {
        self.ecs.0.lock().unwrap()["default/web"].desired_count
    }
    fn set(&self, f: impl FnOnce(&mut ServiceState)) {
        f(self.ecs.0.lock().unwrap().get_mut("default/web").unwrap())
    }
    async fn call(&self, op: &str, mut input: Value) -> Result<Value, AwsError> {
        for (k, v) in [
            ("ServiceNamespace", "ecs"),
            ("ResourceId", RESOURCE),
            ("ScalableDimension", "ecs:service:DesiredCount"),
        ] {
            if input.get(k).is_none() && !op.starts_with("Describe") && !op.contains("Tags") {
                input[k] = json!(v);
            }
        }
        self.aas.call(&self.ctx, op, input).await
    }
    async fn register(&self, min: i64, max: i64) {
        self.call(
            "RegisterScalableTarget",
            json!({"MinCapacity": min, "MaxCapacity": max}),
        )
        .await
        .unwrap();
    }
    async fn run(&self, policy_arn: &str, alarm: &str) {
        self.aas
            .run_policy(
                policy_arn,
                &Trigger {
                    alarm_name: alarm.into(),
                },
            )
            .await
            .unwrap();
    }
    async fn cpu_policy(&self, name: &str, target: f64) -> (String, String, String) {
        let out = self
            .call(
                "PutScalingPolicy",
                json!({"PolicyName": name, "PolicyType": "TargetTrackingScaling",
                "TargetTrackingScalingPolicyConfiguration": {"TargetValue": target,
                    "ScaleOutCooldown": 60, "ScaleInCooldown": 120,
                    "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"}}}),
            )
            .await
            .unwrap();
        let alarms: Vec<String> = out["Alarms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["AlarmName"].as_str().unwrap().to_string())
            .collect();
        let high = alarms.iter().find(|a| a.contains("-AlarmHigh-")).unwrap().clone();
        let low = alarms.iter().find(|a| a.contains("-AlarmLow-")).unwrap().clone();
        (out["PolicyARN"].as_str().unwrap().to_string(), high, low)
    }
    async fn activities(&self) -> Vec<Value> {
        self.call(
            "DescribeScalingActivities",
            json!({"ServiceNamespace": "ecs", "ResourceId": RESOURCE}),
        )
        .await
        .unwrap()["ScalingActivities"]
            .as_array()
            .unwrap()
            .clone()
    }
}

#[tokio::test]
async fn registration_needs_the_service_and_clamps_its_desired_count() {
    let env = Env::new();
    let e = env
        .call(
            "RegisterScalableTarget",
            json!({"ResourceId": "service/default/nope", "MinCapacity": 1, "MaxCapacity": 2}),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (e.code.as_ref(), e.message.as_str()),
        ("ValidationException", "ECS service doesn't exist: service/default/nope")
    );
    env.register(3, 5).await;
    assert_eq!(env.desired(), 3);
    let acts = env.activities().await;
    assert_eq!(acts[0]["Description"], "Setting desired count to 3.");
    assert_eq!(acts[0]["Cause"], "minimum capacity was set to 3");
    // An update keeps what it does not give; min > max is refused.
    let e = env
        .call("RegisterScalableTarget", json!({"MaxCapacity": 2}))
        .await
        .unwrap_err();
    assert_eq!(e.code, "ValidationException");
    env.call("RegisterScalableTarget", json!({"MaxCapacity": 4}))
        .await
        .unwrap();
    let t = &env
        .call("DescribeScalableTargets", json!({"ServiceNamespace": "ecs"}))
        .await
        .unwrap()["ScalableTargets"][0];
    assert_eq!(
        (t["MinCapacity"].as_i64(), t["MaxCapacity"].as_i64()),
        (Some(3), Some(4))
    );
}

#[tokio::test]
async fn target_tracking_scales_out_proportionally_and_respects_cooldowns() {
    let env = Env::new();
    env.register(1, 10).await;
    let (arn, high, low) = env.cpu_policy("cpu", 50.0).await;
    // 2 tasks at 100 % for 50 %: 4.
    env.alarms.fire(&high, Some(100.0));
    env.run(&arn, &high).await;
    assert_eq!(env.desired(), 4);
    let acts = env.activities().await;
    assert_eq!(acts[0]["Description"], "Setting desired count to 4.");
    assert_eq!(
        acts[0]["Cause"],
        format!("monitor alarm {high} in state ALARM triggered policy cpu")
    );
    // Within the scale-out cooldown: nothing; after it: again.
    env.advance(30);
    env.run(&arn, &high).await;
    assert_eq!(env.desired(), 4);
    env.advance(31);
    env.run(&arn, &high).await;
    assert_eq!(env.desired(), 8);
    // Scale-in waits for the scale-out cooldown too.
    env.alarms.calm(&high);
    env.alarms.fire(&low, Some(10.0));
    env.advance(30);
    env.run(&arn, &low).await;
    assert_eq!(env.desired(), 8);
    env.advance(31);
    // 8 at 10 % for 50 %: ceil(1.6) = 2.
    env.run(&arn, &low).await;
    assert_eq!(env.desired(), 2);
    // A scale-out during the scale-in cooldown acts at once.
    env.alarms.calm(&low);
    env.alarms.fire(&high, Some(75.0));
    env.advance(5);
    env.run(&arn, &high).await;
    assert_eq!(env.desired(), 3);
    // A calm alarm runs nothing.
    env.alarms.calm(&high);
    env.advance(100);
    env.run(&arn, &high).await;
    assert_eq!(env.desired(), 3);
}

#[tokio::test]
async fn at_max_the_policy_leaves_a_not_scaled_activity_once() {
    let env = Env::new();
    env.register(1, 2).await;
    let (arn, high, _) = env.cpu_policy("cpu", 50.0).await;
    env.alarms.fire(&high, Some(90.0));
    env.run(&arn, &high).await;
    env.run(&arn, &high).await;
    let all = env
        .call(
            "DescribeScalingActivities",
            json!({"ServiceNamespace": "ecs", "IncludeNotScaledActivities": true}),
        )
        .await
        .unwrap()["ScalingActivities"]
        .as_array()
        .unwrap()
        .clone();
    let not_scaled: Vec<&Value> = all.iter().filter(|a| a.get("NotScaledReasons").is_some()).collect();
    assert_eq!(not_scaled.len(), 1, "{all:?}");
    assert_eq!(not_scaled[0]["NotScaledReasons"][0]["Code"], "AlreadyAtMaxCapacity");
    // Hidden by default.
    assert!(
        env.activities()
            .await
            .iter()
            .all(|a| a.get("NotScaledReasons").is_none())
    );
}

#[tokio::test]
async fn several_policies_scale_in_only_when_all_say_in_and_never_while_deploying() {
    let env = Env::new();
    env.register(1, 10).await;
    env.set(|s| s.desired_count = 6);
    let (cpu, cpu_high, cpu_low) = env.cpu_policy("cpu", 50.0).await;
    let (_, _, mem_low) = env.cpu_policy("mem", 60.0).await;
    env.alarms.fire(&cpu_low, Some(5.0));
    env.run(&cpu, &cpu_low).await;
    assert_eq!(env.desired(), 6, "the memory policy does not say in");
    env.alarms.fire(&mem_low, Some(5.0));
    env.set(|s| s.deploying = true);
    env.run(&cpu, &cpu_low).await;
    assert_eq!(env.desired(), 6, "a deployment is in progress");
    env.set(|s| s.deploying = false);
    env.run(&cpu, &cpu_low).await;
    assert_eq!(env.desired(), 1);
    // Suspended scale-out holds a scale-out.
    env.call(
        "RegisterScalableTarget",
        json!({"SuspendedState": {"DynamicScalingOutSuspended": true}}),
    )
    .await
    .unwrap();
    env.alarms.fire(&cpu_high, Some(100.0));
    env.advance(1000);
    env.run(&cpu, &cpu_high).await;
    assert_eq!(env.desired(), 1);
}

#[tokio::test]
async fn deleting_policies_and_targets_deletes_their_alarms() {
    let env = Env::new();
    env.register(1, 10).await;
    env.cpu_policy("cpu", 50.0).await;
    assert_eq!(env.alarms.names().len(), 2);
    // DisableScaleIn drops AlarmLow on update.
    env.call(
        "PutScalingPolicy",
        json!({"PolicyName": "cpu", "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": {"TargetValue": 50.0, "DisableScaleIn": true,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"}}}),
    )
    .await
    .unwrap();
    assert_eq!(env.alarms.names().len(), 1);
    env.call("DeleteScalingPolicy", json!({"PolicyName": "cpu"}))
        .await
        .unwrap();
    assert!(env.alarms.names().is_empty());
    let e = env
        .call("DeleteScalingPolicy", json!({"PolicyName": "cpu"}))
        .await
        .unwrap_err();
    assert_eq!(e.code, "ObjectNotFoundException");
    env.cpu_policy("cpu", 50.0).await;
    env.call("DeregisterScalableTarget", json!({})).await.unwrap();
    assert!(env.alarms.names().is_empty());
    let e = env
        .call(
            "PutScalingPolicy",
            json!({"PolicyName": "x", "PolicyType": "StepScaling"}),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, "ValidationException", "the configuration is checked first");
    let e = env
        .call(
            "PutScalingPolicy",
            json!({"PolicyName": "x", "StepScalingPolicyConfiguration": {"AdjustmentType": "ExactCapacity",
                "StepAdjustments": [{"MetricIntervalLowerBound": 0.0, "ScalingAdjustment": 3}]}}),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, "ObjectNotFoundException");
}

#[tokio::test]
async fn step_scaling_takes_the_step_of_the_breach() {
    let env = Env::new();
    env.register(1, 10).await;
    let arn = env
        .call(
            "PutScalingPolicy",
            json!({"PolicyName": "steps", "StepScalingPolicyConfiguration": {
                "AdjustmentType": "PercentChangeInCapacity", "MinAdjustmentMagnitude": 2, "Cooldown": 60,
                "StepAdjustments": [
                    {"MetricIntervalLowerBound": 0.0, "MetricIntervalUpperBound": 20.0, "ScalingAdjustment": 10},
                    {"MetricIntervalLowerBound": 20.0, "ScalingAdjustment": 100}]}}),
        )
        .await
        .unwrap()["PolicyARN"]
        .as_str()
        .unwrap()
        .to_string();
    env.alarms.add("queue", 50.0, true);
    // 2 × 10 % = 0.2 → 1, raised to MinAdjustmentMagnitude 2: 4.
    env.alarms.fire("queue", Some(55.0));
    env.run(&arn, "queue").await;
    assert_eq!(env.desired(), 4);
    env.advance(61);
    // Breach 30: +100 %.
    env.alarms.fire("queue", Some(80.0));
    env.run(&arn, "queue").await;
    assert_eq!(env.desired(), 8);
    // Under the threshold, no step: nothing.
    env.advance(61);
    env.alarms.fire("queue", Some(10.0));
    env.run(&arn, "queue").await;
    assert_eq!(env.desired(), 8);
}

#[tokio::test]
async fn scheduled_actions_set_min_and_max_then_the_count_follows() {
    let env = Env::new();
    env.register(1, 10).await;
    env.set(|s| s.desired_count = 6);
    env.call(
        "PutScheduledAction",
        json!({"ScheduledActionName": "shrink", "Schedule": "rate(5 minutes)",
        "ScalableTargetAction": {"MaxCapacity": 3}}),
    )
    .await
    .unwrap();
    env.aas.run_scheduled_actions().await.unwrap();
    assert_eq!(env.desired(), 6, "not due yet");
    env.advance(300);
    env.aas.run_scheduled_actions().await.unwrap();
    assert_eq!(env.desired(), 3);
    let acts = env.activities().await;
    let causes: Vec<&str> = acts.iter().map(|a| a["Cause"].as_str().unwrap()).collect();
    assert!(
        causes.contains(&"scheduled action name shrink was triggered"),
        "{causes:?}"
    );
    assert!(causes.contains(&"maximum capacity was set to 3"), "{causes:?}");
    // Ran once for this interval.
    let n = acts.len();
    env.aas.run_scheduled_actions().await.unwrap();
    assert_eq!(env.activities().await.len(), n);
    let e = env
        .call(
            "PutScheduledAction",
            json!({"ScheduledActionName": "x", "Schedule": "cron(0 0 * * * *)",
            "ScalableTargetAction": {"MinCapacity": 1}}),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, "ValidationException");
    env.call("DeleteScheduledAction", json!({"ScheduledActionName": "shrink"}))
        .await
        .unwrap();
    let e = env
        .call("DeleteScheduledAction", json!({"ScheduledActionName": "shrink"}))
        .await
        .unwrap_err();
    assert_eq!(e.code, "ObjectNotFoundException");
}

#[tokio::test]
async fn activities_older_than_six_weeks_are_pruned() {
    let env = Env::new();
    env.register(3, 5).await;
    assert_eq!(env.activities().await.len(), 1);
    env.advance(41 * 86_400);
    env.call("RegisterScalableTarget", json!({"MinCapacity": 4}))
        .await
        .unwrap();
    assert_eq!(env.activities().await.len(), 2);
    env.advance(2 * 86_400);
    env.aas.prune_old_activities().await.unwrap();
    let left = env.activities().await;
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0]["Cause"], "minimum capacity was set to 4");
}

#[tokio::test]
async fn suspended_scheduled_scaling_skips_the_actions_due_meanwhile() {
    let env = Env::new();
    env.register(1, 10).await;
    env.set(|s| s.desired_count = 6);
    env.call(
        "RegisterScalableTarget",
        json!({"SuspendedState": {"ScheduledScalingSuspended": true, "DynamicScalingInSuspended": true}}),
    )
    .await
    .unwrap();
    env.call(
        "PutScheduledAction",
        json!({"ScheduledActionName": "pin", "Schedule": "rate(1 minute)",
        "ScalableTargetAction": {"MinCapacity": 2, "MaxCapacity": 2}}),
    )
    .await
    .unwrap();
    env.advance(60);
    env.aas.run_scheduled_actions().await.unwrap();
    assert_eq!(env.desired(), 6, "scheduled scaling is suspended");
    // Scale-in by a policy is suspended too.
    let (arn, _, low) = env.cpu_policy("cpu", 50.0).await;
    env.alarms.fire(&low, Some(1.0));
    env.run(&arn, &low).await;
    assert_eq!(env.desired(), 6);
    // Resumed: the next run applies, the missed one is not replayed twice.
    env.call(
        "RegisterScalableTarget",
        json!({"SuspendedState": {"ScheduledScalingSuspended": false}}),
    )
    .await
    .unwrap();
    env.aas.run_scheduled_actions().await.unwrap();
    assert_eq!(env.desired(), 6, "not due until the next minute");
    env.advance(60);
    env.aas.run_scheduled_actions().await.unwrap();
    assert_eq!(env.desired(), 2);
    let t = &env
        .call("DescribeScalableTargets", json!({"ServiceNamespace": "ecs"}))
        .await
        .unwrap()["ScalableTargets"][0];
    assert_eq!(t["SuspendedState"]["DynamicScalingInSuspended"], true);
    assert_eq!(
        (t["MinCapacity"].as_i64(), t["MaxCapacity"].as_i64()),
        (Some(2), Some(2))
    );
}

//! CloudWatch metric alarms: PutMetricAlarm (one metric with a statistic
//! or percentile, or metric math), DescribeAlarms, DescribeAlarmsForMetric,
//! DescribeAlarmHistory, DeleteAlarms, SetAlarmState,
//! Enable/DisableAlarmActions and the alarms' tags, evaluated on schedule.
//!
//! - [`model`]: the stored alarm and its typed values;
//! - [`rules`]: what PutMetricAlarm accepts (pure);
//! - [`evaluate`]: one evaluation, datapoints → state and reason (pure);
//! - [`actions`]: which action ARNs are accepted (pure) and the hook that runs them;
//! - [`history`], [`output`]: history items and the alarm as answered;
//! - [`store`]: the alarm tables of the region's metric database;
//! - `handlers`, `ops`: the operations; `evaluator`: the scheduled task;
//! - [`managed`]: alarms another service creates, reads and deletes from Rust.
//! - [`lookup`]: alarm states read by other services (ECS deployment alarms).

pub mod actions;
pub mod evaluate;
mod evaluator;
mod handlers;
pub mod history;
pub mod inputs;
pub mod lookup;
pub mod managed;
pub mod model;
pub(crate) mod ops;
pub mod output;
pub mod rules;
pub mod store;

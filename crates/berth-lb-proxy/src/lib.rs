//! The load balancer's data plane: an HTTP/1.1 + HTTP/2 reverse proxy (the
//! Application Load Balancer's listeners, rules and actions) and a TCP
//! proxy (the Network Load Balancer's), with active health checks,
//! draining, slow start, stickiness and the ALB/NLB metrics.
//!
//! It is driven by a plain config snapshot ([`LbConfig`]), independent of
//! the store and of the ELBv2 API (`berth-lb`): a controller builds the
//! snapshot from the API's records and calls [`Proxy::apply`] whenever they
//! change. Pure parts (rule matching, redirects, balancing, the health
//! state machine, stickiness cookies) are unit-tested without IO.
//!
//! ```no_run
//! # async fn run() -> Result<(), berth_lb_proxy::ApplyError> {
//! use berth_lb_proxy::*;
//! let proxy = Proxy::new();
//! proxy.apply(&LbConfig {
//!     load_balancers: vec![LoadBalancer {
//!         arn: "arn:…:loadbalancer/app/web/1".into(),
//!         kind: LbKind::Application,
//!         bind: "127.0.0.1".parse().unwrap(),
//!         idle_timeout: std::time::Duration::from_secs(60),
//!         listeners: vec![Listener {
//!             arn: "arn:…:listener/app/web/1/2".into(),
//!             port: 8080,
//!             protocol: ListenerProtocol::Http,
//!             default_action: Action::Forward(Forward::to("arn:…:targetgroup/web/3")),
//!             rules: vec![],
//!         }],
//!     }],
//!     target_groups: vec![TargetGroup {
//!         arn: "arn:…:targetgroup/web/3".into(),
//!         protocol: TargetProtocol::Http,
//!         health_check: HealthCheck::http_default(),
//!         attributes: TargetGroupAttributes::default(),
//!         targets: vec![Target::new("127.0.0.1", 32768)],
//!     }],
//! }).await?;
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

mod alarm;
mod answers;
pub mod balance;
mod body;
pub mod busy_poll;
mod checker;
pub mod config;
pub mod cpu_slice;
pub mod fields;
mod group;
mod h1;
pub mod health;
mod http_proxy;
mod idle;
mod listener;
pub mod matcher;
pub mod metrics;
pub mod pattern;
mod proxy;
pub mod redirect;
mod request;
mod respond;
pub mod rules;
mod serve_h1;
mod shared;
pub mod sticky;
mod striped;
mod tcp_proxy;
mod tls;
mod upgrade;
mod upstream;
mod workers;

pub use config::*;
pub use group::TargetHealthDescription;
pub use health::{HealthState, Reason, TargetHealth};
pub use matcher::Matcher;
pub use metrics::{GroupSnapshot, LbSnapshot, MetricsSnapshot};
pub use proxy::{ApplyError, ListenerError, Proxy};
pub use tls::TlsError;

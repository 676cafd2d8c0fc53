//! The active health checks of one target group, a thin loop: every
//! interval it checks each registered target (an HTTP GET of the path, its
//! code against the matcher, or a TCP connect) within the timeout and feeds
//! the outcome to the group's health machines; it also forgets the targets
//! whose deregistration delay is over. It runs while the group exists and
//! re-reads the group's settings when `apply` changes them.

use crate::config::{HealthCheck, HealthCheckProtocol};
use crate::group::{CheckJob, Group};
use crate::health::CheckOutcome;
use bytes::Bytes;
use http::{Request, header};
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

/// Checks `group` until the task is aborted.
pub(crate) async fn run(group: Arc<Group>) {
    let mut next_check = Instant::now();
    loop {
        let now = Instant::now();
        let next_reap = group.reap(now);
        let (jobs, settings, active) = group.check_jobs();
        if active && now >= next_check {
            next_check = now + settings.interval.max(Duration::from_millis(10));
            check_all(&group, jobs, &settings).await;
            continue;
        }
        let wake = [active.then_some(next_check), next_reap].into_iter().flatten().min();
        match wake {
            Some(at) => {
                tokio::select! {
                    () = tokio::time::sleep_until(at.into()) => {}
                    () = group.changed.notified() => {}
                }
            }
            None => group.changed.notified().await,
        }
    }
}

async fn check_all(group: &Arc<Group>, jobs: Vec<CheckJob>, settings: &HealthCheck) {
    let mut checks = JoinSet::new();
    for job in jobs {
        let settings = settings.clone();
        checks.spawn(async move {
            let outcome = match tokio::time::timeout(settings.timeout, check(&job, &settings)).await {
                Ok(outcome) => outcome,
                Err(_) => CheckOutcome::Timeout,
            };
            (job, outcome)
        });
    }
    while let Some(done) = checks.join_next().await {
        if let Ok((job, outcome)) = done {
            let transition = group.record(&job.target, outcome, Instant::now());
            tracing::debug!(group = %group.arn, target = %job.target.id, port = job.target.port, ?outcome, ?transition, "health check");
        }
    }
}

/// One check, without its timeout.
pub(crate) async fn check(job: &CheckJob, settings: &HealthCheck) -> CheckOutcome {
    let authority = job.target.authority(job.port);
    let Ok(stream) = TcpStream::connect(&authority).await else {
        return CheckOutcome::Failed;
    };
    match settings.protocol {
        HealthCheckProtocol::Tcp => CheckOutcome::Passed,
        HealthCheckProtocol::Http => {
            let Ok((mut sender, conn)) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await else {
                return CheckOutcome::Failed;
            };
            let driver = tokio::spawn(conn);
            let request = Request::get(settings.path.as_str())
                .header(header::HOST, &authority)
                .header(header::USER_AGENT, "ELB-HealthChecker/2.0")
                .header(header::CONNECTION, "close")
                .body(Empty::<Bytes>::new());
            let outcome = match request {
                Err(_) => CheckOutcome::Failed,
                Ok(request) => match sender.send_request(request).await {
                    Ok(response) if settings.matcher.accepts(response.status().as_u16()) => CheckOutcome::Passed,
                    Ok(response) => CheckOutcome::CodeMismatch(response.status().as_u16()),
                    Err(_) => CheckOutcome::Failed,
                },
            };
            driver.abort();
            outcome
        }
    }
}

//! StartReplicationBackfill, StopReplicationBackfill, ListReplicationBackfills
//! and DescribeReplicationBackfillResults: each call records intent and
//! returns; the backfill controller ([`crate::replication::backfills`])
//! does the work.

use super::invalid_parameter;
use crate::replication::backfills::{self, BackfillRecord, ImageResult, ResultStatus, StartRefusal};
use crate::replication::config::Destination;
use crate::{Registry, keys, now_epoch};
use berth_proto::pagination::paginate;
use berth_proto::{AwsError, RequestContext};
use berth_store::{Compare, Op, Revision, typed};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StartBackfillInput {
    registry_id: Option<String>,
    destination: Destination,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BackfillIdInput {
    registry_id: Option<String>,
    replication_backfill_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListBackfillsInput {
    registry_id: Option<String>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DescribeBackfillInput {
    registry_id: Option<String>,
    replication_backfill_id: String,
    result_status_filter: Option<ResultStatus>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

fn in_progress(region: &str, id: &str) -> AwsError {
    AwsError::new(
        "ReplicationBackfillInProgressException",
        400,
        format!(
            "A replication backfill to the region '{region}' is already in progress ({id}). Wait for it to end, \
             or stop it with StopReplicationBackfill, before starting another one."
        ),
    )
}

fn not_found(id: &str, registry: &str) -> AwsError {
    AwsError::new(
        "ReplicationBackfillNotFoundException",
        400,
        format!("The replication backfill '{id}' does not exist in the registry with id '{registry}'."),
    )
}

fn epoch(t: f64) -> Value {
    json!(t)
}

fn destination(d: &Destination) -> Value {
    json!({ "region": d.region, "registryId": d.registry_id })
}

/// The summary ListReplicationBackfills gives (and Describe's head).
fn summary(rec: &BackfillRecord) -> Value {
    let mut out = json!({
        "replicationBackfillId": rec.id,
        "destination": destination(&rec.destination),
        "status": rec.status,
        "startedAt": epoch(rec.started_at),
    });
    if let Some(code) = &rec.failure_code {
        out["failureCode"] = json!(code);
    }
    if let Some(p) = &rec.progress {
        out["progress"] = json!(p);
    }
    if let Some(t) = rec.ended_at {
        out["endedAt"] = epoch(t);
    }
    out
}

fn result(r: &ImageResult) -> Value {
    let mut image_id = json!({ "imageDigest": r.digest });
    if let Some(t) = &r.tag {
        image_id["imageTag"] = json!(t);
    }
    let mut out = json!({ "repositoryName": r.repository, "imageId": image_id, "status": r.status });
    if let Some(code) = &r.failure_code {
        out["failureCode"] = json!(code);
    }
    out
}

impl Registry {
    /// A `registryId` other than this registry's is refused.
    fn own_registry(&self, registry_id: Option<&str>) -> Result<(), AwsError> {
        match registry_id {
            Some(r) if r != self.registry_id() => Err(invalid_parameter(format!(
                "Invalid parameter at 'registryId': replication backfills run only in your own registry '{}', not '{r}'.",
                self.registry_id()
            ))),
            _ => Ok(()),
        }
    }

    async fn backfill(&self, id: &str) -> Result<(BackfillRecord, Revision), AwsError> {
        typed::get::<BackfillRecord>(&*self.store, &keys::replication_backfill(id))
            .await
            .map_err(AwsError::state_store)?
            .filter(|(r, _)| r.retained(now_epoch()))
            .ok_or_else(|| not_found(id, self.registry_id()))
    }

    pub(crate) async fn start_replication_backfill(
        &self,
        _ctx: &RequestContext,
        input: StartBackfillInput,
    ) -> Result<Value, AwsError> {
        self.own_registry(input.registry_id.as_deref())?;
        let dest = input.destination;
        let config = self.replication_configuration().await.map_err(|e| self.aws(e))?;
        if !config.all_destinations().contains(&dest) {
            return Err(invalid_parameter(format!(
                "Invalid parameter at 'destination': the region '{}' of registry '{}' is not a destination of the \
                 registry's replication configuration; add it with PutReplicationConfiguration first.",
                dest.region, dest.registry_id
            )));
        }
        let id = uuid::Uuid::new_v4().hyphenated().to_string();
        let rec = BackfillRecord::new(id.clone(), dest.clone(), now_epoch());
        let encoded = typed::encode(&rec).map_err(AwsError::state_store)?;
        // The record and its place among the active ones, together.
        for _ in 0..16 {
            let (mut active, rev) = self.active_backfills().await.map_err(|e| self.aws(e))?;
            backfills::can_start(&active, &dest.region).map_err(|r| match r {
                StartRefusal::InProgress(other) => in_progress(&dest.region, &other),
                StartRefusal::Limit => AwsError::new(
                    "LimitExceededException",
                    400,
                    format!(
                        "The registry already has {} replication backfills in progress, the most it can have; \
                         wait for one to end or stop one.",
                        backfills::MAX_ACTIVE
                    ),
                ),
            })?;
            active.insert(dest.region.clone(), id.clone());
            let committed = self
                .store
                .txn(
                    vec![Compare::ModRevision(
                        keys::REPLICATION_BACKFILLS_ACTIVE.to_string(),
                        rev,
                    )],
                    vec![
                        Op::Put(
                            keys::REPLICATION_BACKFILLS_ACTIVE.to_string(),
                            typed::encode(&active).map_err(AwsError::state_store)?,
                        ),
                        Op::Put(keys::replication_backfill(&id), encoded.clone()),
                    ],
                )
                .await
                .map_err(AwsError::state_store)?
                .succeeded;
            if committed {
                tracing::info!(backfill = %id, region = %dest.region, registry = %dest.registry_id, "replication backfill started");
                self.wake_backfills();
                return Ok(json!({
                    "replicationBackfillId": id,
                    "registryId": self.registry_id(),
                    "destination": destination(&dest),
                    "status": rec.status,
                    "startedAt": epoch(rec.started_at),
                }));
            }
        }
        Err(AwsError::server(
            "Too many concurrent changes to the registry's replication backfills. Try again.",
        ))
    }

    pub(crate) async fn stop_replication_backfill(
        &self,
        _ctx: &RequestContext,
        input: BackfillIdInput,
    ) -> Result<Value, AwsError> {
        self.own_registry(input.registry_id.as_deref())?;
        let id = input.replication_backfill_id;
        for _ in 0..16 {
            let (mut rec, rev) = self.backfill(&id).await?;
            let Some(next) = rec.status.stopped() else {
                return Err(AwsError::new(
                    "ReplicationBackfillInvalidStatusException",
                    400,
                    format!(
                        "The replication backfill '{id}' is {} and cannot be stopped: only a PREPARING or \
                         IN_PROGRESS one can.",
                        serde_json::to_value(rec.status)
                            .unwrap_or_default()
                            .as_str()
                            .unwrap_or("")
                    ),
                ));
            };
            rec.status = next;
            let key = keys::replication_backfill(&id);
            let mut compares = vec![Compare::ModRevision(key.clone(), rev)];
            let mut ops = Vec::new();
            if next.is_terminal() {
                // Stopped while preparing: nothing was queued; its region is free.
                rec.ended_at = Some(now_epoch());
                let (mut active, active_rev) = self.active_backfills().await.map_err(|e| self.aws(e))?;
                if active.get(&rec.destination.region) == Some(&id) {
                    active.remove(&rec.destination.region);
                }
                compares.push(Compare::ModRevision(
                    keys::REPLICATION_BACKFILLS_ACTIVE.to_string(),
                    active_rev,
                ));
                ops.push(Op::Put(
                    keys::REPLICATION_BACKFILLS_ACTIVE.to_string(),
                    typed::encode(&active).map_err(AwsError::state_store)?,
                ));
            }
            ops.push(Op::Put(key, typed::encode(&rec).map_err(AwsError::state_store)?));
            if self
                .store
                .txn(compares, ops)
                .await
                .map_err(AwsError::state_store)?
                .succeeded
            {
                tracing::info!(backfill = %id, status = ?rec.status, "replication backfill stop asked");
                self.wake_backfills();
                return Ok(json!({
                    "registryId": self.registry_id(),
                    "replicationBackfillId": id,
                    "destination": destination(&rec.destination),
                    "status": rec.status,
                    "startedAt": epoch(rec.started_at),
                }));
            }
        }
        Err(AwsError::server(
            "Too many concurrent changes to the replication backfill. Try again.",
        ))
    }

    pub(crate) async fn list_replication_backfills(
        &self,
        _ctx: &RequestContext,
        input: ListBackfillsInput,
    ) -> Result<Value, AwsError> {
        self.own_registry(input.registry_id.as_deref())?;
        let now = now_epoch();
        let mut all: Vec<BackfillRecord> = typed::list(&*self.store, keys::REPLICATION_BACKFILLS)
            .await
            .map_err(AwsError::state_store)?;
        all.retain(|r| r.retained(now));
        all.sort_by_key(BackfillRecord::key);
        let (page, next) = paginate(
            all,
            BackfillRecord::key,
            input.next_token.as_deref(),
            input.max_results,
            25,
            50,
        )?;
        let mut out = json!({
            "registryId": self.registry_id(),
            "backfills": page.iter().map(summary).collect::<Vec<_>>(),
        });
        if let Some(t) = next {
            out["nextToken"] = json!(t);
        }
        Ok(out)
    }

    pub(crate) async fn describe_replication_backfill_results(
        &self,
        _ctx: &RequestContext,
        input: DescribeBackfillInput,
    ) -> Result<Value, AwsError> {
        self.own_registry(input.registry_id.as_deref())?;
        let (rec, _) = self.backfill(&input.replication_backfill_id).await?;
        // Results only once it ended.
        let results: Vec<ImageResult> = rec
            .results
            .clone()
            .unwrap_or_default()
            .into_iter()
            .filter(|r| input.result_status_filter.is_none_or(|s| r.status == s))
            .collect();
        let (page, next) = paginate(
            results,
            ImageResult::key,
            input.next_token.as_deref(),
            input.max_results,
            100,
            1000,
        )?;
        let mut out = summary(&rec);
        out["registryId"] = json!(self.registry_id());
        if rec.status.is_terminal() {
            out["results"] = json!(page.iter().map(result).collect::<Vec<_>>());
        }
        if let Some(t) = next {
            out["nextToken"] = json!(t);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replication::backfills::BackfillStatus;

    #[test]
    fn summaries_leave_out_what_is_not_there_yet() {
        let d = Destination {
            region: "eu-west-1".into(),
            registry_id: "000000000000".into(),
        };
        let rec = BackfillRecord::new("id".into(), d, 5.0);
        let s = summary(&rec);
        assert_eq!(s["status"], "PREPARING");
        assert_eq!(s["destination"]["registryId"], "000000000000");
        assert!(s.get("progress").is_none() && s.get("endedAt").is_none());
        let stopped = BackfillStatus::Preparing.stopped().unwrap();
        assert_eq!(serde_json::to_value(stopped).unwrap(), "STOPPED");
    }
}

//! The operations: apply the pure rules to the typed input, call the database.

use crate::db::{EventRow, Group, Stream};
use crate::inputs::*;
use crate::pattern::Pattern;
use crate::rules::{self, Direction, Position};
use crate::{Logs, now_ms};
use berth_proto::AwsError;
use berth_proto::pagination::{decode_token, encode_token};
use serde_json::{Map, Value, json};
use std::collections::{HashMap, HashSet};

const MAX_EVENTS_LIMIT: i64 = 10_000;
const DESCRIBE_LIMIT: i64 = 50;
/// FilterLogEvents returns what it found so far (with a nextToken) after this long.
const FILTER_TIME_BUDGET: std::time::Duration = std::time::Duration::from_secs(10);

fn group_not_found() -> AwsError {
    AwsError::resource_not_found("The specified log group does not exist.")
}

fn stream_not_found() -> AwsError {
    AwsError::resource_not_found("The specified log stream does not exist.")
}

fn check_limit(field: &str, limit: Option<i64>, max: i64) -> Result<usize, AwsError> {
    match limit {
        None => Ok(max as usize),
        Some(n) if (1..=max).contains(&n) => Ok(n as usize),
        Some(n) => Err(AwsError::invalid_parameter(format!(
            "1 validation error detected: Value '{n}' at '{field}' failed to satisfy constraint: \
             Member must have value between 1 and {max}"
        ))),
    }
}

/// Log group tags: string values, then the shared rule
/// ([`berth_core::tags::check_tags`]) in CloudWatch Logs' words.
fn validate_tags(tags: &Map<String, Value>) -> Result<(), AwsError> {
    use berth_core::tags::{TagViolation, check_tags};
    let mut pairs = Vec::with_capacity(tags.len());
    for (k, v) in tags {
        let Some(s) = v.as_str() else {
            return Err(AwsError::invalid_parameter(format!(
                "The value of tag '{k}' must be a string of at most 256 characters."
            )));
        };
        pairs.push((k.as_str(), s));
    }
    check_tags(pairs).map_err(|v| match v {
        TagViolation::TooMany => AwsError::invalid_parameter("A log group can have at most 50 tags."),
        TagViolation::KeyLength(k) | TagViolation::ReservedPrefix(k) | TagViolation::DuplicateKey(k) => {
            AwsError::invalid_parameter(format!(
                "Tag key '{k}' is invalid: it must be 1 to 128 characters and must not start with 'aws:'."
            ))
        }
        TagViolation::ValueLength(k) => AwsError::invalid_parameter(format!(
            "The value of tag '{k}' must be a string of at most 256 characters."
        )),
    })
}

impl Logs {
    fn group_arn(&self, name: &str) -> String {
        format!("arn:aws:logs:{}:{}:log-group:{name}", self.region, self.account_id)
    }

    /// A log group name or ARN (`…:log-group:NAME` with or without `:*`).
    fn group_name_of(&self, identifier: &str) -> Result<String, AwsError> {
        if !identifier.starts_with("arn:") {
            return Ok(identifier.to_string());
        }
        let (_, rest) = identifier.split_once(":log-group:").ok_or_else(|| {
            AwsError::invalid_parameter(format!(
                "'{identifier}' is not a log group ARN (arn:aws:logs:…:log-group:NAME)"
            ))
        })?;
        let name = rest.strip_suffix(":*").unwrap_or(rest);
        let expected = self.group_arn(name);
        if identifier.strip_suffix(":*").unwrap_or(identifier) != expected {
            return Err(group_not_found());
        }
        Ok(name.to_string())
    }

    fn identifier(name: Option<String>, identifier: Option<String>) -> Result<String, AwsError> {
        match (name, identifier) {
            (Some(n), None) | (None, Some(n)) => Ok(n),
            (Some(_), Some(_)) => Err(AwsError::invalid_parameter(
                "LogGroupName and LogGroupIdentifier are mutually exclusive: specify only one.",
            )),
            (None, None) => Err(AwsError::invalid_parameter(
                "Either logGroupName or logGroupIdentifier must be specified.",
            )),
        }
    }

    async fn group(&self, name: &str) -> Result<Group, AwsError> {
        let name = self.group_name_of(name)?;
        self.blocking(move |db| db.group(&name))
            .await?
            .ok_or_else(group_not_found)
    }

    /// Appends one event to `stream` of `group` (the stream made when
    /// missing): how another service delivers into a log group (an
    /// EventBridge target). The group must exist (`ResourceNotFoundException`).
    pub async fn deliver(&self, group: &str, stream: &str, timestamp_ms: i64, message: String) -> Result<(), AwsError> {
        rules::validate_stream_name(stream)?;
        let g = self.group(group).await?;
        let (gid, name) = (g.gid, stream.to_string());
        self.blocking(move |db| {
            let now = now_ms();
            db.create_stream(gid, &name, now)?;
            let Some(s) = db.stream(gid, &name)? else {
                return Ok(());
            };
            db.append(gid, s.sid, &[(timestamp_ms, message.as_str())], now)
        })
        .await
    }

    async fn stream(&self, gid: i64, name: &str) -> Result<Stream, AwsError> {
        let name = name.to_string();
        self.blocking(move |db| db.stream(gid, &name))
            .await?
            .ok_or_else(stream_not_found)
    }

    fn group_json(&self, g: &Group) -> Value {
        let arn = self.group_arn(&g.name);
        let mut v = json!({
            "logGroupName": g.name,
            "creationTime": g.created,
            "metricFilterCount": 0,
            "arn": format!("{arn}:*"),
            "storedBytes": g.stored_bytes,
            "logGroupClass": g.class,
            "logGroupArn": arn,
        });
        if let Some(d) = g.retention_days {
            v["retentionInDays"] = json!(d);
        }
        v
    }

    fn stream_json(&self, group: &str, s: &Stream) -> Value {
        let mut v = json!({
            "logStreamName": s.name,
            "creationTime": s.created,
            "arn": format!("{}:log-stream:{}", self.group_arn(group), s.name),
            // AWS stopped reporting stored bytes per stream; it answers 0.
            "storedBytes": 0,
            "uploadSequenceToken": format!("{:056}", s.sid),
        });
        if let Some(t) = s.first_ts {
            v["firstEventTimestamp"] = json!(t);
        }
        if let Some(t) = s.last_ts {
            v["lastEventTimestamp"] = json!(t);
        }
        if let Some(t) = s.last_ingest {
            v["lastIngestionTime"] = json!(t);
        }
        v
    }

    pub(crate) async fn create_log_group(&self, i: CreateLogGroupInput) -> Result<Value, AwsError> {
        rules::validate_group_name(&i.log_group_name)?;
        if i.kms_key_id.is_some() {
            return Err(AwsError::invalid_parameter(
                "Berth does not encrypt log groups with KMS keys: omit kmsKeyId.",
            ));
        }
        if i.deletion_protection_enabled == Some(true) {
            return Err(AwsError::invalid_parameter(
                "Berth does not support deletion protection for log groups: omit deletionProtectionEnabled.",
            ));
        }
        let class = i.log_group_class.unwrap_or_else(|| "STANDARD".into());
        if !matches!(class.as_str(), "STANDARD" | "INFREQUENT_ACCESS" | "DELIVERY") {
            return Err(AwsError::invalid_parameter(format!(
                "1 validation error detected: Value '{class}' at 'logGroupClass' failed to satisfy constraint: \
                 Member must satisfy enum value set: [STANDARD, INFREQUENT_ACCESS, DELIVERY]"
            )));
        }
        validate_tags(&i.tags)?;
        let tags = Value::Object(i.tags);
        let name = i.log_group_name;
        let created = self
            .blocking(move |db| db.create_group(&name, now_ms(), &class, &tags))
            .await?;
        if !created {
            return Err(AwsError::resource_already_exists(
                "The specified log group already exists",
            ));
        }
        Ok(json!({}))
    }

    pub(crate) async fn delete_log_group(&self, i: GroupInput) -> Result<Value, AwsError> {
        let name = self.group_name_of(&i.log_group_name)?;
        if !self.blocking(move |db| db.delete_group(&name)).await? {
            return Err(group_not_found());
        }
        Ok(json!({}))
    }

    pub(crate) async fn describe_log_groups(&self, i: DescribeLogGroupsInput) -> Result<Value, AwsError> {
        if i.log_group_name_prefix.is_some() && i.log_group_name_pattern.is_some() {
            return Err(AwsError::invalid_parameter(
                "LogGroupNamePrefix and LogGroupNamePattern are mutually exclusive.",
            ));
        }
        let limit = check_limit("limit", i.limit, DESCRIBE_LIMIT)?;
        let after = i.next_token.as_deref().map(decode_token).transpose()?;
        let idents: Option<Vec<String>> = i
            .log_group_identifiers
            .map(|ids| ids.iter().map(|id| self.group_name_of(id)).collect::<Result<_, _>>())
            .transpose()?;
        let groups = self.blocking(|db| db.groups()).await?;
        let pattern = i.log_group_name_pattern.map(|p| p.to_lowercase());
        let mut page: Vec<&Group> = groups
            .iter()
            .filter(|g| {
                i.log_group_name_prefix
                    .as_ref()
                    .is_none_or(|p| g.name.starts_with(p.as_str()))
            })
            .filter(|g| {
                pattern
                    .as_ref()
                    .is_none_or(|p| g.name.to_lowercase().contains(p.as_str()))
            })
            .filter(|g| i.log_group_class.as_ref().is_none_or(|c| &g.class == c))
            .filter(|g| idents.as_ref().is_none_or(|ids| ids.contains(&g.name)))
            .filter(|g| after.as_ref().is_none_or(|a| g.name.as_str() > a.as_str()))
            .take(limit + 1)
            .collect();
        let mut out = json!({});
        if page.len() > limit {
            page.truncate(limit);
            out["nextToken"] = json!(encode_token(&page[limit - 1].name));
        }
        out["logGroups"] = Value::Array(page.iter().map(|g| self.group_json(g)).collect());
        Ok(out)
    }

    pub(crate) async fn create_log_stream(&self, i: StreamInput) -> Result<Value, AwsError> {
        rules::validate_stream_name(&i.log_stream_name)?;
        let g = self.group(&i.log_group_name).await?;
        let name = i.log_stream_name;
        if !self
            .blocking(move |db| db.create_stream(g.gid, &name, now_ms()))
            .await?
        {
            return Err(AwsError::resource_already_exists(
                "The specified log stream already exists",
            ));
        }
        Ok(json!({}))
    }

    pub(crate) async fn delete_log_stream(&self, i: StreamInput) -> Result<Value, AwsError> {
        let g = self.group(&i.log_group_name).await?;
        let name = i.log_stream_name;
        if !self.blocking(move |db| db.delete_stream(g.gid, &name)).await? {
            return Err(stream_not_found());
        }
        Ok(json!({}))
    }

    pub(crate) async fn describe_log_streams(&self, i: DescribeLogStreamsInput) -> Result<Value, AwsError> {
        let ident = Self::identifier(i.log_group_name, i.log_group_identifier)?;
        let by_time = match i.order_by.as_deref() {
            None | Some("LogStreamName") => false,
            Some("LastEventTime") => true,
            Some(other) => {
                return Err(AwsError::invalid_parameter(format!(
                    "1 validation error detected: Value '{other}' at 'orderBy' failed to satisfy constraint: \
                     Member must satisfy enum value set: [LogStreamName, LastEventTime]"
                )));
            }
        };
        if by_time && i.log_stream_name_prefix.is_some() {
            return Err(AwsError::invalid_parameter(
                "Cannot order by LastEventTime with a logStreamNamePrefix.",
            ));
        }
        let limit = check_limit("limit", i.limit, DESCRIBE_LIMIT)?;
        let after = i.next_token.as_deref().map(decode_token).transpose()?;
        let g = self.group(&ident).await?;
        let gid = g.gid;
        let streams = self.blocking(move |db| db.streams(gid)).await?;
        let key = |s: &Stream| {
            if by_time {
                // Offset so the digits sort like the (possibly absent) timestamp.
                let t = s.last_ts.map_or(0, |t| (t as i128 - i64::MIN as i128 + 1) as u128);
                format!("{t:020}/{}", s.name)
            } else {
                s.name.clone()
            }
        };
        let mut items: Vec<(String, &Stream)> = streams
            .iter()
            .filter(|s| {
                i.log_stream_name_prefix
                    .as_ref()
                    .is_none_or(|p| s.name.starts_with(p.as_str()))
            })
            .map(|s| (key(s), s))
            .collect();
        items.sort_by(|a, b| a.0.cmp(&b.0));
        if i.descending {
            items.reverse();
        }
        let mut page: Vec<(String, &Stream)> = items
            .into_iter()
            .filter(|(k, _)| match &after {
                None => true,
                Some(a) if i.descending => k.as_str() < a.as_str(),
                Some(a) => k.as_str() > a.as_str(),
            })
            .take(limit + 1)
            .collect();
        let mut out = json!({});
        if page.len() > limit {
            page.truncate(limit);
            out["nextToken"] = json!(encode_token(&page[limit - 1].0));
        }
        out["logStreams"] = Value::Array(page.iter().map(|(_, s)| self.stream_json(&g.name, s)).collect());
        Ok(out)
    }

    pub(crate) async fn put_log_events(&self, i: PutLogEventsInput) -> Result<Value, AwsError> {
        let g = self.group(&i.log_group_name).await?;
        let s = self.stream(g.gid, &i.log_stream_name).await?;
        let now = now_ms();
        let pairs: Vec<(i64, &str)> = i.log_events.iter().map(|e| (e.timestamp, e.message.as_str())).collect();
        let verdict = rules::check_batch(&pairs, now, g.retention_days)?;
        let accepted: Vec<(i64, String)> = i.log_events[verdict.accept.clone()]
            .iter()
            .map(|e| (e.timestamp, e.message.clone()))
            .collect();
        let (gid, sid) = (g.gid, s.sid);
        self.blocking(move |db| {
            let refs: Vec<(i64, &str)> = accepted.iter().map(|(t, m)| (*t, m.as_str())).collect();
            db.append(gid, sid, &refs, now)
        })
        .await?;
        // Sequence tokens are ignored, as AWS now does; one is still returned for old clients.
        let mut out = json!({ "nextSequenceToken": format!("{:056}", now) });
        let mut rejected = Map::new();
        if let Some(n) = verdict.too_new_start {
            rejected.insert("tooNewLogEventStartIndex".into(), json!(n));
        }
        if let Some(n) = verdict.too_old_end {
            rejected.insert("tooOldLogEventEndIndex".into(), json!(n));
        }
        if let Some(n) = verdict.expired_end {
            rejected.insert("expiredLogEventEndIndex".into(), json!(n));
        }
        if !rejected.is_empty() {
            out["rejectedLogEventsInfo"] = Value::Object(rejected);
        }
        Ok(out)
    }

    pub(crate) async fn get_log_events(&self, i: GetLogEventsInput) -> Result<Value, AwsError> {
        let ident = Self::identifier(i.log_group_name, i.log_group_identifier)?;
        let limit = check_limit("limit", i.limit, MAX_EVENTS_LIMIT)?;
        let token = i.next_token.as_deref().map(rules::decode_stream_token).transpose()?;
        let g = self.group(&ident).await?;
        let s = self.stream(g.gid, &i.log_stream_name).await?;
        let start = i.start_time.unwrap_or(i64::MIN);
        let end = i.end_time.unwrap_or(i64::MAX);
        let (dir, cursor) = match token {
            Some(t) => t,
            None if i.start_from_head => (Direction::Forward, Position::START),
            None => (Direction::Backward, Position::END),
        };
        let forward = dir == Direction::Forward;
        let sid = s.sid;
        let mut rows = self
            .blocking(move |db| db.stream_events(sid, start, end, cursor, forward, limit))
            .await?;
        if !forward {
            rows.reverse();
        }
        let (next_f, next_b) = match (rows.first(), rows.last()) {
            (Some(first), Some(last)) => (
                rules::encode_stream_token(Direction::Forward, last.pos()),
                rules::encode_stream_token(Direction::Backward, first.pos()),
            ),
            // Nothing there: hand back the same position (the same token when one was given).
            _ if token.is_some() => {
                let (fpos, bpos) = if forward {
                    (
                        cursor,
                        Position {
                            ts: cursor.ts,
                            id: cursor.id.saturating_add(1),
                        },
                    )
                } else {
                    (
                        Position {
                            ts: cursor.ts,
                            id: cursor.id.saturating_sub(1),
                        },
                        cursor,
                    )
                };
                (
                    rules::encode_stream_token(Direction::Forward, fpos),
                    rules::encode_stream_token(Direction::Backward, bpos),
                )
            }
            _ => (
                rules::encode_stream_token(Direction::Forward, Position::START),
                rules::encode_stream_token(Direction::Backward, Position::START),
            ),
        };
        let events: Vec<Value> = rows
            .iter()
            .map(|e| json!({ "timestamp": e.ts, "message": e.message, "ingestionTime": e.ingest }))
            .collect();
        Ok(json!({ "events": events, "nextForwardToken": next_f, "nextBackwardToken": next_b }))
    }

    pub(crate) async fn filter_log_events(&self, i: FilterLogEventsInput) -> Result<Value, AwsError> {
        let ident = Self::identifier(i.log_group_name, i.log_group_identifier)?;
        if i.log_stream_names.is_some() && i.log_stream_name_prefix.is_some() {
            return Err(AwsError::invalid_parameter(
                "logStreamNames and logStreamNamePrefix are mutually exclusive: specify only one.",
            ));
        }
        if i.log_stream_names
            .as_ref()
            .is_some_and(|n| n.is_empty() || n.len() > 100)
        {
            return Err(AwsError::invalid_parameter(
                "logStreamNames must list between 1 and 100 streams.",
            ));
        }
        let limit = check_limit("limit", i.limit, MAX_EVENTS_LIMIT)?;
        let pattern = Pattern::parse(i.filter_pattern.as_deref().unwrap_or(""))
            .map_err(|e| AwsError::invalid_parameter(e.to_string()))?;
        let after = match i.next_token.as_deref() {
            Some(t) => rules::decode_filter_token(t)?,
            None => Position::START,
        };
        let g = self.group(&ident).await?;
        let gid = g.gid;
        let streams = self.blocking(move |db| db.streams(gid)).await?;
        let selected: Vec<&Stream> = streams
            .iter()
            .filter(|s| i.log_stream_names.as_ref().is_none_or(|n| n.contains(&s.name)))
            .filter(|s| {
                i.log_stream_name_prefix
                    .as_ref()
                    .is_none_or(|p| s.name.starts_with(p.as_str()))
            })
            .collect();
        if let Some(names) = &i.log_stream_names
            && selected.len() != names.len()
        {
            return Err(stream_not_found());
        }
        let restrict = i.log_stream_names.is_some() || i.log_stream_name_prefix.is_some();
        let wanted: HashSet<i64> = selected.iter().map(|s| s.sid).collect();
        let start = i.start_time.unwrap_or(i64::MIN);
        // endTime is inclusive for FilterLogEvents.
        let end = i.end_time.map_or(i64::MAX, |t| t.saturating_add(1));
        let (found, last_scanned, complete, names) = self
            .blocking(move |db| {
                let started = std::time::Instant::now();
                let mut found: Vec<EventRow> = vec![];
                let mut last = None;
                let mut complete = true;
                let mut n = 0u64;
                db.scan_group(gid, start, end, after, |e| {
                    n += 1;
                    if n.is_multiple_of(4096) && started.elapsed() > FILTER_TIME_BUDGET {
                        complete = false;
                        return false;
                    }
                    last = Some(e.pos());
                    if (!restrict || wanted.contains(&e.sid)) && pattern.matches(&e.message) {
                        found.push(e);
                        if found.len() == limit {
                            complete = false;
                            return false;
                        }
                    }
                    true
                })?;
                // Names are read after the scan: an event found there was
                // put in a stream that existed before the scan ended, even
                // one created after `streams` was listed above.
                let names: HashMap<i64, String> = db.streams(gid)?.into_iter().map(|s| (s.sid, s.name)).collect();
                Ok((found, last, complete, names))
            })
            .await?;
        let events: Vec<Value> = found
            .iter()
            .map(|e| {
                json!({
                    "logStreamName": names.get(&e.sid).cloned().unwrap_or_default(),
                    "timestamp": e.ts,
                    "message": e.message,
                    "ingestionTime": e.ingest,
                    "eventId": format!("{:020}{:020}", e.ts.max(0), e.id),
                })
            })
            .collect();
        let searched: Vec<Value> = selected
            .iter()
            .map(|s| json!({ "logStreamName": s.name, "searchedCompletely": complete }))
            .collect();
        let mut out = json!({ "events": events, "searchedLogStreams": searched });
        if !complete && let Some(pos) = last_scanned {
            out["nextToken"] = json!(rules::encode_filter_token(pos));
        }
        Ok(out)
    }

    pub(crate) async fn put_retention_policy(&self, i: RetentionInput) -> Result<Value, AwsError> {
        rules::validate_retention(i.retention_in_days)?;
        let g = self.group(&i.log_group_name).await?;
        let days = i.retention_in_days;
        self.blocking(move |db| db.set_retention(g.gid, Some(days))).await?;
        Ok(json!({}))
    }

    pub(crate) async fn delete_retention_policy(&self, i: GroupInput) -> Result<Value, AwsError> {
        let g = self.group(&i.log_group_name).await?;
        self.blocking(move |db| db.set_retention(g.gid, None)).await?;
        Ok(json!({}))
    }

    async fn add_tags(&self, group: &str, tags: Map<String, Value>) -> Result<Value, AwsError> {
        let g = self.group(group).await?;
        let mut merged = g.tags.clone();
        merged.extend(tags);
        validate_tags(&merged)?;
        self.blocking(move |db| db.set_tags(g.gid, &merged)).await?;
        Ok(json!({}))
    }

    async fn remove_tags(&self, group: &str, keys: Vec<String>) -> Result<Value, AwsError> {
        let g = self.group(group).await?;
        let mut tags = g.tags.clone();
        for k in &keys {
            tags.remove(k);
        }
        self.blocking(move |db| db.set_tags(g.gid, &tags)).await?;
        Ok(json!({}))
    }

    pub(crate) async fn tag_log_group(&self, i: TagLogGroupInput) -> Result<Value, AwsError> {
        self.add_tags(&i.log_group_name, i.tags).await
    }

    pub(crate) async fn untag_log_group(&self, i: UntagLogGroupInput) -> Result<Value, AwsError> {
        self.remove_tags(&i.log_group_name, i.tags).await
    }

    pub(crate) async fn list_tags_log_group(&self, i: GroupInput) -> Result<Value, AwsError> {
        let g = self.group(&i.log_group_name).await?;
        Ok(json!({ "tags": g.tags }))
    }

    fn arn_group(&self, arn: &str) -> Result<String, AwsError> {
        if !arn.starts_with("arn:") || !arn.contains(":log-group:") {
            return Err(AwsError::invalid_parameter(format!(
                "'{arn}' is not a log group ARN: Berth tags log groups only (arn:aws:logs:REGION:ACCOUNT:log-group:NAME)."
            )));
        }
        self.group_name_of(arn)
    }

    pub(crate) async fn tag_resource(&self, i: TagResourceInput) -> Result<Value, AwsError> {
        let name = self.arn_group(&i.resource_arn)?;
        self.add_tags(&name, i.tags).await
    }

    pub(crate) async fn untag_resource(&self, i: UntagResourceInput) -> Result<Value, AwsError> {
        let name = self.arn_group(&i.resource_arn)?;
        self.remove_tags(&name, i.tag_keys).await
    }

    pub(crate) async fn list_tags_for_resource(&self, i: ResourceArnInput) -> Result<Value, AwsError> {
        let name = self.arn_group(&i.resource_arn)?;
        let g = self.group(&name).await?;
        Ok(json!({ "tags": g.tags }))
    }
}

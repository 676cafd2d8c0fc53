//! Pull-time update exclusions (RegisterPullTimeUpdateExclusion,
//! DeregisterPullTimeUpdateExclusion, ListPullTimeUpdateExclusions): IAM
//! users and roles whose pulls do not update an image's
//! `lastRecordedPullTime` — so that a scanner or an audit job does not keep
//! images alive under a `sinceImagePulled` lifecycle rule. A role session
//! (`sts::A:assumed-role/ROLE/SESSION`) counts as its role.

use crate::{Registry, keys, now_epoch};
use berth_proto::pagination::paginate;
use berth_proto::{AwsError, RequestContext};
use berth_store::typed;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// ECR's quota of pull-time update exclusions per registry (the model's
/// `PullTimeUpdateExclusionList` holds at most 100).
pub(crate) const MAX_EXCLUSIONS: usize = 100;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PrincipalInput {
    principal_arn: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListExclusionsInput {
    next_token: Option<String>,
    max_results: Option<i64>,
}

/// A stored exclusion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Exclusion {
    pub(crate) principal_arn: String,
    pub(crate) created_at: f64,
}

/// The IAM identity a caller's ARN stands for, as `(account, kind, name)`:
/// a user by its name, a role or a role session by its role's name (a
/// session ARN does not carry the role's path, so roles match by name).
/// None for the root and other principals (pure).
fn identity(arn: &str) -> Option<(&str, &str, &str)> {
    let (service, rest) = arn.strip_prefix("arn:")?.split_once(':')?.1.split_once(':')?;
    let (_region, rest) = rest.split_once(':')?;
    let (account, resource) = rest.split_once(':')?;
    let (kind, path) = resource.split_once('/')?;
    match (service, kind) {
        ("iam", "user" | "role") => Some((account, kind, path.rsplit('/').next()?)),
        ("sts", "assumed-role") => Some((account, "role", path.split('/').next()?)),
        _ => None,
    }
}

/// Whether a pull by `caller` is excluded by one of `excluded` (pure).
pub(crate) fn excludes<'a>(mut excluded: impl Iterator<Item = &'a str>, caller: &str) -> bool {
    let Some(who) = identity(caller) else { return false };
    excluded.any(|e| identity(e) == Some(who))
}

/// Why an exclusion cannot be added or removed (pure rules below).
#[derive(Debug, PartialEq, Eq)]
enum Refusal {
    AlreadyExists,
    Quota,
    NotFound,
}

/// `list` with `e` added, in ARN order (pure).
fn add(mut list: Vec<Exclusion>, e: Exclusion) -> Result<Vec<Exclusion>, Refusal> {
    if list.iter().any(|x| x.principal_arn == e.principal_arn) {
        return Err(Refusal::AlreadyExists);
    }
    if list.len() >= MAX_EXCLUSIONS {
        return Err(Refusal::Quota);
    }
    list.push(e);
    list.sort_by(|a, b| a.principal_arn.cmp(&b.principal_arn));
    Ok(list)
}

/// `list` without `arn` (pure).
fn remove(mut list: Vec<Exclusion>, arn: &str) -> Result<Vec<Exclusion>, Refusal> {
    let before = list.len();
    list.retain(|x| x.principal_arn != arn);
    if list.len() == before {
        return Err(Refusal::NotFound);
    }
    Ok(list)
}

fn render(e: &Exclusion) -> Value {
    json!({ "principalArn": e.principal_arn, "createdAt": e.created_at })
}

impl Registry {
    async fn exclusions(&self) -> Result<Vec<Exclusion>, AwsError> {
        Ok(typed::get(&*self.store, keys::PULL_TIME_EXCLUSIONS)
            .await
            .map_err(AwsError::state_store)?
            .map(|(v, _)| v)
            .unwrap_or_default())
    }

    /// Whether a pull by `caller` leaves `lastRecordedPullTime` as it is.
    /// A store failure records the pull (the safer side for lifecycle).
    pub(crate) async fn pull_time_excluded(&self, caller: &str) -> bool {
        if identity(caller).is_none() {
            // The root and other principals cannot be excluded: no read.
            return false;
        }
        match self.exclusions().await {
            Ok(all) => excludes(all.iter().map(|e| e.principal_arn.as_str()), caller),
            Err(e) => {
                tracing::warn!(error = ?e, "could not read the pull-time update exclusions");
                false
            }
        }
    }

    fn refusal(&self, r: Refusal, arn: &str) -> AwsError {
        let registry = self.registry_id();
        match r {
            Refusal::AlreadyExists => AwsError::new(
                "ExclusionAlreadyExistsException",
                400,
                format!(
                    "The principal '{arn}' is already excluded from pull time updates in the registry with id '{registry}'"
                ),
            ),
            Refusal::Quota => AwsError::new(
                "LimitExceededException",
                400,
                format!(
                    "The registry with id '{registry}' already has the maximum of {MAX_EXCLUSIONS} pull time update \
                     exclusions; deregister one first."
                ),
            ),
            Refusal::NotFound => AwsError::new(
                "ExclusionNotFoundException",
                400,
                format!(
                    "The principal '{arn}' is not excluded from pull time updates in the registry with id '{registry}'"
                ),
            ),
        }
    }

    pub(crate) async fn register_pull_time_update_exclusion(
        &self,
        _ctx: &RequestContext,
        input: PrincipalInput,
    ) -> Result<Value, AwsError> {
        let e = Exclusion {
            principal_arn: input.principal_arn,
            created_at: now_epoch(),
        };
        typed::update_with(AwsError::state_store, &*self.store, keys::PULL_TIME_EXCLUSIONS, |cur| {
            add(cur.unwrap_or_default(), e.clone())
                .map(Some)
                .map_err(|r| self.refusal(r, &e.principal_arn))
        })
        .await?;
        tracing::info!(principal = %e.principal_arn, "pull time update exclusion registered");
        Ok(render(&e))
    }

    pub(crate) async fn deregister_pull_time_update_exclusion(
        &self,
        _ctx: &RequestContext,
        input: PrincipalInput,
    ) -> Result<Value, AwsError> {
        let arn = input.principal_arn;
        typed::update_with(AwsError::state_store, &*self.store, keys::PULL_TIME_EXCLUSIONS, |cur| {
            remove(cur.unwrap_or_default(), &arn)
                .map(Some)
                .map_err(|r| self.refusal(r, &arn))
        })
        .await?;
        tracing::info!(principal = %arn, "pull time update exclusion deregistered");
        Ok(json!({ "principalArn": arn }))
    }

    pub(crate) async fn list_pull_time_update_exclusions(
        &self,
        _ctx: &RequestContext,
        input: ListExclusionsInput,
    ) -> Result<Value, AwsError> {
        let (page, next) = paginate(
            self.exclusions().await?,
            |e| e.principal_arn.clone(),
            input.next_token.as_deref(),
            input.max_results,
            100,
            1000,
        )?;
        let arns: Vec<&str> = page.iter().map(|e| e.principal_arn.as_str()).collect();
        let mut out = json!({ "pullTimeUpdateExclusions": arns });
        if let Some(t) = next {
            out["nextToken"] = json!(t);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: &str = "arn:aws:iam::000000000000:user/scanner";
    const ROLE: &str = "arn:aws:iam::000000000000:role/ci/audit";

    fn ex(caller: &str) -> bool {
        excludes([USER, ROLE].into_iter(), caller)
    }

    #[test]
    fn a_listed_user_or_role_is_excluded() {
        assert!(ex(USER));
        assert!(ex(ROLE));
        assert!(!ex("arn:aws:iam::000000000000:user/other"));
        assert!(!ex("arn:aws:iam::111111111111:user/scanner"));
        assert!(!ex("arn:aws:iam::000000000000:root"));
    }

    #[test]
    fn a_session_of_an_excluded_role_counts_as_the_role() {
        assert!(ex("arn:aws:sts::000000000000:assumed-role/audit/session-1"));
        assert!(!ex("arn:aws:sts::000000000000:assumed-role/scanner/s"));
        assert!(!ex("arn:aws:sts::111111111111:assumed-role/audit/s"));
    }

    fn e(arn: &str) -> Exclusion {
        Exclusion {
            principal_arn: arn.into(),
            created_at: 1.0,
        }
    }

    #[test]
    fn add_keeps_arn_order_refuses_duplicates_and_holds_the_quota() {
        let l = add(add(vec![], e(USER)).unwrap(), e(ROLE)).unwrap();
        assert_eq!(l, [e(ROLE), e(USER)]);
        assert_eq!(add(l.clone(), e(USER)).unwrap_err(), Refusal::AlreadyExists);
        let full: Vec<Exclusion> = (0..MAX_EXCLUSIONS).map(|i| e(&format!("{USER}{i}"))).collect();
        assert_eq!(add(full, e(ROLE)).unwrap_err(), Refusal::Quota);
        assert_eq!(remove(l.clone(), USER).unwrap(), [e(ROLE)]);
        assert_eq!(
            remove(l, "arn:aws:iam::000000000000:user/x").unwrap_err(),
            Refusal::NotFound
        );
    }

    #[test]
    fn a_user_and_a_role_of_one_name_are_distinct() {
        assert!(!excludes([USER].into_iter(), "arn:aws:iam::000000000000:role/scanner"));
        assert!(!excludes(std::iter::empty(), USER));
    }
}

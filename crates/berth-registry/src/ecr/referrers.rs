//! ListImageReferrers: the OCI referrers of a subject manifest (signatures,
//! SBOMs, attestations pushed with a `subject`), from the registry's
//! referrers index, filtered by artifact type and status, paginated.

use super::invalid_parameter;
use crate::Registry;
use crate::digest::Digest;
use crate::records::ReferrerRecord;
use berth_proto::pagination::paginate;
use berth_proto::{AwsError, RequestContext};
use serde::Deserialize;
use serde_json::{Value, json};

/// ListImageReferrers returns up to 20 referrers by default, 50 at most.
const DEFAULT_MAX: usize = 20;
const LIMIT_MAX: usize = 50;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SubjectId {
    image_digest: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ReferrersFilter {
    artifact_types: Option<Vec<String>>,
    artifact_status: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListImageReferrersInput {
    registry_id: Option<String>,
    pub(crate) repository_name: String,
    subject_id: SubjectId,
    filter: Option<ReferrersFilter>,
    next_token: Option<String>,
    max_results: Option<i64>,
}

/// `filter.artifactStatus`: which statuses are listed. Every Berth artifact
/// is ACTIVE (Berth has no archive tier).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StatusFilter {
    Active,
    Archived,
    Activating,
    Any,
}

impl StatusFilter {
    fn parse(s: Option<&str>) -> Result<Self, AwsError> {
        match s {
            None | Some("ACTIVE") => Ok(Self::Active),
            Some("ARCHIVED") => Ok(Self::Archived),
            Some("ACTIVATING") => Ok(Self::Activating),
            Some("ANY") => Ok(Self::Any),
            Some(other) => Err(invalid_parameter(format!(
                "Invalid artifactStatus '{other}': expected ACTIVE, ARCHIVED, ACTIVATING or ANY."
            ))),
        }
    }

    /// Whether an ACTIVE artifact passes.
    fn lists_active(self) -> bool {
        matches!(self, Self::Active | Self::Any)
    }
}

/// The referrers that pass `types` (any of them; none given: all) and
/// `status`, in digest order (pure).
fn select(refs: Vec<ReferrerRecord>, types: &[String], status: StatusFilter) -> Vec<ReferrerRecord> {
    if !status.lists_active() {
        return Vec::new();
    }
    let mut out: Vec<ReferrerRecord> = refs
        .into_iter()
        .filter(|r| types.is_empty() || r.artifact_type.as_ref().is_some_and(|t| types.contains(t)))
        .collect();
    out.sort_by(|a, b| a.digest.cmp(&b.digest));
    out
}

/// One `ImageReferrer` of the response (pure).
fn referrer_json(r: &ReferrerRecord) -> Value {
    let mut v = json!({
        "digest": r.digest,
        "mediaType": r.media_type,
        "size": r.size,
        "artifactStatus": "ACTIVE",
    });
    if let Some(t) = &r.artifact_type {
        v["artifactType"] = json!(t);
    }
    if let Some(a) = &r.annotations {
        v["annotations"] = json!(a);
    }
    v
}

impl Registry {
    pub(crate) async fn list_image_referrers(
        &self,
        _ctx: &RequestContext,
        input: ListImageReferrersInput,
    ) -> Result<Value, AwsError> {
        let subject = Digest::parse(&input.subject_id.image_digest).map_err(|_| {
            invalid_parameter(format!(
                "Invalid parameter at 'subjectId.imageDigest' failed to satisfy constraint: \
                 'must be a valid digest such as sha256:<64 hex characters>', got '{}'",
                input.subject_id.image_digest
            ))
        })?;
        let filter = input.filter.unwrap_or_default();
        let status = StatusFilter::parse(filter.artifact_status.as_deref())?;
        let types = filter.artifact_types.unwrap_or_default();
        let repo = self
            .repo_for(input.registry_id.as_deref(), &input.repository_name)
            .await?;
        let refs = self
            .referrers(&repo.repository_name, &subject.to_string(), None)
            .await
            .map_err(|e| self.aws(e))?;
        let (page, next) = paginate(
            select(refs, &types, status),
            |r| r.digest.clone(),
            input.next_token.as_deref(),
            input.max_results,
            DEFAULT_MAX,
            LIMIT_MAX,
        )?;
        let mut out = json!({ "referrers": page.iter().map(referrer_json).collect::<Vec<_>>() });
        if let Some(t) = next {
            out["nextToken"] = json!(t);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(digest: &str, t: Option<&str>) -> ReferrerRecord {
        ReferrerRecord {
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            digest: digest.into(),
            size: 10,
            artifact_type: t.map(String::from),
            annotations: None,
        }
    }

    #[test]
    fn filters_by_any_of_the_types_and_sorts_by_digest() {
        let refs = vec![
            r("sha256:c", Some("sig")),
            r("sha256:a", Some("sbom")),
            r("sha256:b", None),
        ];
        let all = select(refs.clone(), &[], StatusFilter::Active);
        assert_eq!(
            all.iter().map(|r| r.digest.as_str()).collect::<Vec<_>>(),
            ["sha256:a", "sha256:b", "sha256:c"]
        );
        let sig = select(refs.clone(), &["sig".into(), "x".into()], StatusFilter::Any);
        assert_eq!(sig, [r("sha256:c", Some("sig"))]);
        assert!(select(refs, &[], StatusFilter::Archived).is_empty());
    }

    #[test]
    fn status_filter_parses_the_model_enum() {
        assert_eq!(StatusFilter::parse(None).unwrap(), StatusFilter::Active);
        assert_eq!(StatusFilter::parse(Some("ANY")).unwrap(), StatusFilter::Any);
        assert!(!StatusFilter::parse(Some("ACTIVATING")).unwrap().lists_active());
        assert_eq!(
            StatusFilter::parse(Some("nope")).unwrap_err().code,
            "InvalidParameterException"
        );
    }

    #[test]
    fn a_referrer_reports_its_descriptor_and_active_status() {
        let v = referrer_json(&r("sha256:a", Some("sig")));
        assert_eq!(v["artifactType"], "sig");
        assert_eq!(v["artifactStatus"], "ACTIVE");
        assert_eq!(v["size"], 10);
        assert!(v.get("annotations").is_none());
    }
}

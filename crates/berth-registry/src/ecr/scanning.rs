//! Image scanning operations (ECR's BASIC scanning, run offline by
//! `crate::scan_run`): PutImageScanningConfiguration, StartImageScan,
//! DescribeImageScanFindings, Put/GetRegistryScanningConfiguration,
//! BatchGetRepositoryScanningConfiguration; DescribeImages shows each image's
//! `imageScanStatus` and `imageScanFindingsSummary` ([`scan_fields`]).

use super::image_id::ImageId;
use super::repositories::ScanningConfiguration;
use crate::Registry;
use crate::keys;
use crate::records::{ScanRecord, ScanStatus};
use crate::scan::config::{self, RegistryScanning};
use crate::scan::{self, Finding};
use berth_proto::pagination::paginate;
use berth_proto::{AwsError, RequestContext};
use berth_store::typed;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PutImageScanningConfigurationInput {
    registry_id: Option<String>,
    pub(crate) repository_name: String,
    image_scanning_configuration: ScanningConfiguration,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StartImageScanInput {
    registry_id: Option<String>,
    pub(crate) repository_name: String,
    image_id: ImageId,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DescribeImageScanFindingsInput {
    registry_id: Option<String>,
    pub(crate) repository_name: String,
    image_id: ImageId,
    next_token: Option<String>,
    max_results: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PutRegistryScanningConfigurationInput {
    scan_type: Option<String>,
    #[serde(default)]
    rules: Vec<config::Rule>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BatchGetRepositoryScanningConfigurationInput {
    pub(crate) repository_names: Vec<String>,
}

fn finding_json(f: &Finding) -> Value {
    let mut attributes = vec![
        json!({"key": "package_version", "value": f.package_version}),
        json!({"key": "package_name", "value": f.package_name}),
    ];
    if let Some(v) = &f.fixed_version {
        attributes.push(json!({"key": "fixed_version", "value": v}));
    }
    let mut v = json!({
        "name": f.name,
        "severity": f.severity.as_str(),
        "attributes": attributes,
    });
    if !f.description.is_empty() {
        v["description"] = json!(f.description);
    }
    if let Some(u) = &f.uri {
        v["uri"] = json!(u);
    }
    v
}

fn status_json(rec: &ScanRecord) -> Value {
    json!({"status": rec.status.as_str(), "description": rec.description})
}

/// `imageScanStatus` and, once complete, `imageScanFindingsSummary` of an
/// image detail (pure).
pub(crate) fn scan_fields(detail: &mut Value, rec: &ScanRecord) {
    detail["imageScanStatus"] = status_json(rec);
    if rec.status == ScanStatus::Complete {
        detail["imageScanFindingsSummary"] = summary(rec);
    }
}

fn summary(rec: &ScanRecord) -> Value {
    let mut s = json!({ "findingSeverityCounts": scan::severity_counts(&rec.findings) });
    if let Some(t) = rec.completed_at {
        s["imageScanCompletedAt"] = json!(t);
    }
    if let Some(t) = rec.source_updated_at {
        s["vulnerabilitySourceUpdatedAt"] = json!(t);
    }
    s
}

impl Registry {
    fn scan_not_found(&self, repository: &str, id: &ImageId) -> AwsError {
        AwsError::new(
            "ScanNotFoundException",
            400,
            format!(
                "Image scan does not exist for the image with '{}' in the repository with name '{repository}' \
                 in the registry with id '{}'",
                id.describe(),
                self.registry_id()
            ),
        )
    }

    pub(crate) async fn put_image_scanning_configuration(
        &self,
        _ctx: &RequestContext,
        input: PutImageScanningConfigurationInput,
    ) -> Result<Value, AwsError> {
        let name = self.repo_param(input.registry_id.as_deref(), &input.repository_name)?;
        let on = input.image_scanning_configuration.scan_on_push;
        let rec = self
            .modify_repository(&name, |r| {
                r.scan_on_push = on;
                Ok(())
            })
            .await?;
        Ok(json!({
            "registryId": rec.registry_id,
            "repositoryName": rec.repository_name,
            "imageScanningConfiguration": {"scanOnPush": rec.scan_on_push},
        }))
    }

    pub(crate) async fn start_image_scan(
        &self,
        _ctx: &RequestContext,
        input: StartImageScanInput,
    ) -> Result<Value, AwsError> {
        let repo = self
            .repo_for(input.registry_id.as_deref(), &input.repository_name)
            .await?;
        let name = repo.repository_name;
        let digest = self.resolve_image_id(&name, &input.image_id).await?;
        if let Some((image, _)) = self.image(&name, &digest).await.map_err(|e| self.aws(e))?
            && !image.children.is_empty()
        {
            return Err(AwsError::new(
                "UnsupportedImageTypeException",
                400,
                "The image is a manifest list; scan each image it lists by its digest",
            ));
        }
        let rec = self
            .request_scan(&name, &digest)
            .await
            .map_err(|e| self.aws(e))?
            .ok_or_else(|| {
                self.aws(crate::RegistryError::ImageNotFound {
                    repository: name.clone(),
                    reference: digest.clone(),
                })
            })?;
        let mut image_id = json!({"imageDigest": digest});
        if let Some(t) = &input.image_id.image_tag {
            image_id["imageTag"] = json!(t);
        }
        Ok(json!({
            "registryId": self.registry_id(),
            "repositoryName": name,
            "imageId": image_id,
            "imageScanStatus": status_json(&rec),
        }))
    }

    pub(crate) async fn describe_image_scan_findings(
        &self,
        _ctx: &RequestContext,
        input: DescribeImageScanFindingsInput,
    ) -> Result<Value, AwsError> {
        let repo = self
            .repo_for(input.registry_id.as_deref(), &input.repository_name)
            .await?;
        let name = repo.repository_name;
        let digest = self.resolve_image_id(&name, &input.image_id).await?;
        let rec = self
            .scan_record(&name, &digest)
            .await
            .map_err(|e| self.aws(e))?
            .ok_or_else(|| self.scan_not_found(&name, &input.image_id))?;
        let mut image_id = json!({"imageDigest": digest});
        if let Some(t) = &input.image_id.image_tag {
            image_id["imageTag"] = json!(t);
        }
        let mut out = json!({
            "registryId": self.registry_id(),
            "repositoryName": name,
            "imageId": image_id,
            "imageScanStatus": status_json(&rec),
        });
        if rec.status == ScanStatus::Complete {
            let numbered: Vec<(usize, &Finding)> = rec.findings.iter().enumerate().collect();
            let (page, next) = paginate(
                numbered,
                |(i, _)| format!("{i:08}"),
                input.next_token.as_deref(),
                input.max_results,
                100,
                1000,
            )?;
            let mut findings = summary(&rec);
            findings["findings"] = json!(page.iter().map(|(_, f)| finding_json(f)).collect::<Vec<_>>());
            out["imageScanFindings"] = findings;
            if let Some(t) = next {
                out["nextToken"] = json!(t);
            }
        }
        Ok(out)
    }
}

impl Registry {
    pub(crate) async fn put_registry_scanning_configuration(
        &self,
        _ctx: &RequestContext,
        input: PutRegistryScanningConfigurationInput,
    ) -> Result<Value, AwsError> {
        let c = RegistryScanning {
            scan_type: input.scan_type.unwrap_or_else(|| "BASIC".into()),
            rules: input.rules,
        };
        c.validate().map_err(|m| AwsError::new("ValidationException", 400, m))?;
        let value = typed::encode(&c).map_err(|e| self.aws(e.into()))?;
        self.store
            .put(keys::REGISTRY_SCANNING, value)
            .await
            .map_err(|e| self.aws(e.into()))?;
        Ok(json!({ "registryScanningConfiguration": c }))
    }

    pub(crate) async fn get_registry_scanning_configuration(
        &self,
        _ctx: &RequestContext,
        _input: super::policies::RegistryInput,
    ) -> Result<Value, AwsError> {
        let c = self
            .registry_scanning()
            .await
            .map_err(|e| self.aws(e))?
            .unwrap_or(RegistryScanning {
                scan_type: "BASIC".into(),
                rules: vec![],
            });
        Ok(json!({ "registryId": self.registry_id(), "scanningConfiguration": c }))
    }

    pub(crate) async fn batch_get_repository_scanning_configuration(
        &self,
        _ctx: &RequestContext,
        input: BatchGetRepositoryScanningConfigurationInput,
    ) -> Result<Value, AwsError> {
        let registry = self.registry_scanning().await.map_err(|e| self.aws(e))?;
        let (mut found, mut failures) = (vec![], vec![]);
        for name in &input.repository_names {
            let name = self.repo_param(None, name)?;
            match self.repository(&name).await {
                Ok(r) => {
                    let (frequency, filters) = config::decide(registry.as_ref(), &name, r.scan_on_push);
                    found.push(json!({
                        "repositoryArn": r.repository_arn,
                        "repositoryName": name,
                        "scanOnPush": frequency == config::Frequency::ScanOnPush,
                        "scanFrequency": frequency.as_str(),
                        "appliedScanFilters": filters,
                    }));
                }
                Err(crate::RegistryError::RepositoryNotFound { .. }) => failures.push(json!({
                    "repositoryName": name,
                    "failureCode": "REPOSITORY_NOT_FOUND",
                    "failureReason": format!(
                        "The repository with name '{name}' does not exist in the registry with id '{}'",
                        self.registry_id()
                    ),
                })),
                Err(e) => return Err(self.aws(e)),
            }
        }
        Ok(json!({ "scanningConfigurations": found, "failures": failures }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::Severity;

    #[test]
    fn a_finding_shows_its_package_and_fix() {
        let f = Finding {
            name: "CVE-2024-1".into(),
            description: "bad".into(),
            uri: Some("https://x".into()),
            severity: Severity::High,
            package_name: "libssl3".into(),
            package_version: "1.0".into(),
            fixed_version: Some("1.1".into()),
        };
        assert_eq!(
            finding_json(&f),
            json!({"name": "CVE-2024-1", "description": "bad", "uri": "https://x", "severity": "HIGH",
                   "attributes": [{"key": "package_version", "value": "1.0"},
                                  {"key": "package_name", "value": "libssl3"},
                                  {"key": "fixed_version", "value": "1.1"}]})
        );
    }

    #[test]
    fn only_complete_scans_have_a_summary() {
        let mut rec = ScanRecord::started(1.0);
        let mut d = json!({});
        scan_fields(&mut d, &rec);
        assert_eq!(d["imageScanStatus"]["status"], "IN_PROGRESS");
        assert!(d.get("imageScanFindingsSummary").is_none());
        rec.status = ScanStatus::Complete;
        rec.completed_at = Some(2.0);
        scan_fields(&mut d, &rec);
        assert_eq!(
            d["imageScanFindingsSummary"],
            json!({"findingSeverityCounts": {}, "imageScanCompletedAt": 2.0})
        );
    }
}

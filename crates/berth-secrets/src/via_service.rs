//! KMS behind SSM and Secrets Manager (pure). A SecureString or a secret is
//! sealed under a KMS key, and AWS requires the *caller's* permission on that
//! key for every read and write of the value, as if the caller had called KMS
//! itself through the service: `kms:Decrypt` (reads), `kms:Encrypt`
//! (standard SecureString writes) or `kms:GenerateDataKey` (advanced
//! SecureStrings and every secret value), with `kms:ViaService` =
//! `SERVICE.REGION.amazonaws.com`, `kms:CallerAccount` and the service's
//! encryption context as `kms:EncryptionContext:KEY`.
//!
//! Which policy grants it: an AWS managed key (`aws/ssm`,
//! `aws/secretsmanager`) has AWS's fixed key policy, which allows the
//! cryptographic actions to every principal of the account through the
//! service ([`aws_managed_key_policy`]), so such a key needs no IAM
//! permission — but an explicit Deny in an identity policy still wins. A
//! customer managed key has the default key policy ("Enable IAM User
//! Permissions": the account delegates to IAM), so the caller's identity
//! policies decide; Berth stores no other key policies.

use crate::crypto;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use berth_proto::{AuthzResource, AwsError};
use std::collections::BTreeMap;

/// The KMS permission a service needs for a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KmsAction {
    Decrypt,
    Encrypt,
    GenerateDataKey,
}

impl KmsAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Decrypt => "kms:Decrypt",
            Self::Encrypt => "kms:Encrypt",
            Self::GenerateDataKey => "kms:GenerateDataKey",
        }
    }
}

/// What authorization needs to know of a KMS key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFacts {
    pub key_id: String,
    pub arn: String,
    /// `KeyManager: AWS` (a service's default key).
    pub aws_managed: bool,
    pub tags: Vec<(String, String)>,
}

/// The service a KMS key is used through.
#[derive(Debug, Clone, Copy)]
pub struct Via<'a> {
    /// `ssm` or `secretsmanager`.
    pub service: &'a str,
    pub region: &'a str,
    /// The account that owns the key (and the service's resources).
    pub account: &'a str,
    /// The caller's account (`kms:CallerAccount`).
    pub caller_account: &'a str,
}

impl Via<'_> {
    /// `kms:ViaService`: `ssm.us-east-1.amazonaws.com`.
    pub fn service_name(&self) -> String {
        format!("{}.{}.amazonaws.com", self.service, self.region)
    }
}

/// The second permission a value needs: `action` on `key`, through `via`,
/// with the encryption context the service uses.
pub fn kms_use(via: &Via<'_>, action: KmsAction, key: &KeyFacts, context: &BTreeMap<String, String>) -> AuthzResource {
    let mut keys = vec![
        ("kms:ViaService".to_string(), via.service_name()),
        ("kms:CallerAccount".to_string(), via.caller_account.to_string()),
    ];
    keys.extend(context_keys(context));
    AuthzResource {
        arn: key.arn.clone(),
        tags: key.tags.clone(),
        condition_keys: keys,
        action: Some(action.as_str().to_string()),
        resource_policy: key
            .aws_managed
            .then(|| aws_managed_key_policy(via.service, via.region, via.account)),
    }
}

/// `kms:EncryptionContext:KEY` for each pair of an encryption context.
pub fn context_keys(context: &BTreeMap<String, String>) -> Vec<(String, String)> {
    context
        .iter()
        .map(|(k, v)| (format!("kms:EncryptionContext:{k}"), v.clone()))
        .collect()
}

/// The key policy AWS gives the AWS managed key of `service`: the
/// cryptographic actions to every principal of the account, through the
/// service only; key metadata to the account (delegated to IAM).
pub fn aws_managed_key_policy(service: &str, region: &str, account: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Id": format!("auto-{service}"),
        "Statement": [
            {
                "Sid": format!("Allow access through {service} for all principals in the account that are authorized to use {service}"),
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant", "kms:DescribeKey"],
                "Resource": "*",
                "Condition": {"StringEquals": {
                    "kms:ViaService": format!("{service}.{region}.amazonaws.com"),
                    "kms:CallerAccount": account,
                }},
            },
            {
                "Sid": "Allow direct access to key metadata to the account",
                "Effect": "Allow",
                "Principal": {"AWS": format!("arn:aws:iam::{account}:root")},
                "Action": ["kms:Describe*", "kms:Get*", "kms:List*", "kms:RevokeGrant"],
                "Resource": "*",
            },
        ],
    })
    .to_string()
}

/// Whether a refused resource is a KMS permission checked through the
/// service (rather than the service's own).
pub fn is_kms_use(resource: &AuthzResource) -> bool {
    resource.action.as_deref().is_some_and(|a| a.starts_with("kms:"))
}

/// How a service answers when KMS refuses the caller: SSM passes KMS's
/// `AccessDeniedException` on with the KMS call it came from; Secrets
/// Manager says `Access to KMS is not allowed` (followed here by KMS's
/// reason, so the caller knows which key and action).
pub fn kms_denial(service: &str, request_id: &str, denial: AwsError) -> AwsError {
    let message = match service {
        "secretsmanager" => format!("Access to KMS is not allowed. {}", denial.message),
        _ => format!(
            "{} (Service: AWSKMS; Status Code: 400; Error Code: AccessDeniedException; Request ID: {request_id}; Proxy: null)",
            denial.message
        ),
    };
    AwsError::access_denied(message)
}

/// The id of the KMS key that sealed a stored value (a base64 envelope of
/// [`crate::kms::Kms::encrypt_internal`]): the key a read must decrypt with,
/// whatever alias or KeyId the value was written with.
pub fn envelope_key_id(envelope_b64: &str) -> Option<String> {
    let env = B64.decode(envelope_b64).ok()?;
    let (wrapped, _) = crypto::decode_envelope(&env).ok()?;
    crypto::decode_blob(wrapped).ok().map(|(id, _)| id)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VIA: Via<'static> = Via {
        service: "ssm",
        region: "us-east-1",
        account: "000000000000",
        caller_account: "000000000000",
    };

    fn key(aws_managed: bool) -> KeyFacts {
        KeyFacts {
            key_id: "k-1".into(),
            arn: "arn:aws:kms:us-east-1:000000000000:key/k-1".into(),
            aws_managed,
            tags: vec![("team".into(), "a".into())],
        }
    }

    #[test]
    fn a_customer_key_is_left_to_iam() {
        let ctx = BTreeMap::from([(
            "PARAMETER_ARN".to_string(),
            "arn:aws:ssm:us-east-1:000000000000:parameter/a".to_string(),
        )]);
        let r = kms_use(&VIA, KmsAction::Decrypt, &key(false), &ctx);
        assert_eq!(r.arn, "arn:aws:kms:us-east-1:000000000000:key/k-1");
        assert_eq!(r.action.as_deref(), Some("kms:Decrypt"));
        assert_eq!(r.tags, vec![("team".to_string(), "a".to_string())]);
        assert!(r.resource_policy.is_none());
        assert_eq!(
            r.condition_keys,
            vec![
                ("kms:ViaService".to_string(), "ssm.us-east-1.amazonaws.com".to_string()),
                ("kms:CallerAccount".to_string(), "000000000000".to_string()),
                (
                    "kms:EncryptionContext:PARAMETER_ARN".to_string(),
                    "arn:aws:ssm:us-east-1:000000000000:parameter/a".to_string()
                ),
            ]
        );
    }

    #[test]
    fn an_aws_managed_key_carries_its_grant_through_the_service() {
        let r = kms_use(&VIA, KmsAction::GenerateDataKey, &key(true), &BTreeMap::new());
        assert_eq!(r.action.as_deref(), Some("kms:GenerateDataKey"));
        let policy: serde_json::Value = serde_json::from_str(r.resource_policy.as_deref().unwrap()).unwrap();
        let grant = &policy["Statement"][0];
        assert_eq!(grant["Principal"]["AWS"], "*");
        assert_eq!(
            grant["Condition"]["StringEquals"]["kms:ViaService"],
            "ssm.us-east-1.amazonaws.com"
        );
        assert_eq!(grant["Condition"]["StringEquals"]["kms:CallerAccount"], "000000000000");
        assert_eq!(
            policy["Statement"][1]["Principal"]["AWS"],
            "arn:aws:iam::000000000000:root"
        );
    }

    #[test]
    fn kms_refusals_as_the_services_word_them() {
        let denial = AwsError::access_denied("User: u is not authorized to perform: kms:Decrypt on resource: k");
        let ssm = kms_denial("ssm", "req-1", denial.clone());
        assert_eq!(ssm.code, "AccessDeniedException");
        assert!(ssm.message.starts_with("User: u is not authorized to perform: kms:Decrypt on resource: k (Service: AWSKMS; Status Code: 400; Error Code: AccessDeniedException; Request ID: req-1"));
        let sm = kms_denial("secretsmanager", "req-1", denial);
        assert!(
            sm.message.starts_with("Access to KMS is not allowed. User: u"),
            "{}",
            sm.message
        );
        let r = kms_use(&VIA, KmsAction::Decrypt, &key(false), &BTreeMap::new());
        assert!(is_kms_use(&r));
        assert!(!is_kms_use(&AuthzResource::untagged("*")));
    }

    #[test]
    fn the_key_of_an_envelope() {
        let blob = crypto::encode_blob("k-9", &[1u8; 40]);
        let env = crypto::encode_envelope(&blob, &[2u8; 30]);
        assert_eq!(envelope_key_id(&B64.encode(env)).as_deref(), Some("k-9"));
        assert_eq!(envelope_key_id("!!"), None);
        assert_eq!(envelope_key_id(&B64.encode(b"short")), None);
    }
}

//! The region's KMS as the registry's data keys: KMS-encrypted repositories
//! get a data key per blob (`GenerateDataKey` under the repository's key)
//! and unwrap it on reads (`Decrypt`), as ECR does through its grant on the
//! key (so an AWS managed key's policy, which admits callers only through
//! their services, is not in the way). The caller's own `kms:Decrypt` is
//! checked by the registry.

use async_trait::async_trait;
use std::collections::BTreeMap;

/// The AWS managed key of ECR.
const ECR_ALIAS: &str = "alias/aws/ecr";

pub(super) struct KmsDataKeys {
    pub(super) kms: berth_secrets::Kms,
}

#[async_trait]
impl berth_registry::crypt::DataKeys for KmsDataKeys {
    async fn key_arn(&self, key_id: Option<&str>) -> Result<String, String> {
        let key = self
            .kms
            .sealing_key(key_id, ECR_ALIAS)
            .await
            .map_err(|e| format!("{}: {}", e.code, e.message))?;
        if key.key_state != "Enabled" {
            return Err(format!("The KMS key {} is {}.", key.arn, key.key_state));
        }
        Ok(key.arn)
    }

    /// A fresh data key, sealed under the key (with the context) as
    /// GenerateDataKey does, without the key policy a caller would meet:
    /// this is the registry's own use, as ECR's grant is.
    async fn generate(&self, key_arn: &str, context: &BTreeMap<String, String>) -> Result<(Vec<u8>, Vec<u8>), String> {
        let key = self
            .kms
            .sealing_key(Some(key_arn), ECR_ALIAS)
            .await
            .map_err(|e| format!("{}: {}", e.code, e.message))?;
        let mut data_key = vec![0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut data_key);
        let wrapped = self
            .kms
            .encrypt_under(&key, &data_key, context)
            .map_err(|e| format!("{}: {}", e.code, e.message))?;
        Ok((data_key, wrapped))
    }

    async fn decrypt(&self, wrapped: &[u8], context: &BTreeMap<String, String>) -> Result<Vec<u8>, String> {
        self.kms
            .decrypt_internal(wrapped, context)
            .await
            .map_err(|e| format!("{}: {}", e.code, e.message))
    }
}

//! How a connection's secrets are kept: sealed by a [`SecretSealer`] the
//! binary plugs in (KMS envelope encryption, as Secrets Manager's values),
//! bound to the connection's secret ARN, stored as base64 text. This crate
//! never writes them in clear.

use crate::records::ConnectionSecrets;
use async_trait::async_trait;
use base64::Engine;
use berth_proto::AwsError;
use std::collections::BTreeMap;

/// Seals and opens secret bytes under an encryption context.
#[async_trait]
pub trait SecretSealer: Send + Sync + 'static {
    async fn seal(&self, plaintext: &[u8], context: &BTreeMap<String, String>) -> Result<Vec<u8>, AwsError>;
    async fn open(&self, envelope: &[u8], context: &BTreeMap<String, String>) -> Result<Vec<u8>, AwsError>;
}

fn context(secret_arn: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("SecretARN".to_string(), secret_arn.to_string())])
}

/// `secrets` sealed for the secret `secret_arn`, as stored text.
pub async fn seal(
    sealer: &dyn SecretSealer,
    secret_arn: &str,
    secrets: &ConnectionSecrets,
) -> Result<String, AwsError> {
    let text = serde_json::to_vec(secrets).map_err(|e| AwsError::internal(format!("encoding a secret: {e}")))?;
    let envelope = sealer.seal(&text, &context(secret_arn)).await?;
    Ok(base64::engine::general_purpose::STANDARD.encode(envelope))
}

/// The secrets `sealed` (from [`seal`]) holds.
pub async fn open(sealer: &dyn SecretSealer, secret_arn: &str, sealed: &str) -> Result<ConnectionSecrets, AwsError> {
    let envelope = base64::engine::general_purpose::STANDARD
        .decode(sealed)
        .map_err(|_| AwsError::internal("a connection's sealed secret is not base64"))?;
    let text = sealer.open(&envelope, &context(secret_arn)).await?;
    serde_json::from_slice(&text).map_err(|_| AwsError::internal("a connection's secret does not decode"))
}

#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// A reversible stand-in for the unit tests (not a cipher).
    pub(crate) struct Flip;

    #[async_trait]
    impl SecretSealer for Flip {
        async fn seal(&self, p: &[u8], c: &BTreeMap<String, String>) -> Result<Vec<u8>, AwsError> {
            let mut out = c["SecretARN"].len().to_be_bytes().to_vec();
            out.extend(p.iter().map(|b| b ^ 0x5a));
            Ok(out)
        }
        async fn open(&self, e: &[u8], c: &BTreeMap<String, String>) -> Result<Vec<u8>, AwsError> {
            let (len, rest) = e.split_at(8);
            if len != c["SecretARN"].len().to_be_bytes() {
                return Err(AwsError::internal("wrong context"));
            }
            Ok(rest.iter().map(|b| b ^ 0x5a).collect())
        }
    }
}

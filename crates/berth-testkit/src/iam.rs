//! IAM for tests: a secret sealer that needs no KMS.

/// Seals IAM secrets with a reversible XOR (the server seals them with
/// AES-256-GCM under the KMS master key).
pub struct XorSealer;

impl berth_iam::SecretSealer for XorSealer {
    fn seal(&self, plaintext: &[u8], _aad: &[u8]) -> Vec<u8> {
        plaintext.iter().map(|b| b ^ 0xa5).collect()
    }
    fn open(&self, sealed: &[u8], _aad: &[u8]) -> Result<Vec<u8>, berth_iam::SealError> {
        Ok(sealed.iter().map(|b| b ^ 0xa5).collect())
    }
}

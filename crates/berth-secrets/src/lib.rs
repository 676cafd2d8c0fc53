//! KMS, SSM Parameter Store and Secrets Manager. Values (SecureString
//! parameters, secrets) are stored only envelope-encrypted under KMS keys,
//! whose own material is sealed under the server's master key.

pub mod authz;
pub mod crypto;
pub mod kms;
pub mod operation;
pub mod resolve;
pub mod rules;
pub mod sm;
pub mod ssm;
pub mod via_service;

#[cfg(test)]
mod test_support;

pub use kms::Kms;
pub use resolve::SecretResolver;
pub use sm::SecretsManager;
pub use ssm::Ssm;

//! ELBv2's errors: the domain's one enum, each variant with its AWS code
//! (the model's `awsQueryError` code) and words; [`LbError::into_aws`] is
//! the one place they become the wire's error.

use berth_proto::AwsError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LbError {
    #[error("{0}")]
    Validation(String),
    #[error("One or more load balancers not found")]
    LoadBalancerNotFound,
    /// Load balancers asked for by name (`[a, b]`).
    #[error("Load balancers '{0}' not found")]
    LoadBalancersNotFound(String),
    #[error("One or more target groups not found")]
    TargetGroupNotFound,
    /// A target group an action names.
    #[error("Target groups '{0}' not found")]
    TargetGroupsNotFound(String),
    #[error("One or more listeners not found")]
    ListenerNotFound,
    #[error("One or more rules not found")]
    RuleNotFound,
    #[error("A load balancer with the same name '{0}' exists, but with different settings")]
    DuplicateLoadBalancerName(String),
    #[error("A target group with the same name '{0}' exists, but with different settings")]
    DuplicateTargetGroupName(String),
    #[error("A listener already exists on this port for this load balancer")]
    DuplicateListener,
    #[error("Priority '{0}' is currently in use")]
    PriorityInUse(i32),
    #[error("The following target groups cannot be associated with more than one load balancer: {0}")]
    TargetGroupAssociationLimit(String),
    #[error("{0}")]
    InvalidConfiguration(String),
    #[error("{0}")]
    IncompatibleProtocols(String),
    #[error("{0}")]
    InvalidLoadBalancerAction(String),
    #[error("Target group '{0}' is currently in use by a listener or a rule")]
    ResourceInUse(String),
    #[error("{0}")]
    OperationNotPermitted(String),
    #[error("{0}")]
    InvalidTarget(String),
    #[error("Certificate '{0}' not found")]
    CertificateNotFound(String),
    #[error("{0}")]
    UnsupportedProtocol(String),
    #[error("{0}")]
    AlpnPolicyNotFound(String),
    #[error("{0}")]
    DuplicateTagKeys(String),
    #[error("{0}")]
    TooManyTags(String),
    #[error("You've reached the limit on the number of targets registered to this target group")]
    TooManyTargets,
    #[error("You've reached the limit on the number of rules per load balancer")]
    TooManyRules,
    #[error("You've reached the limit on the number of actions per rule")]
    TooManyActions,
    #[error("You've reached the limit on the number of listeners per load balancer")]
    TooManyListeners,
    #[error("{0}")]
    ResourceNotFound(String),
    #[error("the ELBv2 state could not be read or written: {0}")]
    Store(String),
}

impl LbError {
    /// The AWS code of the error.
    pub fn code(&self) -> &'static str {
        match self {
            LbError::Validation(_) => "ValidationError",
            LbError::LoadBalancerNotFound | LbError::LoadBalancersNotFound(_) => "LoadBalancerNotFound",
            LbError::TargetGroupNotFound | LbError::TargetGroupsNotFound(_) => "TargetGroupNotFound",
            LbError::ListenerNotFound => "ListenerNotFound",
            LbError::RuleNotFound => "RuleNotFound",
            LbError::DuplicateLoadBalancerName(_) => "DuplicateLoadBalancerName",
            LbError::DuplicateTargetGroupName(_) => "DuplicateTargetGroupName",
            LbError::DuplicateListener => "DuplicateListener",
            LbError::PriorityInUse(_) => "PriorityInUse",
            LbError::TargetGroupAssociationLimit(_) => "TargetGroupAssociationLimit",
            LbError::InvalidConfiguration(_) => "InvalidConfigurationRequest",
            LbError::IncompatibleProtocols(_) => "IncompatibleProtocols",
            LbError::InvalidLoadBalancerAction(_) => "InvalidLoadBalancerAction",
            LbError::ResourceInUse(_) => "ResourceInUse",
            LbError::OperationNotPermitted(_) => "OperationNotPermitted",
            LbError::InvalidTarget(_) => "InvalidTarget",
            LbError::CertificateNotFound(_) => "CertificateNotFound",
            LbError::UnsupportedProtocol(_) => "UnsupportedProtocol",
            LbError::AlpnPolicyNotFound(_) => "ALPNPolicyNotFound",
            LbError::DuplicateTagKeys(_) => "DuplicateTagKeys",
            LbError::TooManyTags(_) => "TooManyTags",
            LbError::TooManyTargets => "TooManyTargets",
            LbError::TooManyRules => "TooManyRules",
            LbError::TooManyActions => "TooManyActions",
            LbError::TooManyListeners => "TooManyListeners",
            LbError::ResourceNotFound(_) => "ResourceNotFound",
            LbError::Store(_) => "InternalFailure",
        }
    }

    /// The wire's error: HTTP 400 (a client fault) but for the store's 500.
    pub fn into_aws(self) -> AwsError {
        match self {
            LbError::Store(cause) => AwsError::state_store(cause),
            other => AwsError::new(other.code(), 400, other.to_string()),
        }
    }
}

impl From<LbError> for AwsError {
    fn from(e: LbError) -> Self {
        e.into_aws()
    }
}

impl From<berth_store::StoreError> for LbError {
    fn from(e: berth_store::StoreError) -> Self {
        LbError::Store(e.to_string())
    }
}

/// A `ValidationError` in ELBv2's words.
pub fn invalid(message: impl Into<String>) -> LbError {
    LbError::Validation(message.into())
}

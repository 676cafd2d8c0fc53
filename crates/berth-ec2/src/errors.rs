//! EC2's errors: the domain's one enum, each variant with its EC2 error
//! code and AWS's words; `From<Ec2Error> for AwsError` is the one place they
//! become the wire's error (EC2's `Response/Errors/Error`, HTTP 400).

use berth_proto::AwsError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Ec2Error {
    #[error("The request must contain the parameter {0}")]
    MissingParameter(String),
    #[error("{0}")]
    InvalidParameterValue(String),
    #[error("{0}")]
    InvalidParameterCombination(String),
    #[error("The vpc ID '{0}' does not exist")]
    VpcNotFound(String),
    #[error("The subnet ID '{0}' does not exist")]
    SubnetNotFound(String),
    #[error("The security group '{0}' does not exist")]
    GroupNotFound(String),
    #[error("The security group '{0}' does not exist in default VPC '{1}'")]
    GroupNameNotFound(String, String),
    #[error("Invalid id: \"{0}\" (expecting \"sg-...\")")]
    GroupIdMalformed(String),
    #[error("Invalid id: \"{0}\" (expecting \"vpc-...\")")]
    VpcIdMalformed(String),
    #[error("Invalid id: \"{0}\" (expecting \"subnet-...\")")]
    SubnetIdMalformed(String),
    #[error("The ID '{0}' is not valid")]
    InvalidId(String),
    #[error("The security group '{0}' already exists for VPC '{1}'")]
    GroupDuplicate(String, String),
    #[error("The security group '{0}' is reserved")]
    GroupReserved(String),
    #[error("the specified rule \"{0}\" already exists")]
    PermissionDuplicate(String),
    #[error("The specified rule does not exist in this security group.")]
    PermissionNotFound,
    #[error("resource {0} has a dependent object")]
    GroupInUse(String),
    #[error("The {0} '{1}' has dependencies and cannot be deleted.")]
    HasDependencies(&'static str, String),
    #[error("the specified group: \"{0}\" name: \"default\" cannot be deleted by a user")]
    CannotDeleteDefaultGroup(String),
    #[error("The CIDR '{0}' is invalid.")]
    InvalidVpcRange(String),
    #[error("The CIDR '{0}' is invalid.")]
    InvalidSubnetRange(String),
    #[error("The CIDR '{0}' conflicts with another subnet")]
    SubnetConflict(String),
    #[error("{0}")]
    OperationNotPermitted(String),
    #[error("The filter '{0}' is invalid")]
    InvalidFilter(String),
}

impl Ec2Error {
    /// EC2's error code.
    pub fn code(&self) -> &'static str {
        match self {
            Ec2Error::MissingParameter(_) => "MissingParameter",
            Ec2Error::InvalidParameterValue(_) | Ec2Error::InvalidFilter(_) => "InvalidParameterValue",
            Ec2Error::InvalidParameterCombination(_) => "InvalidParameterCombination",
            Ec2Error::VpcNotFound(_) => "InvalidVpcID.NotFound",
            Ec2Error::SubnetNotFound(_) => "InvalidSubnetID.NotFound",
            Ec2Error::GroupNotFound(_) | Ec2Error::GroupNameNotFound(..) => "InvalidGroup.NotFound",
            Ec2Error::GroupIdMalformed(_) => "InvalidGroupId.Malformed",
            Ec2Error::VpcIdMalformed(_) => "InvalidVpcID.Malformed",
            Ec2Error::SubnetIdMalformed(_) => "InvalidSubnetID.Malformed",
            Ec2Error::InvalidId(_) => "InvalidID",
            Ec2Error::GroupDuplicate(..) => "InvalidGroup.Duplicate",
            Ec2Error::GroupReserved(_) => "InvalidGroup.Reserved",
            Ec2Error::PermissionDuplicate(_) => "InvalidPermission.Duplicate",
            Ec2Error::PermissionNotFound => "InvalidPermission.NotFound",
            Ec2Error::GroupInUse(_) | Ec2Error::HasDependencies(..) => "DependencyViolation",
            Ec2Error::CannotDeleteDefaultGroup(_) => "CannotDelete",
            Ec2Error::InvalidVpcRange(_) => "InvalidVpc.Range",
            Ec2Error::InvalidSubnetRange(_) => "InvalidSubnet.Range",
            Ec2Error::SubnetConflict(_) => "InvalidSubnet.Conflict",
            Ec2Error::OperationNotPermitted(_) => "OperationNotPermitted",
        }
    }
}

impl From<Ec2Error> for AwsError {
    fn from(e: Ec2Error) -> Self {
        AwsError::new(e.code(), 400, e.to_string())
    }
}

/// An `InvalidParameterValue`.
pub fn invalid(message: impl Into<String>) -> Ec2Error {
    Ec2Error::InvalidParameterValue(message.into())
}

/// A form that did not decode, in EC2's codes: a required member missing
/// is `MissingParameter`, anything else `InvalidParameterValue` (the
/// decoder words both the awsQuery way; the member is named in either).
pub fn from_decode(e: AwsError) -> AwsError {
    if e.code != "ValidationError" {
        return e;
    }
    let message = e.message.to_string();
    if let Some(member) = message
        .strip_prefix("1 validation error detected: Value null at '")
        .and_then(|rest| rest.split('\'').next())
    {
        return Ec2Error::MissingParameter(member.to_string()).into();
    }
    let detail = message
        .strip_prefix("1 validation error detected: ")
        .unwrap_or(&message)
        .to_string();
    Ec2Error::InvalidParameterValue(detail).into()
}

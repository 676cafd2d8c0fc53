//! The Docker labels the agent puts on every container it creates: ECS's
//! own (`com.amazonaws.ecs.*`, which tools read) and Berth's. The agent
//! finds its containers again by them after a restart.

pub const LABEL_CLUSTER: &str = "com.amazonaws.ecs.cluster";
pub const LABEL_TASK_ARN: &str = "com.amazonaws.ecs.task-arn";
pub const LABEL_CONTAINER_NAME: &str = "com.amazonaws.ecs.container-name";
pub const LABEL_FAMILY: &str = "com.amazonaws.ecs.task-definition-family";
pub const LABEL_VERSION: &str = "com.amazonaws.ecs.task-definition-version";
pub const LABEL_INSTANCE: &str = "berth.instance";
/// The id of the agent that owns a pause container (warm or a task's), and
/// the label on the Docker networks of earlier Berth versions (one per
/// task subnet, `berth-vpc-…`).
pub const LABEL_NETWORK_OWNER: &str = "berth.awsvpc.owner";
/// The awslogs shipping spec of a container (JSON), read back by the shipper.
pub const LABEL_AWSLOGS: &str = "berth.awslogs";

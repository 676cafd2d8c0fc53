//! One container instance record as stored, read by its short id, with the
//! revision a compare-and-swap writes against (the one read every writer
//! of an instance starts from).

use crate::{Ecs, keys};
use berth_ecs_model::instance::InstanceRecord;
use berth_proto::AwsError;
use berth_store::{Revision, typed};

impl Ecs {
    /// The record of instance `id` of `cluster` and its revision, if any.
    pub(crate) async fn stored_instance(
        &self,
        cluster: &str,
        id: &str,
    ) -> Result<Option<(InstanceRecord, Revision)>, AwsError> {
        typed::get::<InstanceRecord>(&*self.store, &keys::instance(cluster, id))
            .await
            .map_err(AwsError::state_store)
    }
}

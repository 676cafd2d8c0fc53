//! ECS on the generic operation machinery of [`berth_proto::operation`]:
//! each ECS operation is an [`Operation<Ecs>`] (its name, typed input,
//! pure resources and handler), its resources named in the ECS instance's
//! `Scope`; the registration table (`routes::OPERATIONS`, with
//! `impl OperationService for Ecs`) lists every routed operation.

use crate::Ecs;
pub(crate) use berth_proto::operation::Operation;

/// One row of the registration table.
pub(crate) type Entry = berth_proto::operation::Entry<Ecs>;

/// The table row of `O`.
pub(crate) const fn entry<O: Operation<Ecs>>() -> Entry {
    berth_proto::operation::entry::<Ecs, O>()
}

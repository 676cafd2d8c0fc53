//! ECS on the generic operation machinery of [`berth_proto::operation`]:
//! each ECS operation is an [`Operation<Ecs>`] (its name, typed input,
//! pure resources and handler), its resources named in the ECS instance's
//! [`Scope`]; the registration table ([`crate::routes::OPERATIONS`]) lists
//! every routed operation.

use crate::Ecs;
use berth_core::arn::Scope;
use berth_proto::RequestContext;
pub(crate) use berth_proto::operation::Operation;
use berth_proto::operation::OperationService;

/// One row of the registration table.
pub(crate) type Entry = berth_proto::operation::Entry<Ecs>;

/// The table row of `O`.
pub(crate) const fn entry<O: Operation<Ecs>>() -> Entry {
    berth_proto::operation::entry::<Ecs, O>()
}

impl OperationService for Ecs {
    type Scope = Scope;

    /// An ECS instance serves one region: its ARNs are in its own scope.
    fn scope(&self, _ctx: &RequestContext) -> Scope {
        self.scope.clone()
    }
}

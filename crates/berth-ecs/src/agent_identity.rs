//! Agent identity: a container instance is bound to the principal that
//! registered it, and only that principal (or the account's root user) may
//! act as its agent — open its session, heartbeat it, re-register it, report
//! state changes of the tasks placed on it, and get the role credentials of
//! those tasks. IAM policies decide *which* agent operations a principal may
//! call (and in which cluster, with `ecs:cluster`); the binding decides *on
//! which instance*: without it, any principal allowed `ecs:Poll` could read
//! another instance's desired state (with its tasks' environment), stop its
//! tasks, shrink its resources or take its tasks' role credentials.
//!
//! The binding records the principal's ARN and its unique id (as
//! `GetCallerIdentity` answers it): `AIDA…` for an IAM user, so a user
//! deleted and created again under the same name is a different agent;
//! `AROA…:SESSION` for a role session (`arn:aws:sts::…:assumed-role/ROLE/SESSION`),
//! so an instance registered with a role is bound to that role *and* session
//! name — an agent refreshing its credentials under the same session name
//! stays the same agent. An instance recorded before bindings existed has
//! no owner: only root may act for it.

use crate::Ecs;
use berth_ecs_model::instance::AgentOwner;
use berth_proto::{AwsError, Principal};

/// Who is calling, as the binding compares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Caller {
    pub arn: String,
    pub id: String,
    pub is_root: bool,
}

impl Caller {
    /// The binding an instance this caller registers gets.
    pub(crate) fn owner(&self) -> AgentOwner {
        AgentOwner {
            arn: self.arn.clone(),
            id: self.id.clone(),
        }
    }
}

/// Whether `caller` may act as the agent of an instance bound to `owner`
/// (pure): root always; otherwise the same ARN and the same unique id.
pub(crate) fn may_act(owner: Option<&AgentOwner>, caller: &Caller) -> bool {
    caller.is_root || owner.is_some_and(|o| o.arn == caller.arn && o.id == caller.id)
}

/// [`may_act`], or AccessDeniedException naming the action and instance.
pub(crate) fn check(
    owner: Option<&AgentOwner>,
    caller: &Caller,
    action: &str,
    instance_arn: &str,
) -> Result<(), AwsError> {
    if may_act(owner, caller) {
        return Ok(());
    }
    let why = match owner {
        Some(_) => {
            "the container instance is bound to the principal that registered it: only that principal \
             (or the account's root user) may act as its agent"
        }
        None => {
            "the container instance was registered before agent identities were recorded: only the account's \
             root user may act as its agent (register the agent again as a new instance)"
        }
    };
    Err(AwsError::access_denied(format!(
        "User: {} is not authorized to perform: {action} on resource: {instance_arn} because {why}",
        caller.arn
    )))
}

impl Ecs {
    /// The caller of a request, with its unique id from IAM.
    pub(crate) fn caller(&self, p: &Principal) -> Caller {
        Caller {
            arn: p.arn.clone(),
            id: self.iam.as_ref().map(|iam| iam.principal_id(p)).unwrap_or_default(),
            is_root: p.is_root,
        }
    }

    /// The registered instance `reference` of `cluster` whose agent the
    /// caller is (or root), for an agent call `action`: not found,
    /// AccessDeniedException ([`check`]), or a client error for a
    /// deregistered instance.
    pub(crate) async fn agent_instance(
        &self,
        principal: &Principal,
        cluster: &str,
        reference: &str,
        action: &str,
    ) -> Result<crate::instances::InstanceRecord, AwsError> {
        let (rec, _) = self
            .get_instance(cluster, reference)
            .await?
            .ok_or_else(|| Self::instance_not_found(reference, cluster))?;
        check(
            rec.berth.owner.as_ref(),
            &self.caller(principal),
            action,
            &rec.container_instance_arn,
        )?;
        if !rec.is_registered() {
            return Err(AwsError::client(format!(
                "The container instance {} was deregistered.",
                rec.container_instance_arn
            )));
        }
        Ok(rec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(arn: &str, id: &str) -> Caller {
        Caller {
            arn: arn.into(),
            id: id.into(),
            is_root: false,
        }
    }

    const A: &str = "arn:aws:iam::000000000000:user/agent-a";
    const I: &str = "arn:aws:ecs:us-east-1:000000000000:container-instance/c/i1";

    #[test]
    fn only_the_owner_or_root_acts() {
        let a = caller(A, "AIDAAAAA");
        let owner = a.owner();
        assert!(may_act(Some(&owner), &a));
        // Another user; the same name created again (a new unique id).
        assert!(!may_act(
            Some(&owner),
            &caller("arn:aws:iam::000000000000:user/b", "AIDABBBB")
        ));
        assert!(!may_act(Some(&owner), &caller(A, "AIDACCCC")));
        // Root always; nobody else for an instance without an owner.
        let root = Caller {
            is_root: true,
            ..caller("arn:aws:iam::000000000000:root", "000000000000")
        };
        assert!(may_act(Some(&owner), &root));
        assert!(may_act(None, &root));
        assert!(!may_act(None, &a));
    }

    #[test]
    fn role_sessions_are_bound_to_role_and_session() {
        let s1 = caller("arn:aws:sts::000000000000:assumed-role/agent/i-1", "AROAXYZ:i-1");
        let s2 = caller("arn:aws:sts::000000000000:assumed-role/agent/i-2", "AROAXYZ:i-2");
        assert!(may_act(Some(&s1.owner()), &s1.clone()));
        assert!(!may_act(Some(&s1.owner()), &s2));
    }

    #[test]
    fn refusals_name_the_caller_action_and_instance() {
        let e = check(Some(&caller(A, "x").owner()), &caller("arn:b", "y"), "ecs:Poll", I).unwrap_err();
        assert_eq!(e.code, "AccessDeniedException");
        assert!(
            e.message.starts_with(&format!(
                "User: arn:b is not authorized to perform: ecs:Poll on resource: {I} because"
            )),
            "{}",
            e.message
        );
        assert!(
            check(None, &caller(A, "x"), "ecs:Poll", I)
                .unwrap_err()
                .message
                .contains("root")
        );
    }
}

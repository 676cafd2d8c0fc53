//! The decision for one request: explicit Deny > Allow > implicit deny.

use super::matching::{arn_like, glob_match, substitute};
use super::{ContextKeys, Effect, PolicyDocument, PrincipalBlock, PrincipalSpec, Statement};

/// One request to decide.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The caller: an IAM ARN (`…:user/bob`, `…:assumed-role/r/s`, `…:root`)
    /// or a service principal (`ecs-tasks.amazonaws.com`) for trust policies.
    pub principal_arn: &'a str,
    /// The account the resource (and, here, the caller) belongs to.
    pub account_id: &'a str,
    /// `service:Operation`, e.g. `ecs:CreateCluster`.
    pub action: &'a str,
    /// The resource ARN, or `*`.
    pub resource: &'a str,
    pub keys: &'a ContextKeys,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenySource {
    Identity,
    Resource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    ExplicitDeny(DenySource),
    ImplicitDeny,
}

/// How a resource policy's `Principal` names the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum PrincipalMatch {
    No,
    /// Through the account (`"123456789012"` or `arn:aws:iam::123456789012:root`):
    /// the account delegates to its identity policies, so such an Allow does
    /// not grant on its own.
    Account,
    /// The caller itself (its ARN, its role's ARN for a role session) or `*`.
    Specific,
}

/// Decides `req` given the caller's identity policies and, optionally, the
/// resource's policy (same-account semantics: an Allow in either grants,
/// unless the resource policy only names the account).
pub fn evaluate(identity: &[&PolicyDocument], resource_policy: Option<&PolicyDocument>, req: &Request<'_>) -> Decision {
    decide(identity, resource_policy, req, false)
}

/// Decides `sts:AssumeRole` (or another action on a role) against the role's
/// trust policy: unlike other resource policies the trust policy must allow
/// the caller. If it names the caller (or `*`) that is enough; if it names
/// the caller's account, the caller's identity policies must allow too.
pub fn evaluate_trust(identity: &[&PolicyDocument], trust_policy: &PolicyDocument, req: &Request<'_>) -> Decision {
    decide(identity, Some(trust_policy), req, true)
}

fn decide(
    identity: &[&PolicyDocument],
    resource_policy: Option<&PolicyDocument>,
    req: &Request<'_>,
    resource_required: bool,
) -> Decision {
    let identity_statements = identity.iter().flat_map(|d| d.statements.iter());
    let resource_statements = resource_policy.into_iter().flat_map(|d| d.statements.iter());

    // Explicit denies first: nothing overrides them.
    for st in identity_statements.clone().filter(|s| s.effect == Effect::Deny) {
        if applies(st, req) {
            return Decision::ExplicitDeny(DenySource::Identity);
        }
    }
    for st in resource_statements.clone().filter(|s| s.effect == Effect::Deny) {
        if principal_of(st, req) != PrincipalMatch::No && applies(st, req) {
            return Decision::ExplicitDeny(DenySource::Resource);
        }
    }
    let resource_grant = resource_statements
        .filter(|s| s.effect == Effect::Allow)
        .map(|st| {
            if applies(st, req) {
                principal_of(st, req)
            } else {
                PrincipalMatch::No
            }
        })
        .max()
        .unwrap_or(PrincipalMatch::No);
    let identity_grant = identity_statements
        .filter(|s| s.effect == Effect::Allow)
        .any(|st| applies(st, req));
    let allowed = match (resource_required, resource_grant) {
        (_, PrincipalMatch::Specific) => true,
        (true, PrincipalMatch::Account) => identity_grant,
        (true, PrincipalMatch::No) => false,
        (false, _) => identity_grant,
    };
    if allowed {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
    }
}

/// Whether a statement's `Principal`/`NotPrincipal` names the caller
/// (identity statements, which have none, always do).
pub fn matches_principal(st: &Statement, req: &Request<'_>) -> bool {
    principal_of(st, req) != PrincipalMatch::No
}

fn principal_of(st: &Statement, req: &Request<'_>) -> PrincipalMatch {
    match &st.principal {
        None => PrincipalMatch::Specific,
        Some(PrincipalBlock { spec, negated: false }) => spec_match(spec, req),
        Some(PrincipalBlock { spec, negated: true }) => match spec_match(spec, req) {
            PrincipalMatch::No => PrincipalMatch::Specific,
            _ => PrincipalMatch::No,
        },
    }
}

fn spec_match(spec: &PrincipalSpec, req: &Request<'_>) -> PrincipalMatch {
    let map = match spec {
        PrincipalSpec::Any => return PrincipalMatch::Specific,
        PrincipalSpec::Map(map) => map,
    };
    let caller = req.principal_arn;
    if !caller.starts_with("arn:") {
        // A service principal.
        let hit = map
            .get("Service")
            .is_some_and(|v| v.iter().any(|s| s.eq_ignore_ascii_case(caller)));
        return if hit {
            PrincipalMatch::Specific
        } else {
            PrincipalMatch::No
        };
    }
    let caller_account = caller.split(':').nth(4).unwrap_or("");
    let role_arn = role_arn_of_session(caller);
    let mut best = PrincipalMatch::No;
    for p in map.get("AWS").into_iter().flatten() {
        let m = if p == "*" || p == caller || role_arn.as_deref() == Some(p.as_str()) {
            PrincipalMatch::Specific
        } else if (p == caller_account || *p == format!("arn:aws:iam::{caller_account}:root"))
            && caller_account == req.account_id
        {
            PrincipalMatch::Account
        } else {
            PrincipalMatch::No
        };
        best = best.max(m);
    }
    best
}

/// `arn:aws:sts::A:assumed-role/ROLE/SESSION` → `arn:aws:iam::A:role/ROLE`.
fn role_arn_of_session(arn: &str) -> Option<String> {
    let rest = arn.strip_prefix("arn:aws:sts::")?;
    let (account, res) = rest.split_once(':')?;
    let role = res.strip_prefix("assumed-role/")?.split('/').next()?;
    Some(format!("arn:aws:iam::{account}:role/{role}"))
}

fn applies(st: &Statement, req: &Request<'_>) -> bool {
    let action_hit = st.action.values.iter().any(|p| glob_match(p, req.action, true));
    if action_hit == st.action.negated {
        return false;
    }
    if let Some(res) = &st.resource {
        let hit = res.values.iter().any(|p| match substitute(p, req.keys) {
            Some(p) => p == "*" || arn_like(&p, req.resource),
            None => false,
        });
        if hit == res.negated {
            return false;
        }
    }
    st.conditions.iter().all(|c| c.holds(req.keys))
}

/// The AccessDenied message AWS gives for a refused request.
pub fn denial_message(principal_arn: &str, action: &str, resource: &str, decision: Decision) -> String {
    let why = match decision {
        Decision::ExplicitDeny(DenySource::Identity) => "with an explicit deny in an identity-based policy".to_string(),
        Decision::ExplicitDeny(DenySource::Resource) => "with an explicit deny in a resource-based policy".to_string(),
        _ => format!("because no identity-based policy allows the {action} action"),
    };
    format!("User: {principal_arn} is not authorized to perform: {action} on resource: {resource} {why}")
}

#[cfg(test)]
mod tests {
    use super::super::PolicyKind;
    use super::*;

    const ACCOUNT: &str = "123456789012";
    const BOB: &str = "arn:aws:iam::123456789012:user/bob";
    const CLUSTER_A: &str = "arn:aws:ecs:us-east-1:123456789012:cluster/a";
    const CLUSTER_B: &str = "arn:aws:ecs:us-east-1:123456789012:cluster/b";

    fn doc(text: &str) -> PolicyDocument {
        PolicyDocument::parse(text, PolicyKind::Identity).unwrap()
    }
    fn rdoc(text: &str) -> PolicyDocument {
        PolicyDocument::parse(text, PolicyKind::Resource).unwrap()
    }

    fn keys() -> ContextKeys {
        let mut k = ContextKeys::new();
        k.set("aws:username", "bob")
            .set("aws:PrincipalArn", BOB)
            .set("aws:SourceIp", "127.0.0.1");
        k
    }

    fn decide(
        identity: &[&str],
        resource_policy: Option<&str>,
        principal: &str,
        action: &str,
        resource: &str,
    ) -> Decision {
        let docs: Vec<PolicyDocument> = identity.iter().map(|t| doc(t)).collect();
        let refs: Vec<&PolicyDocument> = docs.iter().collect();
        let rp = resource_policy.map(rdoc);
        let k = keys();
        evaluate(
            &refs,
            rp.as_ref(),
            &Request {
                principal_arn: principal,
                account_id: ACCOUNT,
                action,
                resource,
                keys: &k,
            },
        )
    }

    const READ_ONLY: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["ecs:Describe*","ecs:List*"],"Resource":"*"}}"#;
    const ALL_ECS: &str = r#"{"Statement":{"Effect":"Allow","Action":"ecs:*","Resource":"*"}}"#;
    const DENY_A: &str = r#"{"Statement":{"Effect":"Deny","Action":"ecs:*","Resource":"arn:aws:ecs:*:*:cluster/a"}}"#;

    /// (name, identity policies, resource policy, action, resource, expected).
    type Case<'a> = (&'a str, Vec<&'a str>, Option<&'a str>, &'a str, &'a str, Decision);

    #[test]
    fn decision_table() {
        use Decision::*;
        use DenySource::*;
        let table: Vec<Case<'_>> = vec![
            (
                "no policies: implicit deny",
                vec![],
                None,
                "ecs:ListClusters",
                "*",
                ImplicitDeny,
            ),
            (
                "allow by wildcard",
                vec![READ_ONLY],
                None,
                "ecs:ListClusters",
                "*",
                Allow,
            ),
            (
                "action case-insensitive",
                vec![READ_ONLY],
                None,
                "ECS:listclusters",
                "*",
                Allow,
            ),
            (
                "not allowed action",
                vec![READ_ONLY],
                None,
                "ecs:CreateCluster",
                CLUSTER_A,
                ImplicitDeny,
            ),
            (
                "explicit deny beats allow *",
                vec![ALL_ECS, DENY_A],
                None,
                "ecs:DescribeClusters",
                CLUSTER_A,
                ExplicitDeny(Identity),
            ),
            (
                "deny on a does not touch b",
                vec![ALL_ECS, DENY_A],
                None,
                "ecs:DescribeClusters",
                CLUSTER_B,
                Allow,
            ),
            (
                "deny alone is still deny",
                vec![DENY_A],
                None,
                "ecs:DeleteCluster",
                CLUSTER_A,
                ExplicitDeny(Identity),
            ),
            (
                "NotAction allows everything else",
                vec![r#"{"Statement":{"Effect":"Allow","NotAction":"ecs:Delete*","Resource":"*"}}"#],
                None,
                "ecs:DeleteCluster",
                CLUSTER_A,
                ImplicitDeny,
            ),
            (
                "NotAction allow, other action",
                vec![r#"{"Statement":{"Effect":"Allow","NotAction":"ecs:Delete*","Resource":"*"}}"#],
                None,
                "ecs:CreateCluster",
                CLUSTER_A,
                Allow,
            ),
            (
                "NotResource deny spares the listed resource",
                vec![
                    ALL_ECS,
                    r#"{"Statement":{"Effect":"Deny","Action":"ecs:*","NotResource":"arn:aws:ecs:*:*:cluster/a"}}"#,
                ],
                None,
                "ecs:DescribeClusters",
                CLUSTER_A,
                Allow,
            ),
            (
                "NotResource deny hits the others",
                vec![
                    ALL_ECS,
                    r#"{"Statement":{"Effect":"Deny","Action":"ecs:*","NotResource":"arn:aws:ecs:*:*:cluster/a"}}"#,
                ],
                None,
                "ecs:DescribeClusters",
                CLUSTER_B,
                ExplicitDeny(Identity),
            ),
            (
                "resource ? wildcard",
                vec![
                    r#"{"Statement":{"Effect":"Allow","Action":"ecs:*","Resource":"arn:aws:ecs:us-east-1:123456789012:cluster/?"}}"#,
                ],
                None,
                "ecs:DescribeClusters",
                CLUSTER_B,
                Allow,
            ),
            (
                "resource is case-sensitive",
                vec![
                    r#"{"Statement":{"Effect":"Allow","Action":"ecs:*","Resource":"arn:aws:ecs:us-east-1:123456789012:cluster/A"}}"#,
                ],
                None,
                "ecs:DescribeClusters",
                CLUSTER_A,
                ImplicitDeny,
            ),
            (
                "policy variable in resource",
                vec![
                    r#"{"Statement":{"Effect":"Allow","Action":"iam:GetUser","Resource":"arn:aws:iam::*:user/${aws:username}"}}"#,
                ],
                None,
                "iam:GetUser",
                BOB,
                Allow,
            ),
            (
                "policy variable, other user",
                vec![
                    r#"{"Statement":{"Effect":"Allow","Action":"iam:GetUser","Resource":"arn:aws:iam::*:user/${aws:username}"}}"#,
                ],
                None,
                "iam:GetUser",
                "arn:aws:iam::123456789012:user/alice",
                ImplicitDeny,
            ),
            (
                "condition holds",
                vec![
                    r#"{"Statement":{"Effect":"Allow","Action":"ecs:*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"127.0.0.0/8"}}}}"#,
                ],
                None,
                "ecs:ListClusters",
                "*",
                Allow,
            ),
            (
                "condition fails",
                vec![
                    r#"{"Statement":{"Effect":"Allow","Action":"ecs:*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}}"#,
                ],
                None,
                "ecs:ListClusters",
                "*",
                ImplicitDeny,
            ),
            (
                "conditions are ANDed",
                vec![
                    r#"{"Statement":{"Effect":"Allow","Action":"ecs:*","Resource":"*","Condition":{"StringEquals":{"aws:username":"bob"},"Bool":{"aws:SecureTransport":"true"}}}}"#,
                ],
                None,
                "ecs:ListClusters",
                "*",
                ImplicitDeny,
            ),
            (
                "resource policy allows the user (same account)",
                vec![],
                Some(
                    r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:user/bob"},"Action":"ecr:BatchGetImage"}}"#,
                ),
                "ecr:BatchGetImage",
                "arn:aws:ecr:us-east-1:123456789012:repository/r",
                Allow,
            ),
            (
                "resource policy naming the account delegates to identity policies",
                vec![],
                Some(r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":"ecr:*"}}"#),
                "ecr:BatchGetImage",
                "arn:aws:ecr:us-east-1:123456789012:repository/r",
                ImplicitDeny,
            ),
            (
                "resource policy deny beats identity allow",
                vec![r#"{"Statement":{"Effect":"Allow","Action":"ecr:*","Resource":"*"}}"#],
                Some(
                    r#"{"Statement":{"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::123456789012:user/bob"},"Action":"ecr:BatchGetImage"}}"#,
                ),
                "ecr:BatchGetImage",
                "arn:aws:ecr:us-east-1:123456789012:repository/r",
                ExplicitDeny(Resource),
            ),
            (
                "resource policy deny for someone else",
                vec![r#"{"Statement":{"Effect":"Allow","Action":"ecr:*","Resource":"*"}}"#],
                Some(
                    r#"{"Statement":{"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::123456789012:user/eve"},"Action":"ecr:BatchGetImage"}}"#,
                ),
                "ecr:BatchGetImage",
                "arn:aws:ecr:us-east-1:123456789012:repository/r",
                Allow,
            ),
            (
                "NotPrincipal deny hits everyone else",
                vec![r#"{"Statement":{"Effect":"Allow","Action":"ecr:*","Resource":"*"}}"#],
                Some(
                    r#"{"Statement":{"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::123456789012:user/eve"},"Action":"ecr:*"}}"#,
                ),
                "ecr:BatchGetImage",
                "arn:aws:ecr:us-east-1:123456789012:repository/r",
                ExplicitDeny(Resource),
            ),
            (
                "Principal * allows",
                vec![],
                Some(r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"}}"#),
                "ecr:BatchGetImage",
                "arn:aws:ecr:us-east-1:123456789012:repository/r",
                Allow,
            ),
        ];
        for (name, identity, rp, action, resource, want) in table {
            assert_eq!(decide(&identity, rp, BOB, action, resource), want, "{name}");
        }
    }

    #[test]
    fn trust_policies_match_roles_sessions_and_services() {
        let trust = PolicyDocument::parse(
            r#"{"Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"},
                {"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::123456789012:role/ci"]},"Action":"sts:AssumeRole"}]}"#,
            PolicyKind::Trust,
        )
        .unwrap();
        let k = ContextKeys::new();
        let role = "arn:aws:iam::123456789012:role/target";
        let ask = |who: &str| {
            evaluate_trust(
                &[],
                &trust,
                &Request {
                    principal_arn: who,
                    account_id: ACCOUNT,
                    action: "sts:AssumeRole",
                    resource: role,
                    keys: &k,
                },
            )
        };
        assert_eq!(ask("ecs-tasks.amazonaws.com"), Decision::Allow);
        assert_eq!(ask("lambda.amazonaws.com"), Decision::ImplicitDeny);
        assert_eq!(ask("arn:aws:sts::123456789012:assumed-role/ci/s1"), Decision::Allow);
        assert_eq!(ask(BOB), Decision::ImplicitDeny);
    }

    #[test]
    fn trust_naming_the_account_needs_identity_permission() {
        let trust = PolicyDocument::parse(
            r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":"sts:AssumeRole"}}"#,
            PolicyKind::Trust,
        )
        .unwrap();
        let other = PolicyDocument::parse(
            r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:user/eve"},"Action":"sts:AssumeRole"}}"#,
            PolicyKind::Trust,
        )
        .unwrap();
        let may_assume = doc(r#"{"Statement":{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}}"#);
        let no_assume = doc(r#"{"Statement":{"Effect":"Deny","Action":"sts:AssumeRole","Resource":"*"}}"#);
        let k = keys();
        let req = Request {
            principal_arn: BOB,
            account_id: ACCOUNT,
            action: "sts:AssumeRole",
            resource: "arn:aws:iam::123456789012:role/target",
            keys: &k,
        };
        assert_eq!(evaluate_trust(&[], &trust, &req), Decision::ImplicitDeny);
        assert_eq!(evaluate_trust(&[&may_assume], &trust, &req), Decision::Allow);
        // The trust policy must allow: an identity Allow alone is not enough.
        assert_eq!(evaluate_trust(&[&may_assume], &other, &req), Decision::ImplicitDeny);
        assert_eq!(
            evaluate_trust(&[&may_assume, &no_assume], &trust, &req),
            Decision::ExplicitDeny(DenySource::Identity)
        );
    }

    #[test]
    fn denial_messages() {
        assert_eq!(
            denial_message(BOB, "ecs:CreateCluster", CLUSTER_A, Decision::ImplicitDeny),
            "User: arn:aws:iam::123456789012:user/bob is not authorized to perform: ecs:CreateCluster on resource: \
             arn:aws:ecs:us-east-1:123456789012:cluster/a because no identity-based policy allows the ecs:CreateCluster action"
        );
        assert!(
            denial_message(BOB, "ecs:X", "*", Decision::ExplicitDeny(DenySource::Identity))
                .ends_with("on resource: * with an explicit deny in an identity-based policy")
        );
        assert!(
            denial_message(BOB, "ecr:X", "r", Decision::ExplicitDeny(DenySource::Resource))
                .ends_with("with an explicit deny in a resource-based policy")
        );
    }
}

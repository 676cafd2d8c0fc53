//! `BerthGetTaskCredentials`: which tasks an agent gets role credentials
//! for, and the trust check, driven through `Ecs::call` with a real IAM on an
//! in-memory store.

use berth_proto::query::QueryInput;
use berth_proto::{AwsError, JsonService, RequestContext};
use berth_testkit::{ACCOUNT, EcsEnv};
use serde_json::{Value, json};
use std::ops::Deref;

const TRUST_ECS: &str =
    r#"{"Statement":{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}}"#;
const TRUST_LAMBDA: &str =
    r#"{"Statement":{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}}"#;

/// The test kit's ECS environment with IAM and a cluster `default`, and the
/// helpers these tests share.
struct Env(EcsEnv);

impl Deref for Env {
    type Target = EcsEnv;
    fn deref(&self) -> &EcsEnv {
        &self.0
    }
}

impl Env {
    async fn new() -> Self {
        Self(EcsEnv::with_iam().await.default_cluster().await)
    }

    async fn role(&self, name: &str, trust: &str) -> String {
        let body = format!(
            "Action=CreateRole&Version=2010-05-08&RoleName={name}&AssumeRolePolicyDocument={}",
            berth_proto::query::url_encode(trust)
        );
        self.iam()
            .call(&self.ctx, "iam", &QueryInput::parse(body.as_bytes()).unwrap())
            .await
            .unwrap();
        format!("arn:aws:iam::{ACCOUNT}:role/{name}")
    }

    async fn instance(&self) -> String {
        let mut attributes = vec![
            json!({"name": "ecs.os-type", "value": "linux"}),
            json!({"name": "com.amazonaws.ecs.capability.task-iam-role"}),
            json!({"name": "com.amazonaws.ecs.capability.task-iam-role-network-host"}),
        ];
        for v in 17..=44 {
            attributes.push(json!({"name": format!("com.amazonaws.ecs.capability.docker-remote-api.1.{v}")}));
        }
        let v = self
            .ok(
                "RegisterContainerInstance",
                json!({
                    "cluster": "default",
                    "totalResources": [
                        {"name": "CPU", "type": "INTEGER", "integerValue": 2048},
                        {"name": "MEMORY", "type": "INTEGER", "integerValue": 2048},
                    ],
                    "attributes": attributes,
                }),
            )
            .await;
        v["containerInstance"]["containerInstanceArn"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Registers `family` with the roles and starts one task on `instance`.
    async fn task(&self, instance: &str, family: &str, roles: Value, overrides: Value) -> String {
        let mut td = json!({
            "family": family,
            "networkMode": "host",
            "containerDefinitions": [{"name": "app", "image": "busybox", "memory": 64}],
        });
        for (k, v) in roles.as_object().unwrap() {
            td[k] = v.clone();
        }
        self.ok("RegisterTaskDefinition", td).await;
        let v = self
            .ok(
                "StartTask",
                json!({"taskDefinition": family, "containerInstances": [instance], "overrides": overrides}),
            )
            .await;
        v["tasks"][0]["taskArn"].as_str().unwrap().to_string()
    }

    async fn creds(&self, instance: &str, task: &str, role: &str) -> Result<Value, AwsError> {
        self.call(
            "BerthGetTaskCredentials",
            json!({"cluster": "default", "containerInstance": instance, "task": task, "role": role}),
        )
        .await
    }
}

#[tokio::test]
async fn task_and_execution_roles_are_issued_to_the_tasks_agent() {
    let env = Env::new().await;
    let task_role = env.role("app-task", TRUST_ECS).await;
    let exec_role = env.role("app-exec", TRUST_ECS).await;
    let other = env.role("override", TRUST_ECS).await;
    let a = env.instance().await;
    let b = env.instance().await;
    let t = env
        .task(
            &a,
            "app",
            json!({"taskRoleArn": task_role, "executionRoleArn": exec_role}),
            json!({}),
        )
        .await;
    let id = t.rsplit('/').next().unwrap();

    let got = env.creds(&a, &t, "task").await.unwrap();
    assert_eq!(got["roleArn"], json!(task_role));
    assert_eq!(
        got["assumedRoleArn"],
        json!(format!("arn:aws:sts::{ACCOUNT}:assumed-role/app-task/{id}"))
    );
    let c = &got["credentials"];
    assert!(c["accessKeyId"].as_str().unwrap().starts_with("ASIA"));
    assert!(!c["secretAccessKey"].as_str().unwrap().is_empty());
    assert!(!c["sessionToken"].as_str().unwrap().is_empty());
    let lifetime = c["expiration"].as_f64().unwrap() - berth_core::time::now_epoch();
    assert!((3500.0..=3601.0).contains(&lifetime), "{lifetime}");

    let exec = env.creds(&a, id, "execution").await.unwrap();
    assert_eq!(
        exec["assumedRoleArn"],
        json!(format!("arn:aws:sts::{ACCOUNT}:assumed-role/app-exec/{id}"))
    );

    // Another instance's agent gets nothing for this task.
    let e = env.creds(&b, &t, "task").await.unwrap_err();
    assert_eq!(e.code, "AccessDeniedException");
    assert!(e.message.contains("not placed on container instance"), "{}", e.message);

    // Overrides win over the definition.
    let t2 = env
        .task(
            &a,
            "app2",
            json!({"taskRoleArn": task_role}),
            json!({"taskRoleArn": other}),
        )
        .await;
    let got = env.creds(&a, &t2, "task").await.unwrap();
    assert_eq!(got["roleArn"], json!(other));
    // No execution role: nothing to issue.
    let e = env.creds(&a, &t2, "execution").await.unwrap_err();
    assert_eq!(e.code, "ClientException");
    assert!(e.message.contains("has no executionRoleArn"), "{}", e.message);

    // A STOPPED task gets no more credentials.
    env.ok(
        "SubmitTaskStateChange",
        json!({"cluster": "default", "task": t, "status": "STOPPED", "reason": "done"}),
    )
    .await;
    let e = env.creds(&a, &t, "task").await.unwrap_err();
    assert_eq!(e.code, "ClientException");
    assert!(e.message.contains("STOPPED"), "{}", e.message);
}

#[tokio::test]
async fn roles_must_exist_and_trust_ecs_tasks() {
    let env = Env::new().await;
    let lambda = env.role("lambda-only", TRUST_LAMBDA).await;
    let a = env.instance().await;
    let t = env
        .task(&a, "untrusted", json!({"taskRoleArn": lambda}), json!({}))
        .await;
    let e = env.creds(&a, &t, "task").await.unwrap_err();
    assert_eq!(e.code, "AccessDeniedException");
    assert!(
        e.message.contains(&format!(
            "Role {lambda} trust policy does not allow ecs-tasks.amazonaws.com to assume it"
        )),
        "{}",
        e.message
    );

    let missing = format!("arn:aws:iam::{ACCOUNT}:role/missing");
    let t = env
        .task(&a, "missing", json!({"taskRoleArn": missing}), json!({}))
        .await;
    let e = env.creds(&a, &t, "task").await.unwrap_err();
    assert_eq!(e.code, "ClientException");
    assert!(e.message.contains("does not exist"), "{}", e.message);

    // Unknown tasks, bad role kinds.
    let e = env
        .creds(&a, "0123456789abcdef0123456789abcdef", "task")
        .await
        .unwrap_err();
    assert_eq!(e.code, "InvalidParameterException");
    let e = env.creds(&a, &t, "admin").await.unwrap_err();
    assert_eq!(e.code, "InvalidParameterException");
}

/// A request context for IAM user `name` (created as root; its unique id
/// is what the instance binding records).
async fn user_ctx(env: &Env, name: &str) -> RequestContext {
    let body = format!("Action=CreateUser&Version=2010-05-08&UserName={name}");
    let xml = env
        .iam()
        .call(&env.ctx, "iam", &QueryInput::parse(body.as_bytes()).unwrap())
        .await
        .unwrap();
    let user_id = xml
        .split_once("<UserId>")
        .and_then(|(_, rest)| rest.split_once("</UserId>"))
        .map(|(id, _)| id.to_string())
        .expect("CreateUser answers the user's id");
    let mut ctx = env.ctx.clone();
    ctx.principal = berth_proto::Principal {
        unique_id: user_id,
        arn: format!("arn:aws:iam::{ACCOUNT}:user/{name}"),
        account_id: ACCOUNT.into(),
        access_key_id: format!("AKIA{name}"),
        is_root: false,
        user_name: Some(name.into()),
    };
    ctx
}

fn register_input(extra: Value) -> Value {
    let mut v = json!({
        "cluster": "default",
        "totalResources": [
            {"name": "CPU", "type": "INTEGER", "integerValue": 2048},
            {"name": "MEMORY", "type": "INTEGER", "integerValue": 2048},
        ],
        "attributes": [],
    });
    let mut attributes = vec![
        json!({"name": "ecs.os-type", "value": "linux"}),
        json!({"name": "com.amazonaws.ecs.capability.task-iam-role"}),
        json!({"name": "com.amazonaws.ecs.capability.task-iam-role-network-host"}),
    ];
    for n in 17..=44 {
        attributes.push(json!({"name": format!("com.amazonaws.ecs.capability.docker-remote-api.1.{n}")}));
    }
    v["attributes"] = json!(attributes);
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

#[tokio::test]
async fn an_instance_is_bound_to_the_principal_that_registered_it() {
    let env = Env::new().await;
    let role = env.role("bound-task", TRUST_ECS).await;
    let (a, b) = (user_ctx(&env, "agent-a").await, user_ctx(&env, "agent-b").await);
    let register = |ctx: RequestContext, extra: Value| {
        let ecs = env.ecs.clone();
        async move { ecs.call(&ctx, "RegisterContainerInstance", register_input(extra)).await }
    };
    let arn_a = register(a.clone(), json!({})).await.unwrap()["containerInstance"]["containerInstanceArn"]
        .as_str()
        .unwrap()
        .to_string();
    let doc = r#"{"instanceId": "i-0123456789abcdef0"}"#;
    let arn_b = register(b.clone(), json!({"instanceIdentityDocument": doc}))
        .await
        .unwrap()["containerInstance"]["containerInstanceArn"]
        .as_str()
        .unwrap()
        .to_string();
    let t = env.task(&arn_b, "bound", json!({"taskRoleArn": role}), json!({})).await;
    let denied = |r: Result<Value, AwsError>, action: &str| {
        let e = r.unwrap_err();
        assert_eq!(e.code, "AccessDeniedException", "{e}");
        assert!(
            e.message.starts_with(&format!(
                "User: arn:aws:iam::{ACCOUNT}:user/agent-a is not authorized to perform: {action} on resource: "
            )),
            "{}",
            e.message
        );
    };

    // A may not act for B's instance, whichever way it names it.
    denied(
        register(a.clone(), json!({"containerInstanceArn": arn_b})).await,
        "ecs:RegisterContainerInstance",
    );
    denied(
        register(a.clone(), json!({"instanceIdentityDocument": doc})).await,
        "ecs:RegisterContainerInstance",
    );
    denied(
        env.ecs
            .call(
                &a,
                "BerthHeartbeat",
                json!({"cluster": "default", "containerInstance": arn_b}),
            )
            .await,
        "ecs:Poll",
    );
    denied(
        env.ecs
            .call(
                &a,
                "SubmitTaskStateChange",
                json!({"cluster": "default", "task": t, "status": "STOPPED"}),
            )
            .await,
        "ecs:SubmitTaskStateChange",
    );
    denied(
        env.ecs
            .call(
                &a,
                "BerthGetTaskCredentials",
                json!({"cluster": "default", "containerInstance": arn_b, "task": t}),
            )
            .await,
        "ecs:Poll",
    );
    denied(
        env.ecs
            .open_agent_session(&a.principal, Some("default"), &arn_b)
            .await
            .map(|_| Value::Null),
        "ecs:Poll",
    );
    let desc = env
        .ok("DescribeTasks", json!({"cluster": "default", "tasks": [t.clone()]}))
        .await;
    assert_eq!(desc["tasks"][0]["lastStatus"], "PENDING");

    // B may, and so may root.
    assert!(
        register(b.clone(), json!({"containerInstanceArn": arn_b}))
            .await
            .is_ok()
    );
    env.ecs
        .call(
            &b,
            "BerthHeartbeat",
            json!({"cluster": "default", "containerInstance": arn_b}),
        )
        .await
        .unwrap();
    env.ecs
        .call(
            &b,
            "SubmitTaskStateChange",
            json!({"cluster": "default", "task": t, "status": "RUNNING"}),
        )
        .await
        .unwrap();
    let got = env
        .ecs
        .call(
            &b,
            "BerthGetTaskCredentials",
            json!({"cluster": "default", "containerInstance": arn_b, "task": t}),
        )
        .await
        .unwrap();
    assert_eq!(got["roleArn"], json!(role));
    assert!(
        env.ecs
            .open_agent_session(&b.principal, Some("default"), &arn_b)
            .await
            .is_ok()
    );
    assert!(
        env.ecs
            .open_agent_session(&env.ctx.principal, Some("default"), &arn_a)
            .await
            .is_ok()
    );
    // A's own instance is A's.
    assert!(
        env.ecs
            .open_agent_session(&a.principal, Some("default"), &arn_a)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_shared_fargate_hosts_agent_gets_the_roles_of_another_clusters_task_and_no_one_else() {
    let env = Env::new().await;
    let task_role = env.role("prod-task", TRUST_ECS).await;
    let exec_role = env.role("prod-exec", TRUST_ECS).await;
    let (h, other) = (user_ctx(&env, "agent-h").await, user_ctx(&env, "agent-o").await);
    // A Fargate host of default, registered by agent-h.
    let mut input = register_input(json!({}));
    input["attributes"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "berth.fargate-host", "value": "true"}));
    let host = env.ecs.call(&h, "RegisterContainerInstance", input).await.unwrap()["containerInstance"]
        ["containerInstanceArn"]
        .as_str()
        .unwrap()
        .to_string();
    // A task of prod, a cluster with no instance: placed on the shared host.
    env.ok("CreateCluster", json!({"clusterName": "prod"})).await;
    env.ok(
        "RegisterTaskDefinition",
        json!({"family": "fg", "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"],
               "cpu": "256", "memory": "512", "taskRoleArn": task_role, "executionRoleArn": exec_role,
               "containerDefinitions": [{"name": "app", "image": "busybox"}]}),
    )
    .await;
    let v = env
        .ok(
            "RunTask",
            json!({"cluster": "prod", "taskDefinition": "fg", "launchType": "FARGATE",
                   "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-12345678"]}}}),
        )
        .await;
    let t = v["tasks"][0]["taskArn"].as_str().unwrap().to_string();
    let prod = format!("arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/prod");
    // The host's agent asks with the task's cluster and its own instance.
    let creds = |ctx: RequestContext, role: &'static str| {
        let (ecs, host, t, prod) = (env.ecs.clone(), host.clone(), t.clone(), prod.clone());
        async move {
            ecs.call(
                &ctx,
                "BerthGetTaskCredentials",
                json!({"cluster": prod, "containerInstance": host, "task": t, "role": role}),
            )
            .await
        }
    };
    assert_eq!(creds(h.clone(), "task").await.unwrap()["roleArn"], json!(task_role));
    assert_eq!(
        creds(h.clone(), "execution").await.unwrap()["roleArn"],
        json!(exec_role)
    );
    let e = creds(other.clone(), "task").await.unwrap_err();
    assert_eq!(e.code, "AccessDeniedException", "{e}");
    let report = |ctx: RequestContext| {
        let (ecs, t, prod) = (env.ecs.clone(), t.clone(), prod.clone());
        async move {
            ecs.call(
                &ctx,
                "SubmitTaskStateChange",
                json!({"cluster": prod, "task": t, "status": "RUNNING"}),
            )
            .await
        }
    };
    let e = report(other).await.unwrap_err();
    assert_eq!(e.code, "AccessDeniedException", "{e}");
    report(h).await.unwrap();
    let d = env.ok("DescribeTasks", json!({"cluster": "prod", "tasks": [t]})).await;
    assert_eq!(d["tasks"][0]["lastStatus"], "RUNNING");
}

//! RunTask, StartTask and ListTasks through `Ecs::call`: client tokens,
//! filters, launch types and network configuration, execute command,
//! tags, overrides and groups.

#[path = "support/ecs_env.rs"]
mod support;

use serde_json::json;
use support::*;

#[tokio::test]
async fn client_token_makes_run_task_idempotent() {
    let env = Env::new().await;
    env.instance(4096, 4096, "us-east-1a").await;
    env.task_definition("web", 64).await;
    let input = json!({"taskDefinition": "web", "count": 2, "clientToken": "token-1"});
    let first = env.run(input.clone()).await;
    let second = env.run(input.clone()).await;
    assert_eq!(task_arns(&first).len(), 2);
    assert_eq!(task_arns(&first), task_arns(&second));
    assert_eq!(env.list_tasks(json!({})).await.len(), 2);
    let e = env
        .err(
            "RunTask",
            json!({"taskDefinition": "web", "count": 3, "clientToken": "token-1"}),
        )
        .await;
    assert_eq!(e.code, "ConflictException");
    let e = env
        .err("RunTask", json!({"taskDefinition": "web", "clientToken": "bad token"}))
        .await;
    assert_eq!(e.code, "InvalidParameterException");
}

#[tokio::test]
async fn list_tasks_filters_and_pagination() {
    let env = Env::new().await;
    let a = env.instance(8192, 8192, "us-east-1a").await;
    let b = env.instance(8192, 8192, "us-east-1b").await;
    env.task_definition("web", 64).await;
    env.task_definition("batch", 64).await;
    env.run(json!({"taskDefinition": "web", "count": 7, "startedBy": "ci"}))
        .await;
    env.run(json!({"taskDefinition": "batch", "count": 5})).await;
    env.ok(
        "StartTask",
        json!({"taskDefinition": "batch", "containerInstances": [b], "group": "service:api"}),
    )
    .await;

    assert_eq!(env.list_tasks(json!({})).await.len(), 13);
    assert_eq!(env.list_tasks(json!({"family": "web"})).await.len(), 7);
    assert_eq!(env.list_tasks(json!({"startedBy": "ci"})).await.len(), 7);
    assert_eq!(env.list_tasks(json!({"serviceName": "api"})).await.len(), 1);
    assert_eq!(env.list_tasks(json!({"launchType": "FARGATE"})).await.len(), 0);
    assert_eq!(env.list_tasks(json!({"desiredStatus": "PENDING"})).await.len(), 0);
    let on_a = env.list_tasks(json!({"containerInstance": a})).await.len();
    let on_b = env
        .list_tasks(json!({"containerInstance": b.rsplit('/').next().unwrap()}))
        .await
        .len();
    assert_eq!(on_a + on_b, 13);

    let mut seen = vec![];
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut input = json!({"maxResults": 5});
        if let Some(t) = &token {
            input["nextToken"] = json!(t);
        }
        let v = env.ok("ListTasks", input).await;
        pages += 1;
        seen.extend(v["taskArns"].as_array().unwrap().iter().cloned());
        match v["nextToken"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    seen.sort_by_key(|v| v.to_string());
    seen.dedup();
    assert_eq!(seen.len(), 13);
    assert_eq!(
        env.err("ListTasks", json!({"maxResults": 101})).await.code,
        "InvalidParameterException"
    );
    assert_eq!(
        env.err("ListTasks", json!({"desiredStatus": "DONE"})).await.code,
        "InvalidParameterException"
    );

    // DescribeTasks: up to 100, MISSING failures, tags only when asked.
    let arns = env.list_tasks(json!({"family": "web"})).await;
    let v = env.ok("DescribeTasks", json!({"tasks": [arns[0], "0000"]})).await;
    assert_eq!(v["tasks"].as_array().unwrap().len(), 1);
    assert_eq!(v["failures"][0]["reason"], "MISSING");
    let many: Vec<String> = (0..101).map(|i| format!("t{i}")).collect();
    assert_eq!(
        env.err("DescribeTasks", json!({"tasks": many})).await.code,
        "InvalidParameterException"
    );
}

#[tokio::test]
async fn start_task_places_on_the_named_instances() {
    let env = Env::new().await;
    let a = env.instance(1024, 512, "us-east-1a").await;
    env.task_definition("web", 400).await;
    let missing = "arn:aws:ecs:us-east-1:000000000000:container-instance/default/0000";
    let v = env
        .ok(
            "StartTask",
            json!({"taskDefinition": "web", "containerInstances": [a, a, missing]}),
        )
        .await;
    assert_eq!(v["tasks"].as_array().unwrap().len(), 1);
    let reasons: Vec<&str> = v["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, vec!["RESOURCE:MEMORY", "MISSING"]);
}

#[tokio::test]
async fn fargate_tasks_need_awsvpc_and_run_on_berth_instances() {
    let env = Env::new().await;
    env.instance(4096, 4096, "us-east-1a").await;
    env.task_definition_with(
        "fg",
        json!({"networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"], "cpu": "256", "memory": "512",
               "containerDefinitions": [{"name": "app", "image": "busybox"}]}),
    )
    .await;
    let v = env
        .run(json!({"taskDefinition": "fg", "launchType": "FARGATE",
                    "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-12345678"]}}}))
        .await;
    let t = &v["tasks"][0];
    assert_eq!(v["failures"], json!([]), "{v}");
    assert_eq!(t["launchType"], "FARGATE");
    assert_eq!(t["lastStatus"], "PROVISIONING");
    assert_eq!(t["cpu"], "256");
    assert_eq!(t["memory"], "512");
    assert_eq!(t["platformVersion"], "1.4.0");
    // The task's ENI attachment, until its agent reports the interface.
    assert_eq!(t["attachments"][0]["type"], "ElasticNetworkInterface");
    assert_eq!(t["attachments"][0]["status"], "PRECREATED");
    assert_eq!(
        t["attachments"][0]["details"],
        json!([{"name": "subnetId", "value": "subnet-12345678"}])
    );
    env.ok(
        "PutClusterCapacityProviders",
        json!({"cluster": "default", "capacityProviders": ["FARGATE", "FARGATE_SPOT"],
               "defaultCapacityProviderStrategy": []}),
    )
    .await;
    let v = env
        .run(json!({"taskDefinition": "fg", "count": 2,
                    "capacityProviderStrategy": [{"capacityProvider": "FARGATE_SPOT", "weight": 1}],
                    "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-12345678"]}}}))
        .await;
    assert_eq!(v["tasks"][0]["capacityProviderName"], "FARGATE_SPOT");
    assert_eq!(v["tasks"][1]["launchType"], "FARGATE");
}

#[tokio::test]
async fn network_configuration_must_match_the_network_mode() {
    let env = Env::new().await;
    let instance = env.instance(4096, 4096, "us-east-1a").await;
    env.task_definition_with(
        "vpc",
        json!({"networkMode": "awsvpc", "containerDefinitions": [{"name": "app", "image": "busybox", "memory": 64}]}),
    )
    .await;
    env.task_definition("plain", 64).await;
    let good = json!({"awsvpcConfiguration": {"subnets": ["subnet-12345678"]}});
    let cases = [
        (
            "vpc",
            None,
            "Network Configuration must be provided when networkMode 'awsvpc' is specified.",
        ),
        (
            "vpc",
            Some(json!({"awsvpcConfiguration": {"subnets": []}})),
            "subnets can not be empty.",
        ),
        (
            "plain",
            Some(good.clone()),
            "Network Configuration is not valid for the given networkMode of this task definition.",
        ),
    ];
    for (family, network, message) in cases {
        for (op, mut input) in [
            ("RunTask", json!({"taskDefinition": family})),
            (
                "StartTask",
                json!({"taskDefinition": family, "containerInstances": [instance]}),
            ),
        ] {
            if let Some(n) = &network {
                input["networkConfiguration"] = n.clone();
            }
            let e = env.err(op, input).await;
            assert_eq!(e.code, "InvalidParameterException", "{op} {family}");
            assert_eq!(e.message, message, "{op} {family}");
        }
    }
    assert!(env.list_tasks(json!({})).await.is_empty(), "nothing was placed");
    let v = env
        .run(json!({"taskDefinition": "vpc", "networkConfiguration": good}))
        .await;
    assert_eq!(v["tasks"].as_array().unwrap().len(), 1, "{v}");
    let v = env
        .ok(
            "StartTask",
            json!({"taskDefinition": "vpc", "containerInstances": [instance], "networkConfiguration": good}),
        )
        .await;
    assert_eq!(v["tasks"].as_array().unwrap().len(), 1, "{v}");
}

#[tokio::test]
async fn execute_command_is_refused_until_ecs_exec_exists() {
    let env = Env::new().await;
    let instance = env.instance(4096, 4096, "us-east-1a").await;
    env.task_definition("web", 64).await;
    for (op, mut input) in [
        ("RunTask", json!({"taskDefinition": "web"})),
        (
            "StartTask",
            json!({"taskDefinition": "web", "containerInstances": [instance]}),
        ),
    ] {
        input["enableExecuteCommand"] = json!(true);
        let e = env.err(op, input.clone()).await;
        assert_eq!(e.code, "InvalidParameterException", "{op}");
        assert_eq!(
            e.message,
            "enableExecuteCommand is not supported by Berth yet (ECS Exec is not implemented); omit it or set it to false.",
            "{op}"
        );
        assert!(env.list_tasks(json!({})).await.is_empty(), "{op} placed nothing");
    }
    for (op, input) in [
        (
            "RunTask",
            json!({"taskDefinition": "web", "enableExecuteCommand": false}),
        ),
        (
            "StartTask",
            json!({"taskDefinition": "web", "containerInstances": [instance], "enableExecuteCommand": false}),
        ),
    ] {
        let v = env.ok(op, input).await;
        assert_eq!(v["tasks"][0]["enableExecuteCommand"], false, "{op}");
    }
}

#[tokio::test]
async fn containers_without_a_health_check_are_unknown() {
    let env = Env::new().await;
    env.instance(2048, 2048, "us-east-1a").await;
    env.task_definition("plain", 64).await;
    let task = task_arns(&env.run(json!({"taskDefinition": "plain"})).await)[0].clone();
    let t = env.describe_task(&task).await;
    assert_eq!(t["containers"][0]["healthStatus"], "UNKNOWN", "{t}");
    assert_eq!(t["healthStatus"], "UNKNOWN");
    env.ok(
        "SubmitTaskStateChange",
        json!({"task": task, "status": "RUNNING",
               "containers": [{"containerName": "app", "status": "RUNNING", "runtimeId": "c0ffee"}]}),
    )
    .await;
    let t = env.describe_task(&task).await;
    assert_eq!(t["lastStatus"], "RUNNING");
    assert_eq!(t["containers"][0]["healthStatus"], "UNKNOWN", "{t}");
    assert_eq!(t["healthStatus"], "UNKNOWN");
    let listed = env.ok("DescribeTasks", json!({"tasks": [task]})).await;
    assert_eq!(listed["tasks"][0]["containers"][0]["healthStatus"], "UNKNOWN");
}

#[tokio::test]
async fn tags_overrides_and_groups() {
    let env = Env::new().await;
    env.instance(4096, 4096, "us-east-1a").await;
    let body = json!({
        "family": "web",
        "tags": [{"key": "team", "value": "core"}],
        "containerDefinitions": [{"name": "app", "image": "busybox", "memory": 64}, {"name": "side", "image": "busybox", "memory": 32}]
    });
    env.task_definition_with("web", body).await;
    let v = env
        .run(json!({
            "taskDefinition": "web",
            "group": "batch",
            "propagateTags": "TASK_DEFINITION",
            "enableECSManagedTags": true,
            "tags": [{"key": "run", "value": "1"}],
            "overrides": {"containerOverrides": [{"name": "app", "memory": 128, "command": ["sleep", "1"]}],
                          "taskRoleArn": "arn:aws:iam::000000000000:role/r"}
        }))
        .await;
    let t = &v["tasks"][0];
    assert_eq!(t["group"], "batch");
    assert_eq!(t["memory"], "160");
    assert_eq!(t["containers"][0]["memory"], "128");
    assert_eq!(t["overrides"]["containerOverrides"][1], json!({"name": "side"}));
    assert_eq!(t["overrides"]["taskRoleArn"], "arn:aws:iam::000000000000:role/r");
    let tags = t["tags"].as_array().unwrap();
    for k in ["team", "run", "aws:ecs:clusterName"] {
        assert!(tags.iter().any(|x| x["key"] == k), "tag {k} in {tags:?}");
    }
    let e = env
        .err(
            "RunTask",
            json!({"taskDefinition": "web", "overrides": {"containerOverrides": [{"name": "ghost"}]}}),
        )
        .await;
    assert_eq!(e.code, "InvalidParameterException");
    let e = env
        .err("RunTask", json!({"taskDefinition": "web", "propagateTags": "SERVICE"}))
        .await;
    assert_eq!(e.code, "InvalidParameterException");
}

#[tokio::test]
async fn fargate_hosts_take_the_fargate_tasks_and_are_no_container_instances() {
    let env = Env::new().await;
    let ec2 = env.instance(4096, 4096, "us-east-1a").await;
    let mut attributes = berth_testkit::agents::agent_attributes("us-east-1a");
    attributes
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "berth.fargate-host", "value": "true"}));
    let v = env
        .ok(
            "RegisterContainerInstance",
            json!({
                "cluster": "default",
                "totalResources": [
                    {"name": "CPU", "type": "INTEGER", "integerValue": 4096},
                    {"name": "MEMORY", "type": "INTEGER", "integerValue": 8192}
                ],
                "attributes": attributes,
            }),
        )
        .await;
    let fargate = v["containerInstance"]["containerInstanceArn"]
        .as_str()
        .unwrap()
        .to_string();
    env.task_definition_with(
        "fg",
        json!({"networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"], "cpu": "256", "memory": "512",
               "containerDefinitions": [{"name": "app", "image": "busybox"}]}),
    )
    .await;
    env.task_definition("web", 64).await;
    let network = json!({"awsvpcConfiguration": {"subnets": ["subnet-12345678"]}});

    // FARGATE tasks go to the Fargate host, shown without an instance.
    let v = env
        .run(json!({"taskDefinition": "fg", "launchType": "FARGATE", "count": 3, "networkConfiguration": network}))
        .await;
    assert_eq!(v["failures"], json!([]), "{v}");
    for t in v["tasks"].as_array().unwrap() {
        assert!(t.get("containerInstanceArn").is_none(), "{t}");
    }
    assert_eq!(env.list_tasks(json!({"containerInstance": fargate})).await.len(), 3);
    // EC2 tasks never do.
    for _ in 0..4 {
        let v = env.run(json!({"taskDefinition": "web"})).await;
        assert_eq!(v["tasks"][0]["containerInstanceArn"], json!(ec2), "{v}");
    }
    // The Fargate host is no container instance.
    let listed = env.ok("ListContainerInstances", json!({})).await;
    assert_eq!(listed["containerInstanceArns"], json!([ec2]));
    let described = env
        .ok(
            "DescribeContainerInstances",
            json!({"containerInstances": [fargate.clone()]}),
        )
        .await;
    assert_eq!(described["containerInstances"], json!([]));
    assert_eq!(described["failures"][0]["reason"], "MISSING");
    let c = env.ok("DescribeClusters", json!({"clusters": ["default"]})).await;
    assert_eq!(c["clusters"][0]["registeredContainerInstancesCount"], 1);
}

#[tokio::test]
async fn a_custom_provider_task_waits_provisioning_until_its_host_group_has_room() {
    let env = Env::new().await;
    // An instance outside the group never takes the provider's tasks.
    let outside = env.instance(4096, 4096, "us-east-1a").await;
    env.ok(
        "CreateCapacityProvider",
        json!({"name": "pool", "autoScalingGroupProvider": {"autoScalingGroupArn": "hosts"}}),
    )
    .await;
    env.ok(
        "PutClusterCapacityProviders",
        json!({"cluster": "default", "capacityProviders": ["pool"], "defaultCapacityProviderStrategy": []}),
    )
    .await;
    env.task_definition("web", 64).await;
    let strategy = json!([{"capacityProvider": "pool", "weight": 1}]);
    let v = env
        .run(json!({"taskDefinition": "web", "count": 2, "capacityProviderStrategy": strategy}))
        .await;
    assert_eq!(v["failures"], json!([]), "{v}");
    for t in v["tasks"].as_array().unwrap() {
        assert_eq!(t["lastStatus"], "PROVISIONING", "{t}");
        assert_eq!(t["launchType"], "EC2", "{t}");
        assert_eq!(t["capacityProviderName"], "pool", "{t}");
        assert!(t.get("containerInstanceArn").is_none(), "{t}");
    }
    assert_eq!(env.list_tasks(json!({"containerInstance": outside})).await.len(), 0);

    // An instance of the group registers: the controller places both there.
    let mut attributes = berth_testkit::agents::agent_attributes("us-east-1a");
    attributes
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "berth.host-group", "value": "hosts"}));
    let v = env
        .ok(
            "RegisterContainerInstance",
            json!({
                "cluster": "default",
                "totalResources": [
                    {"name": "CPU", "type": "INTEGER", "integerValue": 1024},
                    {"name": "MEMORY", "type": "INTEGER", "integerValue": 1024}
                ],
                "attributes": attributes,
            }),
        )
        .await;
    let grouped = v["containerInstance"]["containerInstanceArn"]
        .as_str()
        .unwrap()
        .to_string();
    let controllers = berth_ecs::spawn_capacity_controllers(&env.ecs);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if env.list_tasks(json!({"containerInstance": grouped})).await.len() == 2 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the waiting tasks were not placed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await; // poll interval
    }
    controllers.abort();
    let described = env
        .ok("DescribeTasks", json!({"tasks": env.list_tasks(json!({})).await}))
        .await;
    for t in described["tasks"].as_array().unwrap() {
        assert_eq!(t["lastStatus"], "PENDING", "{t}");
        assert_eq!(t["containerInstanceArn"], json!(grouped), "{t}");
    }
    // The group's instance has the two tasks' resources taken.
    let i = env
        .ok("DescribeContainerInstances", json!({"containerInstances": [grouped]}))
        .await;
    let remaining = &i["containerInstances"][0]["remainingResources"];
    let memory = remaining
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "MEMORY")
        .unwrap();
    assert_eq!(memory["integerValue"], 1024 - 2 * 64, "{remaining}");
}

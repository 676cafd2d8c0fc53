"""PAUSE lifecycle hooks of a BLUE_GREEN deployment behind a Berth ALB and
ContinueServiceDeployment (issue 15 item 4), end to end with real Docker
containers, real HTTP through the listeners, boto3 and the aws CLI:

- a hook at POST_TEST_TRAFFIC_SHIFT: the deployment waits there
  (`lifecycleHookDetails` AWAITING_ACTION with its expiry and timeout
  action), the test listener already answers from green while production
  still answers from blue; a restarted server keeps the pause; the CLI's
  `continue-service-deployment` (CONTINUE) lets production shift and the
  deployment complete (the hook SUCCEEDED), and the client loop on
  production saw blue until then and no error;
- the next deployment, paused the same way, answered ROLLBACK: it rolls
  back (ROLLBACK_SUCCESSFUL, the hook FAILED), production never served it;
- a hook whose short timeout has the CONTINUE action goes on by itself
  (TIMED_OUT);
- bad input: an unknown hookId, a deployment that is not paused, an
  unknown action, a missing deployment, AWS_LAMBDA hooks, PAUSE hooks at a
  Lambda-only stage or on a ROLLING service; and a user without
  ecs:ContinueServiceDeployment on the deployment is denied.

The server runs with `--time-scale 60` (a hook "minute" is a second).
Every wait is a poll with a deadline; four deployments wait for two health
checks 5 s apart, and one restart: about 80 s.
"""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError
from test_ecs_bluegreen import (
    Client,
    Setup,
    answers_from,
    primary_deployment,
    server,  # noqa: F401  (a fixture, used by name: this module's own server)
    service,
    steady_on,
    web,
)
from test_elbv2_services import cluster  # noqa: F401  (a fixture, used by name)
from test_tasks import (  # noqa: F401  (fixtures are used by name)
    image,
    poll,
    register,
)

from berthtest import AwsCliError, denied, make_user, unique

REGION = "us-east-1"
DEADLINE = 90.0


def pause_at(stage: str, **timeout) -> dict:
    hook = {"targetType": "PAUSE", "lifecycleStages": [stage]}
    if timeout:
        hook["timeoutConfiguration"] = timeout
    return hook


def paused(ecs, cluster: str, name: str, stage: str):
    """The PRIMARY deployment once it waits at `stage`, else None."""
    d = primary_deployment(ecs, cluster, name)
    hooks = d.get("lifecycleHookDetails", [])
    waiting = [h for h in hooks if h["status"] == "AWAITING_ACTION"]
    return d if d.get("lifecycleStage") == stage and waiting else None


def error_of(call, **kwargs) -> tuple[str, str]:
    with pytest.raises(ClientError) as e:
        call(**kwargs)
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


def test_a_pause_after_the_test_shift_waits_for_continue_or_rollback(server, cluster, image):
    c = cluster("hooks")
    c.add_agent()
    ecs, elb = server.client("ecs"), server.client("elbv2", region_name=REGION)
    setup = Setup(elb)
    family = unique("hooks")
    v1, v2, v3, v4 = (register(ecs, family, [web(image, v)], networkMode="bridge") for v in ("v1", "v2", "v3", "v4"))
    name = unique("web")
    hook = pause_at("POST_TEST_TRAFFIC_SHIFT")
    config = {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 0, "lifecycleHooks": [hook]}
    ecs.create_service(
        cluster=c.name, serviceName=name, taskDefinition=v1, desiredCount=1, healthCheckGracePeriodSeconds=0,
        loadBalancers=setup.load_balancers(), deploymentConfiguration=config,
    )
    shown = service(ecs, c.name, name)["deploymentConfiguration"]
    assert shown["lifecycleHooks"] == [hook]
    # The first deployment has no blue to shift from: it does not pause.
    steady_on(ecs, c.name, name, v1, 1)
    poll("production answers from the first revision", lambda: answers_from(setup.prod_port, "v1"), DEADLINE)

    # 1. Paused after the test shift: test reaches green, production blue.
    ecs.update_service(cluster=c.name, service=name, taskDefinition=v2)
    d = poll("the pause at POST_TEST_TRAFFIC_SHIFT", lambda: paused(ecs, c.name, name, "POST_TEST_TRAFFIC_SHIFT"),
             DEADLINE)
    arn = d["serviceDeploymentArn"]
    [detail] = d["lifecycleHookDetails"]
    hook_id = detail["hookId"]
    assert hook_id.startswith("ecs-pause-") and detail["targetType"] == "PAUSE"
    assert detail["timeoutAction"] == "ROLLBACK", "AWS's default timeout action"
    # The default timeout, 1440 minutes, is 1440 s at --time-scale 60.
    left = detail["expiresAt"].timestamp() - time.time()
    assert 1300 < left <= 1440, left
    assert answers_from(setup.test_port, "v2")
    assert answers_from(setup.prod_port, "v1")
    assert d["status"] == "IN_PROGRESS"

    # Bad input while paused: nothing changes.
    code, message = error_of(ecs.continue_service_deployment, serviceDeploymentArn=arn, hookId="ecs-pause-nope")
    assert code == "InvalidParameterException" and "ecs-pause-nope" in message
    code, message = error_of(ecs.continue_service_deployment, serviceDeploymentArn=arn, hookId=hook_id,
                             action="PROCEED")
    assert code == "InvalidParameterException" and "PROCEED" in message and "CONTINUE" in message
    missing = arn.rsplit("/", 1)[0] + "/1234567890123456789"
    code, _ = error_of(ecs.continue_service_deployment, serviceDeploymentArn=missing, hookId=hook_id)
    assert code == "ServiceDeploymentNotFoundException"
    _, client = make_user(server, [
        {"Effect": "Allow", "Action": "ecs:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "ecs:ContinueServiceDeployment", "Resource": arn},
    ])
    message = denied(client("ecs").continue_service_deployment, serviceDeploymentArn=arn, hookId=hook_id)
    assert "ecs:ContinueServiceDeployment" in message and arn in message

    # A restarted server keeps the pause (the same hook, still waiting).
    server.restart()
    ecs = server.client("ecs")
    d = poll("the pause after the restart", lambda: paused(ecs, c.name, name, "POST_TEST_TRAFFIC_SHIFT"), DEADLINE)
    assert [h["hookId"] for h in d["lifecycleHookDetails"]] == [hook_id]
    poll("the test listener after the restart", lambda: answers_from(setup.test_port, "v2"), DEADLINE)
    assert answers_from(setup.prod_port, "v1")

    # CONTINUE (the aws CLI): production shifts, the deployment completes.
    with Client(setup.prod_port) as prod:
        poll("the client loop's first answer", lambda: prod.answers, DEADLINE)
        out = server.aws("ecs", "continue-service-deployment", "--service-deployment-arn", arn,
                         "--hook-id", hook_id, "--action", "CONTINUE")
        assert out == {"serviceDeploymentArn": arn}
        steady_on(ecs, c.name, name, v2, 1)
        poll("production answers from green", lambda: "v2" in prod.answers, DEADLINE)
    assert prod.errors == []
    first_green = prod.answers.index("v2")
    assert first_green > 0 and set(prod.answers[:first_green]) == {"v1"}
    d = ecs.describe_service_deployments(serviceDeploymentArns=[arn])["serviceDeployments"][0]
    assert d["status"] == "SUCCESSFUL"
    assert [h["status"] for h in d["lifecycleHookDetails"]] == ["SUCCEEDED"]
    # No longer paused: nothing to continue.
    code, message = error_of(ecs.continue_service_deployment, serviceDeploymentArn=arn, hookId=hook_id)
    assert code == "InvalidParameterException" and "SUCCESSFUL" in message

    # 2. The next deployment, paused, answered ROLLBACK: back to v2 at once.
    with Client(setup.prod_port) as prod:
        ecs.update_service(cluster=c.name, service=name, taskDefinition=v3)
        d = poll("the second pause", lambda: paused(ecs, c.name, name, "POST_TEST_TRAFFIC_SHIFT"), DEADLINE)
        assert answers_from(setup.test_port, "v3")
        arn3, hook3 = d["serviceDeploymentArn"], d["lifecycleHookDetails"][0]["hookId"]
        assert hook3 != hook_id
        ecs.continue_service_deployment(serviceDeploymentArn=arn3, hookId=hook3, action="ROLLBACK")
        steady_on(ecs, c.name, name, v2, 1)
        poll("the test listener back on blue", lambda: answers_from(setup.test_port, "v2"), DEADLINE)
    assert prod.answers and set(prod.answers) == {"v2"}, "production never served the rolled-back revision"
    assert prod.errors == []
    d = ecs.describe_service_deployments(serviceDeploymentArns=[arn3])["serviceDeployments"][0]
    assert d["status"] == "ROLLBACK_SUCCESSFUL"
    assert [h["status"] for h in d["lifecycleHookDetails"]] == ["FAILED"]
    assert "ContinueServiceDeployment" in d["rollback"]["reason"]

    # 3. A short timeout with CONTINUE goes on by itself.
    timed = pause_at("POST_SCALE_UP", timeoutInMinutes=2, action="CONTINUE")
    ecs.update_service(cluster=c.name, service=name, taskDefinition=v4,
                       deploymentConfiguration={"lifecycleHooks": [timed]})
    steady_on(ecs, c.name, name, v4, 1)
    assert answers_from(setup.prod_port, "v4")
    d = primary_deployment(ecs, c.name, name)
    assert d["status"] == "SUCCESSFUL"
    assert [(h["status"], h["timeoutAction"]) for h in d["lifecycleHookDetails"]] == [("TIMED_OUT", "CONTINUE")]
    ecs.delete_service(cluster=c.name, service=name, force=True)


def test_hooks_berth_cannot_honour_are_refused(server, cluster, image):
    c = cluster("hookbad")
    ecs, elb = server.client("ecs"), server.client("elbv2", region_name=REGION)
    setup = Setup(elb)
    td = register(ecs, unique("hookbad"), [web(image, "v1")], networkMode="bridge")
    name = unique("web")
    lambda_hook = {"targetType": "AWS_LAMBDA", "lifecycleStages": ["POST_SCALE_UP"],
                   "hookTargetArn": "arn:aws:lambda:us-east-1:000000000000:function:check",
                   "roleArn": "arn:aws:iam::000000000000:role/hook"}
    blue_green = {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 1}
    cases = [
        ({**blue_green, "lifecycleHooks": [lambda_hook]}, setup.load_balancers(), "no Lambda"),
        ({**blue_green, "lifecycleHooks": [{"lifecycleStages": ["POST_SCALE_UP"]}]}, setup.load_balancers(),
         "no Lambda"),
        ({**blue_green, "lifecycleHooks": [pause_at("PRODUCTION_TRAFFIC_SHIFT")]}, setup.load_balancers(),
         "only valid for AWS_LAMBDA"),
        ({**blue_green, "lifecycleHooks": [{**pause_at("POST_SCALE_UP"), "roleArn": lambda_hook["roleArn"]}]},
         setup.load_balancers(), "roleArn"),
        ({**blue_green, "lifecycleHooks": [pause_at("POST_SCALE_UP", timeoutInMinutes=20161)]},
         setup.load_balancers(), "timeoutInMinutes"),
        ({"strategy": "ROLLING", "lifecycleHooks": [pause_at("POST_SCALE_UP")]}, [], "ROLLING"),
    ]
    for config, lbs, says in cases:
        code, message = error_of(
            ecs.create_service, cluster=c.name, serviceName=name, taskDefinition=td, desiredCount=1,
            loadBalancers=lbs, deploymentConfiguration=config,
        )
        assert code == "InvalidParameterException" and says in message, (config, message)
    assert ecs.describe_services(cluster=c.name, services=[name])["failures"][0]["reason"] == "MISSING"
    # The aws CLI sees the same refusal.
    with pytest.raises(AwsCliError) as e:
        server.aws("ecs", "create-service", "--cluster", c.name, "--service-name", name, "--task-definition", td,
                   "--desired-count", "1", "--deployment-configuration",
                   '{"strategy": "ROLLING", "lifecycleHooks": [{"targetType": "PAUSE", '
                   '"lifecycleStages": ["PRE_SCALE_UP"]}]}')
    assert e.value.code == "InvalidParameterException"

"""Resource-level authorization end to end: IAM policies naming specific
resource ARNs, or conditions on `aws:ResourceTag/…`, work as in AWS for ECS
clusters and RunTask (on the task-definition ARN, with `ecs:cluster`), KMS
keys (reached by key id or alias), Secrets Manager secrets (reached by name),
ECR repositories, SSM parameters and log groups."""

from __future__ import annotations

import botocore.exceptions
import pytest

from berthtest import ACCOUNT, REGION, denied, make_user, unique


def test_resource_tag_condition_on_clusters(berth):
    ecs = berth.client("ecs")
    tagged, untagged = unique("team-a"), unique("untagged")
    ecs.create_cluster(clusterName=tagged, tags=[{"key": "team", "value": "a"}])
    ecs.create_cluster(clusterName=untagged)
    other = unique("team-b")
    ecs.create_cluster(clusterName=other, tags=[{"key": "team", "value": "b"}])
    arn, client = make_user(
        berth,
        [
            {
                "Effect": "Allow",
                "Action": "ecs:DescribeClusters",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:ResourceTag/team": "a"}},
            }
        ],
    )
    user_ecs = client("ecs")
    out = user_ecs.describe_clusters(clusters=[tagged])
    assert [c["clusterName"] for c in out["clusters"]] == [tagged]
    for name in (untagged, other):
        msg = denied(user_ecs.describe_clusters, clusters=[name])
        assert f"User: {arn} is not authorized to perform: ecs:DescribeClusters on resource: " in msg
        assert f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{name}" in msg
    # Each resource of a request is checked with its own tags.
    denied(user_ecs.describe_clusters, clusters=[tagged, untagged])
    # Once tagged, the cluster is allowed.
    ecs.tag_resource(resourceArn=f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{untagged}", tags=[{"key": "team", "value": "a"}])
    assert len(user_ecs.describe_clusters(clusters=[tagged, untagged])["clusters"]) == 2


def test_kms_key_arn_policy(berth):
    kms = berth.client("kms")
    mine = kms.create_key(Description="authz mine")["KeyMetadata"]
    theirs = kms.create_key(Description="authz theirs")["KeyMetadata"]
    alias = f"alias/{unique('authz')}"
    kms.create_alias(AliasName=alias, TargetKeyId=mine["KeyId"])
    other_alias = f"alias/{unique('authz')}"
    kms.create_alias(AliasName=other_alias, TargetKeyId=theirs["KeyId"])
    _, client = make_user(
        berth, [{"Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": mine["Arn"]}]
    )
    user_kms = client("kms")
    for key_id in (mine["KeyId"], mine["Arn"], alias, f"arn:aws:kms:{REGION}:{ACCOUNT}:{alias}"):
        blob = user_kms.encrypt(KeyId=key_id, Plaintext=b"hello")["CiphertextBlob"]
        assert user_kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"hello"
    for key_id in (theirs["KeyId"], other_alias):
        msg = denied(user_kms.encrypt, KeyId=key_id, Plaintext=b"hello")
        assert f"on resource: {theirs['Arn']}" in msg
    # Decrypt is authorized on the key inside the ciphertext.
    blob = kms.encrypt(KeyId=theirs["KeyId"], Plaintext=b"secret")["CiphertextBlob"]
    assert f"kms:Decrypt on resource: {theirs['Arn']}" in denied(user_kms.decrypt, CiphertextBlob=blob)
    # Not granted: CreateKey (on `*`).
    denied(user_kms.create_key)


def test_secret_arn_policy(berth):
    sm = berth.client("secretsmanager")
    mine, theirs = unique("authz-mine"), unique("authz-theirs")
    mine_arn = sm.create_secret(Name=mine, SecretString="s3cret")["ARN"]
    theirs_arn = sm.create_secret(Name=theirs, SecretString="other")["ARN"]
    _, client = make_user(
        berth, [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": mine_arn}]
    )
    user_sm = client("secretsmanager")
    assert user_sm.get_secret_value(SecretId=mine)["SecretString"] == "s3cret"
    assert user_sm.get_secret_value(SecretId=mine_arn)["SecretString"] == "s3cret"
    msg = denied(user_sm.get_secret_value, SecretId=theirs)
    assert f"secretsmanager:GetSecretValue on resource: {theirs_arn}" in msg
    denied(user_sm.describe_secret, SecretId=mine)


def test_run_task_on_task_definition_arn(berth):
    ecs = berth.client("ecs")
    cluster, elsewhere = unique("authz-run"), unique("authz-else")
    ecs.create_cluster(clusterName=cluster)
    ecs.create_cluster(clusterName=elsewhere)
    allowed, other = unique("authz-ok"), unique("authz-no")
    for family in (allowed, other):
        ecs.register_task_definition(
            family=family,
            containerDefinitions=[{"name": "app", "image": "busybox", "memory": 64, "essential": True}],
        )
    arn, client = make_user(
        berth,
        [
            {
                "Effect": "Allow",
                "Action": "ecs:RunTask",
                "Resource": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{allowed}:*",
                "Condition": {"ArnEquals": {"ecs:cluster": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{cluster}"}},
            }
        ],
    )
    user_ecs = client("ecs")
    # Authorized: the cluster has no instances, so RunTask answers ECS's own error, not a denial.
    for ref in (allowed, f"{allowed}:1"):
        with pytest.raises(botocore.exceptions.ClientError) as err:
            user_ecs.run_task(cluster=cluster, taskDefinition=ref)
        e = err.value.response["Error"]
        assert (e["Code"], e["Message"]) == ("InvalidParameterException", "No Container Instances were found in your cluster.")
    # The allowed family, in another cluster (`ecs:cluster`).
    denied(user_ecs.run_task, cluster=elsewhere, taskDefinition=allowed)
    for ref in (other, f"{other}:1", f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{other}:1"):
        msg = denied(user_ecs.run_task, cluster=cluster, taskDefinition=ref)
        assert msg.startswith(
            f"User: {arn} is not authorized to perform: ecs:RunTask on resource: "
            f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{other}:1"
        ), msg


def test_resource_tags_and_arns_of_ecr_ssm_and_logs(berth):
    team_a = {"StringEquals": {"aws:ResourceTag/team": "a"}}
    ecr, ssm, logs = berth.client("ecr"), berth.client("ssm"), berth.client("logs")
    repo_a, repo_b = unique("authz-a"), unique("authz-b")
    ecr.create_repository(repositoryName=repo_a, tags=[{"Key": "team", "Value": "a"}])
    ecr.create_repository(repositoryName=repo_b)
    param_a, param_b = f"/{unique('authz')}/a", f"/{unique('authz')}/b"
    ssm.put_parameter(Name=param_a, Value="va", Type="String", Tags=[{"Key": "team", "Value": "a"}])
    ssm.put_parameter(Name=param_b, Value="vb", Type="String")
    group_a, group_b = f"/authz/{unique('a')}", f"/authz/{unique('b')}"
    logs.create_log_group(logGroupName=group_a)
    logs.create_log_group(logGroupName=group_b)
    _, client = make_user(
        berth,
        [
            {"Effect": "Allow", "Action": ["ecr:ListImages", "ssm:GetParameter"], "Resource": "*", "Condition": team_a},
            {
                "Effect": "Allow",
                "Action": "logs:PutRetentionPolicy",
                "Resource": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group_a}:*",
            },
        ],
    )
    user_ecr, user_ssm, user_logs = client("ecr"), client("ssm"), client("logs")
    assert user_ecr.list_images(repositoryName=repo_a)["imageIds"] == []
    assert f"repository/{repo_b}" in denied(user_ecr.list_images, repositoryName=repo_b)
    assert user_ssm.get_parameter(Name=param_a)["Parameter"]["Value"] == "va"
    assert f"parameter{param_b}" in denied(user_ssm.get_parameter, Name=param_b)
    user_logs.put_retention_policy(logGroupName=group_a, retentionInDays=7)
    assert f"log-group:{group_b}:log-stream:" in denied(
        user_logs.put_retention_policy, logGroupName=group_b, retentionInDays=7
    )

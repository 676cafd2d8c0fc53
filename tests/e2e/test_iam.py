"""IAM and STS end to end: users with policies are authorized on every ECS
call, an explicit Deny on one cluster beats an Allow on `*`, STS answers
with the caller's ARN, assumed-role credentials work (and carry their
expiry), and a repository policy denies one user's pulls."""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import os
import subprocess
import time

import boto3
import botocore.config
import botocore.exceptions
import pytest
import requests

from berthtest import ACCOUNT, REGION, AwsCliError, aws_cli, isolate_aws_environment, unique

READ_ONLY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["ecs:Describe*", "ecs:List*"], "Resource": "*"}],
}


def session_client(berth, service, access_key, secret_key, token=None):
    """A boto3 client with the given credentials (no retries)."""
    session = boto3.session.Session(
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        aws_session_token=token,
        region_name=REGION,
    )
    cfg = botocore.config.Config(retries={"total_max_attempts": 1})
    return session.client(service, endpoint_url=berth.endpoint, config=cfg)


def make_user(berth, policy: dict) -> tuple[str, str, str]:
    """Creates a user with an inline policy and an access key (as root, through the aws CLI)."""
    name = unique("user")
    berth.aws("iam", "create-user", "--user-name", name)
    berth.aws(
        "iam", "put-user-policy", "--user-name", name, "--policy-name", "p", "--policy-document", json.dumps(policy)
    )
    key = berth.aws("iam", "create-access-key", "--user-name", name)["AccessKey"]
    assert key["UserName"] == name and key["Status"] == "Active"
    return name, key["AccessKeyId"], key["SecretAccessKey"]


def user_env(key_id: str, secret: str) -> dict:
    return {"AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret}


def aws_as(berth, creds: dict, *args):
    """`berth.aws`, with other credentials."""
    cmd = [str(aws_cli()), "--endpoint-url", berth.endpoint, "--output", "json", *map(str, args)]
    env = isolate_aws_environment(dict(os.environ))
    env.update(creds)
    p = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise AwsCliError(args, p.returncode, p.stdout, p.stderr)
    out = p.stdout.strip()
    return json.loads(out) if out else {}


def test_read_only_user_can_list_but_not_create(berth):
    name, key_id, secret = make_user(berth, READ_ONLY)
    user = berth.aws("iam", "get-user", "--user-name", name)["User"]
    assert user["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/{name}"

    ecs = session_client(berth, "ecs", key_id, secret)
    assert "clusterArns" in ecs.list_clusters()

    cluster = unique("iam-denied")
    with pytest.raises(AwsCliError) as err:
        aws_as(berth, user_env(key_id, secret), "ecs", "create-cluster", "--cluster-name", cluster)
    assert err.value.code == "AccessDeniedException"
    arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{cluster}"
    # (the CLI prefixes "(reached max retries: 0): ")
    assert err.value.message.endswith(
        f"User: arn:aws:iam::{ACCOUNT}:user/{name} is not authorized to perform: ecs:CreateCluster on resource: "
        f"{arn} because no identity-based policy allows the ecs:CreateCluster action"
    )
    # Nothing was created.
    assert berth.client("ecs").describe_clusters(clusters=[cluster])["clusters"] == []


def test_explicit_deny_on_one_cluster_beats_allow_on_star(berth):
    denied, allowed = unique("iam-deny"), unique("iam-allow")
    root = berth.client("ecs")
    for c in (denied, allowed):
        root.create_cluster(clusterName=c)
    denied_arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{denied}"
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "ecs:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "ecs:*", "Resource": denied_arn},
        ],
    }
    _, key_id, secret = make_user(berth, policy)
    ecs = session_client(berth, "ecs", key_id, secret)

    for call in (
        lambda: ecs.describe_clusters(clusters=[denied]),
        lambda: ecs.delete_cluster(cluster=denied),
        lambda: ecs.describe_clusters(clusters=[allowed, denied]),
    ):
        with pytest.raises(botocore.exceptions.ClientError) as err:
            call()
        assert err.value.response["Error"]["Code"] == "AccessDeniedException"
        assert err.value.response["Error"]["Message"].endswith(
            f"on resource: {denied_arn} with an explicit deny in an identity-based policy"
        )

    assert ecs.describe_clusters(clusters=[allowed])["clusters"][0]["clusterName"] == allowed
    assert ecs.delete_cluster(cluster=allowed)["cluster"]["status"] == "INACTIVE"
    # The denied cluster is untouched; root is never subject to policies.
    assert root.describe_clusters(clusters=[denied])["clusters"][0]["status"] == "ACTIVE"
    root.delete_cluster(cluster=denied)


def test_get_caller_identity(berth):
    me = berth.aws("sts", "get-caller-identity")
    assert me["Arn"] == f"arn:aws:iam::{ACCOUNT}:root"
    assert me["Account"] == ACCOUNT
    # A user with no policy at all may still ask who it is, as in AWS.
    name, key_id, secret = make_user(berth, {"Version": "2012-10-17", "Statement": []})
    me = aws_as(berth, user_env(key_id, secret), "sts", "get-caller-identity")
    assert me["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/{name}"
    assert me["UserId"].startswith("AIDA")
    # ...but not call IAM.
    with pytest.raises(AwsCliError) as err:
        aws_as(berth, user_env(key_id, secret), "iam", "list-users")
    assert err.value.code == "AccessDenied"


def test_bad_policy_and_unknown_user_errors(berth):
    with pytest.raises(AwsCliError) as err:
        berth.aws("iam", "create-policy", "--policy-name", unique("bad"), "--policy-document", '{"Statement": 1}')
    assert err.value.code == "MalformedPolicyDocument"
    with pytest.raises(AwsCliError) as err:
        berth.aws("iam", "get-user", "--user-name", unique("nobody"))
    assert err.value.code == "NoSuchEntity"
    with pytest.raises(AwsCliError) as err:
        aws_as(
            berth, user_env("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"), "ecs", "list-clusters"
        )
    assert err.value.code == "UnrecognizedClientException"


def test_assume_role_credentials(berth):
    caller, key_id, secret = make_user(
        berth,
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]},
    )
    role = unique("role")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}
        ],
    }
    iam = berth.client("iam")
    role_arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    assert role_arn == f"arn:aws:iam::{ACCOUNT}:role/{role}"
    assert iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"] == trust
    policy_arn = iam.create_policy(PolicyName=unique("ro"), PolicyDocument=json.dumps(READ_ONLY))["Policy"]["Arn"]
    iam.attach_role_policy(RoleName=role, PolicyArn=policy_arn)
    attached = iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [policy_arn]

    sts = session_client(berth, "sts", key_id, secret)
    with pytest.raises(botocore.exceptions.ClientError) as err:
        sts.assume_role(RoleArn=role_arn, RoleSessionName="too-long", DurationSeconds=43200)
    assert err.value.response["Error"]["Code"] == "ValidationError"
    assert "MaxSessionDuration" in err.value.response["Error"]["Message"]
    before = datetime.datetime.now(datetime.timezone.utc)
    out = sts.assume_role(RoleArn=role_arn, RoleSessionName="ci-run", DurationSeconds=900)
    creds = out["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/ci-run"
    # Expiry itself is checked with an injected clock in the crate tests.
    ahead = (creds["Expiration"] - before).total_seconds()
    assert 840 <= ahead <= 960, ahead

    as_role = dict(access_key=creds["AccessKeyId"], secret_key=creds["SecretAccessKey"], token=creds["SessionToken"])
    me = session_client(berth, "sts", as_role["access_key"], as_role["secret_key"], as_role["token"])
    assert me.get_caller_identity()["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/ci-run"
    ecs = session_client(berth, "ecs", as_role["access_key"], as_role["secret_key"], as_role["token"])
    assert "clusterArns" in ecs.list_clusters()
    with pytest.raises(botocore.exceptions.ClientError) as err:
        ecs.create_cluster(clusterName=unique("role-denied"))
    assert err.value.response["Error"]["Code"] == "AccessDeniedException"
    assert f"assumed-role/{role}/ci-run is not authorized" in err.value.response["Error"]["Message"]

    # Without its session token the temporary key is refused.
    no_token = session_client(berth, "ecs", as_role["access_key"], as_role["secret_key"])
    with pytest.raises(botocore.exceptions.ClientError) as err:
        no_token.list_clusters()
    assert err.value.response["Error"]["Code"] == "UnrecognizedClientException"

    # The caller's own key may not be used once deleted.
    berth.aws("iam", "delete-access-key", "--user-name", caller, "--access-key-id", key_id)
    with pytest.raises(botocore.exceptions.ClientError):
        sts.get_caller_identity()


def registry_password(berth, client) -> str:
    token = client.get_authorization_token()["authorizationData"][0]
    user, password = base64.b64decode(token["authorizationToken"]).decode().split(":", 1)
    assert user == "AWS"
    return password


def test_repository_policy_denies_pull_to_one_user(berth):
    base = berth.endpoint
    repo = unique("iam-repo")
    root_ecr = berth.client("ecr")
    root_ecr.create_repository(repositoryName=repo)
    root_auth = ("AWS", registry_password(berth, root_ecr))

    # Push a tiny image over the OCI API as root: a config blob and a manifest.
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
    r = requests.post(f"{base}/v2/{repo}/blobs/uploads/?digest={config_digest}", data=config, auth=root_auth, timeout=30)
    assert r.status_code == 201, r.text
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": len(config)},
            "layers": [],
        }
    ).encode()
    r = requests.put(
        f"{base}/v2/{repo}/manifests/v1",
        data=manifest,
        headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
        auth=root_auth,
        timeout=30,
    )
    assert r.status_code == 201, r.text

    name, key_id, secret = make_user(
        berth, {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}]}
    )
    user_ecr = session_client(berth, "ecr", key_id, secret)
    user_auth = ("AWS", registry_password(berth, user_ecr))
    accept = {"Accept": "application/vnd.oci.image.manifest.v1+json"}
    url = f"{base}/v2/{repo}/manifests/v1"
    assert requests.get(url, auth=user_auth, headers=accept, timeout=30).status_code == 200

    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/{name}"},
                "Action": "ecr:BatchGetImage",
            }
        ],
    }
    root_ecr.set_repository_policy(repositoryName=repo, policyText=json.dumps(policy))
    # The server follows repository policies through a store watch: poll with a deadline.
    deadline = time.monotonic() + 10
    while True:
        r = requests.get(url, auth=user_auth, headers=accept, timeout=30)
        if r.status_code == 403 or time.monotonic() > deadline:
            break
    assert r.status_code == 403, r.text
    assert r.json()["errors"][0]["code"] == "DENIED"
    assert "with an explicit deny in a resource-based policy" in r.json()["errors"][0]["message"]
    with pytest.raises(botocore.exceptions.ClientError) as err:
        user_ecr.batch_get_image(repositoryName=repo, imageIds=[{"imageTag": "v1"}])
    assert err.value.response["Error"]["Code"] == "AccessDeniedException"
    # Root is not subject to the policy; other actions stay allowed to the user.
    assert requests.get(url, auth=root_auth, headers=accept, timeout=30).status_code == 200
    assert user_ecr.describe_images(repositoryName=repo)["imageDetails"][0]["imageTags"] == ["v1"]

"""ECR repository creation templates (issue 18 item 6), with boto3, the aws
CLI and skopeo: Create/Describe/Update/DeleteRepositoryCreationTemplate
with ECR's errors; a push (skopeo) to a repository that does not exist
under a CREATE_ON_PUSH template's prefix creates it with the template's
settings (tag mutability, tags, repository and lifecycle policies), a push
no template covers is refused as before, and a caller without
`ecr:CreateRepository` cannot create one by pushing; a replica's
repository takes the destination region's REPLICATION template. The
images come from an OCI layout written by the test (no Docker image)."""

from __future__ import annotations

import base64
import json
import subprocess

import botocore.exceptions
import pytest

import berthtest
from berthtest import ACCOUNT, make_user, poll, unique
from test_ecr_lifecycle import Layout, skopeo
from test_ecr_replication import creds, host, push

HOME = "us-east-1"
EU = "eu-west-1"
LIFECYCLE = {"rules": [{"rulePriority": 1, "selection": {"tagStatus": "untagged", "countType": "imageCountMoreThan",
                                                         "countNumber": 5}, "action": {"type": "expire"}}]}
POLICY = {"Version": "2012-10-17", "Statement": [{"Sid": "pull", "Effect": "Allow",
                                                  "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                                                  "Action": ["ecr:BatchGetImage"]}]}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("berth-templates")
    (tmp / "data").mkdir()
    srv = berthtest.Berth(
        data_dir=tmp / "data", log_path=tmp / "berth.log", extra_args=["--regions", f"{HOME},{EU}"]
    ).start()
    try:
        yield srv
    finally:
        srv.stop()


def error_of(call, **kwargs) -> dict:
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call(**kwargs)
    return e.value.response["Error"]


def test_templates_are_created_described_updated_and_deleted(server):
    ecr = server.client("ecr")
    prefix = unique("tmpl")
    made = server.aws("ecr", "create-repository-creation-template", "--prefix", prefix,
                      "--description", "team images", "--applied-for", "CREATE_ON_PUSH", "PULL_THROUGH_CACHE",
                      "--image-tag-mutability", "IMMUTABLE",
                      "--resource-tags", "Key=team,Value=web",
                      "--lifecycle-policy", json.dumps(LIFECYCLE))
    t = made["repositoryCreationTemplate"]
    assert made["registryId"] == ACCOUNT
    assert (t["prefix"], t["description"], t["imageTagMutability"]) == (prefix, "team images", "IMMUTABLE")
    assert sorted(t["appliedFor"]) == ["CREATE_ON_PUSH", "PULL_THROUGH_CACHE"]
    assert t["resourceTags"] == [{"Key": "team", "Value": "web"}]
    assert t["encryptionConfiguration"] == {"encryptionType": "AES256"}
    assert json.loads(t["lifecyclePolicy"]) == LIFECYCLE

    described = ecr.describe_repository_creation_templates(prefixes=[prefix])["repositoryCreationTemplates"]
    assert [d["prefix"] for d in described] == [prefix]
    updated = ecr.update_repository_creation_template(prefix=prefix, description="web team",
                                                      repositoryPolicy=json.dumps(POLICY))
    u = updated["repositoryCreationTemplate"]
    assert (u["description"], u["imageTagMutability"]) == ("web team", "IMMUTABLE")
    assert json.loads(u["repositoryPolicy"]) == POLICY

    # ECR's errors; nothing half-stored.
    e = error_of(ecr.create_repository_creation_template, prefix=prefix, appliedFor=["REPLICATION"])
    assert e["Code"] == "TemplateAlreadyExistsException", e
    e = error_of(ecr.create_repository_creation_template, prefix=unique("bad"), appliedFor=["REPLICATION"],
                 lifecyclePolicy="{\"rules\": []}")
    assert e["Code"] == "InvalidParameterException" and "Lifecycle policy" in e["Message"], e
    e = error_of(ecr.create_repository_creation_template, prefix=unique("bad"), appliedFor=["REPLICATION"],
                 customRoleArn=f"arn:aws:iam::{ACCOUNT}:role/ecr-templates")
    assert e["Code"] == "ValidationException" and "customRoleArn" in e["Message"], e
    e = error_of(ecr.create_repository_creation_template, prefix=unique("bad"), appliedFor=[])
    assert e["Code"] == "ValidationException" and "appliedFor" in e["Message"], e
    e = error_of(ecr.create_repository_creation_template, prefix="Bad_Prefix", appliedFor=["REPLICATION"])
    assert e["Code"] == "InvalidParameterException" and "prefix" in e["Message"], e
    assert [d["prefix"] for d in ecr.describe_repository_creation_templates()["repositoryCreationTemplates"]
            if d["prefix"].startswith("bad")] == []
    e = error_of(ecr.update_repository_creation_template, prefix=unique("missing"), description="x")
    assert e["Code"] == "TemplateNotFoundException", e

    deleted = ecr.delete_repository_creation_template(prefix=prefix)
    assert deleted["repositoryCreationTemplate"]["prefix"] == prefix
    e = error_of(ecr.delete_repository_creation_template, prefix=prefix)
    assert e["Code"] == "TemplateNotFoundException", e


def test_a_push_creates_the_repository_from_its_template(server, tmp_path):
    ecr = server.client("ecr")
    prefix = unique("onpush")
    ecr.create_repository_creation_template(
        prefix=prefix, appliedFor=["CREATE_ON_PUSH"], imageTagMutability="IMMUTABLE",
        resourceTags=[{"Key": "team", "Value": "api"}], lifecyclePolicy=json.dumps(LIFECYCLE),
        repositoryPolicy=json.dumps(POLICY))
    layout = Layout(tmp_path / "layout")
    image = layout.image("one")
    repo = f"{prefix}/service"
    push(server, layout, "one", repo, "v1")

    made = ecr.describe_repositories(repositoryNames=[repo])["repositories"][0]
    assert made["imageTagMutability"] == "IMMUTABLE"
    assert ecr.list_tags_for_resource(resourceArn=made["repositoryArn"])["tags"] == [{"Key": "team", "Value": "api"}]
    assert json.loads(ecr.get_lifecycle_policy(repositoryName=repo)["lifecyclePolicyText"]) == LIFECYCLE
    assert json.loads(ecr.get_repository_policy(repositoryName=repo)["policyText"]) == POLICY
    detail = ecr.describe_images(repositoryName=repo)["imageDetails"]
    assert [(d["imageDigest"], d["imageTags"]) for d in detail] == [(image["digest"], ["v1"])]
    # The template's immutability holds for the next push.
    layout.image("two")
    with pytest.raises(AssertionError, match="tag is immutable"):
        push(server, layout, "two", repo, "v1")

    # A name no CREATE_ON_PUSH template covers is refused as before.
    with pytest.raises(AssertionError, match="does not exist"):
        push(server, layout, "one", unique("nowhere") + "/service", "v1")
    assert ecr.describe_repositories(repositoryNames=[repo])["repositories"][0]["repositoryName"] == repo


def test_a_caller_without_create_repository_cannot_create_by_pushing(server, tmp_path):
    prefix = unique("guarded")
    server.client("ecr").create_repository_creation_template(prefix=prefix, appliedFor=["CREATE_ON_PUSH"])
    push_actions = ["ecr:GetAuthorizationToken", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart",
                    "ecr:CompleteLayerUpload", "ecr:PutImage", "ecr:BatchCheckLayerAvailability"]
    _, client = make_user(server, [{"Effect": "Allow", "Action": push_actions, "Resource": "*"}])
    token = client("ecr").get_authorization_token()["authorizationData"][0]["authorizationToken"]
    user_creds = base64.b64decode(token).decode()
    layout = Layout(tmp_path / "layout")
    layout.image("one")
    repo = f"{prefix}/service"
    out = subprocess.run(
        ["skopeo", "copy", "--preserve-digests", "--dest-tls-verify=false", "--dest-creds", user_creds,
         f"oci:{layout.root}:one", f"docker://{host(server)}/{repo}:v1"],
        capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    assert "ecr:CreateRepository" in out.stderr, out.stderr
    e = error_of(server.client("ecr").describe_repositories, repositoryNames=[repo])
    assert e["Code"] == "RepositoryNotFoundException"


def test_a_replica_repository_takes_the_destination_template(server, tmp_path):
    home, eu = server.client("ecr", region_name=HOME), server.client("ecr", region_name=EU)
    prefix = unique("replicated")
    eu.create_repository_creation_template(prefix=prefix, appliedFor=["REPLICATION"],
                                           imageTagMutability="IMMUTABLE",
                                           resourceTags=[{"Key": "copy", "Value": "eu"}])
    config = {"rules": [{"destinations": [{"region": EU, "registryId": ACCOUNT}],
                         "repositoryFilters": [{"filter": prefix, "filterType": "PREFIX_MATCH"}]}]}
    home.put_replication_configuration(replicationConfiguration=config)
    repo = f"{prefix}/app"
    home.create_repository(repositoryName=repo)
    layout = Layout(tmp_path / "layout")
    image = layout.image("one")
    push(server, layout, "one", repo, "v1")

    def replica():
        try:
            return eu.describe_images(repositoryName=repo)["imageDetails"]
        except eu.exceptions.RepositoryNotFoundException:
            return None

    poll("the replica in eu-west-1", replica, deadline=30)
    made = eu.describe_repositories(repositoryNames=[repo])["repositories"][0]
    assert made["imageTagMutability"] == "IMMUTABLE"
    assert eu.list_tags_for_resource(resourceArn=made["repositoryArn"])["tags"] == [{"Key": "copy", "Value": "eu"}]
    assert [d["imageDigest"] for d in replica()] == [image["digest"]]
    # The source keeps its own settings.
    assert home.describe_repositories(repositoryNames=[repo])["repositories"][0]["imageTagMutability"] == "MUTABLE"
    assert creds(server, EU)

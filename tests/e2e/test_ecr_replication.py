"""ECR replication (issue 18 item 5): a replication configuration put with
the aws CLI on a server serving us-east-1 and eu-west-1; an image pushed
with skopeo to us-east-1 reaches COMPLETE in DescribeImageReplicationStatus
(boto3), and eu-west-1 — its repository created by the replication — serves
the same digest under the same tag (skopeo, with a eu-west-1 registry
token); a repository no filter matches is not replicated; bad
configurations (the source as destination, more than 10 rules, an unknown
filter type, a region not served) are refused with ECR's error; the
operations are authorized as ECR's (registry-level `*`, the repository).
Cross-account: a second server serving another account (a peer of the
first, with an IAM user of its own for the first's pushes): an image
reaches it with the same digest; with the peer stopped during the push the
replication stays IN_PROGRESS and completes once it is back; a registry
policy not allowing the source account fails it with ACCESS_DENIED; the
source-account header only narrows what an authenticated caller may do.
Backfill (Berth's addition: ECR replicates only later pushes): `berth
registry replicate --backfill` replicates the images pushed before their
rule existed, once (a second backfill queues nothing), to another region
and to a stopped peer once it returns; only the account's root may run it.
ECR's backfill operations (boto3; the aws CLI v1 of the test environment,
1.46 with its own botocore 1.43, does not know them yet): a backfill to
eu-west-1 of images pushed before the rule runs to COMPLETE with per-image
results and the same digests in eu-west-1; a second one to a region with one
running is ReplicationBackfillInProgressException, a destination not in the
configuration InvalidParameterException; a stop withdraws what is not copied.
The images come from an OCI layout written by the test (no Docker image)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import urllib.parse

import botocore.exceptions
import pytest
import requests

import berthtest
from berthtest import ACCOUNT, AwsCliError, denied, make_user, poll, unique
from test_ecr_lifecycle import Layout, skopeo

HOME = "us-east-1"
EU = "eu-west-1"
PREFIX = "e2e-repl"


@pytest.fixture(scope="module")
def two(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("berth-replication")
    (tmp / "data").mkdir()
    server = berthtest.Berth(
        data_dir=tmp / "data", log_path=tmp / "berth.log", extra_args=["--regions", f"{HOME},{EU}"]
    ).start()
    try:
        yield server
    finally:
        if server.proc is not None and server.proc.poll() is None:
            assert server.stop() == 0, server.log_tail()


def creds(server, region: str) -> str:
    ecr = server.client("ecr", region_name=region)
    token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
    return base64.b64decode(token).decode()


def host(server) -> str:
    return urllib.parse.urlparse(server.endpoint).netloc


def push(server, layout: Layout, ref: str, repo: str, tag: str, region: str = HOME) -> None:
    skopeo("copy", "--preserve-digests", "--dest-tls-verify=false", "--dest-creds", creds(server, region),
           f"oci:{layout.root}:{ref}", f"docker://{host(server)}/{repo}:{tag}")


def remote_digest(server, repo: str, tag: str, region: str) -> str:
    out = skopeo("inspect", "--tls-verify=false", "--creds", creds(server, region),
                 f"docker://{host(server)}/{repo}:{tag}")
    return json.loads(out.stdout)["Digest"]


def error_of(call, **kwargs) -> dict:
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call(**kwargs)
    return e.value.response["Error"]


def rule(region: str, account: str = ACCOUNT, prefixes=()) -> dict:
    r = {"destinations": [{"region": region, "registryId": account}]}
    if prefixes:
        r["repositoryFilters"] = [{"filter": p, "filterType": "PREFIX_MATCH"} for p in prefixes]
    return r


def test_a_push_is_replicated_to_another_region(two, tmp_path):
    config = {"rules": [rule(EU, prefixes=[PREFIX])]}
    put = two.aws("--region", HOME, "ecr", "put-replication-configuration",
                  "--replication-configuration", json.dumps(config))
    assert put["replicationConfiguration"] == config
    home, eu = two.client("ecr", region_name=HOME), two.client("ecr", region_name=EU)
    assert home.describe_registry()["replicationConfiguration"] == config
    assert home.describe_registry()["registryId"] == ACCOUNT
    # Each region has its own configuration.
    assert eu.describe_registry()["replicationConfiguration"] == {"rules": []}

    repo, other = f"{PREFIX}/{unique('app')}", unique("unreplicated")
    home.create_repository(repositoryName=repo, imageTagMutability="IMMUTABLE")
    home.create_repository(repositoryName=other)
    layout = Layout(tmp_path / "layout")
    image = layout.image("one")
    push(two, layout, "one", repo, "v1")
    push(two, layout, "one", other, "v1")

    def statuses():
        return home.describe_image_replication_status(repositoryName=repo, imageId={"imageTag": "v1"})

    done = poll("replication COMPLETE",
                lambda: (s := statuses())["replicationStatuses"] and
                s["replicationStatuses"][0]["status"] == "COMPLETE" and s, deadline=30)
    assert done["repositoryName"] == repo
    assert done["imageId"] == {"imageDigest": image["digest"], "imageTag": "v1"}
    assert done["replicationStatuses"] == [{"region": EU, "registryId": ACCOUNT, "status": "COMPLETE"}]

    # The replica: its repository created with the source's tag mutability, the same digest and tag.
    replica_repo = eu.describe_repositories(repositoryNames=[repo])["repositories"][0]
    assert replica_repo["repositoryArn"] == f"arn:aws:ecr:{EU}:{ACCOUNT}:repository/{repo}"
    assert replica_repo["imageTagMutability"] == "IMMUTABLE"
    detail = eu.describe_images(repositoryName=repo)["imageDetails"]
    assert [(d["imageDigest"], d["imageTags"]) for d in detail] == [(image["digest"], ["v1"])]
    assert remote_digest(two, repo, "v1", EU) == image["digest"]
    pulled = tmp_path / "pulled"
    skopeo("copy", "--preserve-digests", "--src-tls-verify=false", "--src-creds", creds(two, EU),
           f"docker://{host(two)}/{repo}:v1", f"oci:{pulled}:v1")
    index = json.loads((pulled / "index.json").read_text())
    assert index["manifests"][0]["digest"] == image["digest"]

    # A second tag on the same image is replicated too.
    push(two, layout, "one", repo, "v1-again")
    poll("the second tag at the destination",
         lambda: "v1-again" in eu.describe_images(repositoryName=repo)["imageDetails"][0].get("imageTags", []),
         deadline=30)

    # A repository no filter matches stays where it is.
    other_status = home.describe_image_replication_status(repositoryName=other, imageId={"imageTag": "v1"})
    assert other_status["replicationStatuses"] == []
    assert error_of(eu.describe_repositories, repositoryNames=[other])["Code"] == "RepositoryNotFoundException"
    # The replica is not replicated again, and eu-west-1 has no rule of its own.
    assert eu.describe_image_replication_status(
        repositoryName=repo, imageId={"imageDigest": image["digest"]})["replicationStatuses"] == []


def test_bad_configurations_are_refused(two):
    home = two.client("ecr", region_name=HOME)

    def refused(config) -> str:
        e = error_of(home.put_replication_configuration, replicationConfiguration=config)
        assert e["Code"] == "InvalidParameterException", e
        return e["Message"]

    before = home.describe_registry()["replicationConfiguration"]
    assert "source registry itself" in refused({"rules": [rule(HOME)]})
    assert "at most 10 rules" in refused({"rules": [rule(EU)] * 11})
    assert "not served" in refused({"rules": [rule("ap-south-1")]})
    assert "another account" in refused({"rules": [rule(EU, account="111122223333")]})
    assert "no destination" in refused({"rules": [{"destinations": []}]})
    # The model's constraints: the filter type's enum, the registry id's pattern.
    with pytest.raises(AwsCliError) as e:
        two.aws("--region", HOME, "ecr", "put-replication-configuration", "--replication-configuration",
                json.dumps({"rules": [{"destinations": [{"region": EU, "registryId": ACCOUNT}],
                                       "repositoryFilters": [{"filter": "ab", "filterType": "SUFFIX_MATCH"}]}]}))
    assert e.value.code == "InvalidParameterException", e.value
    refused({"rules": [rule(EU, account="12345")]})
    # Nothing refused was stored.
    assert home.describe_registry()["replicationConfiguration"] == before

    repo = unique("status")
    home.create_repository(repositoryName=repo)
    assert error_of(home.describe_image_replication_status, repositoryName=repo,
                    imageId={"imageTag": "nope"})["Code"] == "ImageNotFoundException"
    assert error_of(home.describe_image_replication_status, repositoryName=unique("missing"),
                    imageId={"imageTag": "v1"})["Code"] == "RepositoryNotFoundException"


def test_the_operations_are_authorized_as_ecrs(two):
    repo = unique("authz-repl")
    two.client("ecr", region_name=HOME).create_repository(repositoryName=repo)
    _, client = make_user(two, [
        {"Effect": "Allow", "Action": "ecr:DescribeRegistry", "Resource": "*"},
        {"Effect": "Allow", "Action": "ecr:DescribeImageReplicationStatus",
         "Resource": f"arn:aws:ecr:{HOME}:{ACCOUNT}:repository/{repo}"},
    ])
    ecr = client("ecr")
    assert "replicationConfiguration" in ecr.describe_registry()
    assert "ecr:PutReplicationConfiguration" in denied(
        ecr.put_replication_configuration, replicationConfiguration={"rules": []})
    assert error_of(ecr.describe_image_replication_status, repositoryName=repo,
                    imageId={"imageTag": "v1"})["Code"] == "ImageNotFoundException"
    assert "ecr:DescribeImageReplicationStatus" in denied(
        ecr.describe_image_replication_status, repositoryName=unique("elsewhere"), imageId={"imageTag": "v1"})


def test_a_registry_policy_grants_only_the_registry_level_actions(two):
    home = two.client("ecr", region_name=HOME)

    def policy(actions) -> str:
        return json.dumps({"Version": "2012-10-17", "Statement": [{
            "Sid": "ReplicationAccessCrossAccount", "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": actions,
            "Resource": f"arn:aws:ecr:{HOME}:{ACCOUNT}:repository/*"}]})

    with pytest.raises(AwsCliError) as e:
        two.aws("--region", HOME, "ecr", "put-registry-policy", "--policy-text",
                policy(["ecr:ReplicateImage", "ecr:BatchGetImage"]))
    assert e.value.code == "InvalidParameterException", e.value
    assert "ecr:BatchGetImage" in e.value.message
    text = policy(["ecr:CreateRepository", "ecr:ReplicateImage"])
    assert home.put_registry_policy(policyText=text)["registryId"] == ACCOUNT
    assert json.loads(home.get_registry_policy()["policyText"]) == json.loads(text)
    home.delete_registry_policy()


# ---- cross-account: a second Berth server serving another account (a peer) ----

DEST_ACCOUNT = "222233334444"
XPREFIX = "e2e-xacct"


def registry_policy_for(account: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "ReplicationAccessCrossAccount", "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
        "Action": ["ecr:CreateRepository", "ecr:ReplicateImage"],
        "Resource": f"arn:aws:ecr:{HOME}:{DEST_ACCOUNT}:repository/*"}]})


@pytest.fixture(scope="module")
def peers(tmp_path_factory):
    """The destination (account DEST_ACCOUNT) with an IAM user for the source's pushes and a registry
    policy allowing the source account; the source, started with that peer and the user's keys."""
    tmp = tmp_path_factory.mktemp("berth-xacct")
    (tmp / "dest").mkdir()
    (tmp / "src").mkdir()
    dest = berthtest.Berth(data_dir=tmp / "dest", log_path=tmp / "dest.log",
                           extra_args=["--account-id", DEST_ACCOUNT]).start()
    src = None
    try:
        iam = dest.client("iam")
        user = unique("replicator")
        iam.create_user(UserName=user)
        iam.put_user_policy(UserName=user, PolicyName="replication", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
                {"Effect": "Allow", "Action": [
                    "ecr:CreateRepository", "ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage",
                    "ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload", "ecr:PutImage"],
                 "Resource": f"arn:aws:ecr:{HOME}:{DEST_ACCOUNT}:repository/{XPREFIX}*"}]}))
        key = iam.create_access_key(UserName=user)["AccessKey"]
        secret = tmp / "peer-secret"
        secret.write_text(key["SecretAccessKey"] + "\n")
        secret.chmod(0o600)
        dest.client("ecr", region_name=HOME).put_registry_policy(policyText=registry_policy_for(ACCOUNT))
        src = berthtest.Berth(data_dir=tmp / "src", log_path=tmp / "src.log", extra_args=[
            "--ecr-replication-peer", f"{DEST_ACCOUNT}={dest.endpoint}",
            "--ecr-replication-peer-credentials", f"{DEST_ACCOUNT}={key['AccessKeyId']}:{secret}"]).start()
        config = {"rules": [{"destinations": [{"region": HOME, "registryId": DEST_ACCOUNT}],
                             "repositoryFilters": [{"filter": XPREFIX, "filterType": "PREFIX_MATCH"}]}]}
        src.client("ecr", region_name=HOME).put_replication_configuration(replicationConfiguration=config)
        yield src, dest
    finally:
        for server in (src, dest):
            if server is not None and server.proc is not None and server.proc.poll() is None:
                assert server.stop() == 0, server.log_tail()


def status_of(server, repo: str, tag: str):
    s = server.client("ecr", region_name=HOME).describe_image_replication_status(
        repositoryName=repo, imageId={"imageTag": tag})["replicationStatuses"]
    return s[0] if s else None


def test_a_push_is_replicated_to_another_accounts_server(peers, tmp_path):
    src, dest = peers
    repo = f"{XPREFIX}/{unique('app')}"
    src.client("ecr", region_name=HOME).create_repository(repositoryName=repo)
    layout = Layout(tmp_path / "layout")
    image = layout.image("one")
    push(src, layout, "one", repo, "v1")
    done = poll("cross-account replication COMPLETE",
                lambda: (s := status_of(src, repo, "v1")) and s["status"] == "COMPLETE" and s, deadline=30)
    assert done == {"region": HOME, "registryId": DEST_ACCOUNT, "status": "COMPLETE"}
    # The destination's repository was created by the replication, in its own account.
    dest_ecr = dest.client("ecr", region_name=HOME)
    created = dest_ecr.describe_repositories(repositoryNames=[repo])["repositories"][0]
    assert created["repositoryArn"] == f"arn:aws:ecr:{HOME}:{DEST_ACCOUNT}:repository/{repo}"
    assert remote_digest(dest, repo, "v1", HOME) == image["digest"]
    pulled = tmp_path / "pulled"
    skopeo("copy", "--preserve-digests", "--src-tls-verify=false", "--src-creds", creds(dest, HOME),
           f"docker://{host(dest)}/{repo}@{image['digest']}", f"oci:{pulled}:v1")
    assert json.loads((pulled / "index.json").read_text())["manifests"][0]["digest"] == image["digest"]


def test_a_replication_waits_for_the_destination_to_return(peers, tmp_path):
    src, dest = peers
    repo = f"{XPREFIX}/{unique('outage')}"
    src.client("ecr", region_name=HOME).create_repository(repositoryName=repo)
    layout = Layout(tmp_path / "layout")
    image = layout.image("two")
    assert dest.stop() == 0, dest.log_tail()
    try:
        push(src, layout, "two", repo, "v2")
        # The replicator tried, failed to reach the peer, and keeps the replication IN_PROGRESS.
        def retried():
            lines = src.log_path.read_text(errors="replace").splitlines()
            return any("replication will be retried" in line and image["digest"] in line for line in lines)

        poll("a failed attempt to reach the stopped peer", retried, deadline=30)
        assert status_of(src, repo, "v2")["status"] == "IN_PROGRESS"
    finally:
        dest.start()
    poll("COMPLETE after the peer returned",
         lambda: (s := status_of(src, repo, "v2")) and s["status"] == "COMPLETE", deadline=40)
    assert remote_digest(dest, repo, "v2", HOME) == image["digest"]


def test_a_registry_policy_not_allowing_the_source_fails_the_replication(peers, tmp_path):
    src, dest = peers
    dest_ecr = dest.client("ecr", region_name=HOME)
    dest_ecr.put_registry_policy(policyText=registry_policy_for("999988887777"))
    try:
        repo = f"{XPREFIX}/{unique('denied')}"
        src.client("ecr", region_name=HOME).create_repository(repositoryName=repo)
        layout = Layout(tmp_path / "layout")
        layout.image("three")
        push(src, layout, "three", repo, "v3")
        failed = poll("replication FAILED",
                      lambda: (s := status_of(src, repo, "v3")) and s["status"] == "FAILED" and s, deadline=30)
        assert failed["failureCode"] == "ACCESS_DENIED"
        assert failed["registryId"] == DEST_ACCOUNT
        # Nothing was created at the destination.
        assert error_of(dest_ecr.describe_repositories, repositoryNames=[repo])["Code"] == \
            "RepositoryNotFoundException"
    finally:
        dest_ecr.put_registry_policy(policyText=registry_policy_for(ACCOUNT))


def test_the_source_account_header_only_narrows_what_a_caller_may_do(peers):
    """Even the destination's root, naming a source account its registry policy does not allow, cannot
    write with the header; without it (its own authority) it can; a read ignores the header."""
    _, dest = peers
    repo = f"{XPREFIX}/{unique('header')}"
    dest.client("ecr", region_name=HOME).create_repository(repositoryName=repo)
    user, password = creds(dest, HOME).split(":", 1)
    url = f"{dest.endpoint}/v2/{repo}/blobs/uploads/"

    def start_upload(**headers):
        return requests.post(url, auth=(user, password), headers=headers, timeout=10)

    r = start_upload(**{"X-Berth-Replication-Source-Account": "999988887777"})
    assert r.status_code == 403, r.text
    assert r.json()["errors"][0]["code"] == "DENIED"
    assert "ecr:ReplicateImage" in r.json()["errors"][0]["message"]
    bad = start_upload(**{"X-Berth-Replication-Source-Account": "not-an-account"})
    assert bad.status_code == 403 and "12-digit" in bad.text, bad.text
    own = start_upload(**{"X-Berth-Replication-Source-Account": DEST_ACCOUNT})
    assert own.status_code == 403 and "own account" in own.text, own.text
    assert start_upload(**{"X-Berth-Replication-Source-Account": ACCOUNT}).status_code == 202
    assert start_upload().status_code == 202
    tags = requests.get(f"{dest.endpoint}/v2/{repo}/tags/list", auth=(user, password), timeout=10,
                        headers={"X-Berth-Replication-Source-Account": "999988887777"})
    assert tags.status_code == 200, tags.text


def backfill(server, *args) -> subprocess.CompletedProcess:
    env = berthtest.isolate_aws_environment(dict(os.environ))
    return subprocess.run(
        [str(berthtest.berth_bin()), "registry", "replicate", "--backfill", *args, "--region", HOME,
         "--endpoint", server.endpoint, "--data-dir", str(server.data_dir), "--output", "json"],
        env=env, capture_output=True, text=True, timeout=60)


def add_rule(server, new_rule: dict) -> dict:
    """Adds a rule to the us-east-1 configuration; answers the one before."""
    ecr = server.client("ecr", region_name=HOME)
    before = ecr.describe_registry()["replicationConfiguration"]
    ecr.put_replication_configuration(replicationConfiguration={"rules": [*before["rules"], new_rule]})
    return before


def test_a_backfill_replicates_the_images_pushed_before_the_rule(two, tmp_path):
    """ECR replicates only later pushes; `berth registry replicate --backfill`
    queues the images already there through the push's queue, once."""
    home, eu = two.client("ecr", region_name=HOME), two.client("ecr", region_name=EU)
    repo = f"e2e-backfill/{unique('app')}"
    home.create_repository(repositoryName=repo)
    layout = Layout(tmp_path / "layout")
    image = layout.image("old")
    push(two, layout, "old", repo, "v1")
    before = add_rule(two, rule(EU, prefixes=["e2e-backfill/"]))
    try:
        # The rule alone does not replicate what was there.
        assert home.describe_image_replication_status(
            repositoryName=repo, imageId={"imageTag": "v1"})["replicationStatuses"] == []
        missing = backfill(two, "--repository", f"{repo}-nope")
        assert missing.returncode != 0 and "RepositoryNotFoundException" in missing.stderr, missing.stderr

        out = backfill(two, "--repository", repo)
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout) == {"repositories": 1, "images": 1, "queued": 1,
                                          "alreadyReplicated": 0, "inProgress": 0}
        poll("the backfilled image COMPLETE",
             lambda: (s := home.describe_image_replication_status(
                 repositoryName=repo, imageId={"imageTag": "v1"})["replicationStatuses"])
             and s[0]["status"] == "COMPLETE", deadline=30)
        assert remote_digest(two, repo, "v1", EU) == image["digest"]
        assert [d["imageTags"] for d in eu.describe_images(repositoryName=repo)["imageDetails"]] == [["v1"]]

        # Again: nothing queued, nothing copied.
        again = backfill(two)
        assert again.returncode == 0, again.stderr
        report = json.loads(again.stdout)
        assert report["queued"] == 0 and report["alreadyReplicated"] >= 1, report

        # Only the account's root may ask for it.
        iam = two.client("iam")
        name = unique("bf-user")
        iam.create_user(UserName=name)
        key = iam.create_access_key(UserName=name)["AccessKey"]
        env = dict(berthtest.isolate_aws_environment(dict(os.environ)),
                   AWS_ACCESS_KEY_ID=key["AccessKeyId"], AWS_SECRET_ACCESS_KEY=key["SecretAccessKey"])
        p = subprocess.run([str(berthtest.berth_bin()), "registry", "replicate", "--backfill", "--endpoint",
                            two.endpoint, "--data-dir", str(two.data_dir)],
                           env=env, capture_output=True, text=True, timeout=60)
        assert p.returncode != 0 and "AccessDenied" in p.stderr, p.stderr
    finally:
        home.put_replication_configuration(replicationConfiguration=before)


def test_a_backfill_to_a_stopped_peer_completes_when_it_returns(peers, tmp_path):
    src, dest = peers
    ecr = src.client("ecr", region_name=HOME)
    repo = f"{XPREFIX}/{unique('backfill')}"
    ecr.create_repository(repositoryName=repo)
    layout = Layout(tmp_path / "layout")
    image = layout.image("older")
    # Pushed while no configuration exists: not replicated.
    config = ecr.describe_registry()["replicationConfiguration"]
    ecr.put_replication_configuration(replicationConfiguration={"rules": []})
    try:
        push(src, layout, "older", repo, "v1")
    finally:
        ecr.put_replication_configuration(replicationConfiguration=config)
    assert status_of(src, repo, "v1") is None
    assert dest.stop() == 0, dest.log_tail()
    try:
        out = backfill(src, "--repository", repo)
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["queued"] == 1, out.stdout

        def retried():
            lines = src.log_path.read_text(errors="replace").splitlines()
            return any("replication will be retried" in line and image["digest"] in line for line in lines)

        poll("a failed attempt to reach the stopped peer", retried, deadline=30)
        assert status_of(src, repo, "v1")["status"] == "IN_PROGRESS"
    finally:
        dest.start()
    poll("COMPLETE after the peer returned",
         lambda: (s := status_of(src, repo, "v1")) and s["status"] == "COMPLETE", deadline=40)
    assert remote_digest(dest, repo, "v1", HOME) == image["digest"]


def test_replication_backfill_operations_replicate_what_was_there(two, tmp_path):
    """StartReplicationBackfill (boto3) to eu-west-1 replicates the images pushed before the rule;
    DescribeReplicationBackfillResults (boto3) is polled until COMPLETE and then gives one result per
    image and tag; eu-west-1 serves the same digests. A destination not in the configuration is refused
    with InvalidParameterException."""
    home, eu = two.client("ecr", region_name=HOME), two.client("ecr", region_name=EU)
    repo = f"e2e-bfops/{unique('app')}"
    home.create_repository(repositoryName=repo)
    layout = Layout(tmp_path / "layout")
    images = {tag: layout.image(f"bf-{tag}") for tag in ("v1", "v2")}
    for tag in images:
        push(two, layout, f"bf-{tag}", repo, tag)
    dest = {"region": EU, "registryId": ACCOUNT}
    before = add_rule(two, rule(EU, prefixes=["e2e-bfops/"]))
    try:
        err = error_of(home.start_replication_backfill, destination={"region": "us-west-2", "registryId": ACCOUNT})
        assert err["Code"] == "InvalidParameterException" and "replication configuration" in err["Message"], err
        started = home.start_replication_backfill(destination=dest)
        assert started["status"] == "PREPARING" and started["destination"] == dest, started
        assert started["registryId"] == ACCOUNT
        bid = started["replicationBackfillId"]
        done = poll("the backfill COMPLETE",
                    lambda: (d := home.describe_replication_backfill_results(replicationBackfillId=bid))
                    and d["status"] == "COMPLETE" and d, deadline=30)
        # Other tests' images the module's rules give eu-west-1 are in it too.
        p = done["progress"]
        assert p["totalReplicationCount"] >= 2, done
        assert p["completedReplicationCount"] + p["failedReplicationCount"] == p["totalReplicationCount"], done
        assert done["endedAt"] >= done["startedAt"]
        got = {r["imageId"]["imageTag"]: r["imageId"]["imageDigest"] for r in done["results"]
               if r["repositoryName"] == repo and r["status"] == "COMPLETE"}
        assert got == {tag: i["digest"] for tag, i in images.items()}, done["results"]
        for tag, image in images.items():
            assert remote_digest(two, repo, tag, EU) == image["digest"]
        assert sorted(d["imageDigest"] for d in eu.describe_images(repositoryName=repo)["imageDetails"]) == \
            sorted(i["digest"] for i in images.values())
        # Paginated results, and the filter.
        first = home.describe_replication_backfill_results(replicationBackfillId=bid, maxResults=1)
        assert len(first["results"]) == 1 and first["nextToken"]
        failed = home.describe_replication_backfill_results(replicationBackfillId=bid, resultStatusFilter="FAILED")
        assert failed["results"] == []
        listed = home.list_replication_backfills()
        mine = [b for b in listed["backfills"] if b["replicationBackfillId"] == bid]
        assert mine and mine[0]["status"] == "COMPLETE" and mine[0]["destination"] == dest, listed
        err = error_of(home.stop_replication_backfill, replicationBackfillId=bid)
        assert err["Code"] == "ReplicationBackfillInvalidStatusException", err
        err = error_of(home.describe_replication_backfill_results,
                       replicationBackfillId="00000000-0000-4000-8000-000000000000")
        assert err["Code"] == "ReplicationBackfillNotFoundException", err
    finally:
        home.put_replication_configuration(replicationConfiguration=before)


def test_a_replication_backfill_runs_one_at_a_time_per_region_and_stops(peers, tmp_path):
    """With the peer stopped the backfill's copy cannot finish: a second start to the same destination
    is ReplicationBackfillInProgressException; StopReplicationBackfill withdraws what is not
    being copied, and the backfill ends STOPPED, listed by ListReplicationBackfills."""
    src, dest = peers
    ecr = src.client("ecr", region_name=HOME)
    repo = f"{XPREFIX}/{unique('bfstop')}"
    ecr.create_repository(repositoryName=repo)
    layout = Layout(tmp_path / "layout")
    layout.image("held")
    config = ecr.describe_registry()["replicationConfiguration"]
    ecr.put_replication_configuration(replicationConfiguration={"rules": []})
    try:
        push(src, layout, "held", repo, "v1")
    finally:
        ecr.put_replication_configuration(replicationConfiguration=config)
    destination = {"region": HOME, "registryId": DEST_ACCOUNT}
    assert dest.stop() == 0, dest.log_tail()
    try:
        bid = ecr.start_replication_backfill(destination=destination)["replicationBackfillId"]
        err = error_of(ecr.start_replication_backfill, destination=destination)
        assert err["Code"] == "ReplicationBackfillInProgressException", err
        poll("the backfill IN_PROGRESS with its copy queued",
             lambda: ecr.describe_replication_backfill_results(replicationBackfillId=bid)["status"] == "IN_PROGRESS"
             and (s := status_of(src, repo, "v1")) and s["status"] == "IN_PROGRESS", deadline=30)
        stopped = ecr.stop_replication_backfill(replicationBackfillId=bid)
        assert stopped["status"] in ("STOPPING", "STOPPED") and stopped["replicationBackfillId"] == bid, stopped
        done = poll("the backfill STOPPED",
                    lambda: (d := ecr.describe_replication_backfill_results(replicationBackfillId=bid))
                    and d["status"] == "STOPPED" and d, deadline=30)
        # Images of earlier tests already at the peer count as completed; this one was not copied.
        assert [r for r in done["results"] if r["repositoryName"] == repo] == [], done
        assert done["progress"]["completedReplicationCount"] == len(done["results"]), done
        # Withdrawn, not copied: no status left for it.
        assert status_of(src, repo, "v1") is None
        listed = ecr.list_replication_backfills(maxResults=50)["backfills"]
        assert [b["status"] for b in listed if b["replicationBackfillId"] == bid] == ["STOPPED"]
        # Its region is free again.
        again = ecr.start_replication_backfill(destination=destination)["replicationBackfillId"]
        ecr.stop_replication_backfill(replicationBackfillId=again)
        poll("the second backfill STOPPED",
             lambda: ecr.describe_replication_backfill_results(replicationBackfillId=again)["status"] == "STOPPED",
             deadline=30)
    finally:
        dest.start()

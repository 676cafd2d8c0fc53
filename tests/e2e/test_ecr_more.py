"""ECR's registry-user operations beyond push and pull, with real clients:

- ListImageReferrers (boto3 and the aws CLI): an image and two referrer
  artifacts (OCI manifests with a `subject`: a signature and an SBOM) pushed
  with skopeo from an OCI layout this module writes, listed, filtered by
  artifact type and status, paginated; ECR's errors.
- Pull-time update exclusions: an excluded user's pull (skopeo, the OCI
  API) and an excluded role's session's pull (boto3 BatchGetImage) leave
  `lastRecordedPullTime` unset; after deregistration the pull records it.
- GetAccountSetting / PutAccountSetting: the defaults, BLOB_MOUNTING
  applied to a cross-repository mount (off by default, as in ECR), the
  values Berth refuses.
- Tag mutability with exclusion filters (IMMUTABLE_WITH_EXCLUSION,
  MUTABLE_WITH_EXCLUSION): skopeo pushes that move a tag or are refused.

Every pull here is an image's first, so no test waits out ECR's one-minute
resolution of the pull time.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import urllib.parse
from pathlib import Path

import boto3
import botocore.config
import pytest
import requests
from botocore.exceptions import ClientError

import berthtest
from berthtest import ACCOUNT, AwsCliError, unique

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
SIG_TYPE = "application/vnd.example.signature.v1"
SBOM_TYPE = "application/spdx+json"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Layout:
    """An OCI layout (what skopeo pushes from): images and artifacts by ref name."""

    def __init__(self, root: Path):
        self.root = root
        self.blobs = root / "blobs" / "sha256"
        self.blobs.mkdir(parents=True)
        self.refs: list[dict] = []
        (root / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))

    def put(self, data: bytes) -> dict:
        d = sha256(data)
        (self.blobs / d.split(":", 1)[1]).write_bytes(data)
        return {"digest": d, "size": len(data)}

    def manifest(self, ref: str, body: dict) -> dict:
        m = self.put(json.dumps(body).encode())
        self.refs.append({"mediaType": OCI_MANIFEST, **m, "annotations": {"org.opencontainers.image.ref.name": ref}})
        (self.root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": self.refs}))
        return {"mediaType": OCI_MANIFEST, **m}

    def image(self, ref: str) -> dict:
        layer = self.put(f"{ref} {os.urandom(16).hex()}\n".encode())
        config = self.put(
            json.dumps(
                {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [layer["digest"]]}}
            ).encode()
        )
        return self.manifest(
            ref,
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, **config},
                "layers": [{"mediaType": OCI_LAYER, **layer}],
            },
        )

    def artifact(self, ref: str, artifact_type: str, subject: dict, annotations: dict | None = None) -> dict:
        empty = self.put(b"{}")
        blob = self.put(f"{artifact_type} of {subject['digest']} {os.urandom(8).hex()}".encode())
        body = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": artifact_type,
            "config": {"mediaType": OCI_EMPTY, **empty},
            "layers": [{"mediaType": artifact_type, **blob}],
            "subject": subject,
        }
        if annotations:
            body["annotations"] = annotations
        return self.manifest(ref, body)


def skopeo(*args, check=True) -> subprocess.CompletedProcess:
    p = subprocess.run(["skopeo", "--insecure-policy", *args], capture_output=True, text=True, timeout=120)
    if check:
        assert p.returncode == 0, f"skopeo {' '.join(args)}: {p.stderr}"
    return p


def creds_of(ecr) -> str:
    token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
    return base64.b64decode(token).decode()


def code(err: pytest.ExceptionInfo) -> str:
    return err.value.response["Error"]["Code"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("berth-ecr-more")
    (tmp / "data").mkdir()
    b = berthtest.Berth(data_dir=tmp / "data", log_path=tmp / "berth.log").start()
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture(scope="module")
def host(server) -> str:
    return urllib.parse.urlparse(server.endpoint).netloc


@pytest.fixture(scope="module")
def pushed(server, host, tmp_path_factory):
    """A repository with `app` and, referring to it, a signature and an SBOM."""
    ecr = server.client("ecr")
    repo = f"e2e/{unique('referrers')}"
    ecr.create_repository(repositoryName=repo)
    layout = Layout(tmp_path_factory.mktemp("layout"))
    app = layout.image("app")
    sig = layout.artifact("sig", SIG_TYPE, app, {"org.example.signer": "ci"})
    sbom = layout.artifact("sbom", SBOM_TYPE, app)
    creds = creds_of(ecr)
    for ref in ("app", "sig", "sbom"):
        skopeo("copy", "--preserve-digests", "--dest-tls-verify=false", "--dest-creds", creds,
               f"oci:{layout.root}:{ref}", f"docker://{host}/{repo}:{ref}")
    return {"repo": repo, "app": app, "sig": sig, "sbom": sbom}


def test_list_image_referrers_lists_filters_and_pages(server, pushed):
    ecr = server.client("ecr")
    subject = {"imageDigest": pushed["app"]["digest"]}
    got = ecr.list_image_referrers(repositoryName=pushed["repo"], subjectId=subject)
    refs = {r["digest"]: r for r in got["referrers"]}
    assert set(refs) == {pushed["sig"]["digest"], pushed["sbom"]["digest"]}
    assert "nextToken" not in got
    sig = refs[pushed["sig"]["digest"]]
    assert sig == {
        "digest": pushed["sig"]["digest"],
        "mediaType": OCI_MANIFEST,
        "artifactType": SIG_TYPE,
        "size": pushed["sig"]["size"],
        "annotations": {"org.example.signer": "ci"},
        "artifactStatus": "ACTIVE",
    }

    only_sbom = ecr.list_image_referrers(
        repositoryName=pushed["repo"], subjectId=subject, filter={"artifactTypes": [SBOM_TYPE, "x/none"]}
    )["referrers"]
    assert [r["digest"] for r in only_sbom] == [pushed["sbom"]["digest"]]
    archived = ecr.list_image_referrers(
        repositoryName=pushed["repo"], subjectId=subject, filter={"artifactStatus": "ARCHIVED"}
    )["referrers"]
    assert archived == []
    any_status = ecr.list_image_referrers(
        repositoryName=pushed["repo"], subjectId=subject, filter={"artifactStatus": "ANY"}
    )["referrers"]
    assert len(any_status) == 2

    # One a page, in digest order; through the aws CLI too.
    first = ecr.list_image_referrers(repositoryName=pushed["repo"], subjectId=subject, maxResults=1)
    second = ecr.list_image_referrers(
        repositoryName=pushed["repo"], subjectId=subject, maxResults=1, nextToken=first["nextToken"]
    )
    assert "nextToken" not in second
    assert [first["referrers"][0]["digest"], second["referrers"][0]["digest"]] == sorted(refs)
    cli_args = ["ecr", "list-image-referrers", "--repository-name", pushed["repo"],
                "--subject-id", f"imageDigest={pushed['app']['digest']}", "--max-results", "1"]
    cli = server.aws(*cli_args)
    cli2 = server.aws(*cli_args, "--next-token", cli["nextToken"])
    assert [cli["referrers"][0]["digest"], cli2["referrers"][0]["digest"]] == sorted(refs)

    # A subject nothing refers to (the signature itself) has no referrers.
    none = ecr.list_image_referrers(repositoryName=pushed["repo"], subjectId={"imageDigest": pushed["sig"]["digest"]})
    assert none["referrers"] == []


def test_list_image_referrers_errors(server, pushed):
    ecr = server.client("ecr")
    subject = {"imageDigest": pushed["app"]["digest"]}
    with pytest.raises(ClientError) as e:
        ecr.list_image_referrers(repositoryName=f"e2e/{unique('nope')}", subjectId=subject)
    assert code(e) == "RepositoryNotFoundException"
    with pytest.raises(ClientError) as e:
        ecr.list_image_referrers(repositoryName=pushed["repo"], subjectId={"imageDigest": "sha256:nothex"})
    assert code(e) == "InvalidParameterException"
    assert "subjectId.imageDigest" in e.value.response["Error"]["Message"]
    for bad in ({"maxResults": 51}, {"filter": {"artifactStatus": "GONE"}},
                {"filter": {"artifactTypes": ["a", "b", "c", "d", "e", "f"]}}):
        with pytest.raises(ClientError) as e:
            ecr.list_image_referrers(repositoryName=pushed["repo"], subjectId=subject, **bad)
        assert code(e) == "InvalidParameterException", bad
    with pytest.raises(AwsCliError) as cli:
        server.aws("ecr", "list-image-referrers", "--repository-name", pushed["repo"],
                   "--subject-id", "imageDigest=sha256:nothex")
    assert cli.value.code == "InvalidParameterException"


def test_list_image_referrers_needs_batch_get_image_on_the_repository(server, pushed):
    # "The IAM principal invoking this operation must have the ecr:BatchGetImage permission."
    repo_arn = f"arn:aws:ecr:{berthtest.REGION}:{ACCOUNT}:repository/{pushed['repo']}"
    _, allowed = berthtest.make_user(
        server, [{"Effect": "Allow", "Action": "ecr:BatchGetImage", "Resource": repo_arn}]
    )
    subject = {"imageDigest": pushed["app"]["digest"]}
    assert len(allowed("ecr").list_image_referrers(repositoryName=pushed["repo"], subjectId=subject)["referrers"]) == 2
    _, other = berthtest.make_user(
        server, [{"Effect": "Allow", "Action": "ecr:BatchGetImage", "Resource": repo_arn + "-other"}]
    )
    message = berthtest.denied(other("ecr").list_image_referrers, repositoryName=pushed["repo"], subjectId=subject)
    assert "ecr:BatchGetImage" in message and repo_arn in message


# ---- pull-time update exclusions


def pull_time(ecr, repo: str, digest: str):
    d = ecr.describe_images(repositoryName=repo, imageIds=[{"imageDigest": digest}])["imageDetails"][0]
    return d.get("lastRecordedPullTime")


def push_image(server, host, tmp_path_factory, repo: str, ref: str) -> str:
    layout = Layout(tmp_path_factory.mktemp("pull"))
    m = layout.image(ref)
    skopeo("copy", "--preserve-digests", "--dest-tls-verify=false", "--dest-creds", creds_of(server.client("ecr")),
           f"oci:{layout.root}:{ref}", f"docker://{host}/{repo}:{ref}")
    return m["digest"]


PULL = ["ecr:GetAuthorizationToken", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
        "ecr:BatchCheckLayerAvailability", "ecr:DescribeImages"]


def test_an_excluded_users_pulls_do_not_record_the_pull_time(server, host, tmp_path_factory):
    ecr = server.client("ecr")
    repo = f"e2e/{unique('pulltime')}"
    ecr.create_repository(repositoryName=repo)
    first = push_image(server, host, tmp_path_factory, repo, "one")
    second = push_image(server, host, tmp_path_factory, repo, "two")
    user_arn, user = berthtest.make_user(server, [{"Effect": "Allow", "Action": PULL, "Resource": "*"}])
    creds = creds_of(user("ecr"))

    got = ecr.register_pull_time_update_exclusion(principalArn=user_arn)
    assert got["principalArn"] == user_arn and got["createdAt"]
    with pytest.raises(ClientError) as e:
        ecr.register_pull_time_update_exclusion(principalArn=user_arn)
    assert code(e) == "ExclusionAlreadyExistsException"
    assert server.aws("ecr", "list-pull-time-update-exclusions")["pullTimeUpdateExclusions"] == [user_arn]

    # The excluded user pulls (the OCI API, as docker does): no pull time.
    skopeo("inspect", "--raw", "--tls-verify=false", "--creds", creds, f"docker://{host}/{repo}:one")
    user("ecr").batch_get_image(repositoryName=repo, imageIds=[{"imageTag": "two"}])
    assert pull_time(ecr, repo, first) is None
    assert pull_time(ecr, repo, second) is None

    # Deregistered, the same user's pull records it.
    assert ecr.deregister_pull_time_update_exclusion(principalArn=user_arn)["principalArn"] == user_arn
    with pytest.raises(ClientError) as e:
        ecr.deregister_pull_time_update_exclusion(principalArn=user_arn)
    assert code(e) == "ExclusionNotFoundException"
    assert ecr.list_pull_time_update_exclusions()["pullTimeUpdateExclusions"] == []
    skopeo("inspect", "--raw", "--tls-verify=false", "--creds", creds, f"docker://{host}/{repo}:one")
    assert pull_time(ecr, repo, first) is not None
    assert pull_time(ecr, repo, second) is None


def test_a_role_sessions_pull_counts_as_its_excluded_role(server, host, tmp_path_factory):
    ecr = server.client("ecr")
    iam = server.client("iam")
    repo = f"e2e/{unique('pullrole')}"
    ecr.create_repository(repositoryName=repo)
    digest = push_image(server, host, tmp_path_factory, repo, "one")
    user_arn, user = berthtest.make_user(server, [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}])
    role = unique("puller")
    trust = {"Version": "2012-10-17",
             "Statement": [{"Effect": "Allow", "Principal": {"AWS": user_arn}, "Action": "sts:AssumeRole"}]}
    role_arn = iam.create_role(RoleName=role, Path="/ci/", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.put_role_policy(RoleName=role, PolicyName="pull", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": PULL, "Resource": "*"}]}))
    ecr.register_pull_time_update_exclusion(principalArn=role_arn)

    c = user("sts").assume_role(RoleArn=role_arn, RoleSessionName="audit")["Credentials"]
    session = boto3.session.Session(aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
                                    aws_session_token=c["SessionToken"], region_name=berthtest.REGION)
    as_role = session.client("ecr", endpoint_url=server.endpoint,
                             config=botocore.config.Config(retries={"total_max_attempts": 1}))
    assert as_role.batch_get_image(repositoryName=repo, imageIds=[{"imageTag": "one"}])["images"]
    assert pull_time(ecr, repo, digest) is None
    # Another principal's pull (root's) records it.
    ecr.batch_get_image(repositoryName=repo, imageIds=[{"imageTag": "one"}])
    assert pull_time(ecr, repo, digest) is not None
    ecr.deregister_pull_time_update_exclusion(principalArn=role_arn)


def test_exclusion_errors_and_authorization(server):
    ecr = server.client("ecr")
    for bad in ("arn:aws:iam::000000000000:group/g", "not-an-arn", "arn:aws:sts::000000000000:assumed-role/r/s"):
        with pytest.raises(ClientError) as e:
            ecr.register_pull_time_update_exclusion(principalArn=bad)
        assert code(e) == "InvalidParameterException", bad
    with pytest.raises(ClientError) as e:
        ecr.list_pull_time_update_exclusions(maxResults=1001)
    assert code(e) == "InvalidParameterException"
    _, reader = berthtest.make_user(
        server, [{"Effect": "Allow", "Action": "ecr:ListPullTimeUpdateExclusions", "Resource": "*"}]
    )
    reader("ecr").list_pull_time_update_exclusions()
    berthtest.denied(reader("ecr").register_pull_time_update_exclusion,
                     principalArn=f"arn:aws:iam::{ACCOUNT}:user/someone")


# ---- account settings


def test_account_settings_defaults_and_refusals(server):
    ecr = server.client("ecr")
    assert ecr.get_account_setting(name="BASIC_SCAN_TYPE_VERSION")["value"] == "AWS_NATIVE"
    assert ecr.get_account_setting(name="REGISTRY_POLICY_SCOPE")["value"] == "V1"
    assert server.aws("ecr", "get-account-setting", "--name", "BLOB_MOUNTING") == {
        "name": "BLOB_MOUNTING", "value": "DISABLED"}
    got = ecr.put_account_setting(name="BASIC_SCAN_TYPE_VERSION", value="AWS_NATIVE")
    assert (got["name"], got["value"]) == ("BASIC_SCAN_TYPE_VERSION", "AWS_NATIVE")
    for name, value, words in (("REGISTRY_POLICY_SCOPE", "V2", "not supported"),
                               ("BASIC_SCAN_TYPE_VERSION", "CLAIR", "not supported"),
                               ("BLOB_MOUNTING", "maybe", "ENABLED or DISABLED"),
                               ("NO_SUCH_SETTING", "X", "BLOB_MOUNTING")):
        with pytest.raises(ClientError) as e:
            ecr.put_account_setting(name=name, value=value)
        assert code(e) == "InvalidParameterException", name
        assert words in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        ecr.get_account_setting(name="NO_SUCH_SETTING")
    assert code(e) == "InvalidParameterException"


def test_blob_mounting_is_off_until_enabled(server, host, tmp_path_factory):
    ecr = server.client("ecr")
    src = f"e2e/{unique('mountsrc')}"
    dst = f"e2e/{unique('mountdst')}"
    ecr.create_repository(repositoryName=src)
    ecr.create_repository(repositoryName=dst)
    layout = Layout(tmp_path_factory.mktemp("mount"))
    m = layout.image("one")
    skopeo("copy", "--preserve-digests", "--dest-tls-verify=false", "--dest-creds", creds_of(ecr),
           f"oci:{layout.root}:one", f"docker://{host}/{src}:one")
    manifest = json.loads((layout.blobs / m["digest"].split(":", 1)[1]).read_bytes())
    layer = manifest["layers"][0]["digest"]
    user, password = creds_of(ecr).split(":", 1)

    def mount(repo: str) -> requests.Response:
        return requests.post(f"{server.endpoint}/v2/{repo}/blobs/uploads/",
                             params={"mount": layer, "from": src}, auth=(user, password), timeout=30)

    # Off by default, as in ECR: the mount request starts an upload session.
    r = mount(dst)
    assert r.status_code == 202, r.text
    assert "/blobs/uploads/" in r.headers["Location"]
    try:
        ecr.put_account_setting(name="BLOB_MOUNTING", value="ENABLED")
        assert ecr.get_account_setting(name="BLOB_MOUNTING")["value"] == "ENABLED"
        r = mount(dst)
        assert r.status_code == 201, r.text
        assert r.headers["Docker-Content-Digest"] == layer
    finally:
        ecr.put_account_setting(name="BLOB_MOUNTING", value="DISABLED")
    assert mount(dst).status_code == 202


# ---- tag mutability with exclusion filters


def test_tag_mutability_exclusion_filters_decide_which_tags_move(server, host, tmp_path_factory):
    """IMMUTABLE_WITH_EXCLUSION: tags matching a filter may move, the others
    not; MUTABLE_WITH_EXCLUSION the reverse (PutImageTagMutability)."""
    ecr = server.client("ecr")
    repo = f"e2e/{unique('mutex')}"
    got = ecr.create_repository(repositoryName=repo, imageTagMutability="IMMUTABLE_WITH_EXCLUSION",
                                imageTagMutabilityExclusionFilters=[{"filterType": "WILDCARD", "filter": "dev-*"}])
    assert got["repository"]["imageTagMutability"] == "IMMUTABLE_WITH_EXCLUSION"
    assert got["repository"]["imageTagMutabilityExclusionFilters"] == [{"filterType": "WILDCARD", "filter": "dev-*"}]

    def push(tag: str, check=True) -> subprocess.CompletedProcess:
        layout = Layout(tmp_path_factory.mktemp("mutex"))
        layout.image("x")
        return skopeo("copy", "--dest-tls-verify=false", "--dest-creds", creds_of(ecr),
                      f"oci:{layout.root}:x", f"docker://{host}/{repo}:{tag}", check=check)

    def tagged(tag: str) -> str:
        return ecr.describe_images(repositoryName=repo, imageIds=[{"imageTag": tag}])["imageDetails"][0]["imageDigest"]

    push("v1")
    push("dev-1")
    v1, dev1 = tagged("v1"), tagged("dev-1")
    # An excluded tag moves to a new image; an immutable one does not.
    push("dev-1")
    assert tagged("dev-1") != dev1
    refused = push("v1", check=False)
    assert refused.returncode != 0
    assert "already exists" in refused.stderr and "cannot be overwritten" in refused.stderr, refused.stderr
    assert tagged("v1") == v1

    # The reverse: mutable, but `release-*` tags never move.
    ecr.put_image_tag_mutability(repositoryName=repo, imageTagMutability="MUTABLE_WITH_EXCLUSION",
                                 imageTagMutabilityExclusionFilters=[{"filterType": "WILDCARD", "filter": "release-*"}])
    push("v1")
    assert tagged("v1") != v1
    push("release-1")
    release1 = tagged("release-1")
    assert push("release-1", check=False).returncode != 0
    assert tagged("release-1") == release1
    # Exclusion filters only go with the _WITH_EXCLUSION settings.
    with pytest.raises(ClientError) as e:
        ecr.put_image_tag_mutability(repositoryName=repo, imageTagMutability="MUTABLE",
                                     imageTagMutabilityExclusionFilters=[{"filterType": "WILDCARD", "filter": "x*"}])
    assert code(e) == "InvalidParameterException"

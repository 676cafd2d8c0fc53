"""ECR lifecycle policies, end to end: Put/Get/DeleteLifecyclePolicy with
ECR's validation (aws CLI), StartLifecyclePolicyPreview and
GetLifecyclePolicyPreview (boto3: result shape, pagination, filters), the
evaluation deleting what the policy expires (skopeo pushes and pulls), and
`berth registry gc` then freeing exactly the expired images' own blobs.

The images are pushed with skopeo from an OCI layout this module writes
(no Docker image is created, so none has to be removed). The server is
this module's own, started with `--lifecycle-interval-secs 1` (the policy
is applied within a second of being put) and
`--lifecycle-clock-offset-secs 172800`: lifecycle rules count days as if
the clock were two days ahead, so "untagged images older than 1 day" is
exercised on images pushed seconds ago, by the real day count (the images'
push times shown to clients stay real). The preview is taken before the
policy is put, so nothing is expired under it. Garbage collection runs only
on demand (`--registry-gc-interval-secs 0`) with no grace window
(`--registry-gc-grace-secs 0`), so the test decides when it happens.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import subprocess
import tarfile
import time
import urllib.parse
from pathlib import Path

import pytest
import requests
from botocore.exceptions import ClientError

import berthtest
from berthtest import AwsCliError, poll, unique

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
TWO_DAYS = 2 * 86400

KEEP_3_PROD = {
    "rulePriority": 1,
    "description": "keep the last 3 prod images",
    "selection": {"tagStatus": "tagged", "tagPatternList": ["prod*"], "countType": "imageCountMoreThan", "countNumber": 3},
    "action": {"type": "expire"},
}
UNTAGGED_1_DAY = {
    "rulePriority": 2,
    "description": "expire untagged images older than 1 day",
    "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 1},
    "action": {"type": "expire"},
}
POLICY = json.dumps({"rules": [KEEP_3_PROD, UNTAGGED_1_DAY]})


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def tar_of(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mtime = 0
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class Layout:
    """An OCI layout of small images sharing one base layer, each with a
    layer and a config of its own."""

    def __init__(self, root: Path):
        self.root = root
        self.blobs = root / "blobs" / "sha256"
        self.blobs.mkdir(parents=True)
        self.refs: list[dict] = []
        self.base = self.put(tar_of("base.txt", b"berth e2e lifecycle base\n" + os.urandom(2048)))
        (root / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))

    def put(self, data: bytes) -> dict:
        d = sha256(data)
        (self.blobs / d.split(":", 1)[1]).write_bytes(data)
        return {"digest": d, "size": len(data)}

    def image(self, ref: str) -> dict:
        """Adds an image under `ref`; returns its manifest digest and its own blobs."""
        layer_bytes = tar_of("marker.txt", f"{ref} {os.urandom(16).hex()}\n".encode())
        layer = self.put(layer_bytes)
        config = self.put(
            json.dumps(
                {
                    "architecture": "amd64",
                    "os": "linux",
                    "config": {"Labels": {"berth.e2e": "ecr-lifecycle"}},
                    "rootfs": {"type": "layers", "diff_ids": [self.base["digest"], layer["digest"]]},
                },
                sort_keys=True,
            ).encode()
        )
        manifest = self.put(
            json.dumps(
                {
                    "schemaVersion": 2,
                    "mediaType": OCI_MANIFEST,
                    "config": {"mediaType": OCI_CONFIG, **config},
                    "layers": [{"mediaType": OCI_LAYER, **self.base}, {"mediaType": OCI_LAYER, **layer}],
                }
            ).encode()
        )
        self.refs.append(
            {"mediaType": OCI_MANIFEST, **manifest, "annotations": {"org.opencontainers.image.ref.name": ref}}
        )
        (self.root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": self.refs}))
        return {"digest": manifest["digest"], "own": [layer["digest"], config["digest"]]}


def skopeo(*args, check=True) -> subprocess.CompletedProcess:
    p = subprocess.run(["skopeo", "--insecure-policy", *args], capture_output=True, text=True, timeout=120)
    if check:
        assert p.returncode == 0, f"skopeo {' '.join(args)}: {p.stderr}"
    return p


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("berth-lifecycle")
    (tmp / "data").mkdir()
    b = berthtest.Berth(
        data_dir=tmp / "data",
        log_path=tmp / "berth.log",
        extra_args=[
            "--lifecycle-interval-secs", "1", "--lifecycle-clock-offset-secs", str(TWO_DAYS),
            "--registry-gc-interval-secs", "0", "--registry-gc-grace-secs", "0",
        ],
    ).start()
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture(scope="module")
def pushed(server, tmp_path_factory):
    """A repository with prod-1…prod-10, three images left untagged by a
    moving `latest`, and the `latest` that stays; pushed in that order."""
    ecr = server.client("ecr")
    repo = f"e2e/{unique('lifecycle')}"
    ecr.create_repository(repositoryName=repo)
    host = urllib.parse.urlparse(server.endpoint).netloc
    token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
    creds = base64.b64decode(token).decode()
    layout = Layout(tmp_path_factory.mktemp("layout"))
    images: dict[str, dict] = {}
    for name in [f"prod-{i}" for i in range(1, 11)] + ["u1", "u2", "u3", "keep"]:
        images[name] = layout.image(name)
        tag = name if name.startswith("prod-") else "latest"
        skopeo("copy", "--preserve-digests", "--dest-tls-verify=false", "--dest-creds", creds,
               f"oci:{layout.root}:{name}", f"docker://{host}/{repo}:{tag}")
    return {"repo": repo, "host": host, "creds": creds, "images": images, "layout": layout}


def described(server, repo: str) -> dict[str, dict]:
    pages = server.client("ecr").get_paginator("describe_images").paginate(repositoryName=repo)
    return {d["imageDigest"]: d for p in pages for d in p["imageDetails"]}


def test_validation_and_not_found_errors(server, pushed):
    repo = pushed["repo"]
    with pytest.raises(AwsCliError) as e:
        server.aws("ecr", "get-lifecycle-policy", "--repository-name", repo)
    assert e.value.code == "LifecyclePolicyNotFoundException", e.value
    with pytest.raises(AwsCliError) as e:
        server.aws("ecr", "get-lifecycle-policy-preview", "--repository-name", repo)
    assert e.value.code == "LifecyclePolicyPreviewNotFoundException", e.value
    with pytest.raises(AwsCliError) as e:
        server.aws("ecr", "start-lifecycle-policy-preview", "--repository-name", repo)
    assert e.value.code == "LifecyclePolicyNotFoundException", e.value
    bad = [
        ({"rules": [dict(KEEP_3_PROD, selection={"tagStatus": "tagged", "countType": "imageCountMoreThan", "countNumber": 3})]},
         "tagPatternList"),
        ({"rules": [dict(UNTAGGED_1_DAY, selection=dict(UNTAGGED_1_DAY["selection"], tagPrefixList=["x"]))]},
         "only allowed when"),
        ({"rules": [KEEP_3_PROD, dict(UNTAGGED_1_DAY, rulePriority=1)]}, "more than one rule"),
        ({"rules": [dict(KEEP_3_PROD, selection=dict(KEEP_3_PROD["selection"], tagPatternList=["*a*b*c*d*e"]))]},
         "wildcards"),
        ({"rules": [dict(UNTAGGED_1_DAY, action={"type": "transition", "targetStorageClass": "archive"})]},
         "transition"),
        ({"rules": [dict(KEEP_3_PROD, selection={"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1}),
                    dict(UNTAGGED_1_DAY)]}, "highest 'rulePriority'"),
    ]
    for policy, why in bad:
        text = json.dumps(policy)
        with pytest.raises(AwsCliError) as e:
            server.aws("ecr", "put-lifecycle-policy", "--repository-name", repo, "--lifecycle-policy-text", text)
        assert e.value.code == "InvalidParameterException", (text, e.value)
        assert "Lifecycle policy validation failure" in e.value.message and why in e.value.message, (why, e.value)
    with pytest.raises(AwsCliError) as e:
        server.aws("ecr", "put-lifecycle-policy", "--repository-name", "e2e/no-such-repo", "--lifecycle-policy-text", POLICY)
    assert e.value.code == "RepositoryNotFoundException"
    # Nothing was stored by the refusals.
    with pytest.raises(AwsCliError) as e:
        server.aws("ecr", "get-lifecycle-policy", "--repository-name", repo)
    assert e.value.code == "LifecyclePolicyNotFoundException"


def test_lifecycle_operations_are_authorized_on_the_repository(server, pushed):
    repo = pushed["repo"]
    arn = server.client("ecr").describe_repositories(repositoryNames=[repo])["repositories"][0]["repositoryArn"]
    _, client = berthtest.make_user(server, [
        {"Effect": "Allow", "Action": ["ecr:GetLifecyclePolicy", "ecr:StartLifecyclePolicyPreview"], "Resource": arn},
    ])
    ecr = client("ecr")
    message = berthtest.denied(ecr.put_lifecycle_policy, repositoryName=repo, lifecyclePolicyText=POLICY)
    assert "ecr:PutLifecyclePolicy" in message and arn in message
    berthtest.denied(ecr.get_lifecycle_policy_preview, repositoryName=repo)
    berthtest.denied(ecr.get_lifecycle_policy, repositoryName=repo + "-other")
    # What the policy allows reaches the operation (which answers its own error).
    with pytest.raises(ClientError) as e:
        ecr.get_lifecycle_policy(repositoryName=repo)
    assert e.value.response["Error"]["Code"] == "LifecyclePolicyNotFoundException"


def test_preview_lists_what_ecr_would_expire(server, pushed):
    ecr = server.client("ecr")
    repo, images = pushed["repo"], pushed["images"]
    before = described(server, repo)
    assert len(before) == 14
    start = ecr.start_lifecycle_policy_preview(repositoryName=repo, lifecyclePolicyText=POLICY)
    assert start["repositoryName"] == repo and start["lifecyclePolicyText"] == POLICY
    assert start["status"] in ("IN_PROGRESS", "COMPLETE")
    preview = poll(
        "the preview to complete",
        lambda: (p := ecr.get_lifecycle_policy_preview(repositoryName=repo))["status"] == "COMPLETE" and p,
        30,
    )
    expected = {images[f"prod-{i}"]["digest"]: 1 for i in range(1, 8)}
    expected.update({images[u]["digest"]: 2 for u in ("u1", "u2", "u3")})
    got = {r["imageDigest"]: r["appliedRulePriority"] for r in preview["previewResults"]}
    assert got == expected
    assert preview["summary"]["expiringImageTotalCount"] == 10
    for r in preview["previewResults"]:
        assert r["action"] == {"type": "EXPIRE"}
        assert r["imagePushedAt"] == before[r["imageDigest"]]["imagePushedAt"]
        assert r.get("imageTags", []) == before[r["imageDigest"]].get("imageTags", [])
    # Oldest push first.
    pushed_at = [r["imagePushedAt"] for r in preview["previewResults"]]
    assert pushed_at == sorted(pushed_at)

    # Pagination: pages of 4 give the same ten, once each.
    pages = list(
        ecr.get_paginator("get_lifecycle_policy_preview").paginate(
            repositoryName=repo, PaginationConfig={"PageSize": 4}
        )
    )
    assert [len(p["previewResults"]) for p in pages] == [4, 4, 2]
    assert [r["imageDigest"] for p in pages for r in p["previewResults"]] == [
        r["imageDigest"] for r in preview["previewResults"]
    ]
    # Filters: untagged only; one image by tag.
    untagged = ecr.get_lifecycle_policy_preview(repositoryName=repo, filter={"tagStatus": "UNTAGGED"})
    assert {r["imageDigest"] for r in untagged["previewResults"]} == {images[u]["digest"] for u in ("u1", "u2", "u3")}
    one = server.aws("ecr", "get-lifecycle-policy-preview", "--repository-name", repo, "--image-ids", "imageTag=prod-2")
    assert [r["imageDigest"] for r in one["previewResults"]] == [images["prod-2"]["digest"]]
    # A preview expires nothing.
    assert described(server, repo).keys() == before.keys()


def test_evaluation_expires_exactly_the_preview(server, pushed):
    repo, images, host, creds = pushed["repo"], pushed["images"], pushed["host"], pushed["creds"]
    put = server.aws("ecr", "put-lifecycle-policy", "--repository-name", repo, "--lifecycle-policy-text", POLICY)
    assert put["lifecyclePolicyText"] == POLICY and put["repositoryName"] == repo
    survivors = {images[n]["digest"] for n in ("prod-8", "prod-9", "prod-10", "keep")}
    left = poll("the policy to expire ten images", lambda: (d := described(server, repo)).keys() == survivors and d, 30)
    assert {tuple(d.get("imageTags", [])) for d in left.values()} == {("prod-8",), ("prod-9",), ("prod-10",), ("latest",)}
    got = server.aws("ecr", "get-lifecycle-policy", "--repository-name", repo)
    assert got["lifecyclePolicyText"] == POLICY
    assert got["lastEvaluatedAt"] <= time.time() + 5
    # Expired images no longer pull, by tag or by digest; the kept ones do.
    for ref in (f"{repo}:prod-1", f"{repo}:prod-7", f"{repo}@{images['u2']['digest']}"):
        p = skopeo("inspect", "--raw", "--tls-verify=false", "--creds", creds, f"docker://{host}/{ref}", check=False)
        assert p.returncode != 0 and "manifest unknown" in p.stderr.lower(), (ref, p.stderr)
    for ref in (f"{repo}:prod-10", f"{repo}:latest"):
        raw = skopeo("inspect", "--raw", "--tls-verify=false", "--creds", creds, f"docker://{host}/{ref}").stdout
        assert sha256(raw.encode()) in survivors
    # Deleting the policy answers what was deleted; nothing more expires.
    deleted = server.client("ecr").delete_lifecycle_policy(repositoryName=repo)
    assert deleted["lifecyclePolicyText"] == POLICY
    with pytest.raises(ClientError) as e:
        server.client("ecr").get_lifecycle_policy(repositoryName=repo)
    assert e.value.response["Error"]["Code"] == "LifecyclePolicyNotFoundException"


def blob_files(data_dir: Path) -> dict[str, int]:
    """digest -> size of every blob file the server stores."""
    out = {}
    for blobs in data_dir.rglob("blobs"):
        if blobs.parent.name != "registry":
            continue
        for f in blobs.rglob("*"):
            if f.is_file() and not f.name.startswith(".tmp-"):
                out[f"{f.parent.parent.name}:{f.name}"] = f.stat().st_size
    return out


def berth_cli(server, *args) -> subprocess.CompletedProcess:
    env = berthtest.isolate_aws_environment(dict(os.environ))
    return subprocess.run(
        [str(berthtest.berth_bin()), *args, "--endpoint", server.endpoint, "--data-dir", str(server.data_dir)],
        env=env, capture_output=True, text=True, timeout=120,
    )


def test_gc_frees_exactly_the_expired_images_own_blobs(server, pushed):
    images = pushed["images"]
    expired = [f"prod-{i}" for i in range(1, 8)] + ["u1", "u2", "u3"]
    garbage = {d for n in expired for d in [images[n]["digest"], *images[n]["own"]]}
    before = blob_files(server.data_dir)
    assert garbage <= before.keys()
    assert pushed["layout"].base["digest"] in before

    dry = berth_cli(server, "registry", "gc", "--dry-run", "--output", "json")
    assert dry.returncode == 0, dry.stderr
    report = json.loads(dry.stdout)
    assert report["dryRun"] is True and report["blobsDeleted"] == 0
    assert report["garbageBlobs"] == len(garbage) == 30
    assert report["garbageBytes"] == sum(before[d] for d in garbage)
    assert blob_files(server.data_dir) == before

    run = berth_cli(server, "registry", "gc")
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith(f"deleted {len(garbage)} of {len(before)} blobs"), run.stdout
    after = blob_files(server.data_dir)
    assert after.keys() == before.keys() - garbage
    # The kept images still pull whole, the shared base layer with them.
    for tag in ("prod-8", "prod-9", "prod-10", "latest"):
        skopeo("copy", "--src-tls-verify=false", "--src-creds", pushed["creds"],
               f"docker://{pushed['host']}/{pushed['repo']}:{tag}", f"oci:{pushed['layout'].root.parent / 'back'}:{tag}")
    metrics = requests.get(f"{server.endpoint}/metrics", timeout=30).text
    freed = sum(before[d] for d in garbage)
    assert f'berth_registry_gc_blobs_deleted_total{{region="us-east-1"}} {len(garbage)}' in metrics
    assert f'berth_registry_gc_bytes_freed_total{{region="us-east-1"}} {freed}' in metrics
    # Only the root may collect, whatever a user's policy allows.
    iam = server.client("iam")
    name = unique("gc-user")
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="all", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    env = dict(berthtest.isolate_aws_environment(dict(os.environ)),
               AWS_ACCESS_KEY_ID=key["AccessKeyId"], AWS_SECRET_ACCESS_KEY=key["SecretAccessKey"])
    p = subprocess.run([str(berthtest.berth_bin()), "registry", "gc", "--endpoint", server.endpoint,
                        "--data-dir", str(server.data_dir)], env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and "AccessDenied" in p.stderr, p.stderr


"""The registry, end to end: docker login/push/pull, skopeo copies of a
multi-arch OCI layout, tag immutability (docker and PutImage), resumable
chunked uploads across a kill -9, digest verification, a manifest
addressed by sha512, one over the size limit (413), PutImage of a
manifest without its media type, 20 MiB ECR layer
parts, a repository policy denying a user's pull, and an ECS task whose
image comes from the Berth registry.

Every image this module makes is tagged `berth-e2e-registry-*` or
`127.0.0.1:<port>/…` and removed at the end; every container carries the
task's ECS labels (and `berth.e2e=registry`) and is removed too. Docker
logins go to a temporary DOCKER_CONFIG, never the machine's.
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

from berthtest import ACCOUNT, aws_cli, isolate_aws_environment, unique

E2E_LABEL = "berth.e2e=registry"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def run(cmd, *, env=None, input=None, timeout=180, check=True) -> subprocess.CompletedProcess:
    p = subprocess.run(cmd, env=env, input=input, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
    return p


# ---- docker, with a private config dir ----


class Docker:
    """The docker CLI with its own DOCKER_CONFIG; remembers what it must remove."""

    def __init__(self, config_dir: Path):
        self.env = dict(os.environ, DOCKER_CONFIG=str(config_dir))
        self.images: set[str] = set()
        self.ids: set[str] = set()

    def __call__(self, *args, check=True, input=None, timeout=180) -> subprocess.CompletedProcess:
        return run(["docker", *args], env=self.env, input=input, timeout=timeout, check=check)

    def build(self, tag: str, marker: str) -> str:
        """`docker import` of a busybox rootfs with a file that makes the image unique; returns the image id."""
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            tar.add("/bin/busybox", arcname="bin/busybox")
            for name in ("sh", "sleep", "cat"):
                link = tarfile.TarInfo(f"bin/{name}")
                link.type = tarfile.SYMTYPE
                link.linkname = "busybox"
                tar.addfile(link)
            data = marker.encode()
            info = tarfile.TarInfo("marker")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        p = subprocess.run(
            ["docker", "import", "--change", f"LABEL {E2E_LABEL}", "--change", 'CMD ["/bin/sh"]', "-", tag],
            env=self.env,
            input=buf.getvalue(),
            capture_output=True,
            timeout=120,
        )
        assert p.returncode == 0, p.stderr.decode()
        self.images.add(tag)
        image_id = self.image_id(tag)
        self.ids.add(image_id)
        return image_id

    def tag(self, src: str, dst: str) -> None:
        self("tag", src, dst)
        self.images.add(dst)

    def image_id(self, ref: str) -> str:
        return self("image", "inspect", "--format", "{{.Id}}", ref).stdout.strip()

    def exists(self, ref: str) -> bool:
        return self("image", "inspect", ref, check=False).returncode == 0

    def push(self, ref: str, check=True) -> subprocess.CompletedProcess:
        return self("push", ref, check=check)

    def rmi(self, *refs: str) -> None:
        self("rmi", "--force", *refs, check=False)

    def cleanup(self) -> None:
        """Removes every tag and every image (an image keeps its repo digests after its tags go)."""
        if self.images:
            self.rmi(*sorted(self.images))
        if self.ids:
            self.rmi(*sorted(self.ids))


def pushed_digest(push: subprocess.CompletedProcess) -> str:
    """The manifest digest `docker push` prints ("<tag>: digest: sha256:… size: N")."""
    for line in push.stdout.splitlines():
        if "digest: sha256:" in line:
            return line.split("digest: ", 1)[1].split()[0]
    raise AssertionError(f"no digest in the push output:\n{push.stdout}")


@pytest.fixture(scope="module")
def registry(berth, tmp_path_factory):
    """The shared server's registry host, a logged-in docker and the root's password."""
    config = tmp_path_factory.mktemp("docker-config")
    docker = Docker(config)
    host = urllib.parse.urlparse(berth.endpoint).netloc
    env = isolate_aws_environment(dict(os.environ))
    # What the ECR documentation says to run, as a pipe.
    login = subprocess.run(
        f"'{aws_cli()}' --endpoint-url {berth.endpoint} ecr get-login-password"
        f" | docker login --username AWS --password-stdin {host}",
        shell=True,
        env=dict(env, DOCKER_CONFIG=str(config)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert login.returncode == 0, login.stderr
    assert "Login Succeeded" in login.stdout
    token = berth.client("ecr").get_authorization_token()["authorizationData"][0]
    user, password = base64.b64decode(token["authorizationToken"]).decode().split(":", 1)
    assert user == "AWS"
    assert token["proxyEndpoint"] == f"http://{host}"
    try:
        yield {"host": host, "docker": docker, "password": password}
    finally:
        docker.cleanup()


def new_repository(berth, prefix: str, **kwargs) -> str:
    name = f"e2e/{unique(prefix)}"
    berth.client("ecr").create_repository(repositoryName=name, **kwargs)
    return name


# ---- docker push / pull ----


def test_docker_push_rmi_pull_round_trip(berth, registry):
    docker, host = registry["docker"], registry["host"]
    repo = new_repository(berth, "app")
    local = f"berth-e2e-registry-{unique('app')}:src"
    image_id = docker.build(local, unique("marker"))
    ref = f"{host}/{repo}:1"
    docker.tag(local, ref)
    before = time.time()
    digest = pushed_digest(docker.push(ref))

    # Forget the image entirely, so the pull must fetch every layer.
    docker.rmi(ref, local)
    assert not docker.exists(image_id)
    docker("pull", ref)
    assert docker.image_id(ref) == image_id
    repo_digests = json.loads(docker("image", "inspect", "--format", "{{json .RepoDigests}}", ref).stdout)
    assert f"{host}/{repo}@{digest}" in repo_digests

    images = berth.aws("ecr", "describe-images", "--repository-name", repo)["imageDetails"]
    assert len(images) == 1
    detail = images[0]
    assert detail["imageDigest"] == digest
    assert detail["imageTags"] == ["1"]
    assert detail["repositoryName"] == repo
    assert detail["registryId"] == ACCOUNT
    assert detail["imageSizeInBytes"] > 500_000, "the busybox layer is in the size"
    assert before - 5 <= detail["imagePushedAt"] <= time.time() + 5
    assert detail["imageManifestMediaType"] == "application/vnd.docker.distribution.manifest.v2+json"


# ---- skopeo: a multi-arch OCI layout in and out ----


def write_oci_layout(root: Path, tag: str) -> str:
    """An OCI layout holding an index of two single-layer images (linux/amd64,
    linux/arm64); returns the index digest."""
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def put(data: bytes) -> dict:
        d = sha256(data)
        (blobs / d.split(":", 1)[1]).write_bytes(data)
        return {"digest": d, "size": len(data)}

    manifests = []
    for arch in ("amd64", "arm64"):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            data = f"built for linux/{arch} by the Berth e2e tests\n".encode() + os.urandom(64)
            info = tarfile.TarInfo(f"etc/{arch}.txt")
            info.size = len(data)
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
        layer = buf.getvalue()
        config = json.dumps(
            {
                "architecture": arch,
                "os": "linux",
                "config": {"Cmd": ["/bin/sh"]},
                "rootfs": {"type": "layers", "diff_ids": [sha256(layer)]},
            },
            sort_keys=True,
        ).encode()
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, **put(config)},
                "layers": [{"mediaType": OCI_LAYER, **put(layer)}],
            }
        ).encode()
        platform = {"architecture": arch, "os": "linux"}
        manifests.append({"mediaType": OCI_MANIFEST, **put(manifest), "platform": platform})
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}).encode()
    desc = {"mediaType": OCI_INDEX, **put(index), "annotations": {"org.opencontainers.image.ref.name": tag}}
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [desc]}))
    (root / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    return desc["digest"]


def skopeo(*args, timeout=180) -> subprocess.CompletedProcess:
    return run(["skopeo", "--insecure-policy", *args], timeout=timeout)


def test_skopeo_copies_a_multi_arch_oci_layout_in_and_out(berth, registry, tmp_path):
    host, creds = registry["host"], f"AWS:{registry['password']}"
    repo = new_repository(berth, "multi")
    index_digest = write_oci_layout(tmp_path / "src", "v1")
    remote = f"docker://{host}/{repo}:v1"
    skopeo("copy", "--all", "--preserve-digests", "--dest-tls-verify=false", "--dest-creds", creds,
           f"oci:{tmp_path / 'src'}:v1", remote)
    skopeo("copy", "--all", "--preserve-digests", "--src-tls-verify=false", "--src-creds", creds,
           remote, f"oci:{tmp_path / 'back'}:v1")

    def raw(ref: str, *opts) -> bytes:
        out = subprocess.run(["skopeo", "inspect", "--raw", *opts, ref], capture_output=True, timeout=60)
        assert out.returncode == 0, out.stderr.decode()
        return out.stdout

    src = raw(f"oci:{tmp_path / 'src'}:v1")
    there = raw(remote, "--tls-verify=false", "--creds", creds)
    back = raw(f"oci:{tmp_path / 'back'}:v1")
    assert sha256(src) == sha256(there) == sha256(back) == index_digest
    index = json.loads(there)
    assert [m["platform"]["architecture"] for m in index["manifests"]] == ["amd64", "arm64"]
    # Every child manifest answers by digest, byte for byte.
    for m in index["manifests"]:
        child = raw(f"docker://{host}/{repo}@{m['digest']}", "--tls-verify=false", "--creds", creds)
        assert sha256(child) == m["digest"]

    ecr = berth.client("ecr")
    images = {i["imageDigest"]: i for i in ecr.describe_images(repositoryName=repo)["imageDetails"]}
    assert images[index_digest]["imageTags"] == ["v1"]
    assert images[index_digest]["imageManifestMediaType"] == OCI_INDEX
    assert {m["digest"] for m in index["manifests"]} <= set(images)


# ---- tag immutability ----


def test_immutable_tags_refuse_docker_push_and_put_image(berth, registry):
    docker, host = registry["docker"], registry["host"]
    ecr = berth.client("ecr")
    repo = new_repository(berth, "frozen", imageTagMutability="IMMUTABLE")
    first, second = (f"berth-e2e-registry-{unique(n)}:src" for n in ("first", "second"))
    docker.build(first, unique("first"))
    docker.build(second, unique("second"))
    ref = f"{host}/{repo}:1"
    docker.tag(first, ref)
    old = pushed_digest(docker.push(ref))

    # docker: the same tag, another image.
    docker.tag(second, ref)
    refused = docker.push(ref, check=False)
    assert refused.returncode != 0
    assert "tag invalid" in refused.stderr.lower() or "immutable" in refused.stderr.lower(), refused.stderr

    # PutImage: the second image's manifest (pushed under a new tag) to tag 1.
    docker.tag(second, f"{host}/{repo}:2")
    new = pushed_digest(docker.push(f"{host}/{repo}:2"))
    assert new != old
    got = ecr.batch_get_image(repositoryName=repo, imageIds=[{"imageTag": "2"}])["images"][0]
    with pytest.raises(ClientError) as e:
        ecr.put_image(repositoryName=repo, imageManifest=got["imageManifest"], imageTag="1")
    assert e.value.response["Error"]["Code"] == "ImageTagAlreadyExistsException"

    # The old digest still answers for tag 1, by tag and by digest.
    detail = ecr.describe_images(repositoryName=repo, imageIds=[{"imageTag": "1"}])["imageDetails"][0]
    assert detail["imageDigest"] == old
    auth = ("AWS", registry["password"])
    accept = {"Accept": "application/vnd.docker.distribution.manifest.v2+json"}
    for reference in ("1", old):
        r = requests.head(f"http://{host}/v2/{repo}/manifests/{reference}", auth=auth, headers=accept, timeout=30)
        assert r.status_code == 200
        assert r.headers["Docker-Content-Digest"] == old


# ---- uploads: resumable across kill -9, digests verified ----


def test_chunked_upload_resumes_after_kill_9(fresh_berth):
    ecr = fresh_berth.client("ecr")
    repo = f"e2e/{unique('resume')}"
    ecr.create_repository(repositoryName=repo)
    token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
    auth = tuple(base64.b64decode(token).decode().split(":", 1))
    base = fresh_berth.endpoint
    part1, part2 = os.urandom(3 * 1024 * 1024 + 17), os.urandom(2 * 1024 * 1024 + 5)
    blob = part1 + part2
    digest = sha256(blob)

    r = requests.post(f"{base}/v2/{repo}/blobs/uploads/", auth=auth, timeout=30)
    assert r.status_code == 202, r.text
    location = urllib.parse.urljoin(base, r.headers["Location"])
    r = requests.patch(
        location,
        data=part1,
        auth=auth,
        headers={"Content-Type": "application/octet-stream", "Content-Range": f"0-{len(part1) - 1}"},
        timeout=60,
    )
    assert r.status_code == 202, r.text
    assert r.headers["Range"] == f"0-{len(part1) - 1}"
    location = urllib.parse.urljoin(base, r.headers["Location"])

    fresh_berth.restart(kill9=True)

    r = requests.get(location, auth=auth, timeout=30)
    assert r.status_code == 204, r.text
    assert r.headers["Range"] == f"0-{len(part1) - 1}"
    r = requests.patch(
        location,
        data=part2,
        auth=auth,
        headers={"Content-Type": "application/octet-stream", "Content-Range": f"{len(part1)}-{len(blob) - 1}"},
        timeout=60,
    )
    assert r.status_code == 202, r.text
    assert r.headers["Range"] == f"0-{len(blob) - 1}"
    location = urllib.parse.urljoin(base, r.headers["Location"])
    sep = "&" if "?" in location else "?"
    r = requests.put(f"{location}{sep}digest={digest}", auth=auth, timeout=60)
    assert r.status_code == 201, r.text
    assert r.headers["Docker-Content-Digest"] == digest

    r = requests.head(f"{base}/v2/{repo}/blobs/{digest}", auth=auth, timeout=30)
    assert r.status_code == 200
    assert int(r.headers["Content-Length"]) == len(blob)
    r = requests.get(f"{base}/v2/{repo}/blobs/{digest}", auth=auth, timeout=60)
    assert r.status_code == 200 and r.content == blob


def test_wrong_digest_is_refused_and_leaves_nothing(berth, registry):
    host, auth = registry["host"], ("AWS", registry["password"])
    repo = new_repository(berth, "baddigest")
    data = os.urandom(1024 * 1024)
    claimed = sha256(b"something else entirely")
    r = requests.post(f"http://{host}/v2/{repo}/blobs/uploads/", auth=auth, timeout=30)
    assert r.status_code == 202, r.text
    location = urllib.parse.urljoin(f"http://{host}", r.headers["Location"])
    sep = "&" if "?" in location else "?"
    r = requests.put(
        f"{location}{sep}digest={claimed}",
        data=data,
        auth=auth,
        headers={"Content-Type": "application/octet-stream"},
        timeout=60,
    )
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["code"] == "DIGEST_INVALID"
    for d in (claimed, sha256(data)):
        assert requests.head(f"http://{host}/v2/{repo}/blobs/{d}", auth=auth, timeout=30).status_code == 404
    # Nor in the blob store, under any repository.
    blobs = berth.data_dir / "registry" / "blobs"
    assert not list(blobs.rglob(hashlib.sha256(data).hexdigest() + "*"))
    assert not list(blobs.rglob(claimed.split(":", 1)[1] + "*"))


def test_ecr_layer_parts_of_20_mib(berth):
    ecr = berth.client("ecr")
    repo = new_repository(berth, "parts")
    upload = ecr.initiate_layer_upload(repositoryName=repo)
    assert upload["partSize"] == 20 * 1024 * 1024
    part = os.urandom(upload["partSize"])
    r = ecr.upload_layer_part(
        repositoryName=repo,
        uploadId=upload["uploadId"],
        partFirstByte=0,
        partLastByte=len(part) - 1,
        layerPartBlob=part,
    )
    assert r["lastByteReceived"] == len(part) - 1
    digest = sha256(part)
    done = ecr.complete_layer_upload(repositoryName=repo, uploadId=upload["uploadId"], layerDigests=[digest])
    assert done["layerDigest"] == digest
    layers = ecr.batch_check_layer_availability(repositoryName=repo, layerDigests=[digest])["layers"]
    assert layers == [{"layerDigest": digest, "layerAvailability": "AVAILABLE", "layerSize": len(part)}]


# ---- an ECS task pulls its image from the Berth registry ----


def wait_for_task(ecs, cluster: str, arn: str, status: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    task = None
    while time.monotonic() < deadline:
        task = ecs.describe_tasks(cluster=cluster, tasks=[arn])["tasks"][0]
        if task["lastStatus"] == status:
            return task
        if task["lastStatus"] == "STOPPED":
            raise AssertionError(f"the task stopped: {json.dumps(task, default=str, indent=1)}")
        time.sleep(0.5)  # polling interval, bounded by the deadline
    raise AssertionError(f"the task did not reach {status} within {timeout}s: {json.dumps(task, default=str)}")


def test_run_task_pulls_its_image_from_berth(berth, registry):
    docker, host = registry["docker"], registry["host"]
    ecs = berth.client("ecs")
    repo = new_repository(berth, "task")
    local = f"berth-e2e-registry-{unique('task')}:src"
    docker.build(local, unique("task"))
    image = f"{host}/{repo}:1"
    docker.tag(local, image)
    docker.push(image)
    # Not in the local image cache: the agent must pull it from Berth.
    docker.rmi(image, local)
    assert not docker.exists(image)

    family = unique("e2e-registry")
    berth.aws(
        "ecs",
        "register-task-definition",
        "--family",
        family,
        "--container-definitions",
        json.dumps(
            [
                {
                    "name": "app",
                    "image": image,
                    "memory": 32,
                    "essential": True,
                    "command": ["sleep", "300"],
                    # busybox as PID 1 ignores SIGTERM: do not wait 30 s for the SIGKILL.
                    "stopTimeout": 2,
                    "dockerLabels": {"berth.e2e": "registry"},
                }
            ]
        ),
    )
    arn = berth.aws("ecs", "run-task", "--cluster", "default", "--task-definition", family)["tasks"][0]["taskArn"]
    try:
        task = wait_for_task(ecs, "default", arn, "RUNNING", timeout=90)
        assert task["containers"][0]["image"] == image
        assert docker.exists(image), "the agent pulled the image"
        docker.images.add(image)
    finally:
        ecs.stop_task(cluster="default", task=arn, reason="e2e cleanup")
        try:
            wait_for_task(ecs, "default", arn, "STOPPED", timeout=60)
        except AssertionError:
            pass
        ids = docker("ps", "-aq", "--filter", f"label=com.amazonaws.ecs.task-arn={arn}").stdout.split()
        if ids:
            docker("rm", "--force", *ids, check=False)


def test_repository_credentials_are_used_for_the_pull(berth, registry):
    """`repositoryCredentials` names a Secrets Manager secret whose username and
    password the agent uses for the pull instead of its own token: a good pair
    pulls, a wrong one fails the task with CannotPullContainerError."""
    docker, host = registry["docker"], registry["host"]
    ecs, sm = berth.client("ecs"), berth.client("secretsmanager")
    repo = new_repository(berth, "creds")
    local = f"berth-e2e-registry-{unique('creds')}:src"
    docker.build(local, unique("creds"))
    image = f"{host}/{repo}:1"
    docker.tag(local, image)
    docker.push(image)
    docker.rmi(image, local)

    token = berth.client("ecr").get_authorization_token()["authorizationData"][0]["authorizationToken"]
    password = base64.b64decode(token).decode().split(":", 1)[1]
    good = sm.create_secret(Name=unique("regcreds"), SecretString=json.dumps({"username": "AWS", "password": password}))
    bad = sm.create_secret(Name=unique("regcreds"), SecretString=json.dumps({"username": "AWS", "password": "wrong"}))

    def run_with(secret_arn: str) -> str:
        family = unique("e2e-creds")
        container = {
            "name": "app",
            "image": image,
            "memory": 32,
            "command": ["sleep", "300"],
            "stopTimeout": 2,
            "repositoryCredentials": {"credentialsParameter": secret_arn},
        }
        ecs.register_task_definition(family=family, containerDefinitions=[container])
        return ecs.run_task(cluster="default", taskDefinition=family)["tasks"][0]["taskArn"]

    arns = []
    try:
        arns.append(run_with(bad["ARN"]))
        failed = wait_for_task(ecs, "default", arns[-1], "STOPPED", timeout=90)
        assert failed["stopCode"] == "TaskFailedToStart", failed
        assert "CannotPullContainerError" in failed["stoppedReason"], failed["stoppedReason"]
        assert not docker.exists(image)

        arns.append(run_with(good["ARN"]))
        wait_for_task(ecs, "default", arns[-1], "RUNNING", timeout=90)
        assert docker.exists(image), "the agent pulled with the secret's credentials"
        docker.images.add(image)
    finally:
        for arn in arns:
            ecs.stop_task(cluster="default", task=arn, reason="e2e cleanup")
            ids = docker("ps", "-aq", "--filter", f"label=com.amazonaws.ecs.task-arn={arn}").stdout.split()
            if ids:
                docker("rm", "--force", *ids, check=False)


# ---- repository policies ----


def test_repository_policy_denies_a_users_pull(berth, registry, tmp_path):
    docker, host = registry["docker"], registry["host"]
    iam = berth.client("iam")
    user = unique("puller")
    user_arn = iam.create_user(UserName=user)["User"]["Arn"]
    allow_all = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}]}
    iam.put_user_policy(UserName=user, PolicyName="ecr-all", PolicyDocument=json.dumps(allow_all))
    key = iam.create_access_key(UserName=user)["AccessKey"]

    repo = new_repository(berth, "guarded")
    local = f"berth-e2e-registry-{unique('guarded')}:src"
    docker.build(local, unique("guarded"))
    ref = f"{host}/{repo}:1"
    docker.tag(local, ref)
    digest = pushed_digest(docker.push(ref))
    deny = {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "NoPull", "Effect": "Deny", "Principal": {"AWS": user_arn}, "Action": "ecr:BatchGetImage"}
        ],
    }
    ecr = berth.client("ecr")
    ecr.set_repository_policy(repositoryName=repo, policyText=json.dumps(deny))

    user_ecr = berth.client("ecr", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    token = user_ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
    user_auth = tuple(base64.b64decode(token).decode().split(":", 1))
    accept = {"Accept": "application/vnd.docker.distribution.manifest.v2+json"}
    url = f"http://{host}/v2/{repo}/manifests/1"
    denied = requests.get(url, auth=user_auth, headers=accept, timeout=30)
    assert denied.status_code == 403, denied.text
    assert denied.json()["errors"][0]["code"] == "DENIED"
    with pytest.raises(ClientError) as e:
        user_ecr.batch_get_image(repositoryName=repo, imageIds=[{"imageTag": "1"}])
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"

    # docker, logged in as the user, cannot pull; the root can.
    user_docker = Docker(tmp_path / "user-docker")
    user_docker("login", "--username", "AWS", "--password-stdin", host, input=user_auth[1])
    docker.rmi(ref, local)
    refused = user_docker("pull", ref, check=False)
    assert refused.returncode != 0
    assert "denied" in refused.stderr.lower(), refused.stderr
    assert requests.get(url, auth=("AWS", registry["password"]), headers=accept, timeout=30).status_code == 200
    docker("pull", ref)
    docker.images.add(ref)
    assert f"{host}/{repo}@{digest}" in docker("image", "inspect", "--format", "{{json .RepoDigests}}", ref).stdout


def test_sha512_manifests_the_size_limit_and_put_image_without_a_media_type(berth, registry):
    host, auth = registry["host"], ("AWS", registry["password"])
    repo = new_repository(berth, "sha512")
    base = f"http://{host}/v2/{repo}"

    def blob(data: bytes) -> dict:
        d = sha256(data)
        r = requests.post(f"{base}/blobs/uploads/", params={"digest": d}, data=data, auth=auth, timeout=30,
                          headers={"Content-Type": "application/octet-stream"})
        assert r.status_code == 201, r.text
        return {"digest": d, "size": len(data)}

    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        info = tarfile.TarInfo("hello.txt")
        payload = b"pushed by sha512\n"
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    layer_d = blob(layer.getvalue())
    config_d = blob(json.dumps({"architecture": "amd64", "os": "linux",
                                "rootfs": {"type": "layers", "diff_ids": [layer_d["digest"]]}}).encode())
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config_d},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", **layer_d}],
    }).encode()
    d512 = "sha512:" + hashlib.sha512(manifest).hexdigest()
    media = {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}
    r = requests.put(f"{base}/manifests/{d512}", data=manifest, auth=auth, headers=media, timeout=30)
    assert r.status_code == 201, r.text
    assert r.headers["Docker-Content-Digest"] == d512
    # Pulled by that digest, byte for byte (this skopeo cannot check a
    # sha512 manifest digest, so plain HTTP as a client sends it).
    r = requests.get(f"{base}/manifests/{d512}", auth=auth, headers={"Accept": media["Content-Type"]}, timeout=30)
    assert r.status_code == 200, r.text
    assert r.content == manifest and r.headers["Docker-Content-Digest"] == d512
    assert hashlib.sha512(r.content).hexdigest() == d512.split(":", 1)[1]
    described = berth.client("ecr").describe_images(repositoryName=repo)["imageDetails"]
    assert [i["imageDigest"] for i in described] == [d512]
    # Over ECR's 4 MiB limit: 413, nothing stored.
    big = json.dumps({**json.loads(manifest), "annotations": {"pad": "x" * (4 * 1024 * 1024)}}).encode()
    r = requests.put(f"{base}/manifests/big", data=big, auth=auth, headers=media, timeout=60)
    assert r.status_code == 413, r.text
    assert r.json()["errors"][0]["code"] == "MANIFEST_INVALID"
    assert requests.head(f"{base}/manifests/big", auth=auth, headers={"Accept": media["Content-Type"]},
                         timeout=30).status_code == 404
    # PutImage of a manifest without its mediaType needs imageManifestMediaType, as in ECR.
    ecr = berth.client("ecr")
    bare = {k: v for k, v in json.loads(manifest).items() if k != "mediaType"}
    with pytest.raises(ClientError) as e:
        ecr.put_image(repositoryName=repo, imageManifest=json.dumps(bare), imageTag="bare")
    assert e.value.response["Error"]["Code"] == "InvalidParameterException"
    assert "Invalid JSON syntax" in e.value.response["Error"]["Message"]
    out = ecr.put_image(repositoryName=repo, imageManifest=json.dumps(bare), imageTag="bare",
                        imageManifestMediaType=media["Content-Type"])
    assert out["image"]["imageManifestMediaType"] == media["Content-Type"]

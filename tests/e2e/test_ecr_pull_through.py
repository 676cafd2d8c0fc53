"""ECR pull-through cache (issue 18 item 6), end to end, against a local
upstream: Debian's `docker-registry` (distribution) started by this module
on a free 127.0.0.1 port with its own storage dir, allowed with
`--pull-through-upstream http://127.0.0.1:PORT`. Images are pushed to it
with skopeo from OCI layouts the test writes (a single-platform image and a
two-platform index). The rules API is driven with the aws CLI and boto3;
the pulls through Berth with skopeo and `docker pull`:

- the first pull of `PREFIX/library/app:1.0` creates the repository,
  fetches the image (an index's children too) and serves it; DescribeImages
  shows it with the upstream's digest;
- with the upstream stopped, the cached image still pulls with the same
  digest (the tag's refresh interval, 1 s here, has passed, so the server
  tried the upstream and fell back to the cache); an uncached tag fails;
- a user allowed to pull but not `ecr:BatchImportUpstreamImage` cannot make
  the cache fetch; bad input answers as ECR does.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import urllib.parse
from pathlib import Path

import pytest
import requests
from botocore.exceptions import ClientError

import berthtest
from berthtest import AwsCliError, free_port, make_user, poll, unique
from test_ecr_lifecycle import Layout, skopeo
from test_registry import write_oci_layout

REGISTRY_BIN = "/usr/bin/docker-registry"

pytestmark = pytest.mark.skipif(
    not Path(REGISTRY_BIN).exists() or shutil.which("skopeo") is None,
    reason="needs Debian's docker-registry and skopeo (.ci/run installs them)",
)


class Upstream:
    """A distribution registry on 127.0.0.1:PORT storing under `root`."""

    def __init__(self, root: Path):
        self.root = root
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.config = root / "config.yml"
        (root / "storage").mkdir(parents=True)
        self.config.write_text(
            "version: 0.1\n"
            "log:\n  level: warn\n"
            f"storage:\n  filesystem:\n    rootdirectory: {root / 'storage'}\n  delete:\n    enabled: true\n"
            f"http:\n  addr: 127.0.0.1:{self.port}\n"
        )
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Upstream":
        log = open(self.root / "registry.log", "ab")
        self.proc = subprocess.Popen([REGISTRY_BIN, "serve", str(self.config)], stdout=log, stderr=log)
        log.close()
        poll("the upstream registry to answer /v2/", self._up, deadline=20)
        return self

    def _up(self) -> bool:
        assert self.proc.poll() is None, (self.root / "registry.log").read_text()
        try:
            return requests.get(f"http://{self.host}/v2/", timeout=2).status_code == 200
        except requests.ConnectionError:
            return False

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    up = Upstream(tmp_path_factory.mktemp("upstream")).start()
    try:
        yield up
    finally:
        up.stop()


@pytest.fixture(scope="module")
def images(upstream, tmp_path_factory):
    """`library/app:1.0` (one platform) and `library/multi:2.0` (an index of
    two) in the upstream; their manifest digests."""
    layout = Layout(tmp_path_factory.mktemp("layout"))
    app = layout.image("app")
    skopeo("copy", "--preserve-digests", "--dest-tls-verify=false",
           f"oci:{layout.root}:app", f"docker://{upstream.host}/library/app:1.0")
    multi_root = tmp_path_factory.mktemp("multi")
    multi = write_oci_layout(multi_root, "multi")
    skopeo("copy", "--all", "--preserve-digests", "--dest-tls-verify=false",
           f"oci:{multi_root}:multi", f"docker://{upstream.host}/library/multi:2.0")
    return {"app": app["digest"], "multi": multi}


@pytest.fixture(scope="module")
def server(upstream, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("berth-ptc")
    (tmp / "data").mkdir()
    b = berthtest.Berth(
        data_dir=tmp / "data",
        log_path=tmp / "berth.log",
        extra_args=[
            "--pull-through-upstream", f"http://{upstream.host}",
            "--pull-through-refresh-secs", "1",
        ],
    ).start()
    try:
        yield b
    finally:
        b.stop()


def creds_of(ecr) -> str:
    token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
    return base64.b64decode(token).decode()


def host_of(server) -> str:
    return urllib.parse.urlparse(server.endpoint).netloc


def pull_digest(server, creds: str, ref: str) -> subprocess.CompletedProcess:
    """`skopeo inspect --raw` through Berth: the manifest a pull gets."""
    return subprocess.run(
        ["skopeo", "inspect", "--raw", "--tls-verify=false", "--creds", creds, f"docker://{host_of(server)}/{ref}"],
        capture_output=True, timeout=60,
    )


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_rules_are_created_described_validated_updated_and_deleted(server, upstream):
    prefix = unique("ptc-api")
    out = server.aws("ecr", "create-pull-through-cache-rule", "--ecr-repository-prefix", prefix,
                     "--upstream-registry-url", upstream.host)
    assert out["ecrRepositoryPrefix"] == prefix
    assert out["upstreamRegistryUrl"] == upstream.host
    assert out["registryId"] == berthtest.ACCOUNT
    assert out["upstreamRepositoryPrefix"] == "ROOT"
    assert "upstreamRegistry" not in out  # a registry ECR has no name for
    ecr = server.client("ecr")
    rules = ecr.describe_pull_through_cache_rules(ecrRepositoryPrefixes=[prefix])["pullThroughCacheRules"]
    assert [(r["ecrRepositoryPrefix"], r["upstreamRegistryUrl"]) for r in rules] == [(prefix, upstream.host)]
    assert rules[0]["createdAt"] and rules[0]["updatedAt"]
    v = ecr.validate_pull_through_cache_rule(ecrRepositoryPrefix=prefix)
    assert v["isValid"] is True and "failure" not in v, v
    with pytest.raises(ClientError) as e:
        ecr.create_pull_through_cache_rule(ecrRepositoryPrefix=prefix, upstreamRegistryUrl=upstream.host)
    assert e.value.response["Error"]["Code"] == "PullThroughCacheRuleAlreadyExistsException"
    # Update changes the credentials; a secret that does not exist is refused.
    secret = f"arn:aws:secretsmanager:{berthtest.REGION}:{berthtest.ACCOUNT}:secret:ecr-pullthroughcache/none-AbCdEf"
    with pytest.raises(ClientError) as e:
        ecr.update_pull_through_cache_rule(ecrRepositoryPrefix=prefix, credentialArn=secret)
    assert e.value.response["Error"]["Code"] == "SecretNotFoundException", e.value.response
    sm = server.client("secretsmanager")
    real = sm.create_secret(Name=f"ecr-pullthroughcache/{prefix}",
                            SecretString=json.dumps({"username": "u", "accessToken": "t"}))["ARN"]
    up = ecr.update_pull_through_cache_rule(ecrRepositoryPrefix=prefix, credentialArn=real)
    assert up["credentialArn"] == real and up["updatedAt"]
    assert ecr.describe_pull_through_cache_rules(ecrRepositoryPrefixes=[prefix])["pullThroughCacheRules"][0][
        "credentialArn"] == real
    deleted = ecr.delete_pull_through_cache_rule(ecrRepositoryPrefix=prefix)
    assert deleted["ecrRepositoryPrefix"] == prefix and deleted["credentialArn"] == real
    for call in (lambda: ecr.delete_pull_through_cache_rule(ecrRepositoryPrefix=prefix),
                 lambda: ecr.validate_pull_through_cache_rule(ecrRepositoryPrefix=prefix),
                 lambda: ecr.describe_pull_through_cache_rules(ecrRepositoryPrefixes=[prefix])):
        with pytest.raises(ClientError) as e:
            call()
        assert e.value.response["Error"]["Code"] == "PullThroughCacheRuleNotFoundException"


@pytest.mark.parametrize(
    "args,code,words",
    [
        (["--upstream-registry-url", "quay.io"], "UnsupportedUpstreamRegistryException", "--pull-through-upstream"),
        (["--upstream-registry-url", "{up}", "--upstream-registry", "docker-hub"],
         "UnsupportedUpstreamRegistryException", "omit upstreamRegistry"),
        (["--upstream-registry-url", "{up}", "--custom-role-arn", "arn:aws:iam::000000000000:role/r"],
         "ValidationException", "customRoleArn"),
        (["--upstream-registry-url", "{up}", "--upstream-registry", "nope"], "InvalidParameterException", ""),
    ],
)
def test_bad_rules_are_refused(server, upstream, args, code, words):
    args = [a.replace("{up}", upstream.host) for a in args]
    with pytest.raises(AwsCliError) as e:
        server.aws("ecr", "create-pull-through-cache-rule", "--ecr-repository-prefix", unique("ptc-bad"), *args)
    assert code in e.value.stderr, e.value.stderr
    assert words in e.value.stderr, e.value.stderr


def test_bad_prefixes_are_refused(server, upstream):
    ecr = server.client("ecr")
    for prefix, code in [("Upper", "InvalidParameterException"), ("a//b", "InvalidParameterException"),
                         ("ROOT", "ValidationException")]:
        with pytest.raises(ClientError) as e:
            ecr.create_pull_through_cache_rule(ecrRepositoryPrefix=prefix, upstreamRegistryUrl=upstream.host)
        assert e.value.response["Error"]["Code"] == code, (prefix, e.value.response)
    stored = {r["ecrRepositoryPrefix"] for r in ecr.describe_pull_through_cache_rules()["pullThroughCacheRules"]}
    assert not stored & {"Upper", "a//b", "ROOT"}, stored


def test_a_user_without_batch_import_cannot_fill_the_cache(server, upstream, images):
    prefix = unique("ptc-iam")
    ecr = server.client("ecr")
    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix=prefix, upstreamRegistryUrl=upstream.host)
    repo_arn = f"arn:aws:ecr:{berthtest.REGION}:{berthtest.ACCOUNT}:repository/{prefix}/*"
    pull_only = [{"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
                 {"Effect": "Allow", "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                  "Resource": repo_arn}]
    _, client = make_user(server, pull_only)
    p = pull_digest(server, creds_of(client("ecr")), f"{prefix}/library/app:1.0")
    assert p.returncode != 0
    assert b"ecr:BatchImportUpstreamImage" in p.stderr, p.stderr
    with pytest.raises(ClientError) as e:
        ecr.describe_repositories(repositoryNames=[f"{prefix}/library/app"])
    assert e.value.response["Error"]["Code"] == "RepositoryNotFoundException"
    # With the import permissions (and CreateRepository for the first pull) it can.
    _, importer = make_user(server, pull_only + [
        {"Effect": "Allow", "Action": ["ecr:BatchImportUpstreamImage", "ecr:CreateRepository"],
         "Resource": repo_arn}])
    p = pull_digest(server, creds_of(importer("ecr")), f"{prefix}/library/app:1.0")
    assert p.returncode == 0, p.stderr
    assert sha256(p.stdout) == images["app"]
    # Once cached, the first user pulls it (nothing to import).
    p = pull_digest(server, creds_of(client("ecr")), f"{prefix}/library/app@{images['app']}")
    assert p.returncode == 0, p.stderr


def test_first_pull_caches_and_the_cache_outlives_the_upstream(server, upstream, images, tmp_path):
    prefix = unique("ptc")
    ecr = server.client("ecr")
    server.aws("ecr", "create-pull-through-cache-rule", "--ecr-repository-prefix", prefix,
               "--upstream-registry-url", upstream.host)
    app, multi = f"{prefix}/library/app", f"{prefix}/library/multi"
    with pytest.raises(ClientError):
        ecr.describe_repositories(repositoryNames=[app])
    # The repositories the cache creates take a PULL_THROUGH_CACHE creation template's settings.
    ecr.create_repository_creation_template(prefix=f"{prefix}/library", appliedFor=["PULL_THROUGH_CACHE"],
                                            resourceTags=[{"Key": "cache", "Value": "upstream"}])
    creds = creds_of(ecr)
    host = host_of(server)
    # The first pull: skopeo copies the image out of Berth, every blob verified.
    skopeo("copy", "--src-tls-verify=false", "--src-creds", creds,
           f"docker://{host}/{app}:1.0", f"oci:{tmp_path / 'out'}:app")
    repo = ecr.describe_repositories(repositoryNames=[app])["repositories"][0]
    assert repo["imageTagMutability"] == "MUTABLE"
    assert ecr.list_tags_for_resource(resourceArn=repo["repositoryArn"])["tags"] == [
        {"Key": "cache", "Value": "upstream"}]
    details = ecr.describe_images(repositoryName=app)["imageDetails"]
    assert [(d["imageDigest"], d["imageTags"]) for d in details] == [(images["app"], ["1.0"])]
    # An index: its two platforms are cached with it.
    p = pull_digest(server, creds, f"{multi}:2.0")
    assert p.returncode == 0, p.stderr
    assert sha256(p.stdout) == images["multi"]
    digests = {d["imageDigest"] for d in ecr.describe_images(repositoryName=multi)["imageDetails"]}
    assert len(digests) == 3 and images["multi"] in digests
    # docker pull through Berth, into a docker of its own configuration.
    if berthtest.docker_running():
        cfg = tmp_path / "docker"
        cfg.mkdir()
        user, password = creds.split(":", 1)
        subprocess.run(["docker", "--config", str(cfg), "login", "-u", user, "--password-stdin", host],
                       input=password.encode(), check=True, capture_output=True, timeout=60)
        ref = f"{host}/{app}:1.0"
        try:
            pulled = subprocess.run(["docker", "--config", str(cfg), "pull", ref], capture_output=True, timeout=120)
            assert pulled.returncode == 0, pulled.stderr
            assert images["app"].encode() in pulled.stdout, pulled.stdout
        finally:
            subprocess.run(["docker", "rmi", "-f", ref], capture_output=True, timeout=60)

    # The upstream goes away: the cached image still pulls, with the same
    # digest, once the server has tried the upstream (refresh: 1 s) and
    # fallen back to the cache.
    upstream.stop()

    def served_from_cache_after_a_failed_check():
        p = pull_digest(server, creds, f"{app}:1.0")
        assert p.returncode == 0, p.stderr
        assert sha256(p.stdout) == images["app"]
        return "serving the cached image" in server.log_path.read_text()

    poll("a pull that fell back to the cache", served_from_cache_after_a_failed_check, deadline=20)
    skopeo("copy", "--src-tls-verify=false", "--src-creds", creds,
           f"docker://{host}/{app}:1.0", f"oci:{tmp_path / 'again'}:app")
    # What was never cached cannot be pulled.
    p = pull_digest(server, creds, f"{app}:2.0")
    assert p.returncode != 0
    assert b"could not be fetched" in p.stderr, p.stderr
    # A repository outside every rule is not looked for upstream.
    other = f"{unique('no-rule')}/library/app"
    p = pull_digest(server, creds, f"{other}:1.0")
    assert p.returncode != 0
    assert b"does not exist" in p.stderr, p.stderr
    with pytest.raises(ClientError):
        ecr.describe_repositories(repositoryNames=[other])

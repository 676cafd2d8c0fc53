"""`berth up --tls` (issue 12, attack 9): a CA and a server certificate
generated into DATA_DIR/tls/, reused on restart; the aws CLI with
`--ca-bundle` works and without it fails on the certificate; `docker login`,
push and pull over TLS with the CA in /etc/docker/certs.d/HOST:PORT/ (removed
afterwards); the local agent connects over https; `berth status` trusts
`--ca-bundle`; aws:SecureTransport is true; HTTP/2 is offered by ALPN.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.parse
from pathlib import Path

import boto3
import botocore.config
import pytest
from botocore.exceptions import ClientError

from berthtest import REGION, Berth, aws_cli, berth_bin, isolate_aws_environment, unique
from test_registry import Docker, pushed_digest
from test_tasks import poll


@pytest.fixture(scope="module")
def tls_berth(tmp_path_factory):
    work = tmp_path_factory.mktemp("berth-tls")
    data = work / "data"
    data.mkdir()
    server = Berth(data_dir=data, log_path=work / "berth.log", extra_args=["--tls"]).start()
    try:
        yield server
    finally:
        server.stop()


def test_the_endpoint_is_https_with_a_generated_ca(tls_berth):
    assert tls_berth.endpoint.startswith("https://127.0.0.1:")
    tls = tls_berth.data_dir / "tls"
    for name in ("ca.pem", "server.pem", "server-key.pem", "ca-key.pem"):
        assert (tls / name).is_file(), name
        assert oct(os.stat(tls / name).st_mode & 0o777) == "0o600", name
    log = tls_berth.log_path.read_text(errors="replace")
    assert f"/etc/docker/certs.d/127.0.0.1:{tls_berth.port}/ca.crt" in log
    assert "--ca-bundle" in log


def test_the_aws_cli_needs_the_ca_bundle(tls_berth):
    assert "clusterArns" in tls_berth.aws("ecs", "list-clusters")
    env = isolate_aws_environment(dict(os.environ))
    p = subprocess.run(
        [str(aws_cli()), "--endpoint-url", tls_berth.endpoint, "ecs", "list-clusters"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode != 0
    assert "CERTIFICATE_VERIFY_FAILED" in p.stderr or "certificate verify failed" in p.stderr, p.stderr
    # Plain HTTP on the TLS port gets nothing useful either.
    http = tls_berth.endpoint.replace("https://", "http://")
    p = subprocess.run(
        [str(aws_cli()), "--endpoint-url", http, "ecs", "list-clusters"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode != 0


def test_the_local_agent_connects_over_https_and_berth_status_trusts_the_bundle(tls_berth):
    ecs = tls_berth.client("ecs")

    def connected():
        arns = ecs.list_container_instances(cluster="default")["containerInstanceArns"]
        if not arns:
            return False
        ci = ecs.describe_container_instances(cluster="default", containerInstances=arns)["containerInstances"]
        return all(c["agentConnected"] for c in ci)

    poll("the local agent connected over https", connected, 60)
    env = isolate_aws_environment(dict(os.environ))
    p = subprocess.run(
        [str(berth_bin()), "status", "--endpoint", tls_berth.endpoint, "--ca-bundle", str(tls_berth.ca_bundle)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 0, p.stderr
    assert "agent connected" in p.stdout, p.stdout
    without = subprocess.run(
        [str(berth_bin()), "status", "--endpoint", tls_berth.endpoint],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert without.returncode != 0
    assert "certificate" in without.stderr.lower() or "cannot reach" in without.stderr, without.stderr


def test_secure_transport_is_true_over_tls(tls_berth):
    iam = tls_berth.client("iam")
    name = unique("tls-user")
    iam.create_user(UserName=name)
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "ecs:ListClusters",
                "Resource": "*",
                "Condition": {"Bool": {"aws:SecureTransport": "true"}},
            },
            {
                "Effect": "Deny",
                "Action": "*",
                "Resource": "*",
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        ],
    }
    iam.put_user_policy(UserName=name, PolicyName="tls-only", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    ecs = boto3.session.Session(
        aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"], region_name=REGION
    ).client(
        "ecs",
        endpoint_url=tls_berth.endpoint,
        verify=str(tls_berth.ca_bundle),
        config=botocore.config.Config(retries={"total_max_attempts": 1}),
    )
    assert "clusterArns" in ecs.list_clusters()
    with pytest.raises(ClientError) as e:
        ecs.list_services(cluster="default")
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"


def test_http2_is_offered(tls_berth):
    if not shutil.which("curl"):
        pytest.skip("curl is not installed")
    p = subprocess.run(
        ["curl", "-sS", "--http2", "--cacert", str(tls_berth.ca_bundle), "-o", "/dev/null", "-w", "%{http_version}",
         f"{tls_berth.endpoint}/healthz"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout == "2"


def test_docker_login_push_and_pull_over_tls(tls_berth, tmp_path):
    host = urllib.parse.urlparse(tls_berth.endpoint).netloc
    certs = Path("/etc/docker/certs.d") / host
    created = not certs.exists()
    certs.mkdir(parents=True, exist_ok=True)
    shutil.copy(tls_berth.ca_bundle, certs / "ca.crt")
    config = tmp_path / "docker-config"
    config.mkdir()
    d = Docker(config)
    try:
        login = subprocess.run(
            f"'{aws_cli()}' --endpoint-url {tls_berth.endpoint} --ca-bundle '{tls_berth.ca_bundle}'"
            f" ecr get-login-password | docker login --username AWS --password-stdin {host}",
            shell=True,
            env=dict(isolate_aws_environment(dict(os.environ)), DOCKER_CONFIG=str(config)),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert login.returncode == 0, login.stderr
        assert "Login Succeeded" in login.stdout
        token = tls_berth.client("ecr").get_authorization_token()["authorizationData"][0]
        assert token["proxyEndpoint"] == f"https://{host}"
        repo = f"e2e/{unique('tls')}"
        tls_berth.client("ecr").create_repository(repositoryName=repo)
        local = f"berth-e2e-registry-{unique('tls')}:src"
        image_id = d.build(local, unique("marker"))
        ref = f"{host}/{repo}:v1"
        d.tag(local, ref)
        digest = pushed_digest(d.push(ref))
        d.rmi(ref, local)
        assert not d.exists(image_id)
        d("pull", ref)
        assert d.image_id(ref) == image_id
        described = tls_berth.client("ecr").describe_images(repositoryName=repo)["imageDetails"]
        assert [i["imageDigest"] for i in described] == [digest]
    finally:
        d.cleanup()
        if created:
            shutil.rmtree(certs, ignore_errors=True)
        else:
            (certs / "ca.crt").unlink(missing_ok=True)


def test_the_certificates_are_reused_on_restart(tls_berth):
    tls = tls_berth.data_dir / "tls"
    before = {n: (tls / n).read_bytes() for n in ("ca.pem", "server.pem")}
    tls_berth.restart()
    after = {n: (tls / n).read_bytes() for n in ("ca.pem", "server.pem")}
    assert before == after
    assert "clusterArns" in tls_berth.client("ecs").list_clusters()

"""Several regions on one server (`berth up --regions us-east-1,eu-west-1`):
each request is answered by the region its signature is scoped to, with that
region in every ARN; a region not served is refused with AWS's error; one
region never shows another's resources (ECS, ECR and its registry, Secrets
Manager, SSM); an agent joins the region it signs for; a data dir keeps its
resources in the region they were created in when the regions change."""

from __future__ import annotations

import base64
import os
import subprocess

import botocore.exceptions
import pytest
import requests

import berthtest
from berthtest import ACCOUNT, AwsCliError, berth_bin, isolate_aws_environment, unique
from test_tasks import poll, wait_status

HOME = "us-east-1"
EU = "eu-west-1"


def start(tmp_dir, *args) -> berthtest.Berth:
    data_dir = tmp_dir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    return berthtest.Berth(data_dir=data_dir, log_path=tmp_dir / "berth.log", extra_args=list(args)).start()


def finish(server: berthtest.Berth) -> None:
    if server.proc is not None and server.proc.poll() is None:
        code = server.stop()
        assert code == 0, f"berth exited with {code} after SIGTERM:\n{server.log_tail()}"


@pytest.fixture(scope="module")
def two(tmp_path_factory):
    server = start(tmp_path_factory.mktemp("berth-regions"), "--regions", f"{HOME},{EU}")
    try:
        yield server
    finally:
        finish(server)


def error_code(call) -> str:
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call()
    return e.value.response["Error"]["Code"]


def test_a_cluster_created_in_one_region_is_invisible_in_the_other(two):
    name = unique("regional")
    created = two.aws("--region", EU, "ecs", "create-cluster", "--cluster-name", name)["cluster"]
    assert created["clusterArn"] == f"arn:aws:ecs:{EU}:{ACCOUNT}:cluster/{name}"
    assert created["clusterArn"] in two.aws("--region", EU, "ecs", "list-clusters")["clusterArns"]
    home_arns = two.aws("--region", HOME, "ecs", "list-clusters")["clusterArns"]
    assert all(f":cluster/{name}" not in arn for arn in home_arns), home_arns
    described = two.client("ecs", region_name=HOME).describe_clusters(clusters=[name])
    assert described["clusters"] == []
    assert described["failures"][0]["reason"] == "MISSING"


def test_a_repository_and_its_images_belong_to_one_region(two):
    name = unique("regional-repo")
    eu_ecr = two.client("ecr", region_name=EU)
    home_ecr = two.client("ecr", region_name=HOME)
    repo = eu_ecr.create_repository(repositoryName=name)["repository"]
    assert repo["repositoryArn"] == f"arn:aws:ecr:{EU}:{ACCOUNT}:repository/{name}"
    assert error_code(lambda: home_ecr.describe_repositories(repositoryNames=[name])) == "RepositoryNotFoundException"

    # `/v2/`: a `docker login` password names the region that issued it.
    def password(ecr) -> str:
        token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
        return base64.b64decode(token).decode().split(":", 1)[1]

    url = f"{two.endpoint}/v2/{name}/tags/list"
    eu_answer = requests.get(url, auth=("AWS", password(eu_ecr)), timeout=30, verify=two.verify)
    assert eu_answer.status_code == 200, eu_answer.text
    assert eu_answer.json() == {"name": name, "tags": []}
    home_answer = requests.get(url, auth=("AWS", password(home_ecr)), timeout=30, verify=two.verify)
    assert home_answer.status_code == 404, home_answer.text
    assert home_answer.json()["errors"][0]["code"] == "NAME_UNKNOWN"


def test_secrets_and_parameters_belong_to_one_region(two):
    name = unique("regional-secret")
    eu_sm = two.client("secretsmanager", region_name=EU)
    arn = eu_sm.create_secret(Name=name, SecretString="eu only")["ARN"]
    assert arn.startswith(f"arn:aws:secretsmanager:{EU}:{ACCOUNT}:secret:{name}-")
    assert eu_sm.get_secret_value(SecretId=name)["SecretString"] == "eu only"
    home_sm = two.client("secretsmanager", region_name=HOME)
    assert error_code(lambda: home_sm.get_secret_value(SecretId=name)) == "ResourceNotFoundException"

    param = f"/{unique('regional')}/db"
    two.aws("--region", HOME, "ssm", "put-parameter", "--name", param, "--value", "home", "--type", "String")
    two.aws("--region", EU, "ssm", "put-parameter", "--name", param, "--value", "eu", "--type", "String")
    for region, value in [(HOME, "home"), (EU, "eu")]:
        got = two.aws("--region", region, "ssm", "get-parameter", "--name", param)["Parameter"]
        assert (got["Value"], got["ARN"]) == (value, f"arn:aws:ssm:{region}:{ACCOUNT}:parameter{param}")


def test_a_region_not_served_is_refused_with_awss_error(two):
    with pytest.raises(AwsCliError) as e:
        two.aws("--region", "us-west-2", "ecs", "list-clusters")
    assert e.value.code == "InvalidSignatureException"
    assert "Credential should be scoped to a valid region." in e.value.stderr
    ssm = two.client("ssm", region_name="us-west-2")
    assert error_code(lambda: ssm.describe_parameters()) == "InvalidSignatureException"
    sts = two.client("sts", region_name="us-west-2")
    assert error_code(lambda: sts.get_caller_identity()) == "SignatureDoesNotMatch"
    # IAM and STS are global: any served region works.
    assert two.client("sts", region_name=EU).get_caller_identity()["Account"] == ACCOUNT


def test_an_agent_joins_the_region_it_signs_for(two, tmp_path):
    """`berth agent --region eu-west-1` (hollow runtime: the real
    registration, session and reporting) registers in eu-west-1's cluster,
    holds its session there and runs a task."""
    name = unique("regional-agent")
    ecs = two.client("ecs", region_name=EU)
    ecs.create_cluster(clusterName=name)
    env = isolate_aws_environment(dict(os.environ))
    env.update(BERTH_LOG="info", NO_COLOR="1")
    log_path = tmp_path / "agent.log"
    cmd = [str(berth_bin()), "agent", "--server", two.endpoint, "--cluster", name, "--data-dir",
           str(tmp_path / "agent"), "--region", EU, "--runtime", "hollow", "--instances", "1",
           "--hollow-delay", "10", "--cpu", str(berthtest.TEST_AGENT_CPU), "--memory",
           str(berthtest.TEST_AGENT_MEMORY)]
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env)
    try:
        def connected():
            assert proc.poll() is None, log_path.read_text()
            arns = ecs.list_container_instances(cluster=name)["containerInstanceArns"]
            if not arns:
                return None
            ci = ecs.describe_container_instances(cluster=name, containerInstances=arns)["containerInstances"][0]
            return ci["containerInstanceArn"] if ci["agentConnected"] else None

        arn = poll("the agent to register in eu-west-1 and connect", connected, 30)
        assert arn.startswith(f"arn:aws:ecs:{EU}:{ACCOUNT}:container-instance/{name}/")
        family = unique("regional")
        ecs.register_task_definition(family=family, containerDefinitions=[{"name": "app", "image": "busybox",
                                                                           "memory": 16}])
        task = ecs.run_task(cluster=name, taskDefinition=family)["tasks"][0]
        assert task["taskArn"].startswith(f"arn:aws:ecs:{EU}:{ACCOUNT}:task/{name}/")
        wait_status(ecs, name, [task["taskArn"]], "RUNNING", 60)
        home = two.client("ecs", region_name=HOME)
        assert home.describe_clusters(clusters=[name])["clusters"] == []
        ecs.stop_task(cluster=name, task=task["taskArn"])
        wait_status(ecs, name, [task["taskArn"]], "STOPPED", 60)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


def test_a_data_dir_keeps_its_resources_in_their_region_when_regions_change(tmp_path):
    """A data dir served for one region (as every data dir was before
    --regions) keeps its resources in that region when more regions are
    served, whatever their order."""
    server = start(tmp_path)
    try:
        name = unique("before")
        server.client("ecs").create_cluster(clusterName=name)
        server.stop()
        server.extra_args = ["--regions", f"{EU},{HOME}"]
        server.start()
        home = server.client("ecs", region_name=HOME)
        assert [c["clusterName"] for c in home.describe_clusters(clusters=[name])["clusters"]] == [name]
        assert server.client("ecs", region_name=EU).describe_clusters(clusters=[name])["clusters"] == []
    finally:
        finish(server)


@pytest.mark.parametrize(
    "args, says",
    [
        (["--regions", "us-east-1,us-east-1"], "the region us-east-1 is listed twice"),
        (["--regions", "us-east-1,mars"], "'mars' is not a region name"),
        (["--region", "eu-west-1", "--regions", "us-east-1"], "cannot be used with"),
    ],
)
def test_the_regions_are_checked_before_the_server_starts(tmp_path, args, says):
    env = isolate_aws_environment(dict(os.environ))
    p = subprocess.run([str(berth_bin()), "server", "--data-dir", str(tmp_path / "data"), "--listen", "127.0.0.1:0",
                        *args], env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    assert says in p.stderr, p.stderr
    assert not (tmp_path / "data" / "state.db").exists()

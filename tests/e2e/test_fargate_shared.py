"""Fargate hosts shared by every cluster (issue 17, Build item 3: "`berth
up` gives every cluster Fargate capacity, so a newcomer's FARGATE service
runs in any cluster"), end to end on the real Docker daemon.

On a `berth up` (its local agent is a container instance of its own
cluster that also shares its Fargate capacity), a newcomer creates a
cluster with the aws CLI and a FARGATE service of 3 awsvpc tasks in it,
with no instance of its own:

- the 3 tasks run (RUNNING, launchType FARGATE, the ENI attachment with an
  address of the local agent's task subnet, no containerInstanceArn);
- ListContainerInstances of the new cluster is empty and its instance count
  0, while the local instance's remaining resources count the 3 tasks once;
- inside a task, the metadata endpoint v4 names the new cluster and the
  task-role credentials endpoint answers with the task's role (the agent
  fetches them with the task's own cluster), which STS confirms; the client
  is busybox `nc`, which half-closes the connection after its request;
- the service scales to 0 and the cluster deletes.

It reuses test_fargate.py's `berth up` fixture (its own server for this
module); its image has busybox's `nc`, which reads the agent's endpoints
inside the task (busybox's `wget` crashes under gVisor's ptrace platform).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
import uuid

import pytest

from test_fargate import (  # noqa: F401  (the fixture is used by name)
    LABEL_CLUSTER,
    LABEL_NAME,
    LABEL_TASK,
    RUN_DEADLINE,
    docker,
    fields,
    up,
)

from berthtest import ACCOUNT, REGION, default_subnet, poll, requires_docker, unique

pytestmark = requires_docker()

TRUST_ECS_TASKS = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}
END = "===END"
APPLETS = ("sh", "echo", "sleep", "printf", "nc", "tr")

# GET of an agent endpoint (`http://127.0.0.1:PORT/PATH`) with nc, its
# answer's body on one line after NAME= (busybox's wget crashes under
# gVisor's ptrace platform; nc works). $2: an Authorization header value.
GET = (
    'get() { u="${1#http://}"; hp="${u%%/*}"; '
    'printf "GET /${u#*/} HTTP/1.0\r\nHost: $hp\r\nAuthorization: $2\r\n\r\n" '
    '| nc -w 5 "${hp%:*}" "${hp#*:}" | tr -d "\r" | tr "\n" " "; }; '
)
# The metadata document of the task, then the task role's credentials from
# the agent's endpoint (both polled until they answer: the agent serves
# them in the task's namespace right after the start).
SCRIPT = (
    GET
    + 'until get "$ECS_CONTAINER_METADATA_URI_V4/task" > /tmp/task && grep -q \'"KnownStatus":"RUNNING"\' /tmp/task; '
    "do sleep 0.2; done; "
    'echo "TASK=$(cat /tmp/task)"; '
    'until get "$AWS_CONTAINER_CREDENTIALS_FULL_URI" "$AWS_CONTAINER_AUTHORIZATION_TOKEN" > /tmp/creds '
    "&& grep -q AccessKeyId /tmp/creds; do sleep 0.2; done; "
    'echo "CREDS=$(cat /tmp/creds)"; '
    f"echo {END}; exec sleep 3600"
)


def body(answer: str) -> dict:
    """The JSON body of an HTTP answer read by GET (headers, a blank line
    turned into two spaces, the body)."""
    return json.loads(answer[answer.index("{"):])


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    """A busybox-static image made here (`docker import`) with `nc`."""
    busybox = shutil.which("busybox") or "/bin/busybox"
    tar_path = tmp_path_factory.mktemp("rootfs") / "rootfs.tar"
    with tarfile.open(tar_path, "w") as tar:
        for d, mode in (("bin", 0o755), ("tmp", 0o1777)):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, mode
            tar.addfile(info)
        tar.add(busybox, arcname="bin/busybox")
        for applet in APPLETS + ("grep", "cat"):
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
    name = f"berth-e2e-fgshare-{uuid.uuid4().hex[:10]}:latest"
    docker("import", "--change", "ENV PATH=/bin", "--change", 'CMD ["sh"]', str(tar_path), name)
    try:
        yield name
    finally:
        docker("rmi", "-f", name, check=False)


def task_output(task_arns: list[str]) -> tuple[str, str]:
    """The first of the tasks' app containers to print END: its task ARN and
    its output (stdout and stderr). Under gVisor's ptrace platform every
    process a task starts is slow, more so beside a CI run's other servers
    (one CI run saw a task take 23 s to reach its credentials), hence any of
    the three and twice the run deadline."""
    last = {"out": ""}

    def printed():
        for arn in task_arns:
            ids = docker("ps", "-aq", "--filter", f"label={LABEL_TASK}={arn}", "--filter", f"label={LABEL_NAME}=app")
            if len(ids.split()) != 1:
                continue
            p = subprocess.run(["docker", "logs", ids], capture_output=True, text=True, timeout=60)
            last["out"] = p.stdout + p.stderr
            if END in last["out"]:
                return arn, last["out"]
        return None

    try:
        return poll("the output of a task", printed, 2 * RUN_DEADLINE)
    except AssertionError as e:
        raise AssertionError(f"{e}; the last container printed: {last['out']!r}") from None


def remaining_cpu(ecs, cluster: str) -> int:
    [arn] = ecs.list_container_instances(cluster=cluster)["containerInstanceArns"]
    [ci] = ecs.describe_container_instances(cluster=cluster, containerInstances=[arn])["containerInstances"]
    return {r["name"]: r.get("integerValue") for r in ci["remainingResources"]}["CPU"]


def test_a_newcomers_fargate_service_runs_in_a_cluster_with_no_instance(up, image):
    ecs, iam, server = up.ecs, up.server.client("iam"), up.server
    subnet_id = default_subnet(server)
    prod = unique("prod")
    role = unique("fg-task-role")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(TRUST_ECS_TASKS))
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/{role}"
    family = unique("fg-shared")
    app = {"name": "app", "image": image, "essential": True, "stopTimeout": 2, "command": ["sh", "-c", SCRIPT]}
    ecs.register_task_definition(
        family=family, networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
        containerDefinitions=[app], taskRoleArn=role_arn,
    )
    cpu_before = remaining_cpu(ecs, up.cluster)
    service = unique("web")
    try:
        # The newcomer's commands.
        cluster = server.aws("ecs", "create-cluster", "--cluster-name", prod)["cluster"]
        assert cluster["status"] == "ACTIVE"
        server.aws(
            "ecs", "create-service", "--cluster", prod, "--service-name", service, "--task-definition", family,
            "--desired-count", "3", "--launch-type", "FARGATE", "--network-configuration",
            f"awsvpcConfiguration={{subnets=[{subnet_id}],assignPublicIp=DISABLED}}",
        )

        def running():
            arns = ecs.list_tasks(cluster=prod, serviceName=service)["taskArns"]
            tasks = ecs.describe_tasks(cluster=prod, tasks=arns)["tasks"] if arns else []
            stopped = [t for t in tasks if t["lastStatus"] == "STOPPED"]
            if stopped:
                raise AssertionError(f"a task stopped: {json.dumps(stopped, default=str)}")
            return tasks if len(tasks) == 3 and all(t["lastStatus"] == "RUNNING" for t in tasks) else None

        tasks = poll("3 FARGATE tasks RUNNING in a cluster with no instance", running, RUN_DEADLINE)
        arns = [t["taskArn"] for t in tasks]
        up.fargate_tasks += arns
        for t in tasks:
            assert t["launchType"] == "FARGATE" and t["platformVersion"] == "1.4.0", t
            assert t["clusterArn"] == cluster["clusterArn"]
            assert "containerInstanceArn" not in t, t
            [eni] = [a for a in t["attachments"] if a["type"] == "ElasticNetworkInterface"]
            assert eni["status"] == "ATTACHED"
            details = {d["name"]: d["value"] for d in eni["details"]}
            assert details["subnetId"] == subnet_id
            assert details["privateIPv4Address"].rsplit(".", 1)[0] == up.subnet.rsplit(".", 1)[0]
        # The cluster has no container instance, of any kind.
        listed = server.aws("ecs", "list-container-instances", "--cluster", prod)
        assert listed["containerInstanceArns"] == []
        [c] = ecs.describe_clusters(clusters=[prod])["clusters"]
        assert c["registeredContainerInstancesCount"] == 0 and c["runningTasksCount"] == 3
        # The local instance carries them, counted once.
        assert remaining_cpu(ecs, up.cluster) == cpu_before - 3 * 256

        # Inside a task: the metadata names its cluster, and its role's
        # credentials come (the agent asks for them with the task's cluster).
        arn, printed = task_output(arns)
        out = fields(printed)
        doc = body(out["TASK"])
        assert doc["TaskARN"] == arn and doc["Cluster"] == cluster["clusterArn"]
        assert doc["LaunchType"] == "FARGATE"
        creds = body(out["CREDS"])
        assert creds["RoleArn"] == role_arn and creds["AccessKeyId"].startswith("ASIA")
        import boto3

        sts = boto3.session.Session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["Token"],
            region_name=REGION,
        ).client("sts", endpoint_url=server.endpoint)
        task_id = arn.rsplit("/", 1)[1]
        assert sts.get_caller_identity()["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{task_id}"

        # Scale to 0, then the cluster deletes.
        server.aws("ecs", "update-service", "--cluster", prod, "--service", service, "--desired-count", "0")
        poll(
            "the service's tasks STOPPED",
            lambda: all(t["lastStatus"] == "STOPPED" for t in ecs.describe_tasks(cluster=prod, tasks=arns)["tasks"]),
            RUN_DEADLINE,
        )
        poll("the local instance's CPU back", lambda: remaining_cpu(ecs, up.cluster) == cpu_before, RUN_DEADLINE)
        server.aws("ecs", "delete-service", "--cluster", prod, "--service", service)
        deleted = server.aws("ecs", "delete-cluster", "--cluster", prod)["cluster"]
        assert deleted["status"] == "INACTIVE"
    finally:
        # A test that failed midway leaves the service asking for tasks: it
        # goes first, so the agent starts no new container after the clean-up.
        try:
            ecs.delete_service(cluster=prod, service=service, force=True)
            poll("prod's tasks to stop",
                 lambda: not ecs.list_tasks(cluster=prod, desiredStatus="RUNNING")["taskArns"], RUN_DEADLINE)
        except Exception:  # noqa: BLE001  (already deleted, or never made)
            pass
        ids = docker("ps", "-aq", "--filter", f"label={LABEL_CLUSTER}={prod}", check=False).split()
        if ids:
            docker("rm", "-f", "-v", *ids, check=False)

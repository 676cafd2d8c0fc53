"""Custom capacity providers (issue 17 item 6, the API part), with boto3
and the aws CLI against `berth up`.

- CreateCapacityProvider over a Berth host group (`autoScalingGroupArn`: a
  group name, or an Auto Scaling group ARN ending in
  `autoScalingGroupName/NAME`), ECS's defaults filled in; DescribeCapacityProviders
  lists it beside FARGATE and FARGATE_SPOT (with TAGS when asked);
  UpdateCapacityProvider; PutClusterCapacityProviders and CreateCluster
  accept it; DeleteCapacityProvider leaves it INACTIVE and its name free.
- Bad input, with ECS's errors: reserved names (aws/ecs/fargate), invalid
  names, a duplicate, a host group already used, step sizes out of order,
  managed termination protection without managed scaling, the model's
  ranges, Managed Instances providers, deleting one a cluster uses
  (ResourceInUseException), a reserved provider, an unknown one.
- Managed scaling ENABLED without a `--capacity-hook` for the group is
  refused (nothing would add hosts); a strategy may not mix custom and
  Fargate providers, nor name two custom ones.
- Managed scaling for real (`test_managed_scaling_adds_a_host` and
  `test_managed_scaling_removes_idle_hosts` (scale-in), real
  Docker): a second server with `--capacity-hook G=hook.py` and
  `--time-scale 10`; a provider over the empty host group G; RunTask with
  it answers the task PROVISIONING on no instance; the hook is called
  (desired 1, current 0) and starts `berth agent --host-group G`; the
  task is placed on it and reaches RUNNING; `AWS/ECS/ManagedScaling`
  `CapacityProviderReservation` reads 200 (M = 1, N = 0) and then 100;
  then a service of two larger tasks on the provider: one fits beside the
  first task, the other waits and the hook is asked for a second host
  (desired 2, current 1), where it runs.

The API tests run no container: one `berth up` whose local agent serves
a cluster of its own.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import uuid

import pytest
from botocore.exceptions import ClientError

from berthtest import (
    ACCESS_KEY, REGION, SECRET_KEY, Berth, berth_bin, poll, remove_task_subnet,
    requires_docker, task_subnet, unique,
)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("berth-cp")
    (tmp / "data").mkdir()
    b = Berth(data_dir=tmp / "data", log_path=tmp / "berth.log", extra_args=["--cluster", unique("cp-up")]).start()
    try:
        yield b
    finally:
        print(f"--- server log:\n{b.log_tail(40)}")
        b.stop()


def refused(call, code: str = "InvalidParameterException", **kwargs) -> str:
    with pytest.raises(ClientError) as e:
        call(**kwargs)
    err = e.value.response["Error"]
    assert err["Code"] == code, err
    return err["Message"]


def group_arn(name: str) -> str:
    return f"arn:aws:autoscaling:us-east-1:000000000000:autoScalingGroup:0f3a2b1c-1111-2222-3333-444455556666:autoScalingGroupName/{name}"


def test_create_describe_update_associate_delete(server):
    ecs = server.client("ecs")
    name, group = unique("pool"), unique("hosts")
    cp = ecs.create_capacity_provider(
        name=name,
        autoScalingGroupProvider={"autoScalingGroupArn": group_arn(group)},
        tags=[{"key": "team", "value": "a"}],
    )["capacityProvider"]
    assert cp["name"] == name
    assert cp["capacityProviderArn"] == f"arn:aws:ecs:us-east-1:000000000000:capacity-provider/{name}"
    assert (cp["status"], cp["updateStatus"], cp["type"]) == ("ACTIVE", "CREATE_COMPLETE", "EC2_AUTOSCALING")
    p = cp["autoScalingGroupProvider"]
    assert p["autoScalingGroupArn"] == group_arn(group)
    assert p["managedScaling"] == {
        "status": "DISABLED", "targetCapacity": 100, "minimumScalingStepSize": 1,
        "maximumScalingStepSize": 10000, "instanceWarmupPeriod": 300,
    }
    assert (p["managedTerminationProtection"], p["managedDraining"]) == ("DISABLED", "ENABLED")

    listed = ecs.describe_capacity_providers()["capacityProviders"]
    names = {c["name"] for c in listed}
    assert {"FARGATE", "FARGATE_SPOT", name} <= names
    [d] = ecs.describe_capacity_providers(capacityProviders=[name], include=["TAGS"])["capacityProviders"]
    assert d["tags"] == [{"key": "team", "value": "a"}]
    [d] = ecs.describe_capacity_providers(capacityProviders=[cp["capacityProviderArn"]])["capacityProviders"]
    assert d["tags"] == [] and d["name"] == name
    assert ecs.list_tags_for_resource(resourceArn=cp["capacityProviderArn"])["tags"] == [{"key": "team", "value": "a"}]

    up = ecs.update_capacity_provider(
        name=name,
        autoScalingGroupProvider={"managedScaling": {"targetCapacity": 80, "instanceWarmupPeriod": 60},
                                  "managedDraining": "DISABLED"},
    )["capacityProvider"]
    assert up["updateStatus"] == "UPDATE_COMPLETE"
    s = up["autoScalingGroupProvider"]["managedScaling"]
    assert (s["status"], s["targetCapacity"], s["instanceWarmupPeriod"], s["maximumScalingStepSize"]) == ("DISABLED", 80, 60, 10000)
    assert up["autoScalingGroupProvider"]["managedDraining"] == "DISABLED"

    # A cluster takes it (PutClusterCapacityProviders and CreateCluster).
    cluster = unique("cp")
    ecs.create_cluster(clusterName=cluster)
    c = ecs.put_cluster_capacity_providers(
        cluster=cluster, capacityProviders=["FARGATE", name], defaultCapacityProviderStrategy=[]
    )["cluster"]
    assert c["capacityProviders"] == ["FARGATE", name]
    [d] = ecs.describe_capacity_providers(cluster=cluster, capacityProviders=[name])["capacityProviders"]
    assert d["name"] == name
    other = unique("cp2")
    assert ecs.create_cluster(clusterName=other, capacityProviders=[name])["cluster"]["capacityProviders"] == [name]

    # In use by a cluster: not deleted.
    msg = refused(ecs.delete_capacity_provider, "ResourceInUseException", capacityProvider=name)
    assert cluster in msg or other in msg, msg
    ecs.put_cluster_capacity_providers(cluster=cluster, capacityProviders=[], defaultCapacityProviderStrategy=[])
    ecs.delete_cluster(cluster=other)
    gone = ecs.delete_capacity_provider(capacityProvider=cp["capacityProviderArn"])["capacityProvider"]
    assert (gone["status"], gone["updateStatus"]) == ("INACTIVE", "DELETE_COMPLETE")
    [d] = ecs.describe_capacity_providers(capacityProviders=[name])["capacityProviders"]
    assert d["status"] == "INACTIVE"
    # An INACTIVE provider is gone for every use; its name is free again.
    msg = refused(ecs.put_cluster_capacity_providers, cluster=cluster, capacityProviders=[name], defaultCapacityProviderStrategy=[])
    assert "does not exist" in msg, msg
    refused(ecs.update_capacity_provider, name=name, autoScalingGroupProvider={"managedDraining": "ENABLED"})
    again = ecs.create_capacity_provider(name=name, autoScalingGroupProvider={"autoScalingGroupArn": group})
    assert again["capacityProvider"]["status"] == "ACTIVE"
    ecs.delete_capacity_provider(capacityProvider=name)


def test_bad_input(server):
    ecs = server.client("ecs")
    group = unique("hosts")

    def create(name, **provider):
        return ecs.create_capacity_provider(name=name, autoScalingGroupProvider={"autoScalingGroupArn": group, **provider})

    for reserved in ("aws-pool", "ECSpool", "fargate-x"):
        msg = refused(create, name=reserved)
        assert "cannot begin with 'aws', 'ecs', or 'fargate'" in msg, msg
    assert "255 characters" in refused(create, name="bad name")
    msg = refused(create, name=unique("p"), managedScaling={"minimumScalingStepSize": 5, "maximumScalingStepSize": 2})
    assert "minimumScalingStepSize" in msg, msg
    msg = refused(create, name=unique("p"), managedTerminationProtection="ENABLED")
    assert "managed termination protection" in msg, msg
    # The model's range of targetCapacity (1-100).
    msg = refused(create, name=unique("p"), managedScaling={"targetCapacity": 101})
    assert "targetCapacity" in msg, msg
    msg = refused(
        ecs.create_capacity_provider, name=unique("p"),
        autoScalingGroupProvider={"autoScalingGroupArn": "arn:aws:ec2:us-east-1:000000000000:instance/i-1"},
    )
    assert "Auto Scaling group ARN" in msg, msg
    msg = refused(ecs.create_capacity_provider, name=unique("p"))
    assert "autoScalingGroupProvider is required" in msg, msg
    msg = refused(ecs.create_capacity_provider, name=unique("p"), managedInstancesProvider={
        "infrastructureRoleArn": "arn:aws:iam::000000000000:role/r",
        "instanceLaunchTemplate": {"ec2InstanceProfileArn": "arn:aws:iam::000000000000:instance-profile/p",
                                   "networkConfiguration": {"subnets": ["subnet-1"]}},
    })
    assert "Managed Instances" in msg, msg
    # Managed scaling with no hook for the group on this server: nothing would add hosts.
    msg = refused(create, name=unique("p"), managedScaling={"status": "ENABLED", "targetCapacity": 100})
    assert f"--capacity-hook {group}=COMMAND" in msg, msg

    name = unique("pool")
    create(name)
    msg = refused(create, "ClientException", name=name)
    assert "already exists" in msg, msg
    msg = refused(ecs.create_capacity_provider, "ClientException", name=unique("p"),
                  autoScalingGroupProvider={"autoScalingGroupArn": group_arn(group)})
    assert name in msg and "already in use" in msg, msg
    msg = refused(ecs.update_capacity_provider, name=name,
                  autoScalingGroupProvider={"managedScaling": {"status": "ENABLED"}})
    assert "--capacity-hook" in msg, msg
    msg = refused(ecs.update_capacity_provider, name=name, autoScalingGroupProvider={"managedTerminationProtection": "ENABLED"})
    assert "managed termination protection" in msg, msg

    # Strategies: custom and Fargate providers are not mixed (ECS), nor two custom ones (Berth).
    other = unique("pool")
    create(other, autoScalingGroupArn=unique("hosts"))
    cluster = unique("cp")
    ecs.create_cluster(clusterName=cluster, capacityProviders=[name, other, "FARGATE"])
    td = ecs.register_task_definition(
        family=unique("cp"), containerDefinitions=[{"name": "app", "image": "busybox", "memory": 32}]
    )["taskDefinition"]["taskDefinitionArn"]
    msg = refused(ecs.run_task, cluster=cluster, taskDefinition=td,
                  capacityProviderStrategy=[{"capacityProvider": name, "weight": 1},
                                            {"capacityProvider": "FARGATE", "weight": 1}])
    assert "not both" in msg, msg
    msg = refused(ecs.put_cluster_capacity_providers, cluster=cluster, capacityProviders=[name, other],
                  defaultCapacityProviderStrategy=[{"capacityProvider": name, "weight": 1},
                                                   {"capacityProvider": other, "weight": 1}])
    assert "one custom capacity provider" in msg, msg
    msg = refused(ecs.put_cluster_capacity_providers, cluster=cluster, capacityProviders=[unique("nope")],
                  defaultCapacityProviderStrategy=[])
    assert "does not exist" in msg, msg
    ecs.delete_cluster(cluster=cluster)

    # Reserved and unknown providers.
    assert "reserved" in refused(ecs.delete_capacity_provider, capacityProvider="FARGATE")
    assert "reserved" in refused(ecs.update_capacity_provider, name="FARGATE_SPOT",
                                 autoScalingGroupProvider={"managedDraining": "ENABLED"})
    assert "does not exist" in refused(ecs.delete_capacity_provider, capacityProvider=unique("nope"))


def test_the_aws_cli_creates_and_describes(server):
    name = unique("cli-pool")
    out = server.aws("ecs", "create-capacity-provider", "--name", name,
                     "--auto-scaling-group-provider", json.dumps({"autoScalingGroupArn": unique("hosts")}))
    assert out["capacityProvider"]["status"] == "ACTIVE"
    out = server.aws("ecs", "describe-capacity-providers", "--capacity-providers", name, "FARGATE")
    assert sorted(c["name"] for c in out["capacityProviders"]) == sorted([name, "FARGATE"])
    out = server.aws("ecs", "delete-capacity-provider", "--capacity-provider", name)
    assert out["capacityProvider"]["status"] == "INACTIVE"


APPLETS = ("sh", "sleep", "true")
LABEL_CLUSTER = "com.amazonaws.ecs.cluster"

HOOK = """#!{python}
# The capacity hook of the e2e test: starts `berth agent --host-group` detached
# for each host asked for, records the call and the agents' pids.
import json, os, subprocess
cfg = json.load(open({config!r}))
env = dict(os.environ)
call = {{k: env.get(k) for k in ("BERTH_HOST_GROUP", "BERTH_CLUSTER", "BERTH_DESIRED_CAPACITY",
                                  "BERTH_CURRENT_CAPACITY", "BERTH_REMOVE_INSTANCES")}}
with open(cfg["calls"], "a") as f:
    f.write(json.dumps(call) + "\\n")
# A scale-in: stop the agents of the instances named (agent-N's pid is line N).
pids = open(cfg["pids"]).read().split() if os.path.exists(cfg["pids"]) else []
for gone in call["BERTH_REMOVE_INSTANCES"].split():
    for i, pid in enumerate(pids):
        state = json.load(open(os.path.join(cfg["dir"], "agent-%d" % i, "agent-state.json")))
        if state["instanceId"] == gone:
            os.kill(int(pid), 15)
env.update(AWS_ACCESS_KEY_ID=cfg["key"], AWS_SECRET_ACCESS_KEY=cfg["secret"], BERTH_LOG="info", NO_COLOR="1")
for i in range(int(call["BERTH_DESIRED_CAPACITY"]) - int(call["BERTH_CURRENT_CAPACITY"])):
    started = len(open(cfg["pids"]).read().split()) if os.path.exists(cfg["pids"]) else 0
    if started >= len(cfg["subnets"]):
        raise SystemExit("no task subnet left for another agent")
    data = os.path.join(cfg["dir"], "agent-%d" % started)
    os.makedirs(data)
    log = open(data + ".log", "ab")
    agent = subprocess.Popen(
        [cfg["berth"], "agent", "--host-group", call["BERTH_HOST_GROUP"], "--cluster", call["BERTH_CLUSTER"],
         "--server", cfg["endpoint"], "--data-dir", data, "--region", cfg["region"], "--cpu", "256",
         "--memory", "1024", "--task-subnet", cfg["subnets"][started]],
        stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, start_new_session=True)
    with open(cfg["pids"], "a") as f:
        f.write("%d\\n" % agent.pid)
"""


@pytest.fixture
def image(tmp_path):
    """A busybox-static image made here (`docker import`)."""
    busybox = shutil.which("busybox") or "/bin/busybox"
    tar_path = tmp_path / "rootfs.tar"
    with tarfile.open(tar_path, "w") as tar:
        for d, mode in (("bin", 0o755), ("tmp", 0o1777)):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, mode
            tar.addfile(info)
        tar.add(busybox, arcname="bin/busybox")
        for applet in APPLETS:
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
    name = f"berth-e2e-cp-{uuid.uuid4().hex[:10]}:latest"
    subprocess.run(["docker", "import", "--change", "ENV PATH=/bin", "--change", 'CMD ["sh"]', str(tar_path), name],
                   check=True, capture_output=True, timeout=120)
    try:
        yield name
    finally:
        subprocess.run(["docker", "rmi", "-f", name], capture_output=True, timeout=120)


@contextlib.contextmanager
def hooked_server(tmp_path, group: str, cluster: str, extra_args: list[str]):
    """A server with `--capacity-hook GROUP=hook.py` (the HOOK above, two task
    subnets for the agents it starts); yields it and the file of the hook's
    calls. Afterwards: the hook's agents stopped, the server stopped, the
    cluster's containers and the task subnets removed."""
    config, calls, pids = tmp_path / "hook.json", tmp_path / "calls.jsonl", tmp_path / "pids"
    hook = tmp_path / "hook.py"
    hook.write_text(HOOK.format(python=sys.executable, config=str(config)))
    hook.chmod(0o755)
    (tmp_path / "data").mkdir()
    up_subnet, up_network, _ = task_subnet()
    subnets, networks = [], []
    for _ in range(2):
        subnet, network, _ = task_subnet()
        subnets.append(subnet)
        networks.append(network)
    server = Berth(
        data_dir=tmp_path / "data", log_path=tmp_path / "berth.log",
        extra_args=["--cluster", unique("cp-up"), "--task-subnet", up_subnet, *extra_args,
                    "--capacity-hook", f"{group}={hook}"],
    ).start()
    try:
        config.write_text(json.dumps({
            "calls": str(calls), "pids": str(pids), "dir": str(tmp_path), "berth": str(berth_bin()),
            "endpoint": server.endpoint, "region": REGION, "subnets": subnets, "key": ACCESS_KEY, "secret": SECRET_KEY,
        }))
        yield server, calls
    finally:
        print(f"--- server log:\n{server.log_tail(60)}")
        for pid in (pids.read_text().split() if pids.exists() else []):
            try:
                os.kill(int(pid), signal.SIGTERM)
            except ProcessLookupError:
                pass
        for pid in (pids.read_text().split() if pids.exists() else []):
            poll_gone = lambda p=int(pid): not os.path.exists(f"/proc/{p}") or None
            try:
                poll(f"agent {pid} to exit", poll_gone, 30)
            except AssertionError:
                os.kill(int(pid), signal.SIGKILL)
        server.stop()
        ids = subprocess.run(["docker", "ps", "-aq", "--filter", f"label={LABEL_CLUSTER}={cluster}"],
                             capture_output=True, text=True, timeout=120).stdout.split()
        if ids:
            subprocess.run(["docker", "rm", "-f", "-v", *ids], capture_output=True, timeout=120)
        for network in networks:
            remove_task_subnet(network)
        remove_task_subnet(up_network)


@requires_docker()
def test_managed_scaling_adds_a_host(tmp_path, image):
    group, cluster, provider = unique("hosts"), unique("scaled"), unique("pool")
    extra = ["--time-scale", "10", "--ecs-metrics-interval-secs", "1"]
    with hooked_server(tmp_path, group, cluster, extra) as (server, calls):
        ecs = server.client("ecs")
        cp = ecs.create_capacity_provider(name=provider, autoScalingGroupProvider={
            "autoScalingGroupArn": group,
            "managedScaling": {"status": "ENABLED", "targetCapacity": 100, "instanceWarmupPeriod": 300},
        })["capacityProvider"]
        assert cp["autoScalingGroupProvider"]["managedScaling"]["status"] == "ENABLED", cp
        ecs.create_cluster(clusterName=cluster, capacityProviders=[provider])
        td = ecs.register_task_definition(family=unique("cp"), containerDefinitions=[
            {"name": "app", "image": image, "memory": 64, "cpu": 128, "command": ["sleep", "600"]},
        ])["taskDefinition"]["taskDefinitionArn"]
        start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=5)

        # No host in the group: the task waits PROVISIONING on no instance.
        out = ecs.run_task(cluster=cluster, taskDefinition=td,
                           capacityProviderStrategy=[{"capacityProvider": provider, "weight": 1}])
        assert out["failures"] == [], out
        (task,) = out["tasks"]
        assert task["lastStatus"] == "PROVISIONING" and task["desiredStatus"] == "RUNNING", task
        assert "containerInstanceArn" not in task and task["capacityProviderName"] == provider, task
        assert task["launchType"] == "EC2", task

        # The hook is called once for one host; its agent registers in the group; the task runs there.
        def running():
            t = ecs.describe_tasks(cluster=cluster, tasks=[task["taskArn"]])["tasks"][0]
            return t if t["lastStatus"] == "RUNNING" else None

        t = poll("the task to run on the host the hook added", running, 60, interval=0.5)
        lines = [json.loads(x) for x in calls.read_text().splitlines()]
        assert lines == [{"BERTH_HOST_GROUP": group, "BERTH_CLUSTER": cluster, "BERTH_DESIRED_CAPACITY": "1",
                          "BERTH_CURRENT_CAPACITY": "0", "BERTH_REMOVE_INSTANCES": ""}], lines
        (arn,) = ecs.list_container_instances(cluster=cluster)["containerInstanceArns"]
        assert t["containerInstanceArn"] == arn, t
        (inst,) = ecs.describe_container_instances(cluster=cluster, containerInstances=[arn])["containerInstances"]
        assert {"name": "berth.host-group", "value": group} in inst["attributes"], inst["attributes"]

        # CapacityProviderReservation: 200 while the task waited (M 1, N 0), then 100.
        cw = server.client("cloudwatch")

        def reservations():
            now = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=5)
            points = cw.get_metric_statistics(
                Namespace="AWS/ECS/ManagedScaling", MetricName="CapacityProviderReservation",
                Dimensions=[{"Name": "ClusterName", "Value": cluster},
                            {"Name": "CapacityProviderName", "Value": provider}],
                StartTime=start, EndTime=now, Period=1, Statistics=["Maximum"],
            )["Datapoints"]
            values = [p["Maximum"] for p in sorted(points, key=lambda p: p["Timestamp"])]
            high = values.index(200.0) if 200.0 in values else None
            return values if high is not None and 100.0 in values[high + 1:] else None

        values = poll("CapacityProviderReservation 200 then 100", reservations, 30, interval=0.5)
        assert values[-1] == 100.0, values
        assert len(calls.read_text().splitlines()) == 1

        # A service on the provider: one task fits beside the first, the other waits and the
        # hook is asked for a second host (M 2, N 1), where it then runs.
        big = ecs.register_task_definition(family=unique("cp"), containerDefinitions=[
            {"name": "app", "image": image, "memory": 512, "cpu": 128, "command": ["sleep", "600"]},
        ])["taskDefinition"]["taskDefinitionArn"]
        service = unique("svc")
        ecs.create_service(cluster=cluster, serviceName=service, taskDefinition=big, desiredCount=2,
                           capacityProviderStrategy=[{"capacityProvider": provider, "weight": 1}])

        def service_running():
            arns = ecs.list_tasks(cluster=cluster, serviceName=service)["taskArns"]
            tasks = ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"] if arns else []
            return tasks if len(tasks) == 2 and all(t["lastStatus"] == "RUNNING" for t in tasks) else None

        tasks = poll("the service's two tasks to run, one on a second host", service_running, 60, interval=0.5)
        lines = [json.loads(x) for x in calls.read_text().splitlines()]
        assert [(c["BERTH_DESIRED_CAPACITY"], c["BERTH_CURRENT_CAPACITY"]) for c in lines] == [("1", "0"), ("2", "1")], lines
        instances = ecs.list_container_instances(cluster=cluster)["containerInstanceArns"]
        assert len(instances) == 2 and {t["containerInstanceArn"] for t in tasks} == set(instances), (tasks, instances)
        assert all(t["capacityProviderName"] == provider and t["launchType"] == "EC2" for t in tasks), tasks
        ecs.update_service(cluster=cluster, service=service, desiredCount=0)
        ecs.delete_service(cluster=cluster, service=service)


@requires_docker()
def test_managed_scaling_removes_idle_hosts(tmp_path, image):
    """Scale-in: `--time-scale 60` makes ECS's 15 minutes of low
    reservation 15 s. With managed termination protection only a host
    without tasks goes: the hook is given its instance id, and once the
    hook has stopped it, the host is deregistered (INACTIVE)."""
    group, cluster, provider = unique("hosts"), unique("scaledin"), unique("pool")
    with hooked_server(tmp_path, group, cluster, ["--time-scale", "60"]) as (server, calls):
        ecs = server.client("ecs")
        # A long warm-up (50 s here) so a slow agent start is not asked for twice.
        ecs.create_capacity_provider(name=provider, autoScalingGroupProvider={
            "autoScalingGroupArn": group, "managedTerminationProtection": "ENABLED",
            "managedScaling": {"status": "ENABLED", "targetCapacity": 100, "instanceWarmupPeriod": 3000},
        })
        ecs.create_cluster(clusterName=cluster, capacityProviders=[provider])
        # Each task takes most of a host (the hook's agents have 1024 MiB).
        td = ecs.register_task_definition(family=unique("cp"), containerDefinitions=[
            {"name": "app", "image": image, "memory": 600, "cpu": 128, "command": ["sleep", "600"], "stopTimeout": 2},
        ])["taskDefinition"]["taskDefinitionArn"]
        strategy = [{"capacityProvider": provider, "weight": 1}]

        def run_one():
            (task,) = ecs.run_task(cluster=cluster, taskDefinition=td, capacityProviderStrategy=strategy)["tasks"]

            def running():
                t = ecs.describe_tasks(cluster=cluster, tasks=[task["taskArn"]])["tasks"][0]
                return t if t["lastStatus"] == "RUNNING" else None
            return poll("a task to run on a host the hook added", running, 60, interval=0.5)

        first, second = run_one(), run_one()
        hosts = ecs.list_container_instances(cluster=cluster)["containerInstanceArns"]
        assert len(hosts) == 2 and {first["containerInstanceArn"], second["containerInstanceArn"]} == set(hosts)
        described = ecs.describe_container_instances(cluster=cluster, containerInstances=hosts)["containerInstances"]
        instance_id = {i["containerInstanceArn"]: i["ec2InstanceId"] for i in described}

        def scale_ins():
            lines = [json.loads(x) for x in calls.read_text().splitlines()]
            return [c for c in lines if int(c["BERTH_DESIRED_CAPACITY"]) < int(c["BERTH_CURRENT_CAPACITY"])]

        def gone(arn):
            def check():
                (i,) = ecs.describe_container_instances(cluster=cluster, containerInstances=[arn])["containerInstances"]
                return i if i["status"] == "INACTIVE" else None
            return check

        # Both hosts busy: no scale-in. The second task stops: its host is idle, the first is
        # protected by its task; after the low reservation lasts 15 (scaled) minutes the hook
        # is asked to remove exactly the idle host.
        assert scale_ins() == []
        ecs.stop_task(cluster=cluster, task=second["taskArn"])
        idle = second["containerInstanceArn"]
        removed = poll("the idle host removed and deregistered", gone(idle), 60, interval=0.5)
        assert scale_ins() == [{"BERTH_HOST_GROUP": group, "BERTH_CLUSTER": cluster, "BERTH_DESIRED_CAPACITY": "1",
                                "BERTH_CURRENT_CAPACITY": "2", "BERTH_REMOVE_INSTANCES": instance_id[idle]}], scale_ins()
        assert removed["ec2InstanceId"] == instance_id[idle]
        assert ecs.list_container_instances(cluster=cluster)["containerInstanceArns"] == [first["containerInstanceArn"]]
        t = ecs.describe_tasks(cluster=cluster, tasks=[first["taskArn"]])["tasks"][0]
        assert t["lastStatus"] == "RUNNING", t

        # The last task stops: the group scales in to zero.
        ecs.stop_task(cluster=cluster, task=first["taskArn"])
        poll("the last host removed", gone(first["containerInstanceArn"]), 60, interval=0.5)
        assert [(c["BERTH_DESIRED_CAPACITY"], c["BERTH_CURRENT_CAPACITY"], c["BERTH_REMOVE_INSTANCES"])
                for c in scale_ins()] == [("1", "2", instance_id[idle]),
                                          ("0", "1", instance_id[first["containerInstanceArn"]])], scale_ins()
        assert ecs.list_container_instances(cluster=cluster)["containerInstanceArns"] == []

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
- What Berth does not do yet is refused, not stored: managed scaling
  ENABLED (no hook adds hosts yet) and a strategy naming a custom provider
  (tasks are not placed on host groups yet).

No container runs: one `berth up` whose local agent serves a cluster of
its own.
"""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from berthtest import Berth, unique


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
    # Not built yet: refused rather than stored.
    msg = refused(create, name=unique("p"), managedScaling={"status": "ENABLED", "targetCapacity": 100})
    assert "Managed scaling is not supported by Berth yet" in msg, msg

    name = unique("pool")
    create(name)
    msg = refused(create, "ClientException", name=name)
    assert "already exists" in msg, msg
    msg = refused(ecs.create_capacity_provider, "ClientException", name=unique("p"),
                  autoScalingGroupProvider={"autoScalingGroupArn": group_arn(group)})
    assert name in msg and "already in use" in msg, msg
    msg = refused(ecs.update_capacity_provider, name=name,
                  autoScalingGroupProvider={"managedScaling": {"status": "ENABLED"}})
    assert "Managed scaling is not supported by Berth yet" in msg, msg
    msg = refused(ecs.update_capacity_provider, name=name, autoScalingGroupProvider={"managedTerminationProtection": "ENABLED"})
    assert "managed termination protection" in msg, msg

    # A strategy naming a custom provider: refused until tasks are placed on host groups.
    cluster = unique("cp")
    ecs.create_cluster(clusterName=cluster, capacityProviders=[name])
    td = ecs.register_task_definition(
        family=unique("cp"), containerDefinitions=[{"name": "app", "image": "busybox", "memory": 32}]
    )["taskDefinition"]["taskDefinitionArn"]
    msg = refused(ecs.run_task, cluster=cluster, taskDefinition=td,
                  capacityProviderStrategy=[{"capacityProvider": name, "weight": 1}])
    assert "custom capacity providers" in msg, msg
    msg = refused(ecs.put_cluster_capacity_providers, cluster=cluster, capacityProviders=[name],
                  defaultCapacityProviderStrategy=[{"capacityProvider": name, "weight": 1}])
    assert "custom capacity providers" in msg, msg
    msg = refused(ecs.put_cluster_capacity_providers, cluster=cluster, capacityProviders=[unique("nope")],
                  defaultCapacityProviderStrategy=[])
    assert "does not exist" in msg, msg

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

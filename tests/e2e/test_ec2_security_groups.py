"""The EC2 networking API and security groups enforced on awsvpc tasks
(issue 17 item 2), end to end with the aws CLI, boto3 and real Docker:

- the API: the default VPC (172.31.0.0/16) and its `default` group (ingress
  from itself, egress anywhere), VPCs, subnets (inside the VPC, no
  overlap), security groups and their rules, tags, DescribeSecurityGroupRules,
  AWS's error codes for bad input, nothing stored by a refused call;
- enforcement: three awsvpc tasks on one agent (its own `berth agent` and
  task subnet, test_awsvpc.py's fixtures), a web task whose group lets in
  TCP 80 only from the first client's group: the first client reaches it,
  the second (another group) does not; an ingress rule for the second's
  group takes effect on the host within a second, its revocation too; a
  group in use cannot be deleted; RunTask with an unknown group is refused
  as ECS refuses it; the agent's nftables table is gone when its last
  awsvpc task stops.

Every container is labelled with its cluster and removed by the fixtures,
the agent's Docker network too; every wait is a poll with a deadline.
"""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import time
import uuid

import pytest
from botocore.exceptions import ClientError

from berthtest import AwsCliError, Berth, default_subnet, poll, requires_docker, unique
from test_awsvpc import (  # noqa: F401  (fixtures are used by name)
    LABEL_NAME,
    LABEL_TASK,
    RUN_DEADLINE,
    STOP_DEADLINE,
    details,
    docker,
    eni,
    setup,
)

pytestmark = requires_docker()

# The server's default subnet in REGIONa (set by the `server` fixture: ECS checks subnets in EC2).
SUBNET_ID = "subnet-0123456789abcdef0"
# A rule change reaches the host's filters within this long.
RULE_DEADLINE = 1.0


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    """A busybox-static image made here (`docker import`) with `timeout`
    (busybox's `wget -T` crashes when static)."""
    busybox = shutil.which("busybox") or "/bin/busybox"
    tar_path = tmp_path_factory.mktemp("rootfs") / "rootfs.tar"
    with tarfile.open(tar_path, "w") as tar:
        for d in ("bin", "www"):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        tar.add(busybox, arcname="bin/busybox")
        for applet in ("sh", "httpd", "echo", "sleep", "wget", "timeout"):
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
    name = f"berth-e2e-ec2-sg-{uuid.uuid4().hex[:10]}:latest"
    docker("import", "--change", "ENV PATH=/bin", "--change", 'CMD ["sh"]', str(tar_path), name)
    try:
        yield name
    finally:
        docker("rmi", "-f", name, check=False)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("berth-ec2-sg")
    (tmp / "data").mkdir()
    srv = Berth(data_dir=tmp / "data", log_path=tmp / "berth.log").start()
    global SUBNET_ID
    SUBNET_ID = default_subnet(srv)
    try:
        yield srv
    finally:
        srv.stop()


def code_of(call, **kwargs) -> tuple[str, str]:
    with pytest.raises(ClientError) as e:
        call(**kwargs)
    err = e.value.response["Error"]
    return err["Code"], err["Message"]


def test_the_ec2_api_with_the_cli_and_boto3(server):
    ec2 = server.client("ec2")
    # The default VPC and its default group, as the aws CLI shows them.
    vpcs = server.aws("ec2", "describe-vpcs", "--filters", "Name=is-default,Values=true")["Vpcs"]
    assert len(vpcs) == 1 and vpcs[0]["CidrBlock"] == "172.31.0.0/16" and vpcs[0]["IsDefault"] is True
    default_vpc = vpcs[0]["VpcId"]
    assert default_vpc.startswith("vpc-") and len(default_vpc) == 21
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [default_vpc]}])["Subnets"]
    assert [s["CidrBlock"] for s in subnets] == ["172.31.0.0/20"] and subnets[0]["DefaultForAz"] is True
    groups = server.aws(
        "ec2", "describe-security-groups", "--filters", f"Name=vpc-id,Values={default_vpc}", "Name=group-name,Values=default"
    )["SecurityGroups"]
    assert len(groups) == 1
    default = groups[0]
    assert default["IpPermissions"] == [
        {"IpProtocol": "-1", "UserIdGroupPairs": [{"UserId": "000000000000", "GroupId": default["GroupId"]}],
         "IpRanges": [], "Ipv6Ranges": [], "PrefixListIds": []}
    ]
    assert default["IpPermissionsEgress"][0]["IpProtocol"] == "-1"
    assert default["IpPermissionsEgress"][0]["IpRanges"] == [{"CidrIp": "0.0.0.0/0"}]

    # A VPC, a subnet inside it, and the refusals of bad ones.
    vpc = ec2.create_vpc(
        CidrBlock="10.77.0.0/16", TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "team", "Value": "blue"}]}]
    )["Vpc"]
    vpc_id = vpc["VpcId"]
    assert vpc["CidrBlock"] == "10.77.0.0/16" and vpc["IsDefault"] is False
    assert vpc["Tags"] == [{"Key": "team", "Value": "blue"}]
    assert code_of(ec2.create_vpc, CidrBlock="10.0.0.0/8")[0] == "InvalidVpc.Range"
    assert code_of(ec2.create_vpc, CidrBlock="10.77.0.1/16")[0] == "InvalidParameterValue"
    subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.77.1.0/24")["Subnet"]
    assert subnet["VpcId"] == vpc_id and subnet["AvailableIpAddressCount"] == 251
    assert code_of(ec2.create_subnet, VpcId=vpc_id, CidrBlock="10.77.1.128/25") == (
        "InvalidSubnet.Conflict", "The CIDR '10.77.1.128/25' conflicts with another subnet"
    )
    assert code_of(ec2.create_subnet, VpcId=vpc_id, CidrBlock="10.78.0.0/24")[0] == "InvalidSubnet.Range"
    assert code_of(ec2.create_subnet, VpcId="vpc-0123456789abcdef0", CidrBlock="10.77.2.0/24") == (
        "InvalidVpcID.NotFound", "The vpc ID 'vpc-0123456789abcdef0' does not exist"
    )
    assert len(ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]) == 1

    # Security groups: create, duplicate, rules, their duplicates and absences.
    web = ec2.create_security_group(GroupName="web", Description="web tier", VpcId=vpc_id)["GroupId"]
    assert code_of(ec2.create_security_group, GroupName="web", Description="again", VpcId=vpc_id) == (
        "InvalidGroup.Duplicate", f"The security group 'web' already exists for VPC '{vpc_id}'"
    )
    assert code_of(ec2.create_security_group, GroupName="sg-x", Description="x", VpcId=vpc_id)[0] == (
        "InvalidParameterValue"
    )
    with pytest.raises(AwsCliError) as e:
        server.aws("ec2", "create-security-group", "--group-name", "x", "--vpc-id", vpc_id)
    assert "description" in (e.value.message + e.value.stderr).lower()
    server.aws("ec2", "authorize-security-group-ingress", "--group-id", web, "--protocol", "tcp", "--port", "80",
               "--cidr", "10.0.0.0/8")
    with pytest.raises(AwsCliError) as e:
        server.aws("ec2", "authorize-security-group-ingress", "--group-id", web, "--protocol", "tcp", "--port", "80",
                   "--cidr", "10.0.0.0/8")
    assert e.value.code == "InvalidPermission.Duplicate"
    assert "peer: 10.0.0.0/8, TCP, from port: 80, to port: 80, ALLOW" in e.value.message
    ec2.authorize_security_group_ingress(GroupId=web, IpPermissions=[
        {"IpProtocol": "udp", "FromPort": 5000, "ToPort": 5100,
         "UserIdGroupPairs": [{"GroupId": web}], "IpRanges": [{"CidrIp": "192.0.2.0/24", "Description": "lab"}]},
    ])
    g = ec2.describe_security_groups(GroupIds=[web])["SecurityGroups"][0]
    assert g["GroupName"] == "web" and g["Description"] == "web tier" and g["VpcId"] == vpc_id
    perms = {(p["IpProtocol"], p.get("FromPort"), p.get("ToPort")): p for p in g["IpPermissions"]}
    assert perms[("tcp", 80, 80)]["IpRanges"] == [{"CidrIp": "10.0.0.0/8"}]
    assert perms[("udp", 5000, 5100)]["IpRanges"] == [{"CidrIp": "192.0.2.0/24", "Description": "lab"}]
    assert perms[("udp", 5000, 5100)]["UserIdGroupPairs"][0]["GroupId"] == web
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [web]}])["SecurityGroupRules"]
    assert sorted((r["IsEgress"], r["IpProtocol"], r["FromPort"]) for r in rules) == [
        (False, "tcp", 80), (False, "udp", 5000), (False, "udp", 5000), (True, "-1", -1)
    ]
    bad_port = {"IpProtocol": "tcp", "FromPort": 90, "ToPort": 80, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}
    assert code_of(ec2.authorize_security_group_ingress, GroupId=web, IpPermissions=[bad_port])[0] == (
        "InvalidParameterValue"
    )
    assert code_of(ec2.authorize_security_group_ingress, GroupId="sg-0123456789abcdef0", IpPermissions=[
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}
    ]) == ("InvalidGroup.NotFound", "The security group 'sg-0123456789abcdef0' does not exist")
    other_vpc_group = default["GroupId"]
    assert code_of(ec2.authorize_security_group_ingress, GroupId=web, IpPermissions=[
        {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": other_vpc_group}]}
    ])[0] == "InvalidParameterValue"
    ec2.revoke_security_group_ingress(GroupId=web, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}
    ])
    assert code_of(ec2.revoke_security_group_ingress, GroupId=web, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}
    ]) == ("InvalidPermission.NotFound", "The specified rule does not exist in this security group.")
    # Egress: a new group lets everything out until that rule is revoked.
    ec2.revoke_security_group_egress(GroupId=web, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    ec2.authorize_security_group_egress(GroupId=web, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    ])
    egress = ec2.describe_security_groups(GroupIds=[web])["SecurityGroups"][0]["IpPermissionsEgress"]
    assert [(p["IpProtocol"], p["FromPort"]) for p in egress] == [("tcp", 443)]
    assert code_of(ec2.describe_security_groups, GroupIds=["sg-0123456789abcdef0"])[0] == "InvalidGroup.NotFound"
    assert code_of(ec2.describe_security_groups, GroupIds=["web"])[0] == "InvalidGroupId.Malformed"
    assert code_of(ec2.describe_security_groups, Filters=[{"Name": "colour", "Values": ["x"]}]) == (
        "InvalidParameterValue", "The filter 'colour' is invalid"
    )

    # Tags on the three kinds of resources.
    ec2.create_tags(Resources=[web, subnet["SubnetId"]], Tags=[{"Key": "env", "Value": "test"}])
    tags = ec2.describe_tags(Filters=[{"Name": "key", "Values": ["env"]}])["Tags"]
    assert sorted((t["ResourceId"], t["ResourceType"]) for t in tags) == sorted(
        [(web, "security-group"), (subnet["SubnetId"], "subnet")]
    )
    assert ec2.describe_security_groups(Filters=[{"Name": "tag:env", "Values": ["test"]}])["SecurityGroups"][0][
        "GroupId"] == web
    ec2.delete_tags(Resources=[web], Tags=[{"Key": "env"}])
    assert [t["ResourceId"] for t in ec2.describe_tags(Filters=[{"Name": "key", "Values": ["env"]}])["Tags"]] == [
        subnet["SubnetId"]
    ]
    assert code_of(ec2.create_tags, Resources=["i-12345678"], Tags=[{"Key": "k", "Value": "v"}])[0] == "InvalidID"

    # Deletions: a VPC with dependencies, the default group, then in order.
    assert code_of(ec2.delete_vpc, VpcId=vpc_id)[0] == "DependencyViolation"
    vpc_default = ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "group-name", "Values": ["default"]}]
    )["SecurityGroups"][0]["GroupId"]
    assert code_of(ec2.delete_security_group, GroupId=vpc_default)[0] == "CannotDelete"
    ec2.delete_security_group(GroupId=web)
    ec2.delete_subnet(SubnetId=subnet["SubnetId"])
    ec2.delete_vpc(VpcId=vpc_id)
    assert code_of(ec2.describe_vpcs, VpcIds=[vpc_id])[0] == "InvalidVpcID.NotFound"
    assert code_of(ec2.delete_security_group, GroupId=vpc_default)[0] == "InvalidGroup.NotFound"
    assert code_of(ec2.delete_subnet, SubnetId=subnet["SubnetId"])[0] == "InvalidSubnetID.NotFound"


def busybox_td(ecs, image: str, name: str, command: list[str], port: int | None = None) -> str:
    c = {"name": name, "image": image, "memory": 32, "essential": True, "stopTimeout": 2, "command": command}
    if port:
        c["portMappings"] = [{"containerPort": port}]
    td = ecs.register_task_definition(family=unique(f"sg-{name}"), networkMode="awsvpc", containerDefinitions=[c])
    return td["taskDefinition"]["taskDefinitionArn"]


def container_of(task_arn: str, name: str) -> str:
    ids = docker("ps", "-q", "--filter", f"label={LABEL_TASK}={task_arn}", "--filter", f"label={LABEL_NAME}={name}")
    assert ids, f"no {name} container of {task_arn}"
    return ids.split()[0]


def fetch(container: str, ip: str) -> bool:
    """Whether `container` gets the page of http://ip/ within a second."""
    p = subprocess.run(
        ["docker", "exec", container, "timeout", "1", "wget", "-q", "-O", "-", f"http://{ip}:80/"],
        capture_output=True, text=True, timeout=30,
    )
    return p.returncode == 0 and "hello" in p.stdout


def nft_table(table: str) -> str:
    p = subprocess.run(["nft", "list", "table", "inet", table], capture_output=True, text=True, timeout=30)
    return p.stdout if p.returncode == 0 else ""


def test_security_groups_filter_awsvpc_tasks(setup, image):
    ecs, ec2 = setup.ecs, setup.server.client("ec2")
    groups = {}
    for name in ("web", "client", "other"):
        groups[name] = ec2.create_security_group(GroupName=unique(name), Description=f"{name} tasks")["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=groups["web"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "UserIdGroupPairs": [{"GroupId": groups["client"]}]}
    ])
    web_td = busybox_td(ecs, image, "web", ["sh", "-c", "echo hello > /www/index.html && exec httpd -f -p 80 -h /www"], 80)
    idle_td = busybox_td(ecs, image, "idle", ["sleep", "3600"])

    def network(group: str) -> dict:
        return {"awsvpcConfiguration": {"subnets": [SUBNET_ID], "securityGroups": [group]}}

    # Bad input: a group that does not exist, refused as ECS refuses it.
    missing = "sg-0123456789abcdef0"
    assert code_of(ecs.run_task, cluster=setup.cluster, taskDefinition=idle_td, networkConfiguration=network(missing)) == (
        "InvalidParameterException",
        f"Error retrieving security group information for [{missing}]: The security group '{missing}' does not exist",
    )
    assert ecs.list_tasks(cluster=setup.cluster)["taskArns"] == []

    arns = {}
    for name, td, group in (("web", web_td, "web"), ("client", idle_td, "client"), ("other", idle_td, "other")):
        out = ecs.run_task(cluster=setup.cluster, taskDefinition=td, networkConfiguration=network(groups[group]))
        assert out["failures"] == [], out["failures"]
        arns[name] = out["tasks"][0]["taskArn"]
    tasks = {t["taskArn"]: t for t in setup.wait_status(list(arns.values()), "RUNNING", RUN_DEADLINE)}
    ip = {name: details(eni(tasks[arn]))["privateIPv4Address"] for name, arn in arns.items()}
    client = container_of(arns["client"], "idle")
    other = container_of(arns["other"], "idle")

    # EC2 shows the tasks' interfaces with their groups.
    enis = ec2.describe_network_interfaces(Filters=[{"Name": "group-id", "Values": [groups["web"]]}])["NetworkInterfaces"]
    assert [(n["PrivateIpAddress"], n["Groups"][0]["GroupId"], n["Description"]) for n in enis] == [
        (ip["web"], groups["web"], arns["web"])
    ]
    assert enis[0]["NetworkInterfaceId"] == details(eni(tasks[arns["web"]]))["networkInterfaceId"]

    # The client's group is let in; the other's is not.
    table = "berth_sg_" + setup.bridge.removeprefix("berth")
    poll("the client to reach web through its group's rule", lambda: fetch(client, ip["web"]), RUN_DEADLINE)
    assert f"ip daddr {ip['web']} jump" in nft_table(table)
    assert not fetch(other, ip["web"]), "a task of another group reached web"

    # A rule for the other's group: on the host within a second, then traffic passes.
    other_set = "g_" + groups["other"].replace("-", "_")
    ec2.authorize_security_group_ingress(GroupId=groups["web"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "UserIdGroupPairs": [{"GroupId": groups["other"]}]}
    ])
    started = time.monotonic()
    poll("the new rule on the host", lambda: f"@{other_set} tcp dport 80 accept" in nft_table(table), RULE_DEADLINE,
         interval=0.05)
    applied_in = time.monotonic() - started
    assert fetch(other, ip["web"]), f"the rule was applied in {applied_in:.2f}s but traffic did not pass"
    print(f"authorize applied on the host in {applied_in:.3f}s")

    # Revoked: gone from the host within a second, traffic refused again.
    ec2.revoke_security_group_ingress(GroupId=groups["web"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "UserIdGroupPairs": [{"GroupId": groups["other"]}]}
    ])
    started = time.monotonic()
    poll("the rule gone from the host", lambda: f"@{other_set}" not in nft_table(table), RULE_DEADLINE, interval=0.05)
    print(f"revoke applied on the host in {time.monotonic() - started:.3f}s")
    assert not fetch(other, ip["web"])
    assert fetch(client, ip["web"])

    # A group in use cannot be deleted.
    assert code_of(ec2.delete_security_group, GroupId=groups["web"]) == (
        "DependencyViolation", f"resource {groups['web']} has a dependent object"
    )

    # Stopped: the interfaces go, the groups can be deleted, the table is removed.
    for arn in arns.values():
        ecs.stop_task(cluster=setup.cluster, task=arn)
    setup.wait_status(list(arns.values()), "STOPPED", STOP_DEADLINE)
    poll("the agent's filters removed", lambda: nft_table(table) == "", STOP_DEADLINE)
    for name in ("web", "client", "other"):
        poll(f"{name}'s group deletable", lambda g=groups[name]: delete_group(ec2, g), STOP_DEADLINE)


def delete_group(ec2, group: str) -> bool:
    try:
        ec2.delete_security_group(GroupId=group)
        return True
    except ClientError as e:
        if e.response["Error"]["Code"] != "DependencyViolation":
            raise
        return False


def test_tasks_without_groups_get_the_default_group(setup, image):
    ecs, ec2 = setup.ecs, setup.server.client("ec2")
    default = ec2.describe_security_groups(GroupNames=["default"])["SecurityGroups"][0]["GroupId"]
    web_td = busybox_td(ecs, image, "web", ["sh", "-c", "echo hello > /www/index.html && exec httpd -f -p 80 -h /www"], 80)
    idle_td = busybox_td(ecs, image, "idle", ["sleep", "3600"])
    net = {"awsvpcConfiguration": {"subnets": [SUBNET_ID]}}
    arns = [ecs.run_task(cluster=setup.cluster, taskDefinition=td, networkConfiguration=net)["tasks"][0]["taskArn"]
            for td in (web_td, idle_td)]
    tasks = setup.wait_status(arns, "RUNNING", RUN_DEADLINE)
    web_ip = details(eni(tasks[0]))["privateIPv4Address"]
    enis = ec2.describe_network_interfaces(Filters=[{"Name": "addresses.private-ip-address", "Values": [web_ip]}])
    assert [g["GroupId"] for g in enis["NetworkInterfaces"][0]["Groups"]] == [default]
    # The default group lets its own members in.
    poll("a task of the default group to reach another", lambda: fetch(container_of(arns[1], "idle"), web_ip),
         RUN_DEADLINE)

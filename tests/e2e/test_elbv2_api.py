"""The ELBv2 API (control plane) with real clients: an Application Load Balancer with a target group,
a listener and rules, targets registered, everything described, attributes
and tags changed, ELBv2's errors (duplicate name, priority in use, protocol
mismatch, unknown ARN, the model's ValidationError), deletion in order; a
second region does not see it; a user allowed only Describe* is refused
CreateLoadBalancer; without the switch the API is not served."""

from __future__ import annotations

import json
import urllib.parse
from xml.etree import ElementTree

import botocore.exceptions
import pytest

import berthtest
from berthtest import ACCOUNT, AwsCliError, free_port, free_ports, make_user, unique

HOME = "us-east-1"
EU = "eu-west-1"
NS = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"


@pytest.fixture(scope="module")
def lb(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("berth-elbv2")
    data_dir = tmp / "data"
    data_dir.mkdir()
    server = berthtest.Berth(
        data_dir=data_dir,
        log_path=tmp / "berth.log",
        extra_args=["--regions", f"{HOME},{EU}"],
    ).start()
    try:
        yield server
    finally:
        if server.proc is not None and server.proc.poll() is None:
            assert server.stop() == 0, server.log_tail()


def code_of(call, **kwargs) -> tuple[str, str]:
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call(**kwargs)
    err = e.value.response["Error"]
    return err["Code"], err["Message"]


def test_an_application_load_balancer_from_creation_to_deletion(lb):
    elb = lb.client("elbv2", region_name=HOME)
    name = unique("web")[:32]
    created = lb.aws(
        "--region", HOME, "elbv2", "create-load-balancer", "--name", name,
        "--subnets", "subnet-1", "subnet-2", "--tags", "Key=team,Value=blue",
    )["LoadBalancers"][0]
    lb_arn = created["LoadBalancerArn"]
    assert lb_arn.startswith(f"arn:aws:elasticloadbalancing:{HOME}:{ACCOUNT}:loadbalancer/app/{name}/")
    assert created["Type"] == "application"
    assert created["Scheme"] == "internet-facing"
    assert created["State"]["Code"] == "active"
    assert created["DNSName"] == f"{name}-{lb_arn.rsplit('/', 1)[1]}.{HOME}.elb.localhost"
    # Idempotent: the same name and settings answer the same load balancer.
    again = elb.create_load_balancer(Name=name, Subnets=["subnet-1", "subnet-2"])["LoadBalancers"][0]
    assert again["LoadBalancerArn"] == lb_arn
    assert code_of(elb.create_load_balancer, Name=name, Type="network")[0] == "DuplicateLoadBalancerName"

    tg = lb.aws(
        "--region", HOME, "elbv2", "create-target-group", "--name", unique("tg")[:32],
        "--protocol", "HTTP", "--port", "8080", "--vpc-id", "vpc-1", "--target-type", "instance",
    )["TargetGroups"][0]
    tg_arn = tg["TargetGroupArn"]
    assert ":targetgroup/" in tg_arn
    assert (tg["HealthCheckProtocol"], tg["HealthCheckPath"], tg["Matcher"]["HttpCode"]) == ("HTTP", "/", "200")
    assert (tg["HealthCheckIntervalSeconds"], tg["HealthCheckTimeoutSeconds"]) == (30, 6)
    assert (tg["HealthyThresholdCount"], tg["UnhealthyThresholdCount"]) == (5, 2)
    assert tg["LoadBalancerArns"] == []
    other_tg = elb.create_target_group(Name=unique("tg2")[:32], Protocol="HTTP", Port=9090, VpcId="vpc-1")
    other_tg_arn = other_tg["TargetGroups"][0]["TargetGroupArn"]
    tcp_tg = elb.create_target_group(Name=unique("tcp")[:32], Protocol="TCP", Port=9000, VpcId="vpc-1")
    tcp_tg_arn = tcp_tg["TargetGroups"][0]["TargetGroupArn"]
    assert tcp_tg["TargetGroups"][0]["HealthCheckProtocol"] == "TCP"

    elb.register_targets(TargetGroupArn=tg_arn, Targets=[{"Id": "i-0abc", "Port": 32768}, {"Id": "i-0def"}])

    # Listeners really listen: their ports are picked free at run time.
    port, tcp_port, other_port = free_ports(3)
    listener = elb.create_listener(
        LoadBalancerArn=lb_arn, Protocol="HTTP", Port=port,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg_arn}],
    )["Listeners"][0]
    listener_arn = listener["ListenerArn"]
    assert listener_arn.startswith(lb_arn.replace(":loadbalancer/", ":listener/") + "/")
    action = listener["DefaultActions"][0]
    assert action["TargetGroupArn"] == tg_arn
    assert action["ForwardConfig"]["TargetGroups"] == [{"TargetGroupArn": tg_arn, "Weight": 1}]
    assert code_of(
        elb.create_listener, LoadBalancerArn=lb_arn, Protocol="HTTP", Port=port,
        DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}],
    )[0] == "DuplicateListener"
    code, message = code_of(
        elb.create_listener, LoadBalancerArn=lb_arn, Protocol="TCP", Port=tcp_port,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": tcp_tg_arn}],
    )
    assert (code, message) == ("ValidationError", "Listener protocol 'TCP' must be one of 'HTTPS, HTTP'")
    assert code_of(
        elb.create_listener, LoadBalancerArn=lb_arn, Protocol="HTTP", Port=other_port,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": tcp_tg_arn}],
    )[0] == "IncompatibleProtocols"

    rule = lb.aws(
        "--region", HOME, "elbv2", "create-rule", "--listener-arn", listener_arn, "--priority", "10",
        "--conditions", "Field=path-pattern,Values=/api/*",
        "--actions", json.dumps([{
            "Type": "forward",
            "ForwardConfig": {
                "TargetGroups": [{"TargetGroupArn": tg_arn, "Weight": 90}, {"TargetGroupArn": other_tg_arn, "Weight": 10}],
                "TargetGroupStickinessConfig": {"Enabled": True, "DurationSeconds": 300},
            },
        }]),
    )["Rules"][0]
    assert rule["Priority"] == "10"
    assert rule["Conditions"][0]["PathPatternConfig"]["Values"] == ["/api/*"]
    weights = {t["TargetGroupArn"]: t["Weight"] for t in rule["Actions"][0]["ForwardConfig"]["TargetGroups"]}
    assert weights == {tg_arn: 90, other_tg_arn: 10}
    fixed = elb.create_rule(
        ListenerArn=listener_arn, Priority=20,
        Conditions=[{"Field": "host-header", "HostHeaderConfig": {"Values": ["old.example.com"]}}],
        Actions=[{"Type": "redirect", "RedirectConfig": {"Host": "new.example.com", "StatusCode": "HTTP_301"}}],
    )["Rules"][0]
    assert fixed["Actions"][0]["RedirectConfig"]["Path"] == "/#{path}"
    assert code_of(
        elb.create_rule, ListenerArn=listener_arn, Priority=10,
        Conditions=[{"Field": "http-request-method", "HttpRequestMethodConfig": {"Values": ["GET"]}}],
        Actions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200"}}],
    )[0] == "PriorityInUse"

    # Described as created; the default rule last.
    rules = elb.describe_rules(ListenerArn=listener_arn)["Rules"]
    assert [r["Priority"] for r in rules] == ["10", "20", "default"]
    assert rules[-1]["IsDefault"] is True
    moved = elb.set_rule_priorities(RulePriorities=[{"RuleArn": rule["RuleArn"], "Priority": 5}])["Rules"]
    assert moved[0]["Priority"] == "5"
    assert code_of(elb.set_rule_priorities, RulePriorities=[{"RuleArn": fixed["RuleArn"], "Priority": 5}])[0] == "PriorityInUse"
    described = elb.describe_load_balancers(Names=[name])["LoadBalancers"]
    assert [d["LoadBalancerArn"] for d in described] == [lb_arn]
    assert lb.aws("--region", HOME, "elbv2", "describe-listeners", "--load-balancer-arn", lb_arn)["Listeners"][0]["Port"] == port
    groups = elb.describe_target_groups(LoadBalancerArn=lb_arn)["TargetGroups"]
    assert sorted(g["TargetGroupArn"] for g in groups) == sorted([tg_arn, other_tg_arn])
    assert elb.describe_target_groups(TargetGroupArns=[tg_arn])["TargetGroups"][0]["LoadBalancerArns"] == [lb_arn]

    # Attributes: the defaults, then changed.
    attrs = {a["Key"]: a["Value"] for a in elb.describe_target_group_attributes(TargetGroupArn=tg_arn)["Attributes"]}
    assert attrs["deregistration_delay.timeout_seconds"] == "300"
    assert attrs["load_balancing.algorithm.type"] == "round_robin"
    changed = elb.modify_target_group_attributes(
        TargetGroupArn=tg_arn,
        Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "30"},
                    {"Key": "load_balancing.algorithm.type", "Value": "least_outstanding_requests"}],
    )["Attributes"]
    assert {a["Key"]: a["Value"] for a in changed}["deregistration_delay.timeout_seconds"] == "30"
    lb_attrs = {a["Key"]: a["Value"] for a in elb.describe_load_balancer_attributes(LoadBalancerArn=lb_arn)["Attributes"]}
    assert lb_attrs["idle_timeout.timeout_seconds"] == "60"
    elb.modify_load_balancer_attributes(
        LoadBalancerArn=lb_arn, Attributes=[{"Key": "idle_timeout.timeout_seconds", "Value": "120"}]
    )
    lb_attrs = {a["Key"]: a["Value"] for a in elb.describe_load_balancer_attributes(LoadBalancerArn=lb_arn)["Attributes"]}
    assert lb_attrs["idle_timeout.timeout_seconds"] == "120"
    listener_attrs = {a["Key"]: a["Value"] for a in elb.describe_listener_attributes(ListenerArn=listener_arn)["Attributes"]}
    assert listener_attrs["routing.http.response.server.enabled"] == "true"
    # The proxy always writes `Server: awselb/2.0`: another value is refused, not stored.
    code, message = code_of(
        elb.modify_listener_attributes, ListenerArn=listener_arn,
        Attributes=[{"Key": "routing.http.response.server.enabled", "Value": "false"}],
    )
    assert code == "InvalidConfigurationRequest" and "can only be 'true'" in message, message
    listener_attrs = {a["Key"]: a["Value"] for a in elb.describe_listener_attributes(ListenerArn=listener_arn)["Attributes"]}
    assert listener_attrs["routing.http.response.server.enabled"] == "true"
    assert code_of(
        elb.modify_listener_attributes, ListenerArn=listener_arn,
        Attributes=[{"Key": "tcp.idle_timeout.seconds", "Value": "100"}],
    )[0] == "InvalidConfigurationRequest"
    modified = elb.modify_target_group(TargetGroupArn=tg_arn, HealthCheckPath="/healthz", HealthCheckIntervalSeconds=10)
    assert modified["TargetGroups"][0]["HealthCheckPath"] == "/healthz"
    # The model's constraints, in ELBv2's words (sent raw: the SDKs check this range themselves).
    form = urllib.parse.urlencode({
        "Action": "ModifyTargetGroup", "Version": "2015-12-01",
        "TargetGroupArn": tg_arn, "HealthCheckIntervalSeconds": "4",
    })
    raw = lb.signed_request(None, form, service="elasticloadbalancing",
                            content_type="application/x-www-form-urlencoded; charset=utf-8")
    assert raw.status == 400, raw.text
    error = ElementTree.fromstring(raw.text).find(f"{{{NS}}}Error")
    assert error.findtext(f"{{{NS}}}Code") == "ValidationError"
    assert error.findtext(f"{{{NS}}}Message") == (
        "1 validation error detected: Value '4' at 'healthCheckIntervalSeconds' failed to satisfy constraint: "
        "Member must have value greater than or equal to 5"
    )

    # Tags.
    elb.add_tags(ResourceArns=[lb_arn, tg_arn], Tags=[{"Key": "env", "Value": "test"}])
    elb.remove_tags(ResourceArns=[lb_arn], TagKeys=["team"])
    tags = {d["ResourceArn"]: {t["Key"]: t["Value"] for t in d["Tags"]}
            for d in elb.describe_tags(ResourceArns=[lb_arn, tg_arn])["TagDescriptions"]}
    assert tags == {lb_arn: {"env": "test"}, tg_arn: {"env": "test"}}

    # Unknown ARNs.
    missing = lb_arn.rsplit("/", 1)[0] + "/0000000000000000"
    assert code_of(elb.describe_load_balancers, LoadBalancerArns=[missing])[0] == "LoadBalancerNotFound"
    assert code_of(elb.describe_listeners, ListenerArns=[listener_arn + "0"])[0] == "ListenerNotFound"
    assert code_of(elb.delete_rule, RuleArn=rule["RuleArn"] + "0")[0] == "RuleNotFound"
    elb.deregister_targets(TargetGroupArn=tg_arn, Targets=[{"Id": "i-none"}])  # not registered: already done

    # Deletion in order: a target group in use stays; the load balancer takes its listeners and rules.
    assert code_of(elb.delete_target_group, TargetGroupArn=tg_arn)[0] == "ResourceInUse"
    elb.deregister_targets(TargetGroupArn=tg_arn, Targets=[{"Id": "i-0abc", "Port": 32768}])
    elb.delete_rule(RuleArn=fixed["RuleArn"])
    assert code_of(elb.delete_rule, RuleArn=rules[-1]["RuleArn"])[0] == "OperationNotPermitted"
    elb.delete_load_balancer(LoadBalancerArn=lb_arn)
    elb.delete_load_balancer(LoadBalancerArn=lb_arn)  # already deleted: succeeds, as ELBv2 documents
    assert code_of(elb.describe_listeners, ListenerArns=[listener_arn])[0] == "ListenerNotFound"
    for arn in (tg_arn, other_tg_arn, tcp_tg_arn):
        elb.delete_target_group(TargetGroupArn=arn)
    assert code_of(elb.describe_target_groups, TargetGroupArns=[tg_arn])[0] == "TargetGroupNotFound"


def test_an_https_listener_takes_its_certificate_from_a_file(lb, tmp_path):
    elb = lb.client("elbv2", region_name=HOME)
    lb_arn = elb.create_load_balancer(Name=unique("tls")[:32])["LoadBalancers"][0]["LoadBalancerArn"]
    tg_arn = elb.create_target_group(Name=unique("tls-tg")[:32], Protocol="HTTP", Port=80)["TargetGroups"][0][
        "TargetGroupArn"
    ]
    forward = [{"Type": "forward", "TargetGroupArn": tg_arn}]
    port = free_port()
    missing = f"file://{tmp_path}/missing.pem"
    code, message = code_of(
        elb.create_listener, LoadBalancerArn=lb_arn, Protocol="HTTPS", Port=port,
        Certificates=[{"CertificateArn": missing}], DefaultActions=forward,
    )
    assert (code, message) == ("CertificateNotFound", f"Certificate '{missing}' not found")
    # A real chain and key in one file: the listener listens with them.
    pem = berthtest.self_signed_pem(tmp_path / "site.pem")
    listener = elb.create_listener(
        LoadBalancerArn=lb_arn, Protocol="HTTPS", Port=port,
        Certificates=[{"CertificateArn": f"file://{pem}"}], DefaultActions=forward,
    )["Listeners"][0]
    assert listener["Certificates"] == [{"CertificateArn": f"file://{pem}"}]
    assert listener["SslPolicy"] == "ELBSecurityPolicy-2016-08"
    # Back to HTTP: the certificate and the policy go.
    plain = elb.modify_listener(ListenerArn=listener["ListenerArn"], Protocol="HTTP")["Listeners"][0]
    assert "Certificates" not in plain and "SslPolicy" not in plain
    elb.delete_load_balancer(LoadBalancerArn=lb_arn)
    elb.delete_target_group(TargetGroupArn=tg_arn)


def test_pagination_and_a_second_region(lb):
    home = lb.client("elbv2", region_name=HOME)
    eu = lb.client("elbv2", region_name=EU)
    names = [unique(f"page{i}")[:32] for i in range(3)]
    arns = [home.create_load_balancer(Name=n, Type="network")["LoadBalancers"][0]["LoadBalancerArn"] for n in names]
    assert all(":loadbalancer/net/" in a for a in arns)
    seen, marker = [], None
    while True:
        kwargs = {"PageSize": 2, **({"Marker": marker} if marker else {})}
        page = home.describe_load_balancers(**kwargs)
        assert len(page["LoadBalancers"]) <= 2
        seen += [d["LoadBalancerArn"] for d in page["LoadBalancers"]]
        marker = page.get("NextMarker")
        if not marker:
            break
    assert set(arns) <= set(seen)
    assert all(a not in [d["LoadBalancerArn"] for d in eu.describe_load_balancers()["LoadBalancers"]] for a in arns)
    assert code_of(eu.describe_load_balancers, Names=[names[0]]) == (
        "LoadBalancerNotFound", f"Load balancers '[{names[0]}]' not found"
    )
    eu_arn = eu.create_load_balancer(Name=names[0])["LoadBalancers"][0]["LoadBalancerArn"]
    assert eu_arn.startswith(f"arn:aws:elasticloadbalancing:{EU}:")
    for arn in arns:
        home.delete_load_balancer(LoadBalancerArn=arn)
    eu.delete_load_balancer(LoadBalancerArn=eu_arn)


def test_a_user_allowed_only_describe_cannot_create(lb):
    elb = user_client(lb, [{"Effect": "Allow", "Action": "elasticloadbalancing:Describe*", "Resource": "*"}])
    elb.describe_load_balancers()
    code, message = code_of(elb.create_load_balancer, Name=unique("denied")[:32])
    assert code == "AccessDenied"
    assert "elasticloadbalancing:CreateLoadBalancer" in message


def user_client(lb, statements: list[dict]):
    """An elbv2 client of a new user whose inline policy is `statements`."""
    return make_user(lb, statements, region=HOME)[1]("elbv2")


def test_tagging_on_create_needs_add_tags_for_that_create_action(lb):
    create = {"Effect": "Allow", "Action": ["elasticloadbalancing:CreateTargetGroup"], "Resource": "*"}
    untagged_only = user_client(lb, [create])
    name = unique("tagged")[:32]
    code, message = code_of(
        untagged_only.create_target_group, Name=name, Protocol="HTTP", Port=80, Tags=[{"Key": "team", "Value": "a"}]
    )
    assert code == "AccessDenied"
    assert "elasticloadbalancing:AddTags" in message
    plain = untagged_only.create_target_group(Name=name, Protocol="HTTP", Port=80)["TargetGroups"][0]
    tagger = user_client(lb, [create, {
        "Effect": "Allow",
        "Action": "elasticloadbalancing:AddTags",
        "Resource": "*",
        "Condition": {"StringEquals": {"elasticloadbalancing:CreateAction": "CreateTargetGroup"}},
    }])
    tagged = tagger.create_target_group(
        Name=unique("tagged2")[:32], Protocol="HTTP", Port=80, Tags=[{"Key": "team", "Value": "a"}]
    )["TargetGroups"][0]
    # The condition allows tagging while creating only, not AddTags on an existing group.
    assert code_of(tagger.add_tags, ResourceArns=[plain["TargetGroupArn"]], Tags=[{"Key": "k", "Value": "v"}])[0] == "AccessDenied"
    root = lb.client("elbv2", region_name=HOME)
    for tg in (plain, tagged):
        root.delete_target_group(TargetGroupArn=tg["TargetGroupArn"])


def test_resource_tag_conditions(lb):
    root = lb.client("elbv2", region_name=HOME)
    blue = root.create_target_group(
        Name=unique("blue")[:32], Protocol="HTTP", Port=80, Tags=[{"Key": "team", "Value": "blue"}]
    )["TargetGroups"][0]["TargetGroupArn"]
    red = root.create_target_group(
        Name=unique("red")[:32], Protocol="HTTP", Port=80, Tags=[{"Key": "team", "Value": "red"}]
    )["TargetGroups"][0]["TargetGroupArn"]
    elb = user_client(lb, [
        {"Effect": "Allow", "Action": "elasticloadbalancing:ModifyTargetGroup", "Resource": "*",
         "Condition": {"StringEquals": {"aws:ResourceTag/team": "blue"}}},
        {"Effect": "Allow", "Action": "elasticloadbalancing:DeleteTargetGroup", "Resource": "*",
         "Condition": {"StringEquals": {"elasticloadbalancing:ResourceTag/team": "blue"}}},
    ])
    elb.modify_target_group(TargetGroupArn=blue, HealthCheckPath="/blue")
    assert code_of(elb.modify_target_group, TargetGroupArn=red, HealthCheckPath="/red")[0] == "AccessDenied"
    assert code_of(elb.delete_target_group, TargetGroupArn=red)[0] == "AccessDenied"
    elb.delete_target_group(TargetGroupArn=blue)
    root.delete_target_group(TargetGroupArn=red)


def test_an_unrouted_action_and_elbv2_on_every_server(lb, berth):
    with pytest.raises(AwsCliError) as e:
        # Trust stores (mutual TLS) are not served.
        lb.aws("--region", HOME, "elbv2", "describe-trust-stores")
    assert e.value.code == "InvalidAction"
    # Every server serves ELBv2 (unless started with BERTH_ELBV2=0), the
    # shared one too.
    assert isinstance(berth.client("elbv2").describe_load_balancers()["LoadBalancers"], list)

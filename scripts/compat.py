#!/usr/bin/env python3
"""Regenerates the operation tables of docs/compatibility.md.

For every AWS service model in ../shared/aws-models (the contract), lists each
operation and whether Berth routes it. "Routed" is read from the source: an
operation is supported when its name appears as a dispatch arm (`"Name" =>`,
or an IAM/STS action-enum arm `A::Name =>`) or a registration-table row
(`entry::<Name>()`, `query_entry::<S, Name>()`, or `Name(Input) => handler;` in an `operations!`
table) in the crate that serves that service. Usage:

    scripts/compat.py          # rewrite the generated part of docs/compatibility.md
    scripts/compat.py --check  # exit 1 if the doc is stale
"""
from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The models live beside the checkout (../shared/aws-models), never in it;
# BERTH_AWS_MODELS points elsewhere.
MODELS = Path(os.environ.get("BERTH_AWS_MODELS") or ROOT.parent / "shared" / "aws-models")
DOC = ROOT / "docs" / "compatibility.md"
BEGIN = "<!-- BEGIN GENERATED: scripts/compat.py -->"
END = "<!-- END GENERATED -->"

# model file -> (title, source directories whose dispatch arms name its operations)
SERVICES = {
    "ecs": ("Amazon ECS", ["crates/berth-ecs/src/routes/mod.rs"]),
    "ecr": ("Amazon ECR", ["crates/berth-registry/src/ecr/routes.rs"]),
    "iam": ("IAM", ["crates/berth-iam/src/iam.rs"]),
    "sts": ("STS", ["crates/berth-iam/src/iam.rs"]),
    "logs": ("CloudWatch Logs", ["crates/berth-logs/src/routes.rs"]),
    "cloudtrail": ("CloudTrail", ["crates/berth-audit/src/routes.rs"]),
    "ssm": ("SSM Parameter Store", ["crates/berth-secrets/src/ssm_ops.rs"]),
    "secretsmanager": ("Secrets Manager", ["crates/berth-secrets/src/sm_ops.rs"]),
    "kms": ("KMS", ["crates/berth-secrets/src/kms_ops.rs"]),
    "cloudwatch": ("CloudWatch metrics", ["crates/berth-metrics/src"]),
    "application-autoscaling": ("Application Auto Scaling", ["crates/berth-autoscaling/src"]),
    "elbv2": ("ELBv2", ["crates/berth-lb/src/routes.rs"]),
    "servicediscovery": ("Cloud Map", ["crates/berth-discovery/src"]),
    "events": ("EventBridge", ["crates/berth-events/src"]),
}

# Services with no model in ../shared/aws-models: the operations Berth serves
# of them are listed here by hand (EC2: only the networking subset awsvpc tasks
# and security groups need; every other EC2 action answers InvalidAction).
HAND_LISTED = {
    "ec2": (
        "Amazon EC2 (networking subset; no model, operations listed by hand)",
        ["crates/berth-ec2/src/routes.rs"],
        [
            "AuthorizeSecurityGroupEgress", "AuthorizeSecurityGroupIngress", "CreateSecurityGroup", "CreateSubnet",
            "DescribeAvailabilityZones",
            "CreateTags", "CreateVpc", "DeleteSecurityGroup", "DeleteSubnet", "DeleteTags", "DeleteVpc",
            "DescribeNetworkInterfaces", "DescribeSecurityGroupRules", "DescribeSecurityGroups", "DescribeSubnets",
            "DescribeTags", "DescribeVpcs", "RevokeSecurityGroupEgress", "RevokeSecurityGroupIngress",
        ],
    ),
}


def routed(dirs: list[str]) -> set[str]:
    found: set[str] = set()
    for d in dirs:
        p = ROOT / d
        files = [p] if p.is_file() else sorted(p.rglob("*.rs")) if p.exists() else []
        for f in files:
            text = f.read_text()
            # arms like `"A" | "B" => ...` name several operations
            for m in re.finditer(r'((?:"[A-Z][A-Za-z0-9]+"\s*\|\s*)*"[A-Z][A-Za-z0-9]+")\s*=>', text):
                found.update(re.findall(r'"([A-Z][A-Za-z0-9]+)"', m.group(1)))
            # a registration table's rows (`entry::<tasks::RunTask>()`, ECS;
            # `entry::<CloudTrail, LookupEvents>()`; awsQuery's
            # `query_entry::<Elbv2, rules::CreateRule>()`)
            found.update(re.findall(r'\b(?:query_)?entry::<(?:\w+,\s*)?(?:\w+::)*([A-Z][A-Za-z0-9]+)>\(\)', text))
            # an `operations!` table's rows (`PutLogEvents(PutLogEventsInput) => put_log_events;`)
            found.update(re.findall(r'^\s*([A-Z][A-Za-z0-9]+)\([\w:]+\) => \w+;', text, re.M))
            # EventBridge's rows (`PutRule(PutRuleInput) [s, i => …] => |e, x| e.put_rule(x);`)
            found.update(re.findall(r'^\s*([A-Z][A-Za-z0-9]+)\([\w:]+\) \[\w+, \w+ =>', text, re.M))
            # IAM and STS dispatch on their action enums (`A::Name =>`, `StsAction::Name =>`)
            found.update(re.findall(r'\b(?:A|IamAction|StsAction)::([A-Z][A-Za-z0-9]+)\s*=>', text))
    return found


def generate() -> str:
    out = [BEGIN, ""]
    summary = []
    sections = []
    for model, (title, dirs) in SERVICES.items():
        path = MODELS / f"{model}.json"
        if not path.exists():
            continue
        ops = sorted(json.loads(path.read_text())["operations"])
        have = routed(dirs)
        yes = [o for o in ops if o in have]
        summary.append(f"| {title} | {len(yes)} / {len(ops)} |")
        if not yes:
            sections.append(f"### {title}\n\nNot served yet: every operation answers `UnknownOperationException`.\n")
            continue
        rows = "\n".join(f"| {o} | {'yes' if o in have else 'no'} |" for o in ops)
        sections.append(f"### {title}\n\n| operation | supported |\n|---|---|\n{rows}\n")
    for title, dirs, ops in HAND_LISTED.values():
        have = routed(dirs)
        yes = [o for o in ops if o in have]
        summary.append(f"| {title} | {len(yes)} / {len(ops)} |")
        rows = "\n".join(f"| {o} | {'yes' if o in have else 'no'} |" for o in sorted(ops))
        sections.append(f"### {title}\n\n| operation | supported |\n|---|---|\n{rows}\n")
    out.append("| service | operations supported |\n|---|---|")
    out.extend(summary)
    out.append("")
    out.extend(sections)
    out.append(END)
    return "\n".join(out)


def main() -> int:
    if not MODELS.is_dir():
        why = f"the AWS models are not at {MODELS} (../shared/aws-models beside the checkout, or BERTH_AWS_MODELS)"
        if "--check" in sys.argv and not os.environ.get("CI"):
            # A plain clone has no ../shared: nothing to compare against.
            print(f"docs/compatibility.md check skipped: {why}; CI has them and checks")
            return 0
        print(f"cannot generate docs/compatibility.md: {why}", file=sys.stderr)
        return 1
    doc = DOC.read_text()
    if BEGIN not in doc or END not in doc:
        print(f"{DOC} lacks the generated markers", file=sys.stderr)
        return 1
    head, rest = doc.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    new = head + generate() + tail
    if "--check" in sys.argv:
        if new != doc:
            print("docs/compatibility.md is stale: run scripts/compat.py", file=sys.stderr)
            return 1
        print("docs/compatibility.md is up to date")
        return 0
    DOC.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())

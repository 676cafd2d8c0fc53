#!/usr/bin/env python3
"""Generates the input-validation tables of ECS, ECR, ELBv2, CloudWatch, EventBridge and Application Auto Scaling from
the AWS API models.

Reads ../shared/aws-models/{ecs,ecr,elbv2,cloudwatch,events,application-autoscaling}.json (the contract; never copied into the
project) and writes, for each service, one Rust file of static tables that
`berth_proto::validate` walks: every operation with its input shape and, once
each, every shape reachable from an input (members with their JSON names and
whether they are required — for an awsQuery model (ELBv2) the name as its
messages show it, first letter lowered: `healthCheckIntervalSeconds`; string, enum values, boolean, integer/long, float/
double, timestamp, blob, list, map, structure, union, document; the `min`/`max`
range or length and the `pattern`). For a service served over several
protocols (CloudWatch: rpcv2Cbor, awsJson 1.0, awsQuery) the output shapes
are listed too (`OUTPUTS`), so `berth_proto::bridge` can write an answer in
each protocol's forms (timestamps, blobs, `<member>` lists). Usage:

    scripts/gen_model.py          # rewrite the generated files
    scripts/gen_model.py --check  # exit 1 if a committed file is stale
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS = Path(os.environ.get("BERTH_AWS_MODELS") or ROOT.parent / "shared" / "aws-models")

# model file -> (the generated Rust file, whether output shapes are listed)
TARGETS = {
    "ecs": ("crates/berth-ecs/src/model/tables.rs", False),
    "ecr": ("crates/berth-registry/src/ecr/model/tables.rs", False),
    "elbv2": ("crates/berth-lb/src/model/tables.rs", False),
    "cloudwatch": ("crates/berth-metrics/src/model/tables.rs", True),
    "events": ("crates/berth-events/src/model/tables.rs", False),
    "application-autoscaling": ("crates/berth-autoscaling/src/model/tables.rs", False),
}


def rust_str(s: str) -> str:
    """A Rust string literal: raw when it holds a backslash or a quote."""
    if "\\" in s or '"' in s:
        hashes = "#"
        while f'"{hashes}' in s:
            hashes += "#"
        return f'r{hashes}"{s}"{hashes}'
    return f'"{s}"'


def number(v) -> str:
    """A bound as the tables hold it (f64: exact for every integer bound the models use)."""
    f = float(v)
    if f.is_integer():
        return f"{int(f)}.0"
    return repr(f)


class Tables:
    def __init__(self, model: dict):
        self.shapes = model["shapes"]
        # awsQuery messages name members with their first letter lowered.
        self.query = model["metadata"]["protocol"] == "query"
        self.index: dict[str, int] = {}
        self.order: list[str] = []

    def visit(self, name: str) -> int:
        """Assigns `name` an index, then its children (depth first, each once)."""
        if name in self.index:
            return self.index[name]
        self.index[name] = len(self.order)
        self.order.append(name)
        s = self.shapes[name]
        t = s["type"]
        if t == "structure":
            for m in s.get("members", {}).values():
                self.visit(m["shape"])
        elif t == "list":
            self.visit(s["member"]["shape"])
        elif t == "map":
            self.visit(s["key"]["shape"])
            self.visit(s["value"]["shape"])
        return self.index[name]

    def kind(self, name: str) -> str:
        s = self.shapes[name]
        t = s["type"]
        if t == "string":
            if "enum" in s:
                values = ", ".join(rust_str(v) for v in s["enum"])
                return f"Kind::Enum(&[{values}])"
            return "Kind::String"
        simple = {
            "boolean": "Kind::Boolean",
            "integer": "Kind::Integer",
            "long": "Kind::Long",
            "float": "Kind::Float",
            "double": "Kind::Double",
            "timestamp": "Kind::Timestamp",
            "blob": "Kind::Blob",
        }
        if t in simple:
            return simple[t]
        if t == "list":
            return f"Kind::List({self.index[s['member']['shape']]})"
        if t == "map":
            return f"Kind::Map({self.index[s['key']['shape']]}, {self.index[s['value']['shape']]})"
        if t == "structure":
            if s.get("document"):
                return "Kind::Document"
            required = set(s.get("required", []))
            members = []
            for mname, m in s.get("members", {}).items():
                json_name = m.get("locationName", mname)
                if self.query:
                    json_name = json_name[:1].lower() + json_name[1:]
                members.append(
                    f"Member {{ name: {rust_str(json_name)}, shape: {self.index[m['shape']]}, "
                    f"required: {'true' if mname in required else 'false'} }}"
                )
            inner = "".join(f"\n            {m}," for m in members)
            body = f"&[{inner}\n        ]" if members else "&[]"
            return f"Kind::Union({body})" if s.get("union") else f"Kind::Structure({body})"
        raise SystemExit(f"unsupported shape type {t} ({name})")

    def shape(self, name: str) -> str:
        s = self.shapes[name]
        opt = lambda v: f"Some({number(v)})" if v is not None else "None"  # noqa: E731
        pattern = f"Some({rust_str(s['pattern'])})" if "pattern" in s else "None"
        return (
            f"    // {self.index[name]}\n"
            f"    Shape {{\n"
            f"        name: {rust_str(name)},\n"
            f"        kind: {self.kind(name)},\n"
            f"        min: {opt(s.get('min'))},\n"
            f"        max: {opt(s.get('max'))},\n"
            f"        pattern: {pattern},\n"
            f"    }},\n"
        )


def generate(model_name: str, outputs: bool) -> str:
    model = json.loads((MODELS / f"{model_name}.json").read_text())
    tables = Tables(model)
    ops = []
    for name in sorted(model["operations"]):
        op = model["operations"][name]
        inp = op.get("input", {}).get("shape")
        ops.append((name, tables.visit(inp) if inp else None))
    outs = []
    if outputs:
        # After every input shape, so the inputs' indices do not depend on them.
        for name in sorted(model["operations"]):
            o = model["operations"][name].get("output", {}).get("shape")
            outs.append((name, tables.visit(o) if o else None))
    meta = model["metadata"]
    out = [
        f"//! GENERATED by scripts/gen_model.py from the {meta['serviceId']} API model "
        f"({meta['uid']}): do not edit;",
        "//! rerun the script (CI checks that this file is what it writes).",
        "",
        "use berth_proto::validate::{Kind, Member, Operation, Shape};",
        *(["use berth_proto::bridge::Output;"] if outputs else []),
        "",
        "/// Every operation of the model, sorted by name, with the index of its input shape.",
        "pub static OPERATIONS: &[Operation] = &[",
    ]
    for name, idx in ops:
        inp = f"Some({idx})" if idx is not None else "None"
        out.append(f"    Operation {{ name: {rust_str(name)}, input: {inp} }},")
    out.append("];")
    out.append("")
    if outputs:
        out.append("/// Every operation of the model, sorted by name, with the index of its output shape.")
        out.append("pub static OUTPUTS: &[Output] = &[")
        for name, idx in outs:
            o = f"Some({idx})" if idx is not None else "None"
            out.append(f"    Output {{ name: {rust_str(name)}, shape: {o} }},")
        out.append("];")
        out.append("")
    if outputs:
        # awsQuery-compatible services: each error code and the shape it is
        # (`__type` in JSON and CBOR, the code in `x-amzn-query-error`).
        errors: dict[str, str] = {}
        for name in sorted(model["shapes"]):
            shape = model["shapes"][name]
            if shape.get("exception") and "error" in shape:
                code = shape["error"].get("code", name)
                if code not in errors or name == code:
                    errors[code] = name
        out.append("/// Every error code of the model (its awsQuery code) with its shape's name, sorted by code.")
        out.append("pub static ERRORS: &[(&str, &str)] = &[")
        for code in sorted(errors):
            out.append(f"    ({rust_str(code)}, {rust_str(errors[code])}),")
        out.append("];")
        out.append("")
    reach = "an input or an output reaches" if outputs else "an input reaches"
    out.append(f"/// Every shape {reach}, once each; members and containers refer to them by index.")
    out.append("pub static SHAPES: &[Shape] = &[")
    text = "\n".join(out) + "\n"
    text += "".join(tables.shape(n) for n in tables.order)
    text += "];\n"
    return text


def main() -> int:
    check = "--check" in sys.argv
    if not MODELS.is_dir():
        why = f"the AWS models are not at {MODELS} (../shared/aws-models beside the checkout, or BERTH_AWS_MODELS)"
        if check and not os.environ.get("CI"):
            print(f"generated model tables check skipped: {why}; CI has them and checks")
            return 0
        print(f"cannot generate the model tables: {why}", file=sys.stderr)
        return 1
    stale = []
    for model_name, (target, outputs) in TARGETS.items():
        text = generate(model_name, outputs)
        path = ROOT / target
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(target)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if stale:
        print(f"stale generated model tables: {', '.join(stale)}: run scripts/gen_model.py", file=sys.stderr)
        return 1
    if check:
        print("generated model tables are up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())

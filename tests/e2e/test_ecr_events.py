"""ECR's EventBridge events (issue 18 item 4): an image pushed with skopeo
and then deleted (BatchDeleteImage by tag, then by digest through the aws
CLI) reaches a rule on `aws.ecr` as `ECR Image Action` events in ECR's
shape (one PUSH per stored manifest or tag, one DELETE per removed tag or
untagged image), delivered to a CloudWatch Logs log group. The images come
from an OCI layout written by the test (no Docker image is made)."""

from __future__ import annotations

import base64
import json
import urllib.parse

from berthtest import ACCOUNT, REGION, poll, unique
from test_ecr_lifecycle import Layout, skopeo
from test_eventbridge import group_arn, messages


def test_push_and_delete_reach_a_rule_on_aws_ecr(berth, tmp_path):
    ecr, events, logs = berth.client("ecr"), berth.client("events"), berth.client("logs")
    repo = f"e2e/{unique('events')}"
    ecr.create_repository(repositoryName=repo)
    group, rule = unique("/berth-e2e/events/ecr"), unique("ecr-actions")
    logs.create_log_group(logGroupName=group)
    pattern = {"source": ["aws.ecr"], "detail-type": ["ECR Image Action"], "detail": {"repository-name": [repo]}}
    events.put_rule(Name=rule, EventPattern=json.dumps(pattern))
    assert events.put_targets(Rule=rule, Targets=[{"Id": "g", "Arn": group_arn(group)}])["FailedEntryCount"] == 0

    host = urllib.parse.urlparse(berth.endpoint).netloc
    creds = base64.b64decode(ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]).decode()
    layout = Layout(tmp_path / "layout")
    first, second = layout.image("one"), layout.image("two")
    for ref, tag in (("one", "v1"), ("two", "v2")):
        skopeo("copy", "--preserve-digests", "--dest-tls-verify=false", "--dest-creds", creds,
               f"oci:{layout.root}:{ref}", f"docker://{host}/{repo}:{tag}")

    def details():
        return sorted((m["detail"] for m in messages(logs, group)),
                      key=lambda d: (d["action-type"] != "PUSH", d.get("image-tag", "")))

    pushes = poll("the two push events", lambda: (d := details()) and len(d) == 2 and d, deadline=20)
    manifest = "application/vnd.oci.image.manifest.v1+json"
    assert pushes == [
        {"result": "SUCCESS", "repository-name": repo, "image-digest": first["digest"], "action-type": "PUSH",
         "image-tag": "v1", "manifest-media-type": manifest, "artifact-media-type": "application/vnd.oci.image.config.v1+json"},
        {"result": "SUCCESS", "repository-name": repo, "image-digest": second["digest"], "action-type": "PUSH",
         "image-tag": "v2", "manifest-media-type": manifest, "artifact-media-type": "application/vnd.oci.image.config.v1+json"},
    ]
    ev = messages(logs, group)[0]
    assert (ev["source"], ev["detail-type"], ev["account"], ev["region"], ev["resources"]) == (
        "aws.ecr", "ECR Image Action", ACCOUNT, REGION, [])

    out = ecr.batch_delete_image(repositoryName=repo, imageIds=[{"imageTag": "v1"}])
    assert out["failures"] == []
    berth.aws("ecr", "batch-delete-image", "--repository-name", repo, "--image-ids", f"imageDigest={second['digest']}")
    got = poll("the two delete events", lambda: (d := details()) and len(d) == 4 and d, deadline=20)
    assert got[2:] == [
        {"result": "SUCCESS", "repository-name": repo, "image-digest": first["digest"], "action-type": "DELETE",
         "image-tag": "v1"},
        {"result": "SUCCESS", "repository-name": repo, "image-digest": second["digest"], "action-type": "DELETE",
         "image-tag": "v2"},
    ]

    # Pushing the same image again under its tag changes nothing: no event.
    skopeo("copy", "--preserve-digests", "--dest-tls-verify=false", "--dest-creds", creds,
           f"oci:{layout.root}:one", f"docker://{host}/{repo}:v1")
    poll("the re-push event", lambda: len(details()) == 5, deadline=20)
    skopeo("copy", "--preserve-digests", "--dest-tls-verify=false", "--dest-creds", creds,
           f"oci:{layout.root}:one", f"docker://{host}/{repo}:v1")
    # A marker pushed after the no-op arrives; the no-op sent nothing before it.
    skopeo("copy", "--preserve-digests", "--dest-tls-verify=false", "--dest-creds", creds,
           f"oci:{layout.root}:two", f"docker://{host}/{repo}:marker")
    final = poll("the marker's event", lambda: any(d.get("image-tag") == "marker" for d in details()) and details(),
                 deadline=20)
    assert len(final) == 6, final
    events.remove_targets(Rule=rule, Ids=["g"])
    events.delete_rule(Name=rule)

"""Issue 12, "The IAM boundary holds": the SigV4 gaps, authentication before
the body, registry tokens (docs/security/authentication.md).

Each test replays the attack with a real client (botocore's signer, boto3,
raw HTTP) and checks it is refused with AWS's code, and that the legitimate
request still works.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import time
import urllib.parse
import xml.etree.ElementTree as ET

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.config
import botocore.credentials
import botocore.exceptions
import pytest
import requests

from berthtest import ACCESS_KEY, ECS_TARGET, REGION, SECRET_KEY, unique

LIST_CLUSTERS = f"{ECS_TARGET}.ListClusters"
JSON = "application/x-amz-json-1.1"
FORM = "application/x-www-form-urlencoded; charset=utf-8"
CALLER_IDENTITY = b"Action=GetCallerIdentity&Version=2011-06-15"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def sign(method, url, body=b"", headers=None, *, service="ecs", key=ACCESS_KEY, secret=SECRET_KEY, token=None):
    """The headers botocore's SigV4Auth produces for this request (every header given is signed)."""
    req = botocore.awsrequest.AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    botocore.auth.SigV4Auth(botocore.credentials.Credentials(key, secret, token), service, REGION).add_auth(req)
    return dict(req.prepare().headers)


def post(berth, headers, body):
    return requests.post(f"{berth.endpoint}/", headers=headers, data=body, timeout=30)


def json_code(resp) -> str:
    return (resp.json().get("__type") or "").split("#")[-1]


def query_error(resp) -> tuple[str, str]:
    root = ET.fromstring(resp.text)
    err = root.find(".//{*}Error")
    return err.findtext("{*}Code"), err.findtext("{*}Message")


def client(berth, service, key=ACCESS_KEY, secret=SECRET_KEY, token=None):
    session = boto3.session.Session(
        aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=token, region_name=REGION
    )
    cfg = botocore.config.Config(retries={"total_max_attempts": 1})
    return session.client(service, endpoint_url=berth.endpoint, config=cfg)


def make_user(berth, name: str, policy: dict) -> tuple[str, str]:
    berth.aws("iam", "create-user", "--user-name", name)
    berth.aws("iam", "put-user-policy", "--user-name", name, "--policy-name", "p", "--policy-document", json.dumps(policy))
    key = berth.aws("iam", "create-access-key", "--user-name", name)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def delete_user(berth, name: str, key_id: str) -> None:
    berth.aws("iam", "delete-access-key", "--user-name", name, "--access-key-id", key_id)
    berth.aws("iam", "delete-user-policy", "--user-name", name, "--policy-name", "p")
    berth.aws("iam", "delete-user", "--user-name", name)


ECR_ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}]}
ECS_READ = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecs:List*", "Resource": "*"}]}


# ---- POST / : what the signature must cover ----


def test_unsigned_payload_is_refused_on_the_api(berth):
    url = f"{berth.endpoint}/"
    body = b"{}"
    headers = sign("POST", url, body, {"Content-Type": JSON, "X-Amz-Target": LIST_CLUSTERS, "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    r = post(berth, headers, body)
    assert r.status_code == 403, r.text
    assert json_code(r) == "InvalidSignatureException"
    assert "UNSIGNED-PAYLOAD" in r.json()["message"]
    # The same call with the body's hash declared is fine.
    headers = sign("POST", url, body, {"Content-Type": JSON, "X-Amz-Target": LIST_CLUSTERS, "X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest()})
    assert post(berth, headers, body).status_code == 200

    # The query protocol (STS) says it as SignatureDoesNotMatch, in XML.
    headers = sign("POST", url, CALLER_IDENTITY, {"Content-Type": FORM, "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"}, service="sts")
    r = post(berth, headers, CALLER_IDENTITY)
    assert r.status_code == 403, r.text
    assert query_error(r)[0] == "SignatureDoesNotMatch"


def test_x_amz_target_must_be_signed(berth):
    url = f"{berth.endpoint}/"
    body = b"{}"
    # Signed as a harmless call; the operation named after signing.
    headers = sign("POST", url, body, {"Content-Type": JSON})
    assert "x-amz-target" not in headers["Authorization"]
    headers["X-Amz-Target"] = f"{ECS_TARGET}.CreateCluster"
    r = post(berth, headers, body)
    assert r.status_code == 403, r.text
    assert json_code(r) == "InvalidSignatureException"
    assert "x-amz-target" in r.json()["message"]
    # Signed with the target, the request is accepted.
    headers = sign("POST", url, body, {"Content-Type": JSON, "X-Amz-Target": LIST_CLUSTERS})
    assert "x-amz-target" in headers["Authorization"]
    assert post(berth, headers, body).status_code == 200


def test_the_scope_must_name_the_service_called(berth):
    resp = berth.signed_request(LIST_CLUSTERS, "{}", service="ssm")
    assert (resp.status, resp.code) == (403, "InvalidSignatureException")
    assert resp.message == "Credential should be scoped to correct service: 'ecs'. "
    assert berth.signed_request(LIST_CLUSTERS, "{}", service="ecs").status == 200

    # A region that is not the server's.
    url = f"{berth.endpoint}/"
    req = botocore.awsrequest.AWSRequest(method="POST", url=url, data=b"{}", headers={"Content-Type": JSON, "X-Amz-Target": LIST_CLUSTERS})
    botocore.auth.SigV4Auth(botocore.credentials.Credentials(ACCESS_KEY, SECRET_KEY), "ecs", "eu-west-3").add_auth(req)
    r = post(berth, dict(req.prepare().headers), b"{}")
    assert (r.status_code, json_code(r)) == (403, "InvalidSignatureException")
    assert r.json()["message"] == "Credential should be scoped to a valid region. "

    # IAM called with a signature for ECS: the query protocol's code.
    body = b"Action=ListUsers&Version=2010-05-08"
    r = post(berth, sign("POST", url, body, {"Content-Type": FORM}, service="ecs"), body)
    assert r.status_code == 403, r.text
    assert query_error(r) == ("SignatureDoesNotMatch", "Credential should be scoped to correct service: 'iam'. ")
    assert post(berth, sign("POST", url, body, {"Content-Type": FORM}, service="iam"), body).status_code == 200


def test_long_term_keys_with_a_session_token_are_refused(berth):
    # Root's key with a made-up token, through boto3 (which signs the token header).
    with pytest.raises(botocore.exceptions.ClientError) as err:
        client(berth, "ecs", token="bogus-token").list_clusters()
    assert err.value.response["Error"]["Code"] == "UnrecognizedClientException"
    assert err.value.response["Error"]["Message"] == "The security token included in the request is invalid."
    with pytest.raises(botocore.exceptions.ClientError) as err:
        client(berth, "sts", token="bogus-token").get_caller_identity()
    assert err.value.response["Error"]["Code"] == "InvalidClientTokenId"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403

    # An IAM user's key, likewise.
    name = unique("tokenuser")
    key_id, secret = make_user(berth, name, ECS_READ)
    with pytest.raises(botocore.exceptions.ClientError) as err:
        client(berth, "ecs", key_id, secret, token="bogus-token").list_clusters()
    assert err.value.response["Error"]["Code"] == "UnrecognizedClientException"
    with pytest.raises(botocore.exceptions.ClientError) as err:
        client(berth, "sts", key_id, secret, token="bogus-token").get_caller_identity()
    assert err.value.response["Error"]["Code"] == "InvalidClientTokenId"
    # Without the token the same keys work.
    assert "clusterArns" in client(berth, "ecs", key_id, secret).list_clusters()
    assert client(berth, "sts", key_id, secret).get_caller_identity()["Arn"].endswith(f":user/{name}")
    delete_user(berth, name, key_id)


def test_query_protocol_authentication_codes(berth):
    url = f"{berth.endpoint}/"
    r = requests.post(url, data=CALLER_IDENTITY, headers={"Content-Type": FORM}, timeout=30)
    assert (r.status_code, query_error(r)[0]) == (403, "MissingAuthenticationToken")
    r = post(berth, sign("POST", url, CALLER_IDENTITY, {"Content-Type": FORM}, service="sts", key="AKIANOSUCHKEY"), CALLER_IDENTITY)
    assert (r.status_code, query_error(r)[0]) == (403, "InvalidClientTokenId")
    r = post(berth, sign("POST", url, CALLER_IDENTITY, {"Content-Type": FORM}, service="sts", secret="wrong"), CALLER_IDENTITY)
    assert (r.status_code, query_error(r)[0]) == (403, "SignatureDoesNotMatch")
    assert post(berth, sign("POST", url, CALLER_IDENTITY, {"Content-Type": FORM}, service="sts"), CALLER_IDENTITY).status_code == 200


# ---- /v2/ : the body must be the one that was signed ----


def v2_signed(method, url, body=b"", headers=None, **kw):
    """A /v2/ request signed for ECR with the body's hash in x-amz-content-sha256."""
    h = dict(headers or {})
    h.setdefault("X-Amz-Content-SHA256", hashlib.sha256(body).hexdigest())
    return sign(method, url, body, h, service="ecr", **kw)


def q(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def manifest_for(config_digest: str, size: int, note: str) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": size},
            "layers": [],
            "annotations": {"note": note},
        }
    ).encode()


def test_replayed_v2_requests_with_another_body_store_nothing(berth):
    base = berth.endpoint
    repo = unique("sigv4-replay")
    berth.client("ecr").create_repository(repositoryName=repo)
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
    # botocore signs the query as written: write it encoded, as SDKs do.
    url = f"{base}/v2/{repo}/blobs/uploads/?digest={q(config_digest)}"
    r = requests.post(url, data=config, headers=v2_signed("POST", url, config), timeout=30)
    assert r.status_code == 201, r.text

    # A tag pushed with a signed manifest PUT...
    good = manifest_for(config_digest, len(config), "the original")
    url = f"{base}/v2/{repo}/manifests/v1"
    captured = v2_signed("PUT", url, good, {"Content-Type": MANIFEST})
    r = requests.put(url, data=good, headers=captured, timeout=30)
    assert r.status_code == 201, r.text
    good_digest = r.headers["Docker-Content-Digest"]

    # ...replayed with the same headers and another manifest: refused.
    evil = manifest_for(config_digest, len(config), "the attacker's")
    r = requests.put(url, data=evil, headers=captured, timeout=30)
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["code"] == "DIGEST_INVALID"
    assert "x-amz-content-sha256" in r.json()["errors"][0]["message"]
    # The tag still points at the original; the other manifest is not stored.
    get_headers = {"Accept": MANIFEST}
    r = requests.get(url, headers={**v2_signed("GET", url, b"", get_headers), **get_headers}, timeout=30)
    assert r.status_code == 200 and r.headers["Docker-Content-Digest"] == good_digest
    evil_url = f"{base}/v2/{repo}/manifests/sha256:{hashlib.sha256(evil).hexdigest()}"
    r = requests.get(evil_url, headers={**v2_signed("GET", evil_url, b"", get_headers), **get_headers}, timeout=30)
    assert r.status_code == 404, r.text
    images = berth.client("ecr").list_images(repositoryName=repo)["imageIds"]
    assert [i["imageDigest"] for i in images] == [good_digest]

    # A manifest PUT may not leave its body unsigned.
    unsigned = sign("PUT", url, evil, {"Content-Type": MANIFEST, "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"}, service="ecr")
    r = requests.put(url, data=evil, headers=unsigned, timeout=30)
    assert r.status_code == 401, r.text
    assert "UNSIGNED-PAYLOAD" in r.json()["errors"][0]["message"]

    # A blob chunk: the captured PATCH replayed with other bytes appends nothing.
    url = f"{base}/v2/{repo}/blobs/uploads/"
    r = requests.post(url, headers=v2_signed("POST", url), timeout=30)
    assert r.status_code == 202, r.text
    location = urllib.parse.urljoin(base, r.headers["Location"])
    chunk = b"the real layer bytes " * 1000
    captured = v2_signed("PATCH", location, chunk, {"Content-Type": "application/octet-stream"})
    r = requests.patch(location, data=chunk, headers=captured, timeout=30)
    assert r.status_code == 202 and r.headers["Range"] == f"0-{len(chunk) - 1}", r.text
    other = b"X" * len(chunk)
    r = requests.patch(location, data=other, headers=captured, timeout=30)
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["code"] == "DIGEST_INVALID"
    r = requests.get(location, headers=v2_signed("GET", location), timeout=30)
    assert r.status_code == 204 and r.headers["Range"] == f"0-{len(chunk) - 1}", "nothing was appended"
    # The upload completes with the real bytes only.
    digest = "sha256:" + hashlib.sha256(chunk).hexdigest()
    done = f"{location}?digest={q(digest)}"
    r = requests.put(done, headers=v2_signed("PUT", done), timeout=30)
    assert r.status_code == 201, r.text
    blob = f"{base}/v2/{repo}/blobs/{digest}"
    r = requests.get(blob, headers=v2_signed("GET", blob), timeout=30)
    assert r.status_code == 200 and r.content == chunk

    # A monolithic blob upload replayed with another body: refused, nothing stored.
    data = b"monolithic blob"
    d = "sha256:" + hashlib.sha256(data).hexdigest()
    url = f"{base}/v2/{repo}/blobs/uploads/?digest={q(d)}"
    captured = v2_signed("POST", url, data)
    r = requests.post(url, data=b"another blob!!!", headers=captured, timeout=30)
    assert r.status_code == 400, r.text
    blob = f"{base}/v2/{repo}/blobs/{d}"
    assert requests.head(blob, headers=v2_signed("HEAD", blob), timeout=30).status_code == 404
    blobs = berth.data_dir / "registry" / "blobs"
    assert not list(blobs.rglob(hashlib.sha256(b"another blob!!!").hexdigest() + "*"))

    # The scope must say ecr.
    r = requests.get(blob, headers=sign("GET", blob, service="ecs"), timeout=30)
    assert r.status_code == 401 and "'ecr'" in r.json()["errors"][0]["message"]


# ---- registry tokens are bound to the principal's unique id ----


def basic(password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"AWS:{password}".encode()).decode()}


def registry_password(ecr) -> str:
    token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
    user, password = base64.b64decode(token).decode().split(":", 1)
    assert user == "AWS"
    return password


def test_token_of_a_deleted_or_recreated_user_is_refused(berth):
    name = unique("ecruser")
    key_id, secret = make_user(berth, name, ECR_ALL)
    old = registry_password(client(berth, "ecr", key_id, secret))
    base = f"{berth.endpoint}/v2/"
    assert requests.get(base, headers=basic(old), timeout=30).status_code == 200

    delete_user(berth, name, key_id)
    r = requests.get(base, headers=basic(old), timeout=30)
    assert r.status_code == 401, "the token of a deleted user"
    assert r.json()["errors"][0]["code"] == "UNAUTHORIZED"

    # Re-created under the same name (same ARN): the old token is still refused.
    key_id, secret = make_user(berth, name, ECR_ALL)
    r = requests.get(base, headers=basic(old), timeout=30)
    assert r.status_code == 401, "the re-created user inherits nothing"
    assert "no longer exists" in r.json()["errors"][0]["message"]
    new = registry_password(client(berth, "ecr", key_id, secret))
    assert requests.get(base, headers=basic(new), timeout=30).status_code == 200
    delete_user(berth, name, key_id)


# ---- authentication before the body; the body budget ----


def rss_kib(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


BODY = 10 * 1024 * 1024 - 1


def flood(host: str, port: int, headers: str, count: int, seconds: float, pid: int, during) -> int:
    """Opens `count` connections that each send `headers` and then up to BODY
    bytes of a body (one byte short of the declared length, so none ends),
    for at most `seconds`; then, with the connections still open, calls
    `during()`. Returns the peak RSS seen (KiB)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.create_connection((host, port), timeout=5)
            socks.append([s, 0])
            s.sendall(headers.encode())
            s.setblocking(False)
        chunk = b"x" * 65536
        peak = rss_kib(pid)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and any(0 <= sent < BODY for _, sent in socks):
            for entry in socks:
                s, sent = entry
                if not 0 <= sent < BODY:
                    continue
                try:
                    entry[1] += s.send(chunk[: BODY - sent])
                except BlockingIOError:
                    pass
                except OSError:
                    entry[1] = -1  # the server answered and closed it: refused early
            peak = max(peak, rss_kib(pid))
            time.sleep(0.01)
        # Let the server take in what was sent, then act while all is held.
        settle = time.monotonic() + 2
        while time.monotonic() < settle:
            peak = max(peak, rss_kib(pid))
            time.sleep(0.05)
        during()
        return max(peak, rss_kib(pid))
    finally:
        for s, _ in socks:
            s.close()


def test_unauthenticated_bodies_are_not_buffered(fresh_berth):
    berth = fresh_berth
    ecs = berth.client("ecs")
    ecs.list_clusters()
    pid = berth.proc.pid
    url = urllib.parse.urlparse(berth.endpoint)

    def list_clusters():
        # A signed call answers while the connections hold their bodies.
        assert "clusterArns" in ecs.list_clusters()

    before = rss_kib(pid)
    unsigned = (
        f"POST / HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Type: {JSON}\r\n"
        f"X-Amz-Target: {LIST_CLUSTERS}\r\nContent-Length: {10 * 1024 * 1024}\r\n\r\n"
    )
    peak = flood(url.hostname, url.port, unsigned, 100, 20.0, pid, list_clusters)
    grown_mib = (peak - before) / 1024
    print(f"unauthenticated flood: RSS {before // 1024} MiB, +{grown_mib:.1f} MiB at peak")
    assert grown_mib < 100, f"RSS grew by {grown_mib:.0f} MiB under 100 unauthenticated 10 MiB bodies"

    # A known access key with a bogus signature gets its body read (the HMAC
    # needs it), but only within the server's body budget.
    amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    forged = (
        f"POST / HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Type: {JSON}\r\n"
        f"X-Amz-Target: {LIST_CLUSTERS}\r\nX-Amz-Date: {amz_date}\r\n"
        f"Authorization: AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{amz_date[:8]}/{REGION}/ecs/aws4_request, "
        f"SignedHeaders=host;x-amz-date;x-amz-target, Signature={'0' * 64}\r\n"
        f"Content-Length: {10 * 1024 * 1024}\r\n\r\n"
    )
    before = rss_kib(pid)
    peak = flood(url.hostname, url.port, forged, 100, 20.0, pid, list_clusters)
    grown_mib = (peak - before) / 1024
    print(f"forged-signature flood: RSS {before // 1024} MiB, +{grown_mib:.1f} MiB at peak")
    assert grown_mib < 100, f"RSS grew by {grown_mib:.0f} MiB under 100 forged-signature 10 MiB bodies"
    assert "clusterArns" in ecs.list_clusters()

"""KMS-encrypted ECR repositories (issue 18 item 7), end to end: a
repository created with `encryptionType KMS` (the AWS managed key
`aws/ecr`, created on first use, or a key of the caller's) stores its
layers and configs encrypted (a data key per blob from KMS, AES-256-GCM in
chunks), so no file under the server's data dir holds the plaintext layer
pushed with skopeo; a pull gives back the same digests and bytes; a user
allowed to pull from ECR but denied `kms:Decrypt` on the key cannot pull;
bad encryption configurations answer as ECR does.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import urllib.parse
from pathlib import Path

import pytest
import requests
from botocore.exceptions import ClientError

import berthtest
from berthtest import ACCOUNT, REGION, make_user, unique
from test_ecr_lifecycle import Layout, skopeo


def creds_of(ecr) -> str:
    token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
    return base64.b64decode(token).decode()


def host_of(berth) -> str:
    return urllib.parse.urlparse(berth.endpoint).netloc


def every_file(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


@pytest.fixture(scope="module")
def pushed(berth, tmp_path_factory):
    """An image pushed into a KMS repository (default key) and one into a
    repository under a customer key."""
    ecr = berth.client("ecr")
    default_repo = f"e2e/{unique('kms')}"
    out = berth.aws("ecr", "create-repository", "--repository-name", default_repo,
                    "--encryption-configuration", "encryptionType=KMS")
    enc = out["repository"]["encryptionConfiguration"]
    key = berth.client("kms").create_key(Description="berth e2e ecr")["KeyMetadata"]
    own_repo = f"e2e/{unique('kms-own')}"
    own = ecr.create_repository(repositoryName=own_repo,
                                encryptionConfiguration={"encryptionType": "KMS", "kmsKey": key["KeyId"]})
    layout = Layout(tmp_path_factory.mktemp("layout"))
    image = layout.image("app")
    creds = creds_of(ecr)
    for repo in (default_repo, own_repo):
        skopeo("copy", "--preserve-digests", "--dest-tls-verify=false", "--dest-creds", creds,
               f"oci:{layout.root}:app", f"docker://{host_of(berth)}/{repo}:1")
    return {"default": default_repo, "own": own_repo, "enc": enc, "key": key,
            "own_enc": own["repository"]["encryptionConfiguration"], "layout": layout, "image": image,
            "creds": creds}


def test_repositories_show_their_key(berth, pushed):
    managed = berth.client("kms").describe_key(KeyId="alias/aws/ecr")["KeyMetadata"]
    assert pushed["enc"] == {"encryptionType": "KMS", "kmsKey": managed["Arn"]}
    assert managed["KeyManager"] == "AWS"
    assert pushed["own_enc"] == {"encryptionType": "KMS", "kmsKey": pushed["key"]["Arn"]}
    described = berth.client("ecr").describe_repositories(repositoryNames=[pushed["default"]])
    assert described["repositories"][0]["encryptionConfiguration"] == pushed["enc"]


def test_no_file_on_disk_holds_the_plaintext_layers(berth, pushed):
    blobs = pushed["layout"].blobs
    layer_digests = [pushed["layout"].base["digest"], *pushed["image"]["own"]]
    plaintexts = [(blobs / d.split(":", 1)[1]).read_bytes() for d in layer_digests]
    assert all(len(p) >= 512 for p in plaintexts[:2])
    encrypted = every_file(berth.data_dir / "registry" / "kms-blobs")
    assert len(encrypted) >= 2 * len(plaintexts), encrypted  # each blob under each key
    for path in every_file(berth.data_dir):
        if path.suffix in (".db", ".db-wal", ".db-shm", ".log") or path.stat().st_size > 64 << 20:
            continue
        data = path.read_bytes()
        for plain in plaintexts:
            assert plain[:512] not in data, f"{path} holds a plaintext blob"


def test_a_pull_decrypts_to_the_same_digests(berth, pushed, tmp_path):
    for repo in (pushed["default"], pushed["own"]):
        out = tmp_path / repo.replace("/", "_")
        skopeo("copy", "--preserve-digests", "--src-tls-verify=false", "--src-creds", pushed["creds"],
               f"docker://{host_of(berth)}/{repo}:1", f"oci:{out}:app")
        index = json.loads((out / "index.json").read_text())
        assert index["manifests"][0]["digest"] == pushed["image"]["digest"]
        for d in [pushed["layout"].base["digest"], *pushed["image"]["own"]]:
            got = (out / "blobs" / "sha256" / d.split(":", 1)[1]).read_bytes()
            assert "sha256:" + hashlib.sha256(got).hexdigest() == d
    # A layer by range (Docker resumes this way).
    d = pushed["layout"].base["digest"]
    raw = berth.client("ecr").get_download_url_for_layer(repositoryName=pushed["default"], layerDigest=d)
    whole = requests.get(raw["downloadUrl"], timeout=30)
    assert whole.status_code == 200 and "sha256:" + hashlib.sha256(whole.content).hexdigest() == d
    part = requests.get(raw["downloadUrl"], headers={"Range": "bytes=100-299"}, timeout=30)
    assert part.status_code == 206 and part.content == whole.content[100:300]


def test_a_user_denied_kms_decrypt_cannot_pull(berth, pushed):
    repo_arn = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{pushed['own']}"
    pull = [{"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
            {"Effect": "Allow", "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
                                           "ecr:BatchCheckLayerAvailability"], "Resource": repo_arn},
            {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}]
    key_arn = pushed["key"]["Arn"]
    _, allowed = make_user(berth, pull)
    _, denied = make_user(berth, pull + [{"Effect": "Deny", "Action": "kms:Decrypt", "Resource": key_arn}])
    ref = f"docker://{host_of(berth)}/{pushed['own']}:1"

    def inspect(client):
        return subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", "--creds",
                               creds_of(client("ecr")), ref], capture_output=True, timeout=60)

    ok = inspect(allowed)
    assert ok.returncode == 0, ok.stderr
    p = inspect(denied)
    assert p.returncode != 0
    assert b"kms:Decrypt" in p.stderr and key_arn.encode() in p.stderr, p.stderr
    with pytest.raises(ClientError) as e:
        denied("ecr").get_download_url_for_layer(repositoryName=pushed["own"],
                                                 layerDigest=pushed["layout"].base["digest"])
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "kms:Decrypt" in e.value.response["Error"]["Message"]


def test_bad_encryption_configurations(berth):
    ecr = berth.client("ecr")
    cases = [
        ({"encryptionType": "KMS_DSSE"}, "InvalidParameterException", "dual-layer"),
        ({"encryptionType": "KMS", "kmsKey": "alias/does-not-exist"}, "KmsException", "alias/does-not-exist"),
        ({"encryptionType": "AES256", "kmsKey": "alias/aws/ecr"}, "InvalidParameterException", "kmsKey"),
    ]
    for config, code, words in cases:
        name = f"e2e/{unique('kms-bad')}"
        with pytest.raises(ClientError) as e:
            ecr.create_repository(repositoryName=name, encryptionConfiguration=config)
        err = e.value.response["Error"]
        assert err["Code"] == code and words in err["Message"], (config, err)
        with pytest.raises(ClientError):
            ecr.describe_repositories(repositoryNames=[name])

"""KMS, SSM Parameter Store and Secrets Manager against a shared `berth up`,
with boto3 and the aws CLI; finally, no SecureString or secret value is
found in clear anywhere under the server's data dir."""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
import subprocess
import tarfile
import time
import uuid
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from berthtest import ACCOUNT, REGION, AwsCliError, unique

# Every clear value the tests store encrypted; the last test looks for them on disk.
CLEAR_VALUES: list[str] = []


def secret_value(prefix: str) -> str:
    v = f"{prefix}-{unique('clear')}-{os.urandom(8).hex()}"
    CLEAR_VALUES.append(v)
    return v


def code(err: ClientError) -> str:
    return err.response["Error"]["Code"]


# ---- KMS ----


def test_kms_key_alias_and_encrypt_decrypt_round_trip(berth, tmp_path):
    kms = berth.client("kms")
    key = kms.create_key(Description="e2e key", Tags=[{"TagKey": "suite", "TagValue": "e2e"}])["KeyMetadata"]
    assert key["KeyState"] == "Enabled" and key["KeyManager"] == "CUSTOMER"
    assert key["Arn"] == f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{key['KeyId']}"
    alias = f"alias/{unique('e2e')}"
    kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    for ref in (key["KeyId"], key["Arn"], alias, f"arn:aws:kms:{REGION}:{ACCOUNT}:{alias}"):
        assert kms.describe_key(KeyId=ref)["KeyMetadata"]["KeyId"] == key["KeyId"]
    assert any(a["AliasName"] == alias for a in kms.list_aliases(KeyId=key["KeyId"])["Aliases"])
    assert any(k["KeyId"] == key["KeyId"] for k in kms.list_keys(Limit=1000)["Keys"])
    with pytest.raises(ClientError) as e:
        kms.create_alias(AliasName="alias/aws/mine", TargetKeyId=key["KeyId"])
    assert code(e.value) == "InvalidAliasNameException"
    with pytest.raises(ClientError) as e:
        kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    assert code(e.value) == "AlreadyExistsException"

    ctx = {"purpose": "e2e"}
    blob = kms.encrypt(KeyId=alias, Plaintext=b"attack at dawn", EncryptionContext=ctx)["CiphertextBlob"]
    assert b"attack at dawn" not in blob
    out = kms.decrypt(CiphertextBlob=blob, EncryptionContext=ctx)
    assert out["Plaintext"] == b"attack at dawn" and out["KeyId"] == key["Arn"]

    # Tampering, or the wrong context, is refused.
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    for bad_blob, bad_ctx in ((tampered, ctx), (blob, {"purpose": "other"}), (blob, {})):
        with pytest.raises(ClientError) as e:
            kms.decrypt(CiphertextBlob=bad_blob, EncryptionContext=bad_ctx)
        assert code(e.value) == "InvalidCiphertextException"

    dk = kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256")
    assert len(dk["Plaintext"]) == 32
    assert kms.decrypt(CiphertextBlob=dk["CiphertextBlob"])["Plaintext"] == dk["Plaintext"]
    assert len(kms.generate_data_key(KeyId=key["KeyId"], NumberOfBytes=64)["Plaintext"]) == 64

    # The aws CLI (v1 sends a blob argument's text as is; fileb:// for binary).
    enc = berth.aws("kms", "encrypt", "--key-id", alias, "--plaintext", "cli text")
    blob_file = tmp_path / "blob.bin"
    blob_file.write_bytes(base64.b64decode(enc["CiphertextBlob"]))
    dec = berth.aws("kms", "decrypt", "--ciphertext-blob", f"fileb://{blob_file}")
    assert base64.b64decode(dec["Plaintext"]) == b"cli text"

    # Deletion: scheduled, the key refuses work, cancelling leaves it disabled.
    with pytest.raises(ClientError) as e:
        kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=6)
    assert code(e.value) == "ValidationException"
    out = kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    assert out["KeyState"] == "PendingDeletion" and out["PendingWindowInDays"] == 7
    with pytest.raises(ClientError) as e:
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    assert code(e.value) == "KMSInvalidStateException"
    kms.cancel_key_deletion(KeyId=key["KeyId"])
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Disabled"
    kms.delete_alias(AliasName=alias)
    with pytest.raises(ClientError) as e:
        kms.describe_key(KeyId=alias)
    assert code(e.value) == "NotFoundException"


def test_kms_master_key_file_is_private(berth):
    berth.client("kms").list_keys()
    p = Path(berth.data_dir) / "kms-master.key"
    assert p.stat().st_size == 32
    assert stat.S_IMODE(p.stat().st_mode) == 0o600


# ---- SSM Parameter Store ----


def test_ssm_secure_string_versions_labels_and_paths(berth):
    ssm = berth.client("ssm")
    base = f"/{unique('e2e')}"
    v1, v2 = secret_value("ssm-v1"), secret_value("ssm-v2")
    name = f"{base}/db/password"
    assert ssm.put_parameter(Name=name, Value=v1, Type="SecureString", Description="db")["Version"] == 1
    with pytest.raises(ClientError) as e:
        ssm.put_parameter(Name=name, Value=v2, Type="SecureString")
    assert code(e.value) == "ParameterAlreadyExists"
    with pytest.raises(ClientError) as e:
        ssm.put_parameter(Name=name, Value=v2, Overwrite=True, Tags=[{"Key": "a", "Value": "b"}])
    assert code(e.value) == "ValidationException"
    assert ssm.put_parameter(Name=name, Value=v2, Overwrite=True)["Version"] == 2

    clear = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]
    assert clear["Value"] == v2 and clear["Type"] == "SecureString" and clear["Version"] == 2
    assert clear["ARN"] == f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{name}"
    hidden = ssm.get_parameter(Name=name)["Parameter"]["Value"]
    assert v2 not in hidden and base64.b64decode(hidden)  # the ciphertext, base64
    assert ssm.get_parameter(Name=f"{name}:1", WithDecryption=True)["Parameter"]["Value"] == v1

    out = ssm.label_parameter_version(Name=name, ParameterVersion=1, Labels=["stable", "1bad"])
    assert out["InvalidLabels"] == ["1bad"] and out["ParameterVersion"] == 1
    got = ssm.get_parameters(Names=[f"{name}:stable", f"{name}:9", f"{base}/missing"], WithDecryption=True)
    assert [p["Value"] for p in got["Parameters"]] == [v1]
    assert sorted(got["InvalidParameters"]) == sorted([f"{name}:9", f"{base}/missing"])
    with pytest.raises(ClientError) as e:
        ssm.get_parameter(Name=f"{name}:9")
    assert code(e.value) == "ParameterVersionNotFound"

    history = ssm.get_parameter_history(Name=name, WithDecryption=True)["Parameters"]
    assert [(h["Version"], h["Value"], h["Labels"]) for h in history] == [(1, v1, ["stable"]), (2, v2, [])]

    # A hierarchy: by path, one level or recursive, paginated.
    ssm.put_parameter(Name=f"{base}/db/host", Value="db.local", Type="String")
    ssm.put_parameter(Name=f"{base}/db/ports", Value="5432,5433", Type="StringList")
    ssm.put_parameter(Name=f"{base}/top", Value="t", Type="String")
    one = ssm.get_parameters_by_path(Path=base)["Parameters"]
    assert [p["Name"] for p in one] == [f"{base}/top"]
    names, token, pages = [], None, 0
    while True:
        kw = {"NextToken": token} if token else {}
        page = ssm.get_parameters_by_path(Path=base, Recursive=True, MaxResults=2, WithDecryption=True, **kw)
        names += [(p["Name"], p["Value"]) for p in page["Parameters"]]
        pages += 1
        token = page.get("NextToken")
        if not token:
            break
    assert pages == 2
    assert dict(names) == {f"{base}/db/host": "db.local", f"{base}/db/password": v2, f"{base}/db/ports": "5432,5433", f"{base}/top": "t"}

    described = ssm.describe_parameters(
        ParameterFilters=[{"Key": "Path", "Option": "Recursive", "Values": [base]}, {"Key": "Type", "Values": ["SecureString"]}]
    )["Parameters"]
    assert [(d["Name"], d["KeyId"], d["Version"]) for d in described] == [(name, "alias/aws/ssm", 2)]

    # The CLI, and deletion.
    cli = berth.aws("ssm", "get-parameter", "--name", name, "--with-decryption")
    assert cli["Parameter"]["Value"] == v2
    deleted = ssm.delete_parameters(Names=[f"{base}/top", f"{base}/nope"])
    assert deleted["DeletedParameters"] == [f"{base}/top"] and deleted["InvalidParameters"] == [f"{base}/nope"]
    ssm.delete_parameter(Name=f"{base}/db/host")
    with pytest.raises(ClientError) as e:
        ssm.delete_parameter(Name=f"{base}/db/host")
    assert code(e.value) == "ParameterNotFound"
    with pytest.raises(AwsCliError) as e:
        berth.aws("ssm", "put-parameter", "--name", "aws-reserved", "--value", "x", "--type", "String")
    assert e.value.code == "ValidationException"


def test_ssm_secure_string_with_customer_key(berth):
    kms, ssm = berth.client("kms"), berth.client("ssm")
    key = kms.create_key()["KeyMetadata"]
    name = f"/{unique('e2e')}/k"
    v = secret_value("ssm-cmk")
    ssm.put_parameter(Name=name, Value=v, Type="SecureString", KeyId=key["KeyId"])
    assert ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"] == v
    kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    with pytest.raises(ClientError) as e:
        ssm.get_parameter(Name=name, WithDecryption=True)
    assert code(e.value) == "KMSInvalidStateException"


def test_ssm_reads_are_authorized_per_parameter_arn(berth):
    """A user allowed ssm:GetParameter on one hierarchy only is refused elsewhere."""
    iam, ssm = berth.client("iam"), berth.client("ssm")
    base = f"/{unique('authz')}"
    ssm.put_parameter(Name=f"{base}/open/a", Value="va", Type="String")
    ssm.put_parameter(Name=f"{base}/closed/b", Value="vb", Type="String")
    user = unique("ssm-reader")
    iam.create_user(UserName=user)
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "ssm:GetParameter",
                "Resource": f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{base}/open/*",
            }
        ],
    }
    iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    reader = berth.client("ssm", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    assert reader.get_parameter(Name=f"{base}/open/a")["Parameter"]["Value"] == "va"
    with pytest.raises(ClientError) as e:
        reader.get_parameter(Name=f"{base}/closed/b")
    assert code(e.value) == "AccessDeniedException"
    assert f"parameter{base}/closed/b" in str(e.value)


# ---- Secrets Manager ----


def test_secrets_manager_versions_stages_delete_restore(berth):
    sm = berth.client("secretsmanager")
    name = f"e2e/{unique('db')}"
    s1, s2 = secret_value("sm-v1"), secret_value("sm-v2")
    created = sm.create_secret(Name=name, SecretString=s1, Description="e2e", Tags=[{"Key": "team", "Value": "a"}])
    assert created["ARN"].startswith(f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{name}-")
    assert len(created["ARN"].rsplit("-", 1)[1]) == 6
    with pytest.raises(ClientError) as e:
        sm.create_secret(Name=name, SecretString="x")
    assert code(e.value) == "ResourceExistsException"

    got = sm.get_secret_value(SecretId=name)
    assert got["SecretString"] == s1 and got["VersionStages"] == ["AWSCURRENT"] and got["VersionId"] == created["VersionId"]
    put = sm.put_secret_value(SecretId=created["ARN"], SecretString=s2)
    assert sm.get_secret_value(SecretId=name)["SecretString"] == s2
    prev = sm.get_secret_value(SecretId=name, VersionStage="AWSPREVIOUS")
    assert prev["SecretString"] == s1 and prev["VersionId"] == created["VersionId"]
    assert sm.get_secret_value(SecretId=name, VersionId=put["VersionId"])["SecretString"] == s2
    stages = sm.describe_secret(SecretId=name)["VersionIdsToStages"]
    assert stages == {created["VersionId"]: ["AWSPREVIOUS"], put["VersionId"]: ["AWSCURRENT"]}

    sm.update_secret(SecretId=name, Description="changed")
    assert sm.describe_secret(SecretId=name)["Description"] == "changed"
    sm.tag_resource(SecretId=name, Tags=[{"Key": "env", "Value": "prod"}])
    sm.untag_resource(SecretId=name, TagKeys=["team"])
    assert sm.describe_secret(SecretId=name)["Tags"] == [{"Key": "env", "Value": "prod"}]
    listed = sm.list_secrets(Filters=[{"Key": "name", "Values": [name]}])["SecretList"]
    assert [s["Name"] for s in listed] == [name]

    # Binary secrets, and the CLI.
    bname = f"e2e/{unique('bin')}"
    sm.create_secret(Name=bname, SecretBinary=b"\x00\x01binary")
    assert sm.get_secret_value(SecretId=bname)["SecretBinary"] == b"\x00\x01binary"
    assert berth.aws("secretsmanager", "get-secret-value", "--secret-id", name)["SecretString"] == s2

    # Delete with a recovery window, refused reads, restore.
    with pytest.raises(ClientError) as e:
        sm.delete_secret(SecretId=name, RecoveryWindowInDays=3)
    assert code(e.value) == "InvalidParameterException"
    deleted = sm.delete_secret(SecretId=name, RecoveryWindowInDays=7)
    assert deleted["Name"] == name
    with pytest.raises(ClientError) as e:
        sm.get_secret_value(SecretId=name)
    assert code(e.value) == "InvalidRequestException" and "marked for deletion" in str(e.value)
    assert name not in [s["Name"] for s in sm.list_secrets(Filters=[{"Key": "name", "Values": [name]}])["SecretList"]]
    sm.restore_secret(SecretId=name)
    assert sm.get_secret_value(SecretId=name)["SecretString"] == s2
    sm.delete_secret(SecretId=bname, ForceDeleteWithoutRecovery=True)
    with pytest.raises(ClientError) as e:
        sm.describe_secret(SecretId=bname)
    assert code(e.value) == "ResourceNotFoundException"


def test_list_secrets_paginates(berth):
    sm = berth.client("secretsmanager")
    prefix = f"e2e-page-{unique('p')}"
    for i in range(3):
        sm.create_secret(Name=f"{prefix}/{i}", SecretString=secret_value("page"))
    seen, token = [], None
    while True:
        kw = {"NextToken": token} if token else {}
        page = sm.list_secrets(MaxResults=2, Filters=[{"Key": "name", "Values": [prefix]}], **kw)
        seen += [s["Name"] for s in page["SecretList"]]
        token = page.get("NextToken")
        if not token:
            break
    assert seen == [f"{prefix}/{i}" for i in range(3)]


# ---- at rest ----


def test_zz_no_clear_values_under_data_dir(berth):
    """Runs last in this file: every stored value was written by the tests above.
    Reads every file under the data dir (SQLite files, WAL, logs, audit) as bytes."""
    assert len(CLEAR_VALUES) >= 6
    needles = [v.encode() for v in CLEAR_VALUES]
    scanned = 0
    # Berth's own log (outside the data dir) must not carry them either.
    for path in [Path(berth.log_path), *Path(berth.data_dir).rglob("*")]:
        if not path.is_file():
            continue
        try:
            data = path.read_bytes()
        except (PermissionError, FileNotFoundError):
            continue
        scanned += 1
        for n in needles:
            assert n not in data, f"{n!r} found in clear in {path}"
    assert scanned > 0


# ---- secrets injected into tasks ----

LABEL_TASK = "com.amazonaws.ecs.task-arn"


def docker(*args: str, check: bool = True) -> str:
    p = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120)
    if check and p.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)} exited {p.returncode}: {p.stderr.strip()}")
    return p.stdout.strip()


@pytest.fixture
def busybox_image(tmp_path):
    """A busybox-static image made here (`docker import` of a tiny rootfs)."""
    busybox = shutil.which("busybox") or "/bin/busybox"
    tar_path = tmp_path / "rootfs.tar"
    with tarfile.open(tar_path, "w") as tar:
        for d in ("bin", "tmp"):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if d == "tmp" else 0o755
            tar.addfile(info)
        tar.add(busybox, arcname="bin/busybox")
        for applet in ("sh", "echo"):
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
    name = f"berth-e2e-secrets-{uuid.uuid4().hex[:10]}:latest"
    docker("import", "--change", "ENV PATH=/bin", str(tar_path), name)
    try:
        yield name
    finally:
        docker("rmi", "-f", name, check=False)


def wait_stopped(ecs, task_arn: str, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        task = ecs.describe_tasks(cluster="default", tasks=[task_arn])["tasks"][0]
        if task["lastStatus"] == "STOPPED":
            return task
        assert time.monotonic() < deadline, f"task never stopped: {task}"
        time.sleep(0.5)  # polling with a deadline


def test_task_secrets_from_ssm_and_secrets_manager(fresh_berth, busybox_image):
    """Runs on its own server: `berth up`'s agent runs the tasks on cluster default."""
    ssm, sm, ecs = fresh_berth.client("ssm"), fresh_berth.client("secretsmanager"), fresh_berth.client("ecs")
    pw, dbpw = secret_value("task-ssm"), secret_value("task-sm")
    param = f"/{unique('task')}/pw"
    ssm.put_parameter(Name=param, Value=pw, Type="SecureString")
    arn = sm.create_secret(Name=unique("task-db"), SecretString=json.dumps({"user": "admin", "password": dbpw}))["ARN"]
    family = unique("secrets")
    container = {
        "name": "app",
        "image": busybox_image,
        "memory": 32,
        "essential": True,
        "command": ["sh", "-c", "echo PW=$PW; echo DBPW=$DBPW; echo USER=$DBUSER"],
        "secrets": [
            {"name": "PW", "valueFrom": param},
            {"name": "DBPW", "valueFrom": f"{arn}:password::"},
            {"name": "DBUSER", "valueFrom": f"{arn}:user::"},
        ],
        "logConfiguration": {"logDriver": "json-file", "secretOptions": [{"name": "tag", "valueFrom": f"{arn}:user::"}]},
    }
    ecs.register_task_definition(family=family, containerDefinitions=[container])
    deadline = time.monotonic() + 60
    while not ecs.list_container_instances(cluster="default").get("containerInstanceArns"):
        assert time.monotonic() < deadline, "berth up's agent never registered"
        time.sleep(0.2)  # polling with a deadline
    run = ecs.run_task(cluster="default", taskDefinition=family)
    assert run["tasks"], run
    ok = run["tasks"][0]["taskArn"]
    missing = dict(container, secrets=[{"name": "PW", "valueFrom": f"{param}-missing"}])
    ecs.register_task_definition(family=f"{family}-bad", containerDefinitions=[missing])
    run = ecs.run_task(cluster="default", taskDefinition=f"{family}-bad")
    assert run["tasks"], run
    bad = run["tasks"][0]["taskArn"]
    try:
        task = wait_stopped(ecs, ok)
        assert task["containers"][0].get("exitCode") == 0, task
        ids = docker("ps", "-aq", "--filter", f"label={LABEL_TASK}={ok}").split()
        assert len(ids) == 1
        out = docker("logs", ids[0])
        assert f"PW={pw}" in out and f"DBPW={dbpw}" in out and "USER=admin" in out
        # logConfiguration.secretOptions became a log driver option.
        info = json.loads(docker("inspect", ids[0]))[0]
        assert info["HostConfig"]["LogConfig"]["Config"].get("tag") == "admin", info["HostConfig"]["LogConfig"]
        # DescribeTasks never shows the values.
        assert pw not in json.dumps(task, default=str) and dbpw not in json.dumps(task, default=str)

        failed = wait_stopped(ecs, bad)
        assert failed["stoppedReason"].startswith(
            "ResourceInitializationError: unable to pull secrets or registry auth: "
        ), failed
        # The ECS agent's words for a parameter GetParameters does not find.
        assert f"unable to retrieve secrets from ssm: invalid parameters: {param}-missing" in failed["stoppedReason"]
        assert not docker("ps", "-aq", "--filter", f"label={LABEL_TASK}={bad}").split()
    finally:
        for t in (ok, bad):
            ids = docker("ps", "-aq", "--filter", f"label={LABEL_TASK}={t}", check=False).split()
            if ids:
                docker("rm", "-f", *ids, check=False)
    # Nothing in clear under this server's data dir either.
    for path in Path(fresh_berth.data_dir).rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert pw.encode() not in data and dbpw.encode() not in data, path

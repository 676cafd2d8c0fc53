"""Issue 12, attacks 3 and 4: KMS behind SSM and Secrets Manager, and the
execution-role actions of task secrets.

3. A user with an explicit `Deny kms:*` used to read SecureStrings
   (`aws ssm get-parameter --with-decryption`) and secrets
   (`aws secretsmanager get-secret-value`) anyway: the service decrypted
   for them. Now every read and write of a value needs the caller's own KMS
   permission on the value's key through the service (`kms:ViaService`,
   the encryption context as `kms:EncryptionContext:…`). The AWS managed
   keys grant it to the account through the service, but an explicit Deny
   still wins.
4. The agent read `secrets` with `ssm:GetParameter`, so an execution role
   with the policy AWS documents (`ssm:GetParameters`,
   `secretsmanager:GetSecretValue`, `kms:Decrypt`) could not start its task.

The attacks are replayed with the aws CLI (as the issue reports them) and
boto3; the execution role's secrets reach a real container on Docker.
"""

from __future__ import annotations

import json
import os
import subprocess

import boto3
import botocore.config
import pytest
from botocore.exceptions import ClientError

from berthtest import ACCOUNT, REGION, AwsCliError, aws_cli, isolate_aws_environment, unique
from test_task_roles import TRUST_ECS_TASKS, container_output
from test_tasks import (  # noqa: F401  (fixtures are used by name)
    cluster,
    image,
    register,
    server,
    wait_status,
)

DEADLINE = 60.0
SSM_VIA = f"ssm.{REGION}.amazonaws.com"


# ---- helpers ----


class User:
    """An IAM user with an inline policy and an access key, made as root."""

    def __init__(self, berth, statements: list[dict]):
        iam = berth.client("iam")
        self.berth = berth
        self.name = unique("boundary")
        self.arn = iam.create_user(UserName=self.name)["User"]["Arn"]
        iam.put_user_policy(
            UserName=self.name,
            PolicyName="p",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}),
        )
        key = iam.create_access_key(UserName=self.name)["AccessKey"]
        self.key_id, self.secret = key["AccessKeyId"], key["SecretAccessKey"]

    def client(self, service: str):
        session = boto3.session.Session(
            aws_access_key_id=self.key_id, aws_secret_access_key=self.secret, region_name=REGION
        )
        cfg = botocore.config.Config(retries={"total_max_attempts": 1})
        return session.client(service, endpoint_url=self.berth.endpoint, config=cfg)

    def aws(self, *args):
        """The aws CLI v1 as this user; the parsed JSON output, or AwsCliError."""
        cmd = [str(aws_cli()), "--endpoint-url", self.berth.endpoint, "--output", "json", *map(str, args)]
        env = isolate_aws_environment(dict(os.environ))
        env.update(AWS_ACCESS_KEY_ID=self.key_id, AWS_SECRET_ACCESS_KEY=self.secret)
        p = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            raise AwsCliError(args, p.returncode, p.stdout, p.stderr)
        out = p.stdout.strip()
        return json.loads(out) if out else {}


def cli_denied(user: User, *args) -> str:
    """Runs an aws CLI command that must be refused with AccessDeniedException; the message."""
    with pytest.raises(AwsCliError) as err:
        user.aws(*args)
    assert err.value.code == "AccessDeniedException", err.value
    return err.value.message


def denied(call, **kwargs) -> str:
    with pytest.raises(ClientError) as err:
        call(**kwargs)
    e = err.value.response["Error"]
    assert e["Code"] == "AccessDeniedException", e
    return e["Message"]


ALLOW_SERVICES = {"Effect": "Allow", "Action": ["ssm:*", "secretsmanager:*"], "Resource": "*"}
DENY_KMS = {"Effect": "Deny", "Action": "kms:*", "Resource": "*"}


@pytest.fixture(scope="module")
def values(berth):
    """SecureStrings and secrets under a customer key and under the AWS
    managed keys (made as root on the shared server)."""
    kms, ssm, sm = berth.client("kms"), berth.client("ssm"), berth.client("secretsmanager")
    key = kms.create_key(Description="boundary cmk")["KeyMetadata"]
    base = f"/{unique('boundary')}"
    v = {
        "berth": berth,
        "key": key,
        "base": base,
        "p_cmk": f"{base}/cmk",
        "p_cmk2": f"{base}/cmk2",
        "p_aws": f"{base}/aws",
        "clear": {},
    }
    for name, key_id in (("p_cmk", key["KeyId"]), ("p_cmk2", key["KeyId"]), ("p_aws", None)):
        clear = os.urandom(8).hex()
        extra = {"KeyId": key_id} if key_id else {}
        ssm.put_parameter(Name=v[name], Value=clear, Type="SecureString", **extra)
        v["clear"][name] = clear
    for name, key_id in (("s_cmk", key["Arn"]), ("s_aws", None)):
        clear = os.urandom(8).hex()
        extra = {"KmsKeyId": key_id} if key_id else {}
        v[name] = sm.create_secret(Name=unique(f"boundary-{name}"), SecretString=clear, **extra)["ARN"]
        v["clear"][name] = clear
    v["aws_ssm_key"] = kms.describe_key(KeyId="alias/aws/ssm")["KeyMetadata"]["Arn"]
    v["aws_sm_key"] = kms.describe_key(KeyId="alias/aws/secretsmanager")["KeyMetadata"]["Arn"]
    return v


# ---- attack 3: KMS behind SSM and Secrets Manager ----


def test_explicit_deny_kms_refuses_secure_strings_and_secrets(values):
    berth, key = values["berth"], values["key"]
    user = User(berth, [ALLOW_SERVICES, DENY_KMS])

    # The attack of the issue, with the aws CLI: every read of a value is refused.
    for param, key_arn in ((values["p_cmk"], key["Arn"]), (values["p_aws"], values["aws_ssm_key"])):
        msg = cli_denied(user, "ssm", "get-parameter", "--name", param, "--with-decryption")
        assert (
            f"User: {user.arn} is not authorized to perform: kms:Decrypt on resource: {key_arn} "
            "with an explicit deny in an identity-based policy"
        ) in msg, msg
        assert "(Service: AWSKMS; Status Code: 400; Error Code: AccessDeniedException" in msg, msg
        assert values["clear"]["p_cmk"] not in msg and values["clear"]["p_aws"] not in msg
    for secret, key_arn in ((values["s_cmk"], key["Arn"]), (values["s_aws"], values["aws_sm_key"])):
        msg = cli_denied(user, "secretsmanager", "get-secret-value", "--secret-id", secret)
        assert "Access to KMS is not allowed. User: " in msg, msg
        assert f"kms:Decrypt on resource: {key_arn} with an explicit deny" in msg, msg

    # Every other way to the values is refused too.
    ssm, sm = user.client("ssm"), user.client("secretsmanager")
    denied(ssm.get_parameters, Names=[values["p_cmk"]], WithDecryption=True)
    denied(ssm.get_parameters_by_path, Path=values["base"], WithDecryption=True)
    denied(ssm.get_parameter_history, Name=values["p_aws"], WithDecryption=True)
    denied(ssm.get_parameter, Name=f"{values['p_cmk']}:1", WithDecryption=True)
    # Writing values needs the key too (kms:Encrypt for a standard SecureString,
    # kms:GenerateDataKey for a secret).
    msg = denied(ssm.put_parameter, Name=f"{values['base']}/new", Value="x", Type="SecureString")
    assert f"kms:Encrypt on resource: {values['aws_ssm_key']}" in msg, msg
    msg = denied(sm.create_secret, Name=unique("boundary-new"), SecretString="x", KmsKeyId=key["KeyId"])
    assert f"kms:GenerateDataKey on resource: {key['Arn']}" in msg, msg
    denied(sm.put_secret_value, SecretId=values["s_aws"], SecretString="y")

    # What needs no key still works: metadata, and the parameter without decryption.
    enc = ssm.get_parameter(Name=values["p_cmk"])["Parameter"]
    assert enc["Type"] == "SecureString" and enc["Value"] != values["clear"]["p_cmk"]
    assert sm.describe_secret(SecretId=values["s_cmk"])["ARN"] == values["s_cmk"]
    ssm.put_parameter(Name=f"{values['base']}/plain", Value="not secret", Type="String")


def test_aws_managed_keys_grant_the_account_through_the_service(values):
    berth = values["berth"]
    user = User(berth, [ALLOW_SERVICES])  # no KMS statement at all

    # Under the AWS managed keys the key policy grants the use through the service.
    out = user.aws("ssm", "get-parameter", "--name", values["p_aws"], "--with-decryption")
    assert out["Parameter"]["Value"] == values["clear"]["p_aws"]
    out = user.aws("secretsmanager", "get-secret-value", "--secret-id", values["s_aws"])
    assert out["SecretString"] == values["clear"]["s_aws"]
    ssm, sm = user.client("ssm"), user.client("secretsmanager")
    name = f"{values['base']}/by-{user.name}"
    ssm.put_parameter(Name=name, Value="mine", Type="SecureString")
    assert ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"] == "mine"
    arn = sm.create_secret(Name=unique("boundary-mine"), SecretString="mine")["ARN"]
    assert sm.get_secret_value(SecretId=arn)["SecretString"] == "mine"

    # A customer key's default policy leaves it to IAM: no identity policy allows it.
    msg = cli_denied(user, "ssm", "get-parameter", "--name", values["p_cmk"], "--with-decryption")
    assert (
        f"kms:Decrypt on resource: {values['key']['Arn']} because no identity-based policy allows the kms:Decrypt action"
    ) in msg, msg
    cli_denied(user, "secretsmanager", "get-secret-value", "--secret-id", values["s_cmk"])
    # The managed key's grant is through the service only: nobody uses it
    # with KMS directly, not a user allowed kms:*, not even root.
    kms_admin = User(berth, [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}])
    msg = cli_denied(kms_admin, "kms", "generate-data-key", "--key-id", "alias/aws/ssm", "--key-spec", "AES_256")
    assert (
        f"kms:GenerateDataKey on resource: {values['aws_ssm_key']} "
        "because no resource-based policy allows the kms:GenerateDataKey action"
    ) in msg, msg
    msg = denied(berth.client("kms").encrypt, KeyId="alias/aws/secretsmanager", Plaintext=b"x")
    assert f"kms:Encrypt on resource: {values['aws_sm_key']}" in msg, msg
    assert kms_admin.client("kms").describe_key(KeyId="alias/aws/ssm")["KeyMetadata"]["KeyManager"] == "AWS"


def test_kms_decrypt_allowed_only_via_ssm(values, tmp_path):
    berth, key = values["berth"], values["key"]
    p_arn = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{values['p_cmk']}"
    user = User(
        berth,
        [
            {"Effect": "Allow", "Action": "ssm:GetParameter*", "Resource": "*"},
            {
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": key["Arn"],
                "Condition": {"StringEquals": {"kms:ViaService": SSM_VIA}},
            },
        ],
    )
    out = user.aws("ssm", "get-parameter", "--name", values["p_cmk"], "--with-decryption")
    assert out["Parameter"]["Value"] == values["clear"]["p_cmk"]

    # The same key, called directly: the ciphertext of a value under it
    # (sealed with SSM's encryption context) does not open outside SSM.
    root_kms = berth.client("kms")
    blob = root_kms.encrypt(
        KeyId=key["KeyId"],
        Plaintext=values["clear"]["p_cmk"].encode(),
        EncryptionContext={"PARAMETER_ARN": p_arn},
    )["CiphertextBlob"]
    path = tmp_path / "blob"
    path.write_bytes(blob)
    msg = cli_denied(
        user,
        "kms",
        "decrypt",
        "--ciphertext-blob",
        f"fileb://{path}",
        "--encryption-context",
        json.dumps({"PARAMETER_ARN": p_arn}),
    )
    assert f"User: {user.arn} is not authorized to perform: kms:Decrypt on resource: {key['Arn']}" in msg, msg
    # Root can (the ciphertext is good).
    out = root_kms.decrypt(CiphertextBlob=blob, EncryptionContext={"PARAMETER_ARN": p_arn})
    assert out["Plaintext"] == values["clear"]["p_cmk"].encode()


def test_encryption_context_scopes_a_key_to_one_parameter(values):
    berth, key = values["berth"], values["key"]
    one = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{values['p_cmk']}"
    user = User(
        berth,
        [
            {"Effect": "Allow", "Action": "ssm:GetParameter", "Resource": "*"},
            {
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": key["Arn"],
                "Condition": {
                    "StringEquals": {"kms:EncryptionContext:PARAMETER_ARN": one, "kms:CallerAccount": ACCOUNT}
                },
            },
        ],
    )
    ssm = user.client("ssm")
    assert ssm.get_parameter(Name=values["p_cmk"], WithDecryption=True)["Parameter"]["Value"] == values["clear"]["p_cmk"]
    # Another parameter under the same key: another encryption context.
    msg = denied(ssm.get_parameter, Name=values["p_cmk2"], WithDecryption=True)
    assert f"kms:Decrypt on resource: {key['Arn']}" in msg, msg


# ---- attack 4: the execution role AWS documents ----


def documented_execution_policy(param_arns: list[str], secret_arns: list[str], key_arns: list[str]) -> dict:
    """The inline policy of "Required IAM permissions for Amazon ECS secrets" (ECS developer guide)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["ssm:GetParameters", "secretsmanager:GetSecretValue", "kms:Decrypt"],
                "Resource": [*param_arns, *secret_arns, *key_arns],
            }
        ],
    }


def test_documented_execution_role_policy_reads_what_the_agent_reads(values):
    """Without Docker: the role's session makes the agent's calls itself."""
    berth, key = values["berth"], values["key"]
    iam = berth.client("iam")
    role = unique("exec-doc")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            *TRUST_ECS_TASKS["Statement"],
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"},
        ],
    }
    role_arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    p_arn = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{values['p_cmk']}"
    policy = documented_execution_policy([p_arn], [values["s_cmk"]], [key["Arn"]])
    iam.put_role_policy(RoleName=role, PolicyName="secrets", PolicyDocument=json.dumps(policy))
    caller = User(berth, [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role_arn}])
    creds = caller.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="task")["Credentials"]
    session = boto3.session.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=REGION,
    )
    cfg = botocore.config.Config(retries={"total_max_attempts": 1})
    ssm = session.client("ssm", endpoint_url=berth.endpoint, config=cfg)
    sm = session.client("secretsmanager", endpoint_url=berth.endpoint, config=cfg)
    out = ssm.get_parameters(Names=[p_arn], WithDecryption=True)
    assert [p["Value"] for p in out["Parameters"]] == [values["clear"]["p_cmk"]] and not out["InvalidParameters"]
    assert sm.get_secret_value(SecretId=values["s_cmk"])["SecretString"] == values["clear"]["s_cmk"]
    # ssm:GetParameter is not in AWS's policy: the agent does not use it.
    denied(ssm.get_parameter, Name=p_arn, WithDecryption=True)
    # Nor is any other parameter or key.
    denied(ssm.get_parameters, Names=[values["p_aws"]], WithDecryption=True)


def test_documented_execution_role_injects_secrets_into_a_container(server, cluster, image):  # noqa: F811
    """On Docker: a task whose execution role has exactly AWS's documented
    policy gets an SSM SecureString and a Secrets Manager JSON key (both under
    a customer key) as environment variables; without kms:Decrypt it stops
    with ResourceInitializationError naming the key."""
    iam, ecs, ssm, sm, kms = (server.client(s) for s in ("iam", "ecs", "ssm", "secretsmanager", "kms"))
    c = cluster("boundary-secrets")
    c.add_agent()
    key = kms.create_key()["KeyMetadata"]
    param = f"/{unique('exec-doc')}/pw"
    pw, dbpw = os.urandom(8).hex(), os.urandom(8).hex()
    ssm.put_parameter(Name=param, Value=pw, Type="SecureString", KeyId=key["KeyId"])
    secret = sm.create_secret(
        Name=unique("exec-doc-db"), SecretString=json.dumps({"password": dbpw}), KmsKeyId=key["Arn"]
    )["ARN"]
    p_arn = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{param}"

    good, no_kms = unique("exec-doc"), unique("exec-nokms")
    for role, keys in ((good, [key["Arn"]]), (no_kms, [])):
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(TRUST_ECS_TASKS))
        policy = documented_execution_policy([p_arn], [secret], keys)
        if not keys:
            policy["Statement"][0]["Action"] = ["ssm:GetParameters", "secretsmanager:GetSecretValue"]
        iam.put_role_policy(RoleName=role, PolicyName="secrets", PolicyDocument=json.dumps(policy))

    app = {
        "name": "app",
        "image": image,
        "memory": 32,
        "essential": True,
        "command": ["sh", "-c", "echo PW=$PW; echo DBPW=$DBPW"],
        "secrets": [
            {"name": "PW", "valueFrom": p_arn},
            {"name": "DBPW", "valueFrom": f"{secret}:password::"},
        ],
    }
    arn = lambda name: f"arn:aws:iam::{ACCOUNT}:role/{name}"  # noqa: E731
    ok_family, bad_family = unique("exec-doc"), unique("exec-nokms")
    register(ecs, ok_family, [app], networkMode="host", executionRoleArn=arn(good))
    register(ecs, bad_family, [app], networkMode="host", executionRoleArn=arn(no_kms))
    run = lambda family: ecs.run_task(cluster=c.name, taskDefinition=family)["tasks"][0]["taskArn"]  # noqa: E731
    ok, bad = run(ok_family), run(bad_family)

    stopped = wait_status(ecs, c.name, [ok], "STOPPED", DEADLINE)[0]
    assert stopped["containers"][0].get("exitCode") == 0, stopped
    out = container_output(ok)
    assert f"PW={pw}" in out and f"DBPW={dbpw}" in out, out
    assert pw not in json.dumps(stopped, default=str) and dbpw not in json.dumps(stopped, default=str)

    failed = wait_status(ecs, c.name, [bad], "STOPPED", DEADLINE)[0]
    reason = failed["stoppedReason"]
    assert reason.startswith("ResourceInitializationError: unable to pull secrets or registry auth: "), failed
    assert "AccessDeniedException" in reason and f"kms:Decrypt on resource: {key['Arn']}" in reason, reason
    assert no_kms in reason, reason

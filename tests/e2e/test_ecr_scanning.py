"""ECR image scanning (issue 18 item 3), BASIC and offline, end to end: a
vulnerability database of OSV records written by the test is imported with
`berth scan-db import` (a JSON array, and a zip as OSV exports them); an image whose (gzip) layer holds a Debian 12
`var/lib/dpkg/status` listing a vulnerable `libssl3` is pushed with skopeo
into a scanOnPush repository (aws CLI); DescribeImageScanFindings (boto3)
shows the findings with the CVE, severity, package and fixed version, with
pagination; DescribeImages shows the scan's status and summary; an
EventBridge rule on `aws.ecr` delivers the `ECR Image Scan` event to a log
group. A Rocky Linux image is scanned from rpm's sqlite database (built by
the test), matched in rpm's version ordering. StartImageScan scans an image of a repository without scanOnPush
(its package database removed by a whiteout layer: FAILED, as ECR reports
an unsupported image), and bad input answers as ECR does.

The images are pushed from an OCI layout written by the test (no Docker
image, no network). The server is this module's own (the database is per
server).
"""

from __future__ import annotations

import base64
import gzip
import json
import subprocess
import urllib.parse
import zipfile
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

import berthtest
from berthtest import ACCOUNT, REGION, AwsCliError, poll, unique
from test_ecr_lifecycle import OCI_CONFIG, OCI_MANIFEST, sha256, skopeo, tar_of
from test_eventbridge import group_arn, messages

OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"

DPKG_STATUS = b"""Package: libssl3
Status: install ok installed
Priority: optional
Source: openssl
Version: 3.0.11-1~deb12u1
Description: Secure Sockets Layer toolkit - shared libraries

Package: zlib1g
Status: install ok installed
Version: 1:1.2.13.dfsg-1
Description: compression library - runtime

Package: removed-one
Status: deinstall ok config-files
Version: 0.1
"""

OSV = [
    {
        "id": "CVE-2024-0727", "summary": "PKCS12 NULL dereference", "aliases": ["DSA-5621-1"],
        "references": [{"type": "ADVISORY", "url": "https://security-tracker.debian.org/tracker/CVE-2024-0727"}],
        "database_specific": {"severity": "HIGH"},
        "affected": [{"package": {"ecosystem": "Debian:12", "name": "openssl"},
                      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.0.13-1~deb12u1"}]}]}],
    },
    {
        "id": "CVE-2023-5678", "summary": "DH excessive time",
        "affected": [{"package": {"ecosystem": "Debian:12", "name": "openssl"},
                      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.0.11-1~deb12u2"}]}],
                      "ecosystem_specific": {"urgency": "low"}}],
    },
    # Fixed before the installed version: no finding.
    {"id": "CVE-2018-25032", "database_specific": {"severity": "HIGH"},
     "affected": [{"package": {"ecosystem": "Debian:12", "name": "zlib"},
                   "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1:1.2.11.dfsg-4"}]}]}]},
    # Another release, another ecosystem: no finding.
    {"id": "CVE-2099-0001", "affected": [{"package": {"ecosystem": "Debian:11", "name": "openssl"},
                                          "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]}]},
    {"id": "GHSA-xxxx-yyyy-zzzz", "affected": [{"package": {"ecosystem": "npm", "name": "openssl"}}]},
]


def tar_files(files: dict[str, bytes]) -> bytes:
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class Layout:
    def __init__(self, root: Path):
        self.root = root
        self.blobs = root / "blobs" / "sha256"
        self.blobs.mkdir(parents=True)
        self.refs: list[dict] = []
        (root / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))

    def put(self, data: bytes) -> dict:
        d = sha256(data)
        (self.blobs / d.split(":", 1)[1]).write_bytes(data)
        return {"digest": d, "size": len(data)}

    def image(self, ref: str, layers: list[tuple[str, bytes]]) -> str:
        descs = [{"mediaType": mt, **self.put(data)} for mt, data in layers]
        config = self.put(json.dumps({
            "architecture": "amd64", "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [d["digest"] for d in descs]},
        }).encode())
        manifest = self.put(json.dumps({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, **config}, "layers": descs,
        }).encode())
        self.refs.append({"mediaType": OCI_MANIFEST, **manifest, "annotations": {"org.opencontainers.image.ref.name": ref}})
        (self.root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": self.refs}))
        return manifest["digest"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("berth-scanning")
    (tmp / "data").mkdir()
    b = berthtest.Berth(data_dir=tmp / "data", log_path=tmp / "berth.log").start()
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    layout = Layout(tmp_path_factory.mktemp("scan-layout"))
    debian = tar_files({"etc/os-release": b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n',
                        "var/lib/dpkg/status": DPKG_STATUS, "usr/share/doc/x": b"x"})
    vulnerable = layout.image("vulnerable", [(OCI_LAYER_GZIP, gzip.compress(debian))])
    wiped = layout.image("wiped", [(OCI_LAYER_GZIP, gzip.compress(debian)),
                                   (OCI_LAYER, tar_files({"var/lib/dpkg/.wh.status": b""}))])
    return {"layout": layout, "vulnerable": vulnerable, "wiped": wiped}


def push(server, layout: Layout, ref: str, repo: str, tag: str):
    ecr = server.client("ecr")
    host = urllib.parse.urlparse(server.endpoint).netloc
    creds = base64.b64decode(ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]).decode()
    skopeo("copy", "--preserve-digests", "--dest-tls-verify=false", "--dest-creds", creds,
           f"oci:{layout.root}:{ref}", f"docker://{host}/{repo}:{tag}")


def import_db(server, tmp_path: Path, records) -> subprocess.CompletedProcess:
    path = tmp_path / "osv.json"
    path.write_text(json.dumps(records))
    return subprocess.run([str(berthtest.berth_bin()), "scan-db", "import", str(path), "--data-dir", str(server.data_dir)],
                          capture_output=True, text=True, timeout=60)


def error_of(call, **kwargs) -> tuple[str, str]:
    with pytest.raises(ClientError) as e:
        call(**kwargs)
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


def test_without_a_database_a_scan_fails_and_says_what_to_do(fresh_berth, images):
    ecr = fresh_berth.client("ecr")
    repo = unique("nodb")
    ecr.create_repository(repositoryName=repo, imageScanningConfiguration={"scanOnPush": True})
    push(fresh_berth, images["layout"], "vulnerable", repo, "v1")

    def done():
        r = ecr.describe_image_scan_findings(repositoryName=repo, imageId={"imageTag": "v1"})
        return r if r["imageScanStatus"]["status"] != "IN_PROGRESS" else None

    got = poll("the scan without a database", done, deadline=30)
    assert got["imageScanStatus"]["status"] == "FAILED"
    assert "berth scan-db import" in got["imageScanStatus"]["description"]


def test_scan_on_push_finds_the_vulnerable_package(server, images, tmp_path):
    out = import_db(server, tmp_path, OSV)
    assert out.returncode == 0, out.stderr
    assert "imported 4 advisories" in out.stdout, out.stdout
    ecr, events, logs = server.client("ecr"), server.client("events"), server.client("logs")
    repo = f"e2e/{unique('scanned')}"
    created = server.aws("ecr", "create-repository", "--repository-name", repo,
                         "--image-scanning-configuration", "scanOnPush=true")["repository"]
    assert created["imageScanningConfiguration"] == {"scanOnPush": True}
    group, rule = unique("/berth-e2e/events/scan"), unique("ecr-scans")
    logs.create_log_group(logGroupName=group)
    events.put_rule(Name=rule, EventPattern=json.dumps({"source": ["aws.ecr"], "detail-type": ["ECR Image Scan"]}))
    events.put_targets(Rule=rule, Targets=[{"Id": "g", "Arn": group_arn(group)}])

    push(server, images["layout"], "vulnerable", repo, "v1")
    digest = images["vulnerable"]

    def complete():
        r = ecr.describe_image_scan_findings(repositoryName=repo, imageId={"imageTag": "v1"})
        return r if r["imageScanStatus"]["status"] != "IN_PROGRESS" else None

    got = poll("the scan on push to complete", complete, deadline=30)
    assert got["imageScanStatus"] == {"status": "COMPLETE", "description": "The scan was completed successfully."}
    assert got["imageId"] == {"imageDigest": digest, "imageTag": "v1"}
    found = got["imageScanFindings"]
    assert found["findingSeverityCounts"] == {"HIGH": 1, "LOW": 1}
    assert "imageScanCompletedAt" in found and "vulnerabilitySourceUpdatedAt" in found
    by_name = {f["name"]: f for f in found["findings"]}
    assert list(by_name) == ["CVE-2024-0727", "CVE-2023-5678"]  # most severe first
    high = by_name["CVE-2024-0727"]
    assert high["severity"] == "HIGH"
    assert high["uri"] == "https://security-tracker.debian.org/tracker/CVE-2024-0727"
    assert high["description"] == "PKCS12 NULL dereference"
    assert {a["key"]: a["value"] for a in high["attributes"]} == {
        "package_name": "libssl3", "package_version": "3.0.11-1~deb12u1", "fixed_version": "3.0.13-1~deb12u1"}
    assert {a["key"]: a["value"] for a in by_name["CVE-2023-5678"]["attributes"]}["fixed_version"] == "3.0.11-1~deb12u2"

    # Pagination.
    first = ecr.describe_image_scan_findings(repositoryName=repo, imageId={"imageDigest": digest}, maxResults=1)
    assert [f["name"] for f in first["imageScanFindings"]["findings"]] == ["CVE-2024-0727"]
    second = ecr.describe_image_scan_findings(repositoryName=repo, imageId={"imageDigest": digest}, maxResults=1,
                                              nextToken=first["nextToken"])
    assert [f["name"] for f in second["imageScanFindings"]["findings"]] == ["CVE-2023-5678"]
    assert "nextToken" not in second

    detail = ecr.describe_images(repositoryName=repo)["imageDetails"][0]
    assert detail["imageScanStatus"]["status"] == "COMPLETE"
    assert detail["imageScanFindingsSummary"]["findingSeverityCounts"] == {"HIGH": 1, "LOW": 1}

    ev = poll("the scan event", lambda: messages(logs, group), deadline=20)[0]
    assert (ev["source"], ev["detail-type"], ev["account"], ev["region"]) == ("aws.ecr", "ECR Image Scan", ACCOUNT, REGION)
    assert ev["resources"] == [f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{repo}"]
    assert ev["detail"] == {"scan-status": "COMPLETE", "repository-name": repo, "image-digest": digest,
                            "image-tags": ["v1"], "finding-severity-counts": {"HIGH": 1, "LOW": 1}}
    events.remove_targets(Rule=rule, Ids=["g"])
    events.delete_rule(Name=rule)


def test_start_image_scan_and_bad_input(server, images, tmp_path):
    ecr = server.client("ecr")
    repo = f"e2e/{unique('manual')}"
    ecr.create_repository(repositoryName=repo)
    push(server, images["layout"], "wiped", repo, "wiped")
    push(server, images["layout"], "vulnerable", repo, "fine")

    code, msg = error_of(ecr.describe_image_scan_findings, repositoryName=repo, imageId={"imageTag": "wiped"})
    assert code == "ScanNotFoundException", msg
    assert "imageScanStatus" not in ecr.describe_images(repositoryName=repo, imageIds=[{"imageTag": "wiped"}])["imageDetails"][0]
    code, _ = error_of(ecr.start_image_scan, repositoryName=repo, imageId={"imageTag": "missing"})
    assert code == "ImageNotFoundException"
    code, _ = error_of(ecr.start_image_scan, repositoryName=repo, imageId={})
    assert code == "InvalidParameterException"
    code, _ = error_of(ecr.start_image_scan, repositoryName=f"{repo}-nope", imageId={"imageTag": "x"})
    assert code == "RepositoryNotFoundException"

    started = ecr.start_image_scan(repositoryName=repo, imageId={"imageTag": "wiped"})
    assert started["imageId"] == {"imageDigest": images["wiped"], "imageTag": "wiped"}
    assert started["imageScanStatus"] == {"status": "IN_PROGRESS", "description": "The scan is in progress."}

    def done():
        r = ecr.describe_image_scan_findings(repositoryName=repo, imageId={"imageDigest": images["wiped"]})
        return r if r["imageScanStatus"]["status"] != "IN_PROGRESS" else None

    got = poll("the manual scan", done, deadline=30)
    # The whiteout removed the package database: ECR's unsupported image.
    assert got["imageScanStatus"]["status"] == "FAILED"
    assert "UnsupportedImageError" in got["imageScanStatus"]["description"]
    assert "imageScanFindings" not in got

    # PutImageScanningConfiguration makes later pushes scanned.
    out = server.aws("ecr", "put-image-scanning-configuration", "--repository-name", repo,
                     "--image-scanning-configuration", "scanOnPush=true")
    assert out["imageScanningConfiguration"] == {"scanOnPush": True}
    assert ecr.describe_repositories(repositoryNames=[repo])["repositories"][0]["imageScanningConfiguration"] == {
        "scanOnPush": True}
    with pytest.raises(AwsCliError) as e:
        server.aws("ecr", "put-image-scanning-configuration", "--repository-name", f"{repo}-nope",
                   "--image-scanning-configuration", "scanOnPush=true")
    assert e.value.code == "RepositoryNotFoundException"

    # OSV's own export form: a zip of one JSON record per file (deflated).
    archive = tmp_path / "all.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for rec in OSV:
            z.writestr(f"{rec['id']}.json", json.dumps(rec))
    out = subprocess.run([str(berthtest.berth_bin()), "scan-db", "import", str(archive), "--data-dir", str(server.data_dir)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "imported 4 advisories" in out.stdout, out.stderr

    # A file that is not OSV JSON is refused, the database kept.
    bad = import_db(server, tmp_path, {"not": "osv"})
    assert bad.returncode != 0 and "record 0" in bad.stderr, bad.stderr


def rpm_header(name: str, version: str, release: str, epoch: int | None, sourcerpm: str) -> bytes:
    """An rpm header blob as rpm >= 4.16 stores it in rpmdb.sqlite: the
    entry count and data length, 16-byte index entries (tag, type, offset,
    count), then the data store."""
    import struct

    index, data = b"", b""
    for tag, value in [(1000, name), (1001, version), (1002, release), (1022, "x86_64"), (1044, sourcerpm)]:
        index += struct.pack(">IIiI", tag, 6, len(data), 1)  # RPM_STRING_TYPE
        data += value.encode() + b"\0"
    if epoch is not None:
        data += b"\0" * (-len(data) % 4)
        index += struct.pack(">IIiI", 1003, 4, len(data), 1)  # RPM_INT32_TYPE
        data += struct.pack(">I", epoch)
    return struct.pack(">II", len(index) // 16, len(data)) + index + data


def rpmdb_sqlite(tmp_path: Path, headers: list[bytes]) -> bytes:
    import sqlite3

    path = tmp_path / "rpmdb.sqlite"
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")  # as rpm leaves it
    db.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)")
    db.executemany("INSERT INTO Packages (blob) VALUES (?)", [(h,) for h in headers])
    db.commit()
    db.close()
    return path.read_bytes()


RPM_OSV = [
    {"id": "RLSA-2024:0439", "summary": "openssl security update",
     "references": [{"type": "ADVISORY", "url": "https://errata.rockylinux.org/RLSA-2024:0439"}],
     "database_specific": {"severity": "Important"},
     "affected": [{"package": {"ecosystem": "Rocky Linux:9", "name": "openssl"},
                   "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1:3.0.7-25.el9_3"}]}]}]},
    # Fixed before the installed version (epoch and release ordering): no finding.
    {"id": "RLSA-2023:0001", "database_specific": {"severity": "Moderate"},
     "affected": [{"package": {"ecosystem": "Rocky Linux:9", "name": "bash"},
                   "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "5.1.8-6.el9"}]}]}]},
    # Another release: no finding.
    {"id": "RLSA-2022:0002", "affected": [{"package": {"ecosystem": "Rocky Linux:8", "name": "openssl"},
                                           "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]}]},
]


def test_an_rpm_image_is_scanned_from_its_sqlite_database(fresh_berth, tmp_path):
    """A Rocky Linux 9 image: rpm's sqlite database (written here with
    sqlite3, each row a header blob encoded here) lists openssl-libs of
    source openssl at 1:3.0.7-24.el9; the Rocky advisory fixed in
    1:3.0.7-25.el9_3 is found with its severity and fixed version. An image
    with only a Berkeley DB rpm database is unsupported, not clean."""
    out = import_db(fresh_berth, tmp_path, RPM_OSV)
    assert out.returncode == 0 and "imported 3 advisories" in out.stdout, (out.stdout, out.stderr)
    headers = [
        rpm_header("openssl-libs", "3.0.7", "24.el9", 1, "openssl-3.0.7-24.el9.src.rpm"),
        rpm_header("bash", "5.1.8", "6.el9", None, "bash-5.1.8-6.el9.src.rpm"),
        rpm_header("gpg-pubkey", "350d275d", "6279464b", None, ""),
    ]
    os_release = b'NAME="Rocky Linux"\nVERSION="9.3 (Blue Onyx)"\nID="rocky"\nVERSION_ID="9.3"\n'
    layout = Layout(tmp_path / "layout")
    rocky = layout.image("rocky", [(OCI_LAYER_GZIP, gzip.compress(tar_files({
        "etc/os-release": os_release, "var/lib/rpm/rpmdb.sqlite": rpmdb_sqlite(tmp_path, headers)})))])
    bdb = layout.image("bdb", [(OCI_LAYER_GZIP, gzip.compress(tar_files({
        "etc/os-release": b'ID="centos"\nVERSION_ID="7"\n', "var/lib/rpm/Packages": b"\0" * 4096})))])
    ecr = fresh_berth.client("ecr")
    repo = unique("rocky")
    ecr.create_repository(repositoryName=repo, imageScanningConfiguration={"scanOnPush": True})
    push(fresh_berth, layout, "rocky", repo, "9")
    push(fresh_berth, layout, "bdb", repo, "bdb")

    def scanned(tag):
        def done():
            r = ecr.describe_image_scan_findings(repositoryName=repo, imageId={"imageTag": tag})
            return r if r["imageScanStatus"]["status"] != "IN_PROGRESS" else None
        return poll(f"the scan of {tag}", done, deadline=30)

    got = scanned("9")
    assert got["imageId"]["imageDigest"] == rocky
    assert got["imageScanStatus"]["status"] == "COMPLETE", got["imageScanStatus"]
    found = got["imageScanFindings"]
    assert found["findingSeverityCounts"] == {"HIGH": 1}
    [f] = found["findings"]
    assert (f["name"], f["severity"], f["uri"]) == ("RLSA-2024:0439", "HIGH", "https://errata.rockylinux.org/RLSA-2024:0439")
    assert {a["key"]: a["value"] for a in f["attributes"]} == {
        "package_name": "openssl-libs", "package_version": "1:3.0.7-24.el9", "fixed_version": "1:3.0.7-25.el9_3"}

    old = scanned("bdb")
    assert old["imageId"]["imageDigest"] == bdb
    assert old["imageScanStatus"]["status"] == "FAILED"
    assert old["imageScanStatus"]["description"].startswith("UnsupportedImageError:")
    assert "Berkeley DB" in old["imageScanStatus"]["description"]
    assert "imageScanFindings" not in old


def test_registry_scanning_configuration_decides_scan_on_push(server, images):
    """Last in the module: once put, the registry configuration overrides
    every repository's own scanOnPush (as in ECR)."""
    ecr = server.client("ecr")
    got = server.aws("ecr", "get-registry-scanning-configuration")
    assert got["scanningConfiguration"] == {"scanType": "BASIC", "rules": []}
    assert got["registryId"] == ACCOUNT

    code, msg = error_of(ecr.put_registry_scanning_configuration, scanType="BASIC", rules=[
        {"scanFrequency": "CONTINUOUS_SCAN", "repositoryFilters": [{"filter": "*", "filterType": "WILDCARD"}]}])
    assert code == "ValidationException" and "CONTINUOUS_SCAN" in msg
    code, msg = error_of(ecr.put_registry_scanning_configuration, scanType="ENHANCED", rules=[])
    assert code == "ValidationException" and "ENHANCED" in msg
    assert server.aws("ecr", "get-registry-scanning-configuration")["scanningConfiguration"]["rules"] == []

    prefix = unique("regscan")
    matched, flagged = f"{prefix}-app", unique("flagged")
    ecr.create_repository(repositoryName=matched)
    ecr.create_repository(repositoryName=flagged, imageScanningConfiguration={"scanOnPush": True})
    rules = [{"scanFrequency": "SCAN_ON_PUSH", "repositoryFilters": [{"filter": f"{prefix}-*", "filterType": "WILDCARD"}]}]
    put = ecr.put_registry_scanning_configuration(scanType="BASIC", rules=rules)
    assert put["registryScanningConfiguration"] == {"scanType": "BASIC", "rules": rules}
    assert ecr.get_registry_scanning_configuration()["scanningConfiguration"] == {"scanType": "BASIC", "rules": rules}

    out = server.aws("ecr", "batch-get-repository-scanning-configuration",
                     "--repository-names", matched, flagged, f"{prefix}-missing")
    configs = {c["repositoryName"]: c for c in out["scanningConfigurations"]}
    assert configs[matched] == {
        "repositoryArn": f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{matched}", "repositoryName": matched,
        "scanOnPush": True, "scanFrequency": "SCAN_ON_PUSH", "appliedScanFilters": rules[0]["repositoryFilters"]}
    assert (configs[flagged]["scanOnPush"], configs[flagged]["scanFrequency"]) == (False, "MANUAL")
    assert [(f["repositoryName"], f["failureCode"]) for f in out["failures"]] == [(f"{prefix}-missing", "REPOSITORY_NOT_FOUND")]

    push(server, images["layout"], "vulnerable", matched, "v1")
    push(server, images["layout"], "vulnerable", flagged, "v1")

    def complete():
        r = ecr.describe_image_scan_findings(repositoryName=matched, imageId={"imageTag": "v1"})
        return r if r["imageScanStatus"]["status"] != "IN_PROGRESS" else None

    assert poll("the scan of the matched repository", complete, deadline=30)["imageScanStatus"]["status"] == "COMPLETE"
    code, _ = error_of(ecr.describe_image_scan_findings, repositoryName=flagged, imageId={"imageTag": "v1"})
    assert code == "ScanNotFoundException"

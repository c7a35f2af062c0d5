"""copy as an Indexed Job: the shard plan, the Job object, and the ledger recovery rule.

The shard workers run here in-process against an S3 API on 127.0.0.1 (moto); the lab tier runs
them as processes against MinIO and kills one, the kube tier runs the Job on real nodes.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pdn.errors import InputError, PdnError
from pdn.migrate import copy as copy_stage
from pdn.migrate import jobcopy, jobenv, jobrun, jobspec, shards
from pdn.migrate import verify as verify_stage
from pdn.migrate.ledger import Ledger
from pdn.migrate.s3 import META_IDENTITY, META_SHA, Endpoint, client, ensure_bucket
from pdn.migrate.sources import BucketSource, SourceObject
from pdn.migrate.target import TargetStore

sys.path.insert(0, str(Path(__file__).resolve().parent))

from podsecurity import restricted_violations

KEYS = {"PDN_S3_ACCESS_KEY": "testing", "PDN_S3_SECRET_KEY": "testing-secret"}
SOURCE_KEYS = {"PDN_SOURCE_S3_ACCESS_KEY": "testing", "PDN_SOURCE_S3_SECRET_KEY": "testing-secret"}
HOSTILE = [
    "a\nb",
    "../../etc/passwd",
    'quote"and\\slash',
    "---\nkind: Secret",
    "{{ .Values }}",
    "ünï/cödé/北京.txt",
    " leading space",
    "x" * 1000,
    "/absolute",
    "tab\there",
]


def objects(count: int, size: int = 10) -> list[SourceObject]:
    return [SourceObject(f"k/{index:05d}", size + index % 3, f"etag{index}") for index in range(count)]


# -- the shard plan ---------------------------------------------------------------------------


def test_shards_are_deterministic_and_hold_every_key_once() -> None:
    items = objects(1003)
    shuffled = items[:]
    random.Random(5).shuffle(shuffled)
    first = shards.split(items, 100, 10**9)
    second = shards.split(shuffled, 100, 10**9)
    assert first == second
    assert [len(shard) for shard in first] == [100] * 10 + [3]
    keys = [item.key for shard in first for item in shard]
    assert sorted(keys) == keys and len(set(keys)) == len(items) == len(keys)
    plan = shards.Plan("s3://b/p", "mig-a", "", first, 100, 10**9)
    assert plan.plan_id == shards.Plan("s3://b/p", "mig-a", "", second, 100, 10**9).plan_id
    assert plan.plan_id != shards.Plan("s3://b/p", "mig-a", "", shards.split(items, 50, 10**9), 50, 10**9).plan_id
    changed = [*items[:-1], SourceObject(items[-1].key, items[-1].size, "other-etag")]
    assert plan.plan_id != shards.Plan("s3://b/p", "mig-a", "", shards.split(changed, 100, 10**9), 100, 10**9).plan_id
    # probe is no part of the id: a re-run over a now non-empty target finds its own plan
    assert plan.plan_id == shards.Plan("s3://b/p", "mig-a", "", first, 100, 10**9, probe=True).plan_id


def test_shard_bytes_cut_shards_and_a_big_object_is_alone() -> None:
    items = [SourceObject(f"{i:02d}", 40, "e") for i in range(10)] + [SourceObject("zz-big", 500, "e")]
    cut = shards.split(items, 1000, 100)
    assert [len(shard) for shard in cut] == [2, 2, 2, 2, 2, 1]
    assert cut[-1] == [SourceObject("zz-big", 500, "e")]
    assert all(sum(item.size for item in shard) <= 100 for shard in cut[:-1])


def test_hostile_keys_round_trip_and_bad_listings_are_refused() -> None:
    items = [SourceObject(key, 1, "etag") for key in HOSTILE]
    cut = shards.split(items, 3, 10**9)
    back = [shards.parse_shard(shards.shard_bytes(shard), "shard") for shard in cut]
    assert back == cut
    assert sorted(item.key for shard in back for item in shard) == sorted(HOSTILE)
    with pytest.raises(InputError, match="twice"):
        shards.split([SourceObject("a", 1, "e"), SourceObject("a", 2, "f")], 10, 10)
    with pytest.raises(InputError, match="longer than"):
        shards.split([SourceObject("é" * 600, 1, "e")], 10, 10)
    with pytest.raises(InputError, match="printable ASCII"):
        shards.split([SourceObject("a", 1, "e\r\nx-amz-meta-evil: 1")], 10, 10)
    with pytest.raises(InputError, match="Indexed Job runs at most"):
        shards.split(objects(shards.MAX_SHARDS + 1), 1, 10**9)
    for bad in (
        b'{"format": 1, "objects": [["k", -1, "e"]]}',
        b'{"format": 1, "objects": [["k", true, "e"]]}',
        b'{"format": 1, "objects": [["", 1, "e"]]}',
        b'{"format": 1, "objects": [["k", 1, "e\\n"]]}',
        b'{"format": 2, "objects": []}',
        b'{"format": 1, "objects": [["k", 1]]}',
        b'{"format": 1, "format": 1, "objects": []}',
    ):
        with pytest.raises(PdnError):
            shards.parse_shard(bad, "shard")


def test_ledger_root_keeps_prefixes_apart() -> None:
    assert jobrun.ledger_root("mig-a", "") == "mig-a"
    assert jobrun.ledger_root("mig-a", "x/y") != jobrun.ledger_root("mig-a", "x/z")
    assert "/" not in jobrun.ledger_root("mig-a", "../../x").removeprefix("mig-a/")


# -- the Job object ---------------------------------------------------------------------------


def settings(**changes: Any) -> jobspec.JobSettings:
    base: dict[str, Any] = {
        "app_id": "APP-000123", "site": "cikarang", "namespace": "pdn-migrate", "image": jobspec.DEFAULT_IMAGE,
        "plan_id": "0123456789abcdef", "root": "mig-app-000123", "ledger_bucket": "pdn-copy-ledger",
        "bucket": "mig-app-000123", "prefix": "", "source": "s3://legacy/app", "source_endpoint": "http://10.250.0.1:1",
        "target_endpoint": "http://10.250.0.1:1", "target_region": "id-cikarang-1", "shards": 7, "parallelism": 3,
        "workers": 4, "largest_object": 100 * 2**20,
    }  # fmt: skip
    return jobspec.JobSettings(**{**base, **changes})


def test_job_is_indexed_restricted_and_carries_no_keys() -> None:
    job = jobspec.job(settings())
    assert json.loads(json.dumps(job)) == job  # plain data
    spec = job["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 7, 3)
    assert spec["backoffLimitPerIndex"] >= 1
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never"  # backoffLimitPerIndex requires it
    assert pod["automountServiceAccountToken"] is False
    assert restricted_violations(pod) == []
    (container,) = pod["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    effective_uid = container["securityContext"].get("runAsUser", pod["securityContext"]["runAsUser"])
    assert effective_uid == 10001
    assert container["command"] == ["python3", "-m", "pdn.migrate.jobcopy", "worker"]
    assert {"cpu", "memory"} <= set(container["resources"]["requests"]) & set(container["resources"]["limits"])
    assert all(set(volume) == {"name", "emptyDir"} for volume in pod["volumes"])
    mounts = {mount["mountPath"] for mount in container["volumeMounts"]}
    assert {"/tmp", jobenv.LEDGER_DIR} == mounts
    env = {item["name"]: item for item in container["env"]}
    for name in jobenv.SECRET_KEYS:
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] == job["metadata"]["name"] + "-keys"
        assert "value" not in env[name]
    assert env[jobenv.ENV_TARGET_ENDPOINT]["value"] == "http://10.250.0.1:1"
    assert job["metadata"]["name"] == "copy-app-000123"
    assert job["metadata"]["annotations"][jobspec.PLAN_ANNOTATION] == "0123456789abcdef"
    assert job["metadata"]["labels"]["pdn.go.id/legacy-app"] == "APP-000123"
    tmp = next(volume for volume in pod["volumes"] if volume["name"] == "tmp")
    assert int(tmp["emptyDir"]["sizeLimit"].removesuffix("Mi")) >= 400  # room to spool the 100 MiB object


def test_verify_job_runs_the_verify_worker_with_only_the_target_keys() -> None:
    job = jobspec.job(settings(mode="verify"))
    pod = job["spec"]["template"]["spec"]
    assert job["metadata"]["name"] == "verify-app-000123"
    assert pod["containers"][0]["command"][-1] == "verify"
    assert restricted_violations(pod) == []
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in pod["containers"][0]["env"] if "valueFrom" in e}
    assert {name for name, ref in refs.items() if not ref["optional"]} == {"PDN_S3_ACCESS_KEY", "PDN_S3_SECRET_KEY"}
    assert all(ref["name"] == "verify-app-000123-keys" for ref in refs.values())
    with pytest.raises(InputError):
        jobspec.job(settings(mode="other"))


def test_job_names_and_fields_are_validated() -> None:
    for bad in ({"namespace": "Bad_NS"}, {"namespace": "a" * 64}, {"image": "x y"}, {"image": "img\nkind: Pod"},
                {"app_id": "../x"}, {"shards": 0}, {"shards": 100_001}, {"parallelism": 0}):  # fmt: skip
        with pytest.raises(InputError):
            jobspec.job(settings(**bad))
    long_id = "A" + "b" * 62
    name = jobspec.job(settings(app_id=long_id))["metadata"]["name"]
    assert len(name) <= 40 and name.startswith("copy-")


def test_secret_holds_only_the_known_keys_base64() -> None:
    import base64

    secret = jobspec.secret(
        settings(), {"PDN_S3_ACCESS_KEY": "ak", "PDN_S3_SECRET_KEY": "s/k+", "PDN_S3_SESSION_TOKEN": ""}
    )
    assert secret["data"] == {"PDN_S3_ACCESS_KEY": "YWs=", "PDN_S3_SECRET_KEY": base64.b64encode(b"s/k+").decode()}
    with pytest.raises(ValueError):
        jobspec.secret(settings(), {"OTHER": "x"})


# -- the recovery rule and the workers --------------------------------------------------------


class CountingStore(TargetStore):
    """The target store, counting object uploads (whole PUTs and multipart creations)."""

    def __init__(self, endpoint: Endpoint) -> None:
        super().__init__(endpoint)
        self.sent: list[str] = []

    def __enter__(self) -> CountingStore:
        return self

    def put(self, bucket: str, key: str, data: bytes, sha256: str, metadata: Any) -> str:
        if bucket != "pdn-copy-ledger":
            self.sent.append(key)
        return super().put(bucket, key, data, sha256, metadata)

    def create_upload(self, bucket: str, key: str, metadata: Any) -> str:
        self.sent.append(key)
        return super().create_upload(bucket, key, metadata)


@pytest.fixture
def endpoint(s3_server: str) -> Endpoint:
    return Endpoint(s3_server, KEYS["PDN_S3_ACCESS_KEY"], KEYS["PDN_S3_SECRET_KEY"], "id-cikarang-1")


@dataclass
class Legacy:
    """A legacy bucket on the S3 API: ``url`` (s3://bucket/app/) and the payloads by source key."""

    s3: Any
    bucket: str
    payloads: dict[str, bytes]

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/app/"

    def source(self) -> BucketSource:
        return BucketSource(self.s3, self.url)


@pytest.fixture
def legacy(endpoint: Endpoint) -> Legacy:
    s3 = client(endpoint)
    bucket = f"legacy-{os.urandom(4).hex()}"
    ensure_bucket(s3, bucket)
    names = ["a", "b/c", "d e", *map(str, range(30))]
    payloads = {name: os.urandom(2000 + index) for index, name in enumerate(names)}
    for key, body in payloads.items():
        s3.put_object(Bucket=bucket, Key=f"app/{key}", Body=body)
    return Legacy(s3, bucket, payloads)


def test_confirmed_but_not_in_the_snapshot_is_not_uploaded_again(
    tmp_path: Path, endpoint: Endpoint, legacy: Legacy
) -> None:
    s3, source = legacy.s3, legacy.source()
    items = sorted(source.list(), key=lambda item: item.key)
    bucket = f"mig-{os.urandom(4).hex()}"
    with CountingStore(endpoint) as store:
        # attempt 1: every object recorded pending, snapshot taken, then all copied and
        # confirmed - and the pod dies before its next snapshot
        with Ledger(tmp_path / "one" / "shard.sqlite") as first:
            first.upsert_pending([(i.key, i.size, i.identity) for i in items])
            first.snapshot(tmp_path / "snapshot.sqlite")
            copy_stage.copy(store, jobcopy.PlannedSource(source, items), bucket, "", first, workers=4)
        assert len(store.sent) == len(items)
        # the source changes one object meanwhile, and a foreign object sits at another's key
        s3.put_object(Bucket=legacy.bucket, Key="app/a", Body=b"changed")
        changed = {i.key: i for i in source.list()}["a"]
        store.put(bucket, "b/c", b"foreign", hashlib.sha256(b"foreign").hexdigest(), {})
        store.sent.clear()
        items2 = [changed if i.key == "a" else i for i in items]
        # attempt 2 starts from the snapshot (all pending)
        (tmp_path / "two").mkdir()
        (tmp_path / "two" / "shard.sqlite").write_bytes((tmp_path / "snapshot.sqlite").read_bytes())
        with Ledger(tmp_path / "two" / "shard.sqlite") as second:
            recovered = jobcopy.recover(store, bucket, "", second, items2, probe_all=False)
            assert recovered == len(items) - 2
            report = copy_stage.copy(store, jobcopy.PlannedSource(source, items2), bucket, "", second, workers=4)
        assert sorted(store.sent) == ["a", "b/c"]  # only the changed and the overwritten one
        assert report.copied == 2
        head = s3.head_object(Bucket=bucket, Key="a")
        assert head["Metadata"][META_IDENTITY] == changed.identity
        assert head["Metadata"][META_SHA] == hashlib.sha256(b"changed").hexdigest()


def test_confirmed_copy_needs_size_identity_and_digest() -> None:
    item = SourceObject("k", 5, "etag-1")
    digest = "ab" * 32
    assert jobcopy.confirmed_copy(item, (5, "x", {META_SHA: digest, META_IDENTITY: "etag-1"})) == digest
    assert jobcopy.confirmed_copy(item, None) is None
    assert jobcopy.confirmed_copy(item, (6, "x", {META_SHA: digest, META_IDENTITY: "etag-1"})) is None
    assert jobcopy.confirmed_copy(item, (5, "x", {META_SHA: digest, META_IDENTITY: "etag-2"})) is None
    assert jobcopy.confirmed_copy(item, (5, "x", {META_SHA: "nothex", META_IDENTITY: "etag-1"})) is None
    assert jobcopy.confirmed_copy(item, (5, "x", {META_IDENTITY: "etag-1"})) is None


def test_workers_copy_their_shards_and_a_rerun_sends_nothing(
    tmp_path: Path, endpoint: Endpoint, legacy: Legacy, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, url = legacy.source(), legacy.url
    bucket = f"mig-{os.urandom(4).hex()}"
    root = jobrun.ledger_root(bucket, "")
    with TargetStore(endpoint) as store:
        plan = jobrun.make_plan(source, url, bucket, "", 10, 10**9, store.has_objects(bucket, ""))
        assert not plan.probe and len(plan.shards) == 4
        jobrun.publish(store, "pdn-copy-ledger", root, plan)
        assert jobrun.ledger_state(store, "pdn-copy-ledger", root, plan.manifest()).copied == 0
    for name, value in {**KEYS, **SOURCE_KEYS}.items():
        monkeypatch.setenv(name, value)
    env = jobspec.worker_env(settings(
        plan_id=plan.plan_id, root=root, bucket=bucket, source=url, source_endpoint=endpoint.url,
        target_endpoint=endpoint.url, shards=len(plan.shards),
    ))  # fmt: skip
    env[jobenv.ENV_STATE_DIR] = str(tmp_path / "state")
    results = []
    for index in range(len(plan.shards)):
        config = jobcopy.WorkerConfig.from_env({**env, jobenv.ENV_INDEX: str(index)})
        results.append(jobcopy.run_shard(config, {}))
    assert sum(result.copied for result in results) == plan.objects
    assert all(result.snapshots >= 2 for result in results)  # before the first object, and at the end
    again = jobcopy.run_shard(jobcopy.WorkerConfig.from_env({**env, jobenv.ENV_INDEX: "2"}), {})
    assert (again.copied, again.already, again.recovered) == (0, len(plan.shards[2]), 0)
    with TargetStore(endpoint) as store:
        state = jobrun.ledger_state(store, "pdn-copy-ledger", root, plan.manifest())
        assert (state.copied, state.shards_done, state.complete) == (plan.objects, 4, True)
        from pdn.migrate.jobcli import merge_job_ledger

        merge_job_ledger(store, bucket, "", tmp_path / "merged.sqlite")
        with Ledger(tmp_path / "merged.sqlite") as merged:
            checked = verify_stage.verify(store, bucket, "", merged, source)
    assert (checked.ok, checked.mismatched, checked.missing) == (plan.objects, [], [])
    for key, body in legacy.payloads.items():
        assert legacy.s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body
    # the verify Job's pods: one object corrupted in the target is found, and recorded in its shard's ledger
    legacy.s3.put_object(Bucket=bucket, Key="b/c", Body=b"tampered")
    lines = [
        jobcopy.verify_shard(jobcopy.WorkerConfig.from_env({**env, jobenv.ENV_INDEX: str(index)}))
        for index in range(len(plan.shards))
    ]
    assert sum(int(line.split("; ")[1].split()[0]) for line in lines) == plan.objects - 1
    assert sum(" 1 differ" in line for line in lines) == 1
    with TargetStore(endpoint) as store, Ledger(tmp_path / "after-verify.sqlite") as after:
        jobrun.merge_ledgers(store, "pdn-copy-ledger", root, plan.manifest(), after)
        states = {entry.key: entry.state for entry in after.entries()}
    assert [key for key, state in states.items() if state != "verified"] == ["b/c"]
    assert states["b/c"] == "mismatch"


def test_worker_refuses_a_job_that_does_not_match_its_plan(
    tmp_path: Path, endpoint: Endpoint, legacy: Legacy, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, url = legacy.source(), legacy.url
    bucket = f"mig-{os.urandom(4).hex()}"
    root = jobrun.ledger_root(bucket, "")
    with TargetStore(endpoint) as store:
        plan = jobrun.make_plan(source, url, bucket, "", 100, 10**9, False)
        jobrun.publish(store, "pdn-copy-ledger", root, plan)
    for name, value in {**KEYS, **SOURCE_KEYS}.items():
        monkeypatch.setenv(name, value)
    env = jobspec.worker_env(settings(plan_id=plan.plan_id, root=root, bucket=bucket, source=url,
                                      source_endpoint=endpoint.url, target_endpoint=endpoint.url))  # fmt: skip
    env[jobenv.ENV_STATE_DIR] = str(tmp_path)
    with pytest.raises(PdnError, match="not in the plan"):
        jobcopy.run_shard(jobcopy.WorkerConfig.from_env({**env, jobenv.ENV_INDEX: "1"}), {})
    with pytest.raises(PdnError, match="bucket is"):
        jobcopy.run_shard(jobcopy.WorkerConfig.from_env({**env, jobenv.ENV_INDEX: "0", jobenv.ENV_BUCKET: "x"}), {})
    with pytest.raises(PdnError, match="JOB_COMPLETION_INDEX"):
        jobcopy.WorkerConfig.from_env({**env, jobenv.ENV_INDEX: "-1"})


def test_directory_source_is_refused_on_cluster(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from pdn.cli import app as cli

    result = CliRunner().invoke(
        cli, ["migrate", "copy", "APP-1", "--source", str(tmp_path), "--on-cluster", "--site", "cikarang"],
        env=KEYS,
    )  # fmt: skip
    assert isinstance(result.exception, InputError)
    assert "--on-cluster" in str(result.exception) and "s3://" in str(result.exception)
    assert "drop --on-cluster" in str(result.exception.hint)


def test_cli_dry_run_plans_the_shards_and_writes_nothing(
    tmp_path: Path, endpoint: Endpoint, legacy: Legacy, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from pdn.cli import app as cli

    bucket = f"mig-{os.urandom(4).hex()}"
    result = CliRunner().invoke(
        cli,
        ["migrate", "copy", "APP-1", "--on-cluster", "--dry-run", "--source", legacy.url, "--source-endpoint",
         endpoint.url, "--endpoint", endpoint.url, "--site", "cikarang", "--bucket", bucket, "--shard-size", "10",
         "--shard-bytes", "30kB", "--pod-endpoint", "http://10.0.0.1:9000", "-o", str(tmp_path)],
        env={**KEYS, **SOURCE_KEYS},
    )  # fmt: skip
    assert result.exit_code == 0, (result.output, result.exception)
    # 33 objects of about 2 kB: 10 a shard by count, and 30 kB cuts none of them earlier
    assert "33 objects" in result.output and "in 4 shards" in result.output
    assert "not created" in result.output
    with TargetStore(endpoint) as store:
        assert not store.bucket_exists(bucket)
        assert not store.has_objects("pdn-copy-ledger", bucket)
    bad = CliRunner().invoke(
        cli,
        ["migrate", "copy", "APP-1", "--on-cluster", "--dry-run", "--source", legacy.url, "--source-endpoint",
         endpoint.url, "--endpoint", endpoint.url, "--site", "cikarang", "--shard-bytes", "lots"],
        env={**KEYS, **SOURCE_KEYS},
    )  # fmt: skip
    assert isinstance(bad.exception, InputError) and "--shard-bytes" in str(bad.exception)
    unreachable = CliRunner().invoke(
        cli,
        ["migrate", "copy", "APP-1", "--on-cluster", "--dry-run", "--source", legacy.url, "--source-endpoint",
         endpoint.url, "--endpoint", endpoint.url, "--site", "cikarang"],
        env={**KEYS, **SOURCE_KEYS},
    )  # fmt: skip
    assert isinstance(unreachable.exception, InputError) and "pods cannot reach" in str(unreachable.exception)


def test_job_pods_reach_only_dns_and_their_stores() -> None:
    """The copy pods hold the source's keys: they take no connections and reach nothing but
    cluster DNS and the two stores (by address where the URL names one)."""
    given = settings()
    policy = jobspec.network_policy(given)
    spec = policy["spec"]
    assert spec["policyTypes"] == ["Ingress", "Egress"] and "ingress" not in spec
    assert spec["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": given.job_name}
    assert (
        spec["podSelector"]["matchLabels"].items()
        <= jobspec.job(given)["spec"]["template"]["metadata"]["labels"].items()
    )
    dns, *stores = spec["egress"]
    assert stores
    assert dns["ports"] == [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]
    assert all(rule["to"][0]["ipBlock"]["cidr"].endswith("/32") for rule in stores), stores
    by_name = settings(source_endpoint="https://legacy.example.go.id", target_endpoint="http://10.250.7.1:9000")
    _, source, target = jobspec.network_policy(by_name)["spec"]["egress"]
    assert source == {"ports": [{"port": 443, "protocol": "TCP"}]}
    assert target == {"ports": [{"port": 9000, "protocol": "TCP"}], "to": [{"ipBlock": {"cidr": "10.250.7.1/32"}}]}

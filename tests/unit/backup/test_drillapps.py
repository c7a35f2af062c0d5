"""Drill apps as data: restricted pods, volume data in the backup but not the scratch folder, the
drill label on everything, a namespace-only NetworkPolicy; and the comparison of smoke answers."""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "migrate"))

from podsecurity import restricted_violations

from pdn.backup import drillapps
from pdn.backup.seed import DRILL_LABEL

RUN = "1201181500"
EXCLUDES = "backup.velero.io/backup-volumes-excludes"


def _app(volume_bytes: int = 10 * 1024 * 1024) -> dict[str, dict[str, Any]]:
    objects = drillapps.app_manifests("drill-x", "drill-app-01", "cikarang", RUN, volume_bytes)
    by_kind = {obj["kind"]: obj for obj in objects}
    assert len(by_kind) == len(objects) == 4
    return by_kind


def _seed() -> dict[str, Any]:
    return drillapps.seed_job("drill-x", "drill-app-01", RUN, 300, 10 * 1024 * 1024)


def test_app_names_are_numbered_from_one() -> None:
    assert drillapps.app_names(3) == ["drill-app-01", "drill-app-02", "drill-app-03"]
    assert drillapps.app_names(0) == []
    assert len(set(drillapps.app_names(20))) == 20


def test_every_pod_template_is_restricted() -> None:
    for template in (_app()["Deployment"]["spec"]["template"], _seed()["spec"]["template"]):
        pod = template["spec"]
        assert restricted_violations(pod) == []
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert pod["automountServiceAccountToken"] is False
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"]["drop"] == ["ALL"]
            assert container["imagePullPolicy"] == "Never"


def test_scratch_volume_is_excluded_from_the_file_system_backup_and_data_is_not() -> None:
    template = _app()["Deployment"]["spec"]["template"]
    excluded = template["metadata"]["annotations"][EXCLUDES].split(",")
    assert excluded == ["tmp"]
    volumes = {volume["name"]: volume for volume in template["spec"]["volumes"]}
    assert set(volumes) == {"data", "tmp"}
    assert "emptyDir" in volumes["tmp"] and "data" not in excluded
    assert volumes["data"]["persistentVolumeClaim"]["claimName"] == _app()["PersistentVolumeClaim"]["metadata"]["name"]
    assert "backup.velero.io/backup-volumes" not in template["metadata"]["annotations"]  # opt-out, not opt-in
    mounts = {m["name"]: m["mountPath"] for m in template["spec"]["containers"][0]["volumeMounts"]}
    assert mounts == {"data": "/data", "tmp": "/tmp"}


def test_every_object_carries_the_drill_label_for_clean_up() -> None:
    objects = [*_app().values(), _seed()]
    for obj in objects:
        assert obj["metadata"]["labels"][DRILL_LABEL] == RUN, obj["kind"]
        assert obj["metadata"]["namespace"] == "drill-x"
    for template in (_app()["Deployment"]["spec"]["template"], _seed()["spec"]["template"]):
        assert template["metadata"]["labels"][DRILL_LABEL] == RUN
    deployment = _app()["Deployment"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert DRILL_LABEL not in selector, "a restored app keeps matching its pods whatever the run"


def test_network_policy_opens_only_the_app_port_to_its_own_namespace() -> None:
    app = _app()
    policy = app["NetworkPolicy"]["spec"]
    assert policy["podSelector"] == {"matchLabels": {drillapps.APP_LABEL: "drill-app-01"}}
    assert policy["policyTypes"] == ["Ingress"]
    (rule,) = policy["ingress"]
    assert rule["from"] == [{"podSelector": {}}], "pods of the same namespace only: no namespaceSelector"
    assert rule["ports"] == [{"port": drillapps.PORT, "protocol": "TCP"}]
    (port,) = app["Deployment"]["spec"]["template"]["spec"]["containers"][0]["ports"]
    assert port["containerPort"] == drillapps.PORT
    service = app["Service"]["spec"]
    assert service["selector"] == policy["podSelector"]["matchLabels"]
    assert service["ports"][0]["targetPort"] == "http" and port["name"] == "http"


def test_app_runs_the_stand_in_on_its_volume() -> None:
    container = _app()["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    env = {item["name"]: item["value"] for item in container["env"]}
    assert container["args"] == ["-m", "pdn.migrate.standin"]
    assert env["PDN_STORAGE"] == "volume" and env["PDN_LEGACY_APP_ID"] == "drill-app-01"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert _app()["Deployment"]["spec"]["strategy"]["type"] == "Recreate"


def test_seed_job_fills_the_volume_with_the_asked_counts() -> None:
    job = drillapps.seed_job("drill-x", "drill-app-01", RUN, 250, 123_456_789)
    (container,) = job["spec"]["template"]["spec"]["containers"]
    args = container["args"]
    assert args[:3] == ["-m", "pdn.backup.volfiles", "seed"]
    options = dict(zip(args[3::2], args[4::2], strict=True))
    assert options == {"--dir": "/data", "--files": "250", "--bytes": "123456789", "--run-id": RUN}
    assert container["volumeMounts"] == [{"name": "data", "mountPath": "/data"}]
    (volume,) = job["spec"]["template"]["spec"]["volumes"]
    assert volume["persistentVolumeClaim"]["claimName"] == "drill-app-01-data"
    assert job["metadata"]["labels"]["pdn.go.id/role"] == "volume-seed"
    assert job["spec"]["template"]["spec"]["restartPolicy"] in ("OnFailure", "Never")


def test_seed_job_arguments_parse_with_the_volfiles_command_line(tmp_path: Path) -> None:
    """The Job's argv is accepted by volfiles' own parser (a renamed option would fail here, not on a node)."""
    from pdn.backup import volfiles

    args = drillapps.seed_job("ns", "drill-app-01", RUN, 3, 3000)["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[:2] == ["-m", "pdn.backup.volfiles"]
    argv = [str(tmp_path) if arg == "/data" else arg for arg in args[2:]]
    assert volfiles.main(argv) == 0
    files = list((tmp_path / "drill" / RUN).rglob("*.bin"))
    assert len(files) == 3 and sum(path.stat().st_size for path in files) == 3000


@pytest.mark.parametrize(
    ("volume_bytes", "size"),
    [
        (0, "1Gi"),
        (1, "1Gi"),
        (512 * 1024 * 1024, "1Gi"),
        (600_000_000, "2Gi"),
        (1 << 30, "2Gi"),
        ((1 << 30) + 1, "3Gi"),
        (5 * (1 << 30), "10Gi"),
    ],
)
def test_claim_is_twice_the_data_in_whole_gib_at_least_one(volume_bytes: int, size: str) -> None:
    assert drillapps.claim_size(volume_bytes) == size


def test_claim_asks_for_the_computed_size() -> None:
    claim = _app(600_000_000)["PersistentVolumeClaim"]
    assert claim["metadata"]["name"] == "drill-app-01-data"
    assert claim["spec"]["resources"]["requests"]["storage"] == "2Gi"
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]


def _answer(digest: str = "d" * 64, ready: int = 200, entries: dict[str, str] | None = None) -> dict[str, Any]:
    """One app's normalised smoke answers, as :func:`drillapps.smoke` makes them."""
    files = entries if entries is not None else {"drill/r/a.bin": "1" * 64, "drill/r/b.bin": "2" * 64}
    return {
        "healthz": {"status": 200, "app_id": "drill-app-01"},
        "readyz": {"status": ready},
        "volume": {"status": 200, "files": len(files), "bytes": 2000, "digest": digest},
        "entries": dict(files),
        "error": None,
    }


def test_equal_answers_compare_clean() -> None:
    source = {"drill-app-01": _answer(), "drill-app-02": _answer()}
    assert drillapps.compare(source, copy.deepcopy(source)) == []
    assert drillapps.compare({}, {}) == []


def test_changed_volume_names_the_changed_files() -> None:
    restored = _answer("e" * 64, entries={"drill/r/a.bin": "1" * 64, "drill/r/b.bin": "9" * 64, "drill/r/c.bin": "3"})
    problems = drillapps.compare({"drill-app-01": _answer()}, {"drill-app-01": restored})
    lines = [p for p in problems if "files differ" in p]
    assert lines == ["drill-app-01: files differ: drill/r/b.bin, drill/r/c.bin"]
    assert any(p.startswith("drill-app-01: volume differs") for p in problems)
    assert all(p.startswith("drill-app-01:") for p in problems)


def test_missing_file_on_the_restored_side_is_named() -> None:
    restored = _answer("e" * 64, entries={"drill/r/a.bin": "1" * 64})
    problems = drillapps.compare({"drill-app-01": _answer()}, {"drill-app-01": restored})
    assert "drill-app-01: files differ: drill/r/b.bin" in problems


def test_app_missing_after_the_restore() -> None:
    source = {"drill-app-01": _answer(), "drill-app-02": _answer()}
    problems = drillapps.compare(source, {"drill-app-01": _answer()})
    assert problems == ["drill-app-02: not running after the restore"]


def test_source_that_did_not_answer_is_a_problem_even_when_both_sides_agree() -> None:
    silent = _answer(ready=503)
    silent["error"] = "connection refused"
    problems = drillapps.compare({"drill-app-01": silent}, {"drill-app-01": copy.deepcopy(silent)})
    assert len(problems) == 1 and "did not answer on the source" in problems[0]
    assert "connection refused" in problems[0]
    no_volume = _answer()
    no_volume["volume"]["status"] = 500
    assert any("did not answer on the source" in p for p in drillapps.compare({"a": no_volume}, {"a": no_volume}))


def test_readyz_status_difference_is_reported() -> None:
    problems = drillapps.compare({"drill-app-01": _answer()}, {"drill-app-01": _answer(ready=503)})
    assert len(problems) == 1
    assert problems[0].startswith("drill-app-01: readyz differs")
    assert "503" in problems[0]

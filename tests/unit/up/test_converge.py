"""A re-run of ``pdn up`` redoes exactly what changed: records, digests and each step's decision."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from pdn import converge, paths, up, upinputs
from pdn.errors import PdnError
from pdn.nodes.runtime import Node

ROLE_DEFAULTS = Path("playbooks/collections/ansible_collections/pdn/hardening/roles/pdn_ssh/defaults/main.yml")


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of what the digests read (playbooks, templates, stack program and files, site model,
    the steps' code), as PDN_REPO, with its own lab state folder."""
    root = tmp_path / "repo"
    source = paths.repo_root()
    for part in ("playbooks", "templates", "infra", "stacks", "scripts/pdn"):
        shutil.copytree(source / part, root / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(source / "Pulumi.yaml", root / "Pulumi.yaml")
    monkeypatch.setenv("PDN_REPO", str(root))
    monkeypatch.delenv("PDN_SITES", raising=False)
    monkeypatch.setenv("PDN_LAB_DIR", str(tmp_path / "lab"))
    monkeypatch.setattr(upinputs, "cluster_identity", lambda site: f"uid-of-{site}")
    return root


def _node(name: str = "pdn-cikarang-node-1") -> Node:
    return Node(name=name, site="cikarang", index=1, role="worker", failure_domain="fd-a", zone="z1", port=22101)


def _inventory(out: Path, apps: int) -> None:
    folder = out / "inventory"
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "inventory.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["app_id", "name", "data_gb"])
        writer.writerows([f"app-{i:03d}", f"Aplikasi {i}", "1"] for i in range(apps))


def _digests(out: Path) -> dict[str, str]:
    node = _node()
    state = {"container": "c1", "packages": "p1"}
    return {
        "harden": upinputs.harden_digest(node, upinputs.hardening_inputs(), state),
        "plan": upinputs.plan_digest(out, 100),
        "stacks": upinputs.stack_digest("cikarang", None),
    }


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{path}: no {old!r}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_records_survive_a_new_process_and_are_written_whole(tmp_path: Path) -> None:
    file = tmp_path / "converge" / "up.json"
    records = converge.Records(file)
    assert records.get("harden/n1") is None
    records.put("harden/n1", "d1", note="x")
    again = converge.Records(file)
    record = again.matches("harden/n1", "d1")
    assert record is not None and record.extra == {"note": "x"} and record.age_seconds() < 60
    assert again.matches("harden/n1", "d2") is None
    assert "unchanged since" in record.describe() and "d1" in record.describe()
    again.put("harden/n1", "d2")
    assert converge.Records(file).matches("harden/n1", "d2") is not None
    assert [p.name for p in file.parent.iterdir()] == ["up.json"]  # no temporary left behind


def test_unreadable_records_name_the_file(tmp_path: Path) -> None:
    file = tmp_path / "up.json"
    file.write_text("{not json", encoding="utf-8")
    with pytest.raises(PdnError, match=str(file)):
        converge.Records(file)
    file.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(PdnError, match="not a JSON object"):
        converge.Records(file)


def test_tree_digest_sees_content_names_and_new_files_not_caches(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.yml").write_text("one\n", encoding="utf-8")
    first = converge.tree_digest(tmp_path / "a")
    (tmp_path / "a" / "__pycache__").mkdir()
    (tmp_path / "a" / "__pycache__" / "x.pyc").write_bytes(b"\0")
    assert converge.tree_digest(tmp_path / "a") == first
    (tmp_path / "a" / "x.yml").write_text("two\n", encoding="utf-8")
    second = converge.tree_digest(tmp_path / "a")
    assert second != first
    (tmp_path / "a" / "y.yml").write_text("", encoding="utf-8")
    assert converge.tree_digest(tmp_path / "a") != second
    assert converge.tree_digest(tmp_path / "missing") != converge.tree_digest(tmp_path / "other-missing")


def test_a_changed_role_default_changes_the_hardening_only(repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _inventory(out, 100)
    before = _digests(out)
    assert _digests(out) == before  # stable: nothing changed, nothing to do
    _edit(repo / ROLE_DEFAULTS, "\n", "\n# an operator's change\n")
    after = _digests(out)
    assert after["harden"] != before["harden"]
    assert (after["plan"], after["stacks"]) == (before["plan"], before["stacks"])


def test_a_changed_site_field_changes_the_stack_and_plan_not_the_hardening(repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _inventory(out, 100)
    before = _digests(out)
    _edit(repo / "stacks" / "sites.yaml", "name: PDN Cikarang", "name: PDN Cikarang Barat")
    after = _digests(out)
    assert after["stacks"] != before["stacks"] and after["plan"] != before["plan"]
    assert after["harden"] == before["harden"]


def test_one_new_app_changes_the_plan_only(repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _inventory(out, 100)
    before = _digests(out)
    _inventory(out, 101)
    after = _digests(out)
    assert after["plan"] != before["plan"]
    assert (after["harden"], after["stacks"]) == (before["harden"], before["stacks"])


def test_a_new_cluster_or_onboarded_tenant_changes_the_stack(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = upinputs.stack_digest("cikarang", None)
    tenants = tmp_path / "tenants.yaml"
    tenants.write_text("cikarang:\n  - {name: arsip-nasional, tier: vital, classification: secret}\n", "utf-8")
    assert upinputs.stack_digest("cikarang", tenants) != before
    assert upinputs.stack_digest("batam", tenants) == upinputs.stack_digest("batam", None)  # not batam's tenant
    monkeypatch.setattr(upinputs, "cluster_identity", lambda site: "a-purged-and-new-cluster")
    assert upinputs.stack_digest("cikarang", None) != before


class FakePdn:
    """Stands in for ``pdn ...`` child processes: records each call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    def __call__(self, *args: str) -> None:
        self.calls.append(args)


@pytest.fixture
def fake_pdn(monkeypatch: pytest.MonkeyPatch) -> FakePdn:
    fake = FakePdn()
    monkeypatch.setattr(up, "_pdn", fake)
    return fake


def _converge(tmp_path: Path, *forced: str) -> up.Converge:
    return up.Converge(converge.Records(tmp_path / "records.json"), frozenset(forced))


def test_harden_reruns_exactly_the_changed_node(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_pdn: FakePdn
) -> None:
    nodes = [_node("pdn-cikarang-node-1"), _node("pdn-cikarang-node-2")]
    states = {node.name: {"container": f"id-{node.name}", "packages": "before"} for node in nodes}
    monkeypatch.setattr(up, "_step_nodes", lambda plan, every_site: nodes)
    monkeypatch.setattr(upinputs, "node_state", lambda node: dict(states[node.name]))
    plan = up.plan_sites([])
    assert up._harden_changed(plan, True, _converge(tmp_path)) == "done"
    assert fake_pdn.calls == [("harden",)]
    fake_pdn.calls.clear()
    assert up._harden_changed(plan, True, _converge(tmp_path)) == "unchanged"
    assert fake_pdn.calls == []
    states["pdn-cikarang-node-2"]["packages"] = "a package installed by hand"
    assert up._harden_changed(plan, True, _converge(tmp_path)) == "done: 1 of 2 nodes"
    assert fake_pdn.calls == [("harden", "--limit", "pdn-cikarang-node-2")]
    fake_pdn.calls.clear()
    assert up._harden_changed(plan, True, _converge(tmp_path, "harden")) == "done"  # --force harden
    assert fake_pdn.calls == [("harden",)]


def test_the_report_rescans_only_the_node_hardened_again(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_pdn: FakePdn
) -> None:
    nodes = [_node("pdn-cikarang-node-1"), _node("pdn-cikarang-node-2")]
    monkeypatch.setattr(up, "_step_nodes", lambda plan, every_site: nodes)
    folder = tmp_path / "harden"
    folder.mkdir()
    plan, state = up.plan_sites([]), _converge(tmp_path)
    for node in nodes:
        state.records.put(f"harden/{node.name}", "hardened-once")
    assert up._report_changed(plan, True, folder, state) == "done"
    assert fake_pdn.calls == [("harden", "report", "--out", str(folder))]
    fake_pdn.calls.clear()
    for node in nodes:
        (folder / f"{node.name}.json").write_text("{}", encoding="utf-8")
    assert up._report_changed(plan, True, folder, state) == "unchanged" and not fake_pdn.calls
    state.records.put("harden/pdn-cikarang-node-2", "hardened-again")
    assert up._report_changed(plan, True, folder, state) == "done: 1 of 2 nodes"
    assert fake_pdn.calls == [("harden", "report", "--out", str(folder), "--node", "pdn-cikarang-node-2")]
    fake_pdn.calls.clear()
    (folder / "pdn-cikarang-node-1.json").unlink()  # its report went away: scan it again
    assert up._report_changed(plan, True, folder, state) == "done: 1 of 2 nodes"
    assert fake_pdn.calls == [("harden", "report", "--out", str(folder), "--node", "pdn-cikarang-node-1")]


def test_the_plan_is_redone_when_its_outputs_changed(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "migrate"
    runs: list[int] = []

    def plan_migration(folder: Path, apps: int) -> None:
        _inventory(folder, apps)
        (folder / "plan.csv").write_text("app_id,wave,site\napp-000,1,cikarang\n", encoding="utf-8")
        (folder / "tenants.yaml").write_text("cikarang: []\n", encoding="utf-8")
        runs.append(apps)

    monkeypatch.setattr(up, "_plan_migration", plan_migration)
    state = _converge(tmp_path)
    assert up._plan_changed(out, 100, state) == "done"
    assert up._plan_changed(out, 100, state) == "unchanged"
    (out / "plan.csv").write_text("edited by hand\n", encoding="utf-8")
    assert up._plan_changed(out, 100, state) == "done"
    assert up._plan_changed(out, 120, state) == "done"  # another inventory size
    assert runs == [100, 100, 120]


def test_only_changed_stacks_run_and_a_lost_tenant_namespace_counts(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_pdn: FakePdn
) -> None:
    digests = {"cikarang": "c1", "batam": "b1"}
    namespaces = {"cikarang": ["tenant-a"], "batam": ["tenant-b"]}
    monkeypatch.setattr(upinputs, "stack_digest", lambda site, tenants: digests[site])
    monkeypatch.setattr(upinputs, "tenant_namespaces", lambda site: list(namespaces[site]))
    plan, state = up.plan_sites(["cikarang"]), _converge(tmp_path)
    assert plan.stacks == ["cikarang", "batam"]
    assert up._stacks_changed(plan, [], state) == "done"
    assert fake_pdn.calls == [("stacks", "up", "--lab", "--site", "cikarang", "--site", "batam")]
    fake_pdn.calls.clear()
    assert up._stacks_changed(plan, [], state) == "unchanged" and not fake_pdn.calls
    digests["batam"] = "b2"
    assert up._stacks_changed(plan, [], state) == "done: 1 of 2 stacks"
    assert fake_pdn.calls == [("stacks", "up", "--lab", "--site", "batam")]
    fake_pdn.calls.clear()
    namespaces["cikarang"] = []  # someone deleted the tenant's namespace
    assert up._stacks_changed(plan, [], state) == "done: 1 of 2 stacks"
    assert fake_pdn.calls == [("stacks", "up", "--lab", "--site", "cikarang")]


def test_the_drill_runs_again_after_a_failure_or_a_changed_stack(repo: Path, tmp_path: Path, fake_pdn: FakePdn) -> None:
    report = tmp_path / "drill" / "drill.json"
    report.parent.mkdir()
    plan, state = up.plan_sites(["cikarang"]), _converge(tmp_path)
    drill = ["backup", "drill", "--from", "cikarang", "--to", "batam"]
    report.write_text(json.dumps({"passed": True}), encoding="utf-8")
    assert up._drill_changed(plan, drill, report, state) == "done"
    assert up._drill_changed(plan, drill, report, state) == "unchanged"
    report.write_text(json.dumps({"passed": False}), encoding="utf-8")
    assert up._drill_changed(plan, drill, report, state) == "done"
    report.write_text(json.dumps({"passed": True}), encoding="utf-8")
    state.records.put("stacks/batam", "batam-changed")
    assert up._drill_changed(plan, drill, report, state) == "done"
    assert up._drill_changed(plan, [*drill, "--apps", "1"], report, state) == "done"
    assert len(fake_pdn.calls) == 4


def _wave(out: Path, apps: list[str]) -> None:
    (out / "inventory").mkdir(parents=True)
    with (out / "plan.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["app_id", "wave", "site"])
        writer.writerows([app, "1", "cikarang"] for app in apps)
    with (out / "inventory" / "inventory.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["app_id", "data_gb"])
        writer.writerows([app, "2"] for app in apps)


def test_a_verified_copy_is_skipped_and_a_lost_bucket_is_copied_again(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "migrate"
    _wave(out, ["app-a", "app-b"])
    copied: list[str] = []
    buckets = {"pdn-app-a", "pdn-app-b"}
    monkeypatch.setattr(up, "_copy_and_verify", lambda out, site, app, source, on_cluster: copied.append(app))
    monkeypatch.setattr(up, "_site_s3", lambda site: f"client of {site}")
    monkeypatch.setattr(up, "_buckets", lambda client: set(buckets) if client == "client of cikarang" else set())
    monkeypatch.setattr("pdn.naming.bucket_name", lambda app: f"pdn-{app}")
    monkeypatch.setattr(upinputs, "copy_digest", lambda site, app, files, on_cluster: f"{app}:{sorted(files)}")
    verified: dict[str, bool] = {"app-a": True, "app-b": True}
    monkeypatch.setattr("pdn.upsummary.fully_verified", lambda ledger: verified[ledger.name.split(".")[0]])
    state = _converge(tmp_path)
    run: Any = lambda: up._migrate_first_wave(out, ["cikarang"], False, 20.0, state)  # noqa: E731
    assert run() == "done" and copied == ["app-a", "app-b"]
    copied.clear()
    assert run() == "unchanged" and copied == []
    buckets.discard("pdn-app-b")  # the target store lost the app's bucket
    assert run() != "unchanged" and copied == ["app-b"]
    copied.clear()
    buckets.add("pdn-app-b")
    verified["app-a"] = False  # a ledger that does not say every object was verified
    run()
    assert copied == ["app-a"]


def test_a_namespace_being_deleted_is_no_tenant_any_more(monkeypatch: pytest.MonkeyPatch) -> None:
    """A drill's namespace, cleaned up just before the summary, is not counted as a tenant."""

    class FakeKube:
        def list_items(self, where: str, label_selector: str | None = None) -> list[dict[str, Any]]:
            assert label_selector == upinputs.TENANT_LABEL
            return [
                {"metadata": {"name": "tenant-b"}, "status": {"phase": "Active"}},
                {"metadata": {"name": "drill-1", "deletionTimestamp": "2026-12-02T06:00:00Z"}},
                {"metadata": {"name": "drill-2"}, "status": {"phase": "Terminating"}},
                {"metadata": {"name": "tenant-a"}},
            ]

    monkeypatch.setattr("pdn.kube.site", lambda site: FakeKube())
    assert upinputs.tenant_namespaces("cikarang") == ["tenant-a", "tenant-b"]
    from pdn.upsummary import count_tenants

    assert count_tenants("cikarang") == 2

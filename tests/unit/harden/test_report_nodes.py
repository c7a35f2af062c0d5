"""``pdn harden report --node``: judge only the named nodes, keep the others' reports in the index."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pdn.cli import app
from pdn.errors import InputError
from pdn.harden import cli as harden_cli
from pdn.harden.report import LynisResult, NodeReport, SshAuditResult, earlier_report, from_json, to_json
from pdn.nodes.runtime import Node


def _node(index: int) -> Node:
    return Node(name=f"n{index}", site="cikarang", index=index, role="worker", failure_domain="a", zone="z", port=1)


def _report(node: str, index: int) -> NodeReport:
    return NodeReport(node, "worker", LynisResult(index, 250, ["W1"], ["S1|text|-"]), SshAuditResult(["f"], [], []))


def test_a_report_read_back_equals_the_one_written(tmp_path: Path) -> None:
    report = _report("n1", 84)
    report.kube_bench = {"ok": True, "passed": ["4.1.1"], "waived": {}, "not_passed": [], "error": None}
    assert from_json(json.loads(json.dumps(to_json(report)))) == report
    (tmp_path / "n2.json").write_text("{broken", encoding="utf-8")
    assert earlier_report(tmp_path, "n2") is None and earlier_report(tmp_path, "n3") is None


def test_only_the_named_node_is_judged_and_the_index_keeps_the_other(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    judged: list[str] = []

    def judge(node: Node) -> NodeReport:
        judged.append(node.name)
        return _report(node.name, 90)

    monkeypatch.setattr(harden_cli, "list_nodes", lambda site=None: [_node(1), _node(2), _node(3)])
    monkeypatch.setattr(harden_cli, "judge", judge)
    folder = tmp_path / "report"
    folder.mkdir()
    (folder / "n1.json").write_text(json.dumps(to_json(_report("n1", 80))), encoding="utf-8")
    runner = CliRunner()
    done = runner.invoke(app, ["harden", "report", "--out", str(folder), "--node", "n2"])
    assert done.exit_code == 0, done.output
    assert judged == ["n2", "n3"]  # n3 had no report to keep
    index = json.loads((folder / "index.json").read_text(encoding="utf-8"))
    assert [(n["node"], n["lynis"]["hardening_index"]) for n in index["nodes"]] == [("n1", 80), ("n2", 90), ("n3", 90)]
    assert "1 kept" in " ".join(done.output.split())
    refused = runner.invoke(app, ["harden", "report", "--out", str(folder), "--node", "n9"])
    assert refused.exit_code != 0 and isinstance(refused.exception, InputError)
    assert "no running node n9" in str(refused.exception)

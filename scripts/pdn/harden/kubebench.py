"""kube-bench's CIS Kubernetes worker-node checks on a real node, judged against a waiver file.

kube-bench and its benchmark definitions (``cfg/``, assembled from the pinned module by the
toolchain) are sent to the node over the same SSH channel as Lynis, run there as root with
``--targets node`` and removed again; its JSON says PASS, FAIL, WARN or INFO per check. A check
that does not pass must be waived, with the reason, in ``playbooks/vars/kube-bench-waivers.yml``
(WARN is kube-bench's word for a check it cannot decide automatically: those count too, so that
every applicable check of the node section is either passed or explained).
"""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pdn import safeload
from pdn.errors import InputError, PdnError
from pdn.nodes.runtime import Node, ssh_base_args
from pdn.paths import repo_root
from pdn.toolchain import resolve

BENCHMARK = "cis-1.10"  # the newest CIS Kubernetes benchmark kube-bench v0.12 ships (1.30+)
REMOTE_DIR = "/opt/pdn/kube-bench"


@dataclass
class KubeBenchResult:
    """The node section's outcome: every check id with its state, and which failures are waived."""

    benchmark: str
    states: dict[str, str] = field(default_factory=dict)  # check id -> PASS | FAIL | WARN | INFO
    texts: dict[str, str] = field(default_factory=dict)
    waived: dict[str, str] = field(default_factory=dict)  # check id -> reason
    error: str | None = None

    @property
    def passed(self) -> list[str]:
        return sorted(check for check, state in self.states.items() if state == "PASS")

    @property
    def not_passed(self) -> list[str]:
        return sorted(check for check, state in self.states.items() if state in ("FAIL", "WARN"))

    @property
    def unwaived(self) -> list[str]:
        return [check for check in self.not_passed if check not in self.waived]

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.states) and not self.unwaived

    def summary(self) -> str:
        if self.error:
            return f"error: {self.error}"
        return (
            f"{len(self.passed)} passed, {len(self.not_passed) - len(self.unwaived)} waived, "
            f"{len(self.unwaived)} not passed"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "benchmark": self.benchmark,
            "passed": self.passed,
            "waived": {check: self.waived[check] for check in self.not_passed if check in self.waived},
            "not_passed": self.unwaived,
            "error": self.error,
            "ok": self.ok,
        }


def waivers_path() -> Path:
    return repo_root() / "playbooks" / "vars" / "kube-bench-waivers.yml"


def load_waivers(path: Path | None = None) -> dict[str, str]:
    """Check id -> reason; a waiver without a reason is an error naming the check."""
    path = path or waivers_path()
    data: Any = safeload.load_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("waivers"), dict):
        raise InputError(f"{path}: expected a mapping with 'waivers' (check id -> reason)")
    empty = sorted(str(check) for check, reason in data["waivers"].items() if not str(reason or "").strip())
    if empty:
        raise InputError(f"{path}: every waiver needs a reason; missing for {', '.join(empty)}")
    return {str(check): " ".join(str(reason).split()) for check, reason in data["waivers"].items()}


def parse(text: str, waivers: dict[str, str]) -> KubeBenchResult:
    """Read ``kube-bench run --json`` output (``Controls`` -> ``tests`` -> ``results``)."""
    result = KubeBenchResult(BENCHMARK)
    try:
        document = json.loads(text)
    except ValueError as error:
        result.error = f"kube-bench printed no JSON: {error}"
        return result
    for controls in document.get("Controls") or []:
        for group in controls.get("tests") or []:
            for check in group.get("results") or []:
                number = str(check.get("test_number"))
                result.states[number] = str(check.get("status"))
                result.texts[number] = str(check.get("test_desc", ""))
    result.waived = {check: reason for check, reason in waivers.items() if check in result.states}
    if not result.states:
        result.error = "kube-bench ran no node check (is the kubelet running?)"
    return result


def bundle() -> bytes:
    """kube-bench and its ``cfg/`` as one tar stream, to unpack on the node."""
    binary = resolve("kube-bench")
    cfg = binary.parent.parent / "cfg"
    if not cfg.is_dir():
        raise PdnError(
            f"kube-bench's benchmark definitions are missing ({cfg})", hint="pdn toolchain build kube-bench --force"
        )
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        archive.add(binary, arcname="kube-bench")
        archive.add(cfg, arcname="cfg")
    return buffer.getvalue()


def run(node: Node, timeout: float = 300) -> KubeBenchResult:
    """Run the node checks on ``node`` over SSH and judge them against the waiver file."""
    waivers = load_waivers()
    script = (
        f"set -e; sudo rm -rf {REMOTE_DIR}; sudo install -d -m 0700 {REMOTE_DIR}; "
        f"trap 'sudo rm -rf {REMOTE_DIR}' EXIT; sudo tar -x -C {REMOTE_DIR}; "
        f"sudo {REMOTE_DIR}/kube-bench run --targets node --benchmark {BENCHMARK} "
        f"--config-dir {REMOTE_DIR}/cfg --json --noremediations"
    )
    try:
        done = subprocess.run([*ssh_base_args(node), script], input=bundle(), capture_output=True, timeout=timeout,
                              check=False)  # fmt: skip
    except subprocess.TimeoutExpired:
        return KubeBenchResult(BENCHMARK, error=f"kube-bench did not finish in {timeout:.0f} s")
    output = done.stdout.decode(errors="replace")
    if done.returncode != 0 and not output.strip():
        return KubeBenchResult(BENCHMARK, error=done.stderr.decode(errors="replace").strip()[-300:] or "ssh failed")
    return parse(output, waivers)

"""OpenSCAP in the VM: evaluate the ANSSI profile over SSH and count the results.

Debian 12 ships ``ssg-debian`` 0.1.65, whose newest content is for Debian 11 and whose ANSSI
profiles still carry the DAT-NT28 names: ``anssi_np_nt28_average`` is the "intermediary" level
of what ANSSI later published as BP-028 (the ``anssi_bp28_intermediary`` of newer content,
which Debian 12 does not package). Its platform check only accepts ``/etc/debian_version``
11.x, so every rule would be "not applicable" on Debian 12; :data:`WIDEN_PLATFORM` copies the
data stream inside the VM with that one pattern widened to 11.x and 12.x and leaves every rule
as it is.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pdn import safeload
from pdn.errors import InputError, PdnError
from pdn.harden.runner import playbooks_dir
from pdn.vm.machine import Vm, fetch, ssh

CONTENT = "/usr/share/xml/scap/ssg/content/ssg-debian11-ds.xml"
PROFILE = "xccdf_org.ssgproject.content_profile_anssi_np_nt28_average"
RULE_PREFIX = "xccdf_org.ssgproject.content_rule_"
WORK = "/var/tmp/pdn-oscap"
WIDENED = f"{WORK}/ssg-debian11-12-ds.xml"
WIDEN_PLATFORM = (
    f"sudo install -d -m 0700 {WORK} && "
    f'sudo sed \'s|<ind:pattern operation="pattern match">^11.\\[0-9\\]+\\$</ind:pattern>|'
    f'<ind:pattern operation="pattern match">^1[12].[0-9]+$</ind:pattern>|\' {CONTENT} '
    f"| sudo tee {WIDENED} >/dev/null && sudo grep -q '\\^1\\[12\\]' {WIDENED}"
)
XCCDF_NS = "http://checklists.nist.gov/xccdf/1.2"
#: Results that count as judged; ``notselected`` rules are outside the profile.
COUNTED = ("pass", "fail", "notapplicable", "notchecked", "error", "unknown", "informational", "fixed")


@dataclass
class ScanResult:
    """Per-rule outcome of one ``oscap xccdf eval``."""

    profile: str
    results: dict[str, str]
    seconds: float = 0.0
    results_file: Path | None = None

    @property
    def counts(self) -> dict[str, int]:
        found = Counter(self.results.values())
        return {name: found.get(name, 0) for name in COUNTED if found.get(name, 0) or name in ("pass", "fail")}

    @property
    def failed(self) -> list[str]:
        return sorted(rule for rule, outcome in self.results.items() if outcome in ("fail", "error", "unknown"))


@dataclass
class Waivers:
    """Rules allowed to fail, each with the reason (``playbooks/vars/openscap-waivers.yml``)."""

    profile: str
    reasons: dict[str, str] = field(default_factory=dict)
    max_failures: int = 15


def parse_results(xml_text: str | bytes) -> dict[str, str]:
    """Rule id (without the SSG prefix) to result, from an XCCDF 1.2 results document or ARF."""
    root = ET.fromstring(xml_text)  # our own VM's output, not untrusted input
    results: dict[str, str] = {}
    for item in root.iter(f"{{{XCCDF_NS}}}rule-result"):
        outcome = item.find(f"{{{XCCDF_NS}}}result")
        if outcome is None or outcome.text is None or outcome.text == "notselected":
            continue
        results[item.get("idref", "").removeprefix(RULE_PREFIX)] = outcome.text
    if not results:
        raise PdnError("the OpenSCAP results hold no rule results (wrong profile or content?)")
    return results


def waivers_path() -> Path:
    return playbooks_dir() / "vars" / "openscap-waivers.yml"


def load_waivers(path: Path | None = None) -> Waivers:
    path = path or waivers_path()
    data: Any = safeload.load_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("waivers"), dict):
        raise InputError(f"{path}: expected a mapping with 'profile' and 'waivers' (rule id -> reason)")
    empty = sorted(rule for rule, reason in data["waivers"].items() if not str(reason or "").strip())
    if empty:
        raise InputError(f"{path}: every waiver needs a reason; missing for {', '.join(empty)}")
    return Waivers(str(data.get("profile", PROFILE)), {str(k): str(v).strip() for k, v in data["waivers"].items()},
                   int(data.get("max_failures", 15)))  # fmt: skip


def evaluate(vm: Vm, local_dir: Path, *, label: str = "scan", profile: str = PROFILE) -> ScanResult:
    """Run ``oscap xccdf eval`` in ``vm`` (minutes under emulation) and fetch its results."""
    ssh(vm, WIDEN_PLATFORM, timeout=120)
    remote = f"{WORK}/{label}-results.xml"
    started = time.monotonic()
    proc = ssh(vm, f"sudo oscap xccdf eval --profile {profile} --results {remote} {WIDENED} >/dev/null",
               timeout=1800, check=False)  # fmt: skip
    seconds = time.monotonic() - started
    # oscap exits 2 when a rule fails: that is a result, not an error.
    if proc.returncode not in (0, 2):
        raise PdnError(f"oscap xccdf eval failed ({proc.returncode}): {proc.stderr.strip()[-300:]}")
    local = fetch(vm, remote, local_dir / f"oscap-{label}-results.xml")
    return ScanResult(profile, parse_results(local.read_bytes()), round(seconds, 1), local)

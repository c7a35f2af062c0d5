"""Run the stack program under Pulumi mocks and record every registered resource."""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import yaml

REPO = Path(__file__).resolve().parents[3]
if str(REPO / "infra") not in sys.path:
    sys.path.insert(0, str(REPO / "infra"))

FAKE_CREDENTIALS = {
    site: {"accessKey": f"AKIA-{site}-unit", "secretKey": f"s3cr3t-{site}-do-not-leak"}
    for site in ("cikarang", "batam", "ikn", "labuan-bajo")
}


@dataclass
class Registered:
    type: str
    name: str
    inputs: dict[str, Any]
    custom: bool
    provider: str = ""  # the explicit provider's reference (``URN::id``)

    @property
    def kind(self) -> str:
        return str(self.inputs.get("kind", self.type.rsplit(":", 1)[-1]))

    @property
    def meta(self) -> dict[str, Any]:
        return dict(self.inputs.get("metadata") or {})


class Recorder(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.resources: list[Registered] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        self.resources.append(
            Registered(args.typ, args.name, dict(args.inputs), bool(args.custom), args.provider or "")
        )
        meta = args.inputs.get("metadata") or {}
        ident = f"{meta.get('namespace', '')}/{meta.get('name', args.name)}".lstrip("/")
        return ident, dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        return {}, []


def stack_config(site: str) -> dict[str, Any]:
    """The ``pdn:`` config of the real stack file, keys without the namespace."""
    data = yaml.safe_load((REPO / "stacks" / f"Pulumi.{site}.yaml").read_text(encoding="utf-8"))
    return {key.split(":", 1)[1]: value for key, value in data["config"].items() if key.startswith("pdn:")}


def _ensure_event_loop() -> None:
    """Pulumi's mock runtime runs on the thread's current event loop; a test that used
    ``asyncio.run`` before leaves the main thread with none, so give it one again."""
    try:
        asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        asyncio.set_event_loop(asyncio.new_event_loop())


def run_program(site: str, config: dict[str, Any] | None = None, *, credentials: bool = True) -> list[Registered]:
    """Build the program for ``site`` under mocks; ``config`` replaces the stack file's config."""
    from pdn_infra.program import build

    values = dict(stack_config(site) if config is None else config)
    if credentials:
        values.setdefault("s3Credentials", FAKE_CREDENTIALS)
    recorder = Recorder()
    _ensure_event_loop()
    pulumi.runtime.set_mocks(recorder, project="pdn", stack=site, preview=False)
    flat = {f"pdn:{key}": value if isinstance(value, str) else json.dumps(value) for key, value in values.items()}
    pulumi.runtime.set_all_config(flat, secret_keys=["pdn:s3Credentials"])

    @pulumi.runtime.test
    def body() -> None:
        build(pulumi.Config("pdn"))

    body()
    return recorder.resources


def of_kind(resources: list[Registered], kind: str) -> list[Registered]:
    return [r for r in resources if r.custom and r.kind == kind]

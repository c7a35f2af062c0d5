"""Run ``up``/``preview``/``destroy`` of site stacks through the Automation API, with progress."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pulumi import automation as auto
from rich.progress import BarColumn, SpinnerColumn, TextColumn, TimeElapsedColumn

from pdn.errors import PdnError, ToolMissingError
from pdn.progress import StepProgress
from pdn.stacks.workspace import Workspace, lab_credentials


@dataclass
class Outcome:
    site: str
    action: str
    seconds: float
    changes: dict[str, int] = field(default_factory=dict)
    resources: int = 0

    @property
    def changed(self) -> int:
        return sum(count for op, count in self.changes.items() if op != "same")


def pulumi_command(env: dict[str, str]) -> auto.PulumiCommand:
    """The ``pulumi`` CLI on the workspace PATH (the toolchain's first); it must sit in a ``bin/``."""
    import shutil

    found = shutil.which("pulumi", path=env.get("PATH"))
    if not found:
        raise ToolMissingError("the pulumi CLI is not on PATH", hint="pdn toolchain build pulumi")
    binary = Path(found).resolve()
    if binary.parent.name != "bin":
        raise ToolMissingError(f"pulumi at {binary} is not inside a bin/ folder (Automation API needs one)")
    return auto.PulumiCommand(root=str(binary.parent.parent), skip_version_check=True)


def select_stack(ws: Workspace, site: str) -> auto.Stack:
    """Create or select ``site`` in the workspace; in the lab, store the lab's S3 keys as secrets."""
    opts = auto.LocalWorkspaceOptions(work_dir=str(ws.work_dir), env_vars=ws.env, pulumi_command=pulumi_command(ws.env))
    stack = auto.create_or_select_stack(stack_name=site, work_dir=str(ws.work_dir), opts=opts)
    if ws.lab:
        secrets = {
            f"pdn:s3Credentials.{partner}.{key}": auto.ConfigValue(value, secret=True)
            for partner, values in lab_credentials().items()
            for key, value in values.items()
        }
        stack.set_all_config(secrets, path=True)
    return stack


def _policy_args(ws: Workspace, policy: bool) -> dict[str, Any]:
    if not policy:
        return {}
    args: dict[str, Any] = {"policy_packs": [str(ws.policy_pack)]}
    if ws.policy_config is not None:
        args["policy_pack_configs"] = [str(ws.policy_config)]
    return args


def run(
    ws: Workspace,
    sites: list[str],
    action: str,
    *,
    policy: bool = True,
    on_done: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Run ``action`` on each site in turn (2 cores: one stack at a time), with a progress bar."""
    outcomes: list[Outcome] = []
    columns = (
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed} resources"),
        TimeElapsedColumn(),
    )
    for site in sites:
        # The resource count of the last run of the same action is the estimated total.
        with StepProgress(f"{action} {site}", unit="resources", key=f"stack {action} {site}", columns=columns) as step:
            errors: list[str] = []  # the engine's error diagnostics: what failed, not the summary

            def on_event(event: auto.EngineEvent, errors: list[str] = errors) -> None:
                if event.res_outputs_event is not None or (
                    action == "preview" and event.resource_pre_event is not None
                ):
                    step.advance()
                diagnostic = event.diagnostic_event
                if diagnostic is not None and diagnostic.severity == "error" and diagnostic.message.strip():
                    where = (diagnostic.urn or "").rsplit("::", 1)[-1]
                    errors.append(f"{where}: {diagnostic.message.strip()}" if where else diagnostic.message.strip())

            start = time.monotonic()
            stack = select_stack(ws, site)
            try:
                if action == "up":
                    result: Any = stack.up(on_event=on_event, color="never", **_policy_args(ws, policy))
                    changes = dict(result.summary.resource_changes or {})
                elif action == "preview":
                    result = stack.preview(on_event=on_event, color="never", diff=False, **_policy_args(ws, policy))
                    changes = dict(result.change_summary or {})
                elif action == "destroy":
                    result = stack.destroy(on_event=on_event, color="never")
                    changes = dict(result.summary.resource_changes or {})
                else:
                    raise PdnError(f"unknown action {action}")
            except auto.CommandError as error:
                step.update(description=f"[red]{action} {site} failed")
                detail = "\n".join(errors[-5:]) or _tail(str(error))
                raise PdnError(f"pulumi {action} of stack {site} failed: {detail}") from None
            seconds = time.monotonic() - start
            outcome = Outcome(site, action, seconds, {str(getattr(k, "value", k)): int(v) for k, v in changes.items()})
            outcome.resources = sum(outcome.changes.values())
            step.update(
                total=step.done or 1,
                completed=step.done or 1,
                description=f"[green]{action} {site}: {_summary(outcome.changes)}",
            )
        outcomes.append(outcome)
        if on_done:
            on_done(outcome)
    return outcomes


def _summary(changes: dict[str, int]) -> str:
    return ", ".join(f"{count} {op}" for op, count in sorted(changes.items())) or "no resources"


def _tail(text: str, lines: int = 15) -> str:
    """The end of a pulumi error (where the reason is), without secrets (pulumi masks them)."""
    kept = [line for line in text.splitlines() if line.strip()]
    return "\n".join(kept[-lines:])

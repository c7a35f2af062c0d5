"""The lab toolchain: pinned tools built from Go modules into a cache shared by clones and CI.

``resolve(tool)`` is the one way the rest of pdn finds a binary; ``bin_path()`` gives the folders
``pulumi`` needs on PATH; ``build_all()`` builds whatever is missing. See docs/toolchain.md.
"""

from __future__ import annotations

from pdn.toolchain.locate import bin_path, find, pulumi_home, resolve


def build_all(include_optional: bool = True) -> None:
    """Build every pinned tool that is missing or stale (progress bars; ``PdnError`` on failure)."""
    from pdn.errors import PdnError
    from pdn.toolchain.build import build

    failed = [outcome for outcome in build(include_optional=include_optional) if outcome.status == "failed"]
    if failed:
        raise PdnError(f"toolchain build failed for {', '.join(o.unit for o in failed)}: {failed[0].detail}")


__all__ = ["bin_path", "build_all", "find", "pulumi_home", "resolve"]

"""Unit fixtures of the lab and toolchain tests: an empty cache and lab dir per test."""

from __future__ import annotations

from pathlib import Path

import pytest

from pdn.toolchain.locate import version_output


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """PDN_CACHE and PDN_LAB_DIR in ``tmp_path``; PATH without any pinned tool."""
    monkeypatch.setenv("PDN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PDN_LAB_DIR", str(tmp_path / "lab"))
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    for name in ("KUBE_APISERVER", "ETCD", "KWOK", "MINIO", "PULUMI"):
        monkeypatch.delenv(f"PDN_TOOL_{name}", raising=False)
    version_output.cache_clear()
    return tmp_path

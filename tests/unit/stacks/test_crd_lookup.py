"""`needed_crds` finds each needed CRD under its controller-gen file name, or anywhere else."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pdn.errors import PdnError
from pdn.stacks import crds


def _write_crd(path: Path, kind: str) -> None:
    plural, _, group = kind.partition(".")
    doc = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": kind},
        "spec": {"group": group, "names": {"plural": plural}},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")


def test_every_needed_crd_is_found_in_order_with_its_document(tmp_path: Path) -> None:
    kinds = list(crds.NEEDED_KINDS)
    for kind in kinds[1:]:
        plural, _, group = kind.partition(".")
        _write_crd(tmp_path / "mod" / f"{group}_{plural}.yaml", kind)
    _write_crd(tmp_path / "other" / "renamed.yaml", kinds[0])  # not where its name says
    (tmp_path / "mod" / "broken.yaml").write_text("a: [", encoding="utf-8")  # unrelated, unreadable
    found = crds.needed_crds(tmp_path)
    assert [doc["metadata"]["name"] for _, doc in found] == kinds
    assert found[0][0] == tmp_path / "other" / "renamed.yaml"


def test_a_file_named_like_a_crd_but_holding_another_is_not_taken(tmp_path: Path) -> None:
    for kind in crds.NEEDED_KINDS:
        plural, _, group = kind.partition(".")
        _write_crd(tmp_path / f"{group}_{plural}.yaml", kind)
    first = crds.NEEDED_KINDS[0]
    plural, _, group = first.partition(".")
    _write_crd(tmp_path / f"{group}_{plural}.yaml", "machines.cluster.x-k8s.io")
    with pytest.raises(PdnError, match=first):
        crds.needed_crds(tmp_path)

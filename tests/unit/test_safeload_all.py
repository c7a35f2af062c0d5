"""Multi-document YAML (upstream manifests) is read with the same bounds as one document."""

from __future__ import annotations

from pathlib import Path

import pytest

from pdn import safeload


def test_every_document_is_returned_in_order(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("a: 1\n---\nb: 2\n---\n")
    assert safeload.load_yaml_all(path) == [{"a": 1}, {"b": 2}]


def test_a_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("a: 1\n---\nb: [1,\n")
    with pytest.raises(safeload.LoadError) as raised:
        safeload.load_yaml_all(path)
    assert raised.value.file.endswith("m.yaml") and raised.value.line >= 3


def test_the_value_budget_covers_all_documents_together(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("---\n".join("[" + ",".join(["1"] * 40) + "]\n" for _ in range(5)))
    assert len(safeload.load_yaml_all(path, max_nodes=500)) == 5
    with pytest.raises(safeload.LoadError, match="more than"):
        safeload.load_yaml_all(path, max_nodes=120)


def test_duplicate_keys_in_a_later_document_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("a: 1\n---\nb: 1\nb: 2\n")
    with pytest.raises(safeload.LoadError, match="b"):
        safeload.load_yaml_all(path)

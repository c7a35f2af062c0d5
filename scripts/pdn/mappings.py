"""Deep merge of configuration mappings (the glossary's extra files, the stack's kubeadm specs)."""

from __future__ import annotations

from typing import Any


def deep_merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra`` merged in: mappings key by key, lists extended by the items they do
    not hold yet, other values from ``extra``. Neither argument is changed."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merged(out[key], value)
        elif isinstance(value, list) and isinstance(out.get(key), list):
            out[key] = list(out[key]) + [item for item in value if item not in out[key]]
        else:
            out[key] = value
    return out

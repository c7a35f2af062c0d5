"""Pairwise precision, recall and F1 of a clustering against labels, without listing pairs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Scores:
    precision: float
    recall: float
    f1: float
    predicted_pairs: int
    true_pairs: int

    def row(self) -> str:
        return f"P={self.precision:.4f} R={self.recall:.4f} F1={self.f1:.4f}"


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def pairwise(predicted: Mapping[str, str], truth: Mapping[str, str]) -> Scores:
    """Scores over the apps present in both mappings (app -> cluster, app -> true function)."""
    common = [app for app in predicted if app in truth]
    both = Counter((predicted[app], truth[app]) for app in common)
    tp = sum(_pairs(n) for n in both.values())
    pred = sum(_pairs(n) for n in Counter(predicted[app] for app in common).values())
    true = sum(_pairs(n) for n in Counter(truth[app] for app in common).values())
    precision = tp / pred if pred else 1.0
    recall = tp / true if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Scores(precision, recall, f1, pred, true)

"""Pairwise precision, recall and F1 of a clustering against labels, without listing pairs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping
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


def pairwise(predicted: Mapping[str, str], truth: Mapping[str, str], subset: Collection[str] | None = None) -> Scores:
    """Scores over the apps present in both mappings (app -> cluster, app -> true function).

    With ``subset`` (e.g. the apps of the held-out families), recall counts the true pairs
    inside the subset and precision every predicted pair with at least one app of the subset:
    a held-out app wrongly merged into a seen family's cluster costs precision here.
    """
    common = [app for app in predicted if app in truth]
    inside = set(common) if subset is None else {app for app in common if app in subset}
    both = Counter((predicted[app], truth[app]) for app in inside)
    tp = sum(_pairs(n) for n in both.values())
    sizes = Counter(predicted[app] for app in common)
    members = Counter(predicted[app] for app in inside)
    pred = sum(_pairs(sizes[c]) - _pairs(sizes[c] - members[c]) for c in members)
    true = sum(_pairs(n) for n in Counter(truth[app] for app in inside).values())
    precision = tp / pred if pred else 1.0
    recall = tp / true if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Scores(precision, recall, f1, pred, true)


def by_split(predicted: Mapping[str, str], truth: Mapping[str, str], splits: Mapping[str, str]) -> dict[str, Scores]:
    """Scores for all apps and for each split of the labels (``seen``, ``heldout``...)."""
    result = {"all": pairwise(predicted, truth)}
    for name in sorted(set(splits.values())):
        result[name] = pairwise(predicted, truth, {app for app, split in splits.items() if split == name})
    return result

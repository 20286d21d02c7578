"""Grouping quality on the labeled corpus (tests/patterns_corpus.py), mined in batches as ingest does: the
issue's targets, mean grouping accuracy ≥ 0.92 and FGA ≥ 0.85 (bench/patterns.py reports the same per family)."""

from __future__ import annotations

from collections import Counter, defaultdict

import pyarrow as pa

from logwarden.patterns.miner import PatternMiner
from tests.patterns_corpus import FAMILIES, family_lines


def scores(predicted: list[str | None], truth: list[int]) -> tuple[float, float]:
    """(GA, FGA): a line is right when the lines sharing its id are exactly those sharing its true template;
    FGA is the F1 of predicted templates that are exactly a true template's lines."""
    groups: dict[str | None, list[int]] = defaultdict(list)
    for i, p in enumerate(predicted):
        groups[p].append(i)
    sizes = Counter(truth)
    right_lines = right_templates = 0
    for members in groups.values():
        labels = {truth[i] for i in members}
        if len(labels) == 1 and sizes[next(iter(labels))] == len(members):
            right_lines += len(members)
            right_templates += 1
    precision, recall = right_templates / len(groups), right_templates / len(sizes)
    return right_lines / len(truth), 2 * precision * recall / (precision + recall) if right_templates else 0.0


def test_mean_grouping_accuracy_and_fga_meet_the_targets() -> None:
    ga_sum = fga_sum = 0.0
    for name in FAMILIES:
        labeled = family_lines(name, 1000)
        miner = PatternMiner()
        predicted: list[str | None] = []
        for start in range(0, len(labeled), 250):
            chunk = [m for m, _ in labeled[start : start + 250]]
            n = len(chunk)
            predicted += miner.ids(pa.array(["t"] * n), pa.array([name] * n), pa.array(chunk)).to_pylist()
        ga, fga = scores(predicted, [t for _, t in labeled])
        ga_sum, fga_sum = ga_sum + ga, fga_sum + fga
    assert ga_sum / len(FAMILIES) >= 0.92
    assert fga_sum / len(FAMILIES) >= 0.85

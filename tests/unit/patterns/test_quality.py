"""Grouping quality on the labeled corpus (tests/patterns_corpus.py), mined in batches as ingest does: the
issue's targets, mean grouping accuracy ≥ 0.92 and FGA ≥ 0.85 (bench/patterns.py reports the same per family)."""

from __future__ import annotations

import pyarrow as pa

from logwarden.patterns.miner import PatternMiner
from tests.patterns_corpus import FAMILIES, family_lines, grouping_scores


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
        ga, fga = grouping_scores(predicted, [t for _, t in labeled])
        ga_sum, fga_sum = ga_sum + ga, fga_sum + fga
    assert ga_sum / len(FAMILIES) >= 0.92
    assert fga_sum / len(FAMILIES) >= 0.85

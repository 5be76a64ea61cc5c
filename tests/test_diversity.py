"""Diversity within a target's samples (ctrlgen.oracles.diversity) and its columns in every harness row."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from ctrlgen.errors import DataError
from ctrlgen.evaluation.harness import evaluate
from ctrlgen.evaluation.methods import Method, SampleContext
from ctrlgen.evaluation.targets import LengthTarget
from ctrlgen.oracles.bundle import Oracles
from ctrlgen.oracles.diversity import distinct_texts, diversity_stats, self_bleu

SAME = ["the pub is near the river .", "the pub is near the river .", "the  pub is near the river ."]
VARIED = ["the pub is near the river .", "a cheap cafe serves french food .", "zizzi has a low rating ."]


def test_identical_samples_have_self_bleu_one_and_one_distinct_text() -> None:
    assert distinct_texts(SAME) == 1  # whitespace is collapsed before comparing
    assert self_bleu(SAME) == pytest.approx(1.0)
    assert distinct_texts(VARIED) == 3
    assert self_bleu(VARIED) < 0.2  # no shared bigram between any two texts
    partial = self_bleu(["the pub is near the river .", "the pub is near the bridge .", VARIED[1]])
    assert self_bleu(VARIED) < partial < 1.0  # sharing a long prefix is in between
    assert self_bleu(["one text"]) is None


def test_stats_average_within_targets_not_over_the_pool() -> None:
    stats = diversity_stats([SAME, VARIED])
    assert stats["distinct_samples"] == pytest.approx(2.0)  # (1 + 3) / 2
    assert stats["self_bleu"] == pytest.approx((1.0 + self_bleu(VARIED)) / 2)
    # per target: SAME repeats every bigram 3 times (1/3), VARIED repeats none (1.0)
    assert stats["distinct_2_target"] == pytest.approx((1 / 3 + 1.0) / 2)
    # one group per text: nothing to compare within a target
    single = diversity_stats([[t] for t in SAME])
    assert single["self_bleu"] is None and single["distinct_samples"] == 1.0 and single["distinct_2_target"] == 1.0
    with pytest.raises(DataError):
        diversity_stats([SAME, []])


class Canned(Method):
    """Returns fixed texts per target (no model)."""

    name = "canned"
    needs_model = False

    def __init__(self, groups: list[list[str]]) -> None:
        self.groups = groups

    def sample(self, targets: Sequence[Any], ctx: SampleContext) -> list[list[str]]:
        return self.groups


def test_every_harness_row_reports_diversity_and_keeps_old_keys() -> None:
    targets = [LengthTarget(7), LengthTarget(7)]
    oracles = Oracles(teacher_name=None)
    result = evaluate("length", targets, methods=[Canned([SAME, SAME]), Canned([VARIED, VARIED])], n=3,
                      oracles=oracles)
    same, varied = result.rows
    assert same.distinct_samples == 1.0 and same.self_bleu == pytest.approx(1.0)
    assert varied.distinct_samples == 3.0 and varied.self_bleu < 0.2
    assert same.distinct_2_target < varied.distinct_2_target
    row = result.to_dict()["rows"][0]
    for key in ("distinct_1", "distinct_2", "lm_score", "bigram_precision", "ctrl_success", "n_samples",
                "distinct_1_target", "distinct_2_target", "self_bleu", "distinct_samples"):
        assert key in row
    assert "self-BLEU" in result.table() and "distinct/target" in result.table()

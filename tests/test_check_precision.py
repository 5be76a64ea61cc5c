"""The check faces against hand labels: ``satisfied`` must keep meaning what a user means.

Two hand-labelled sets of 118 and 115 outputs (``tests/fixtures/check_labels*.jsonl``; how they were made and labelled
is in each file's first line; ``recipes/check_precision.py`` writes the full table). The thresholds are the measured
precisions, so a rule change that lets more wrong texts through fails here. Issue 18 asks for 0.98: the slot check
is at 0.98 / 0.96, the infill well-formedness check at 0.90 / 0.90 (its false positives are fills whose words
are grammatical one by one but nonsense together, *serves a coffee food in the customer rating*, which closed-class
rules cannot see).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ctrlgen import Infill, SemanticField
from ctrlgen.oracles.metrics import semantic_success

FIXTURES = Path(__file__).parent / "fixtures"
MIN_PRECISION = {("check_labels", "semantic"): 0.98, ("check_labels", "infill"): 0.89,
                 ("check_labels_heldout", "semantic"): 0.96, ("check_labels_heldout", "infill"): 0.89}


def _rows(name: str) -> list[dict]:
    lines = (FIXTURES / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
    assert "protocol" in json.loads(lines[0])
    return [json.loads(x) for x in lines[1:]]


def _check(row: dict) -> bool:
    if row["kind"] == "semantic":
        return SemanticField(row["field"], row["value"]).satisfied([row["text"]])[0]
    return Infill(row["template"]).satisfied([row["text"]])[0]


@pytest.mark.parametrize("name, kind", sorted(MIN_PRECISION))
def test_precision_of_satisfied_against_hand_labels(name, kind):
    rows = [r for r in _rows(name) if r["kind"] == kind]
    accepted = [r for r in rows if _check(r)]
    precision = sum(r["label"] for r in accepted) / len(accepted)
    assert precision >= MIN_PRECISION[(name, kind)], [r["text"] for r in accepted if not r["label"]]
    assert len(accepted) >= sum(r["label"] for r in rows) * 0.9  # and it still accepts the good ones (recall)


def test_the_slot_check_beats_the_substring_test_it_replaced():
    rows = [r for name in ("check_labels", "check_labels_heldout") for r in _rows(name) if r["kind"] == "semantic"]
    right_new = sum(_check(r) == r["label"] for r in rows)
    right_old = sum(semantic_success(r["text"], r["value"]) == r["label"] for r in rows)
    assert right_new > right_old

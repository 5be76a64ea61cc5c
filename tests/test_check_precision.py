"""The check faces against hand labels: ``satisfied`` must keep meaning what a user means.

Five hand-labelled sets (``tests/fixtures/check_labels*.jsonl``; how each was made and labelled is in its first line;
``recipes/check_precision.py`` writes the full table). The third (``_fresh``), fourth (``_blind4``) and fifth
(``_blind5``) were labelled by annotators blind to the checks, on templates and field values the first two never had.
The thresholds are the measured precisions and recalls, so a rule change that lets more wrong texts through, or
refuses more good ones, fails here. Issue 18 asks for 0.98. The first four sets are at 0.98–1.00 for both checks, but
their false positives were read while writing the rules. The fifth set is the only one no rule was tuned on, and it
scores 0.90 (SemanticField) / 0.90 (Infill): value mentions inside garbled text, and verbless or mismatched clauses
(*is cheap and Chinese food*, *Near the river, near X, has …*).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ctrlgen import Infill, SemanticField
from ctrlgen.oracles.metrics import semantic_success

FIXTURES = Path(__file__).parent / "fixtures"
MIN_PRECISION = {("check_labels", "semantic"): 0.99, ("check_labels", "infill"): 0.95,
                 ("check_labels_heldout", "semantic"): 0.99, ("check_labels_heldout", "infill"): 0.99,
                 ("check_labels_fresh", "semantic"): 0.99, ("check_labels_fresh", "infill"): 0.99,
                 ("check_labels_blind4", "semantic"): 0.99, ("check_labels_blind4", "infill"): 0.99,
                 ("check_labels_blind5", "semantic"): 0.89, ("check_labels_blind5", "infill"): 0.90}
#: The infill check trades recall for precision: a fill with a word pair the training text never has fails it.
MIN_RECALL = {"semantic": 0.97, "infill": 0.85}


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
    good = [r for r in rows if r["label"]]
    assert sum(_check(r) for r in good) >= len(good) * MIN_RECALL[kind]  # and it still accepts the good ones


def test_the_slot_check_beats_the_substring_test_it_replaced():
    rows = [r for name in ("check_labels", "check_labels_heldout", "check_labels_fresh", "check_labels_blind4",
                                                 "check_labels_blind5") for r in _rows(name)
            if r["kind"] == "semantic"]
    right_new = sum(_check(r) == r["label"] for r in rows)
    right_old = sum(semantic_success(r["text"], r["value"]) == r["label"] for r in rows)
    assert right_new > right_old

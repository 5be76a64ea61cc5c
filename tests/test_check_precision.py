"""The check faces against hand labels: ``satisfied`` must keep meaning what a user means.

Three hand-labelled sets of 118, 115 and 152 outputs (``tests/fixtures/check_labels*.jsonl``; how each was made and
labelled is in its first line; ``recipes/check_precision.py`` writes the full table). The third (``_fresh``) has infill
templates the rules were never tuned on and was labelled by a second annotator blind to the checks. The thresholds
are the measured precisions and recalls, so a rule change that lets more wrong texts through, or refuses more good
ones, fails here. Issue 18 asks for 0.98: the slot check is at 0.98 / 1.00 / 0.95, the infill check (template words,
closed-class rules, attested word pairs at the holes) at 0.96 / 1.00 / 0.82 — its false positives on the fresh set
are noun phrases without a head (*a family friendly that serves …*), which neither the rules nor the pairs see.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ctrlgen import Infill, SemanticField
from ctrlgen.oracles.metrics import semantic_success

FIXTURES = Path(__file__).parent / "fixtures"
MIN_PRECISION = {("check_labels", "semantic"): 0.98, ("check_labels", "infill"): 0.95,
                 ("check_labels_heldout", "semantic"): 0.99, ("check_labels_heldout", "infill"): 0.99,
                 ("check_labels_fresh", "semantic"): 0.94, ("check_labels_fresh", "infill"): 0.81}
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
    rows = [r for name in ("check_labels", "check_labels_heldout", "check_labels_fresh") for r in _rows(name)
            if r["kind"] == "semantic"]
    right_new = sum(_check(r) == r["label"] for r in rows)
    right_old = sum(semantic_success(r["text"], r["value"]) == r["label"] for r in rows)
    assert right_new > right_old

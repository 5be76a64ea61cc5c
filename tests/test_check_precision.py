"""The check faces against hand labels: ``satisfied`` must keep meaning what a user means.

Eight hand-labelled sets (``tests/fixtures/check_labels*.jsonl``; how each was made and labelled is in its first line;
``recipes/check_precision.py`` writes the full table). The third (``_fresh``), fourth (``_blind4``), fifth
(``_blind5``), sixth (``_blind6``) and seventh (``_blind7``) were labelled by annotators blind to the checks, on
templates and field values the sets before them never had.
The thresholds are the measured precisions and recalls, so a rule change that lets more wrong texts through, or
refuses more good ones, fails here. Issue 18 asks for 0.98. The first four sets are at 0.98–1.00 for both checks, but
their false positives were read while writing the rules. The fifth set scored 0.90 (SemanticField) / 0.90 (Infill)
when first measured, blind; the rules of ``ctrlgen.oracles.slot_frame`` (a value alone in its sentence, a name used
as a modifier, a negation across a word), ``slot_context`` (*£20-25 than £30*) and ``ctrlgen.oracles.clauses`` (a
finite verb with no subject, *is cheap and Chinese food*) were then written from its false positives, so it is no
longer blind either: it now scores 0.985 / 1.00, and only a sixth set labelled without reading these rules measures
them. The one false positive left on it is word salad around a value said plainly (*the Fast food caters to river ,
and you can eat bring your your*); no measurable rule separates it from garbled text the labels accept.

The sixth set scored 0.957 (SemanticField) / 0.864 (Infill; recall 0.836) when first measured, blind; the rules of
``ctrlgen.oracles.complements`` (*a* before a plural noun, *located* with no place phrase, a verbless conjunct after
a finite verb; and a verb with the start of its object excused from the word pairs), ``slot_names`` (a name ending
its sentence right after a landmark, a name in a mid-sentence *in* phrase) and ``slot_context`` (*expensive-25*)
were then written from its errors, so it is no longer blind: it now scores 1.00 / 0.98 (Infill recall 0.90). The one
false positive left is two finite verbs where the first may take a bare clause (*You can find House is located near
…*; *you will find the food is good* is English), which no rule of the parse tells apart.

The seventh set was labelled blind and scored 0.959 (SemanticField) / 0.907 (Infill; recall 0.875) with the rules
of the sets before it; the rules of ``ctrlgen.oracles.clauses`` (a sentence with no verb at all),
``complements`` (*located to X*), ``name_runs`` (a name's end before a preposition or conjunction excused from the
word pairs), ``slot_names`` (a landmark run into a name word, *near Clare Hall Cuisine*; a name that ends its
sentence after an area in a place phrase) and ``slots`` (a price with its cue after a rating's *out of*) were then
written from its errors, so it is no longer blind: it now scores 1.00 / 1.00 (Infill recall 0.93). The Infill false
negatives left are word pairs the table never saw and no parse rule excuses (*cheap venue*, *Cocum pub serves*,
*family food*, *customer prices*); excusing every adjective before its noun would fix one and let three false
positives of the earlier sets through.

The eighth set (``_blind8``) is the honest number: labelled blind after all the rules above and scored once, it has
0.949 (SemanticField) / 0.795 (Infill; recall 0.814), short of the 0.98 asked for. Each round of rules fixed its own
set and left the next set, on new templates, about where the one before had started (first scores, blind: 0.90 /
0.90, 0.957 / 0.864, 0.946 / 0.845, 0.949 / 0.795): the false positives are a long tail of new constructions (a name
tacked on after a location, a noun phrase with no head — *a medium priced ,*, *find a low at* —, a bare name after a
noun — *a pub Cricketers*). No rule was written from it, so it keeps measuring what the next rule changes.

Session 12 made both checks strict — precision first, at the cost of recall. ``Infill`` asks attested word triples
at its holes and passes the learned replaced-token gate by default; ``SemanticField`` asks that one verbatim mention
of the value stand in a context the training data has for that field (``ctrlgen.oracles.value_contexts``). Then:

- the tenth set (``_blind10``), labelled blind and scored once before any rule was written from it: SemanticField
  0.979 (3 false positives of 142, recall 0.972), Infill 1.000 (0 of 44, recall 0.489). Two name rules were then
  written from its 3 false positives (a known name outside a landmark phrase; a name after a bare *The* subject);
- the eleventh set (``_blind11``), scored once with those: **SemanticField 0.984** (2 of 128, recall 0.947) —
  the 0.98 asked for, on a set no rule had seen — and Infill 0.833 (4 of 24, recall 0.303). Two Infill rules were
  then written from its false positives (a subject of attribute words alone; *out* before a number);
- the twelfth set (``_blind12``, 515 outputs), scored once with those and never tuned on: **SemanticField 0.992** (1
  of 129, recall 0.941), **Infill 0.990** (1 of 97, recall 0.555) — both at the 0.98 asked for. Its two false
  positives (*you Fitzbillies is a good choice*; *a great rating of the Aromi*) are left in, so it keeps measuring.

Every set now has precision 1.00 except the ninth and eleventh on SemanticField (a landmark read into *Luton by
Holiday Inn*; a second name after *come to*; names the rules still take for the place's) and the twelfth.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ctrlgen import Infill, SemanticField
from ctrlgen.oracles.metrics import semantic_success

FIXTURES = Path(__file__).parent / "fixtures"
#: Measured at the strict checks (Infill: word triples and the learned gate; SemanticField: the value-context table),
#: rounded down: ``python recipes/check_precision.py score --labels tests/fixtures/check_labels*.jsonl --out …``.
_SETS = ("check_labels", "check_labels_heldout", "check_labels_fresh", "check_labels_blind4", "check_labels_blind5",
         "check_labels_blind6", "check_labels_blind7", "check_labels_blind8", "check_labels_blind9",
         "check_labels_blind10", "check_labels_blind11", "check_labels_blind12")
MIN_PRECISION = {**{(name, kind): 1.00 for name in _SETS for kind in ("semantic", "infill")},
                 ("check_labels_blind9", "semantic"): 0.96, ("check_labels_blind11", "semantic"): 0.98,
                 ("check_labels_blind12", "semantic"): 0.99, ("check_labels_blind12", "infill"): 0.98}
#: The strict checks trade recall for precision: Infill keeps about half the good fills, SemanticField 86–98%.
MIN_RECALL = {("check_labels", "infill"): 0.73, ("check_labels", "semantic"): 0.98,
              ("check_labels_heldout", "infill"): 0.55, ("check_labels_heldout", "semantic"): 0.88,
              ("check_labels_fresh", "infill"): 0.38, ("check_labels_fresh", "semantic"): 0.86,
              ("check_labels_blind4", "infill"): 0.65, ("check_labels_blind4", "semantic"): 0.93,
              ("check_labels_blind5", "infill"): 0.60, ("check_labels_blind5", "semantic"): 0.92,
              ("check_labels_blind6", "infill"): 0.49, ("check_labels_blind6", "semantic"): 0.94,
              ("check_labels_blind7", "infill"): 0.42, ("check_labels_blind7", "semantic"): 0.90,
              ("check_labels_blind8", "infill"): 0.48, ("check_labels_blind8", "semantic"): 0.93,
              ("check_labels_blind9", "infill"): 0.43, ("check_labels_blind9", "semantic"): 0.87,
              ("check_labels_blind10", "infill"): 0.48, ("check_labels_blind10", "semantic"): 0.96,
              ("check_labels_blind11", "infill"): 0.30, ("check_labels_blind11", "semantic"): 0.94,
              ("check_labels_blind12", "infill"): 0.55, ("check_labels_blind12", "semantic"): 0.94}


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
    assert sum(_check(r) for r in good) >= len(good) * MIN_RECALL[(name, kind)]  # and it still accepts the good ones


def test_the_slot_check_beats_the_substring_test_it_replaced():
    rows = [r for name in ("check_labels", "check_labels_heldout", "check_labels_fresh", "check_labels_blind4",
                           "check_labels_blind5", "check_labels_blind6", "check_labels_blind7",
                           "check_labels_blind8", "check_labels_blind9", "check_labels_blind10",
                           "check_labels_blind11", "check_labels_blind12") for r in _rows(name)
            if r["kind"] == "semantic"]
    right_new = sum(_check(r) == r["label"] for r in rows)
    right_old = sum(semantic_success(r["text"], r["value"]) == r["label"] for r in rows)
    assert right_new > right_old

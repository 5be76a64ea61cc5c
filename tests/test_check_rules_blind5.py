"""The rules written after the fifth labelled set (``tests/fixtures/check_labels_blind5.jsonl``): each one fires on
its kind of text and stays quiet on the good texts next to it — most cases are new texts, not the labelled rows.

SemanticField (ctrlgen.oracles.slot_frame, ctrlgen.oracles.slot_context): a value alone in its sentence, a name used
as a modifier, a negation across one word, an amount run into a comparison, a repeated number.
Infill (ctrlgen.oracles.clauses, ctrlgen.oracles.phrases): a finite verb with no subject, an adjective coordinated
with a bare noun phrase as predicate, a noun phrase that ends at a conjunction whose conjunct is the verb's.
"""

from __future__ import annotations

import pytest

from ctrlgen import SemanticField
from ctrlgen.oracles.phrases import phrase_errors
from ctrlgen.oracles.slot_context import glued_amount
from ctrlgen.oracles.slot_frame import dangling, name_as_modifier, negated_across
from ctrlgen.oracles.slots import normalise, normalise_case_kept


def _said(text: str, field: str, value: str) -> bool:
    return SemanticField(field, value, contexts=None).satisfied([text])[0]  # the slot rules alone


@pytest.mark.parametrize(("text", "field", "value"), [
    ("Blue Spice is a cheap pub near the river . The Golden Palace", "name", "The Golden Palace"),  # name alone
    ("Zizzi is a pub . Strada .", "name", "Strada"),
    ("You will find a cheap pub named The Mill That Italian food .", "food", "Italian"),  # "That Italian food"
    ("There is a cheap kid friendly Zizzi shop near the river .", "name", "Zizzi"),  # name as a modifier
    ("It has a cheap Cotto price range near the river .", "name", "Cotto"),
    ("They have a The Mill customer rating of 5 out of 5 .", "name", "The Mill"),
    ("It is in the city centre and not kids Japanese food .", "food", "Japanese"),  # negation across a word
    ("The Mill has a high price range and not child Italian food", "food", "Italian"),
    ("Zizzi is a pub with prices £20-25 than £30 .", "priceRange", "£20-25"),  # an amount compared
    ("Zizzi has a 3 out of 5 than 1 rating .", "customer rating", "3 out of 5"),
])
def test_the_frame_rules_refuse_values_not_said_of_the_place(text, field, value):
    assert not _said(text, field, value)


@pytest.mark.parametrize(("text", "field", "value"), [
    ("The Golden Palace is a cheap pub near the river .", "name", "The Golden Palace"),
    ("Near the river is The Golden Palace .", "name", "The Golden Palace"),
    ("The family friendly Zizzi is a pub near the river .", "name", "Zizzi"),
    ("With a low customer rating The Mill coffee shop is near the river .", "name", "The Mill"),  # "rating" ends a PP
    ("Near the river is The Vaults pub .", "name", "The Vaults"),
    ("The highly rated and kid friendly Cotto coffee shop is near the river .", "name", "Cotto"),  # a kind of place
    ("The Mill . Child friendly with a high customer rating .", "name", "The Mill"),  # a heading
    ("Near the river is a no children coffee shop called The Mill .", "eatType", "coffee shop"),
    ("The Mill is a pub near the river . Italian food .", "food", "Italian"),  # a telegraphic list
    ("The Mill has a low rating . riverside .", "area", "riverside"),
    ("The Mill is a pub . The price range is moderate .", "priceRange", "moderate"),  # the mention is a clause
    ("It is not family-friendly Japanese food that they serve .", "food", "Japanese"),
    ("It is not expensive Japanese food .", "food", "Japanese"),
    ("It is not only Japanese food they serve .", "food", "Japanese"),
    ("The Mill serves expensive than £20 food .", "priceRange", "high"),  # an adjective, not an amount
    ("The Mill serves food in the £20-25 25 price range .", "priceRange", "£20-25"),  # a repeated number
    ("Prices are £20-25 , less than £30 elsewhere .", "priceRange", "£20-25"),  # after punctuation: a list
])
def test_the_frame_rules_leave_values_said_of_the_place(text, field, value):
    assert _said(text, field, value)


def _frame(text: str, value: str) -> tuple[list[str], tuple[str, ...], int, int]:
    words, original, value_words = normalise(text).split(), normalise_case_kept(text), normalise(value).split()
    k = next(k for k in range(len(words)) if words[k:k + len(value_words)] == value_words)
    return words, original, k, len(value_words)


def test_the_frame_helpers_directly():
    assert dangling(*_frame("Zizzi is cheap . The Mill", "The Mill"), name=True)
    assert not dangling(*_frame("Zizzi is cheap . riverside", "riverside"), name=False)  # bare value word
    assert dangling(*_frame("Zizzi is cheap . that riverside", "riverside"), name=False)
    assert not dangling(*_frame("The Mill is cheap .", "The Mill"), name=True)
    assert name_as_modifier(*_frame("a family Cotto shop", "Cotto"))
    assert not name_as_modifier(*_frame("a family Cotto is here", "Cotto"))
    assert not name_as_modifier(*_frame("the rating Cotto pub", "Cotto"))
    words = normalise("not child fast food").split()
    assert negated_across(words, 2, lambda w: False)
    assert not negated_across(words, 2, lambda w: True)  # the word between is a value of its own
    norm = "prices £20-25 than £30"
    start = norm.index("£20-25")
    assert glued_amount(norm, start, start + len("£20-25"), "priceRange")
    assert not glued_amount("prices £20-25 25 range", start, start + len("£20-25"), "priceRange")


def _errors(text: str, free: list[int]) -> list[str]:
    return phrase_errors(text.split(), free)


@pytest.mark.parametrize(("text", "free", "kind"), [
    ("Near the river , near Clare Hall , has a low customer rating .", [5, 6, 7, 8], "without a subject"),
    ("In the city centre , near The Mill , serves cheap food .", [5, 6, 7, 8], "without a subject"),
    ("Near the river , The Punter , and has a low customer rating .", [5, 6, 7, 8], "without a subject"),
    ("Near the river , is The Punter and has a low customer rating .", [5, 6, 7, 8], "without a subject"),
    ("Zizzi is a pub . Also has a low customer rating .", [5, 6], "without a subject"),
    ("Fitzbillies is cheap and Chinese food .", [4, 5], "coordinated as predicate"),
    ("Fitzbillies is cheap and the riverside .", [4, 5], "coordinated as predicate"),
    ("The Mill is expensive and The Sorrento .", [4, 5, 6], "coordinated as predicate"),
    ("Fitzbillies is cheap and city centre .", [4, 5], "coordinated as predicate"),
])
def test_the_clause_rules_fire(text, free, kind):
    assert any(kind in e for e in _errors(text, free)), _errors(text, free)


@pytest.mark.parametrize(("text", "free"), [
    ("Near the river , The Punter has a low customer rating .", [5, 6, 7]),
    ("Near the river is The Punter .", [4, 5, 6]),
    ("Near the river is The Punter , which has a low customer rating .", [4, 5, 6]),
    ("Located near the river is The Punter .", [1, 2, 3, 4]),
    ("Try The Punter and enjoy cheap food .", [1, 2, 3]),
    ("There is a cheap pub near the river .", [1, 2]),
    ("It is located near Café Sicilia , is cheap and has a low rating .", [7, 8, 9]),
    ("The Waterman , sited near the river , is a family restaurant .", [3, 4, 5]),
    ("The Punter is cheap and a great place for families .", [4, 5, 6]),
    ("The Punter is cheap and family friendly .", [4, 5, 6, 7]),
    ("The Punter is in the city centre and The Portland Arms .", [7, 8, 9, 10]),
    ("They are kids friendly and cost between £20-25 .", [3, 4, 5]),
    ("Cotto is in the city centre and family - friendly .", [7, 8, 9]),  # the noun phrase ends at "and"
    ("The Phoenix is a cheap and family friendly pub .", [5, 6, 7, 8]),
])
def test_the_clause_rules_stay_quiet_on_good_sentences(text, free):
    assert _errors(text, free) == []


def test_a_noun_phrase_with_no_noun_still_fires_across_a_conjunction():
    assert any("noun phrase without a noun" in e for e in _errors("The Otter is a cheap and friendly .", [5, 6, 7]))

"""The rules written after the sixth labelled set (``tests/fixtures/check_labels_blind6.jsonl``): each one fires on
its kind of text and stays quiet on the good texts next to it — the cases are new texts, not the labelled rows.

Infill (ctrlgen.oracles.complements): *a* before a plural noun across adjectives, a location participle with a bare
noun phrase, a verbless conjunct after a finite verb other than *be*; and the other way, a verb and the article or
adjective that opens its object is not held against a fill by the word-pair table.
SemanticField (ctrlgen.oracles.slot_names, ctrlgen.oracles.slot_context): a name that ends its sentence right after a
landmark, a name inside a mid-sentence *in* phrase, an amount joined to the value by a hyphen.
"""

from __future__ import annotations

import pytest

from ctrlgen import Infill, SemanticField
from ctrlgen.oracles.complements import bare_location, object_starts, plural_after_indefinite, verbless_conjunct
from ctrlgen.oracles.phrases import parse_words, phrase_errors
from ctrlgen.oracles.slot_context import glued_amount
from ctrlgen.oracles.slot_names import in_a_place_phrase
from ctrlgen.oracles.slots import normalise, normalise_case_kept


def _errors(text: str) -> list[str]:
    return phrase_errors(text.split())


@pytest.mark.parametrize(("text", "rule"), [
    ("The Mill is a pub with a cheap prices .", plural_after_indefinite),
    ("Zizzi has an excellent reviews from its customers .", plural_after_indefinite),
    ("Zizzi is located the city centre .", bare_location),
    ("The Mill is situated riverside near the bridge .", bare_location),
    ("Aromi is based the riverside area .", bare_location),
    ("Cotto serves Italian food and located near the river .", verbless_conjunct),
    ("Cotto has a low rating and in the city centre .", verbless_conjunct),
    ("Loch Fyne has a great view and situated by the river .", verbless_conjunct),
])
def test_the_complement_rules_fire(text, rule):
    words = text.split()
    assert rule(words, parse_words([words])[0], set(range(len(words))))
    assert _errors(text)  # and phrase_errors reports it


@pytest.mark.parametrize("text", [
    "The Mill is a pub with a few cheap dishes .",  # a quantifier
    "It offers a great many dishes .",
    "It is a kids friendly pub .",  # the plural modifies what follows
    "It is a whole foods pub .",
    "Zizzi is located in the city centre .",
    "Zizzi is located a short walk from the river .",  # a measure opens the place phrase
    "Zizzi is located two miles from the centre .",
    "Zizzi is located nearby .",
    "We located the pub easily .",  # active, not the passive
    "It is an English based restaurant .",  # a compound modifier
    "Cotto serves Italian food and is located near the river .",
    "Cotto is a pub and located near the river .",  # be is shared by the conjunct
    "Cotto is cheap and on the riverside .",
    "Cotto serves food and drinks .",
    "Cotto serves Italian food and also sells wine .",
    "The Mill has a menu for children and a garden .",
])
def test_the_complement_rules_stay_quiet_on_good_text(text):
    assert not _errors(text)


def test_a_rule_only_counts_where_it_touches_a_hole():
    text = "Zizzi is located the city centre ."
    words = text.split()
    p = parse_words([words])[0]
    assert bare_location(words, p, {2, 3}) and not bare_location(words, p, {0, 5})


def _object_starts(text: str) -> set[int]:
    words = text.split()
    return object_starts(words, parse_words([words])[0])


def test_a_verb_and_the_start_of_its_object_is_no_unseen_pair():
    assert _object_starts("Zizzi serves the food .") == {1}
    assert _object_starts("Zizzi serves bad food .") == {1}
    assert not _object_starts("Zizzi serves near the river .")  # no object
    assert not _object_starts("Zizzi offers its customers a menu .")  # an indirect object first
    template = "Zizzi serves [MASK:2] ."
    assert Infill(template, grammar=False).unseen_pairs("Zizzi serves the food .")  # the table never has it
    assert Infill(template).unseen_pairs("Zizzi serves the food .") == []  # the parse excuses it
    assert Infill(template, detector=None).satisfied(["Zizzi serves the food .", "Zizzi serves the the ."]) == [True, False]


def _said(text: str, field: str, value: str) -> bool:
    return SemanticField(field, value, contexts=None).satisfied([text])[0]  # the slot rules alone


@pytest.mark.parametrize(("text", "field", "value"), [
    ("It is a pub near Café Rouge The Golden Palace .", "name", "The Golden Palace"),  # ends after a landmark
    ("Families eat Italian food in the riverside Cotto .", "name", "Cotto"),  # a location
    ("Families eat Italian food in the Loch Fyne .", "name", "Loch Fyne"),
    ("Prices there are cheap-20 .", "priceRange", "cheap"),  # an amount hyphened to the value
    ("The price range is high-30 .", "priceRange", "high"),
    ("It is expensive-25 and near the river .", "priceRange", "high"),
    ("Prices are 20-cheap .", "priceRange", "cheap"),  # a match inside a word: read, not an index error
])
def test_the_sixth_set_slot_rules_refuse(text, field, value):
    assert not _said(text, field, value)


@pytest.mark.parametrize(("text", "field", "value"), [
    ("Near Café Rouge The Golden Palace is a pub .", "name", "The Golden Palace"),  # the name goes on
    ("In Loch Fyne you can eat Chinese food .", "name", "Loch Fyne"),  # a place phrase opening the sentence
    ("Loch Fyne serves Chinese food in the city centre .", "name", "Loch Fyne"),
    ("It is high-priced .", "priceRange", "high"),
    ("Prices are £20-25 .", "priceRange", "£20-25"),
    ("It has a 5-star rating .", "customer rating", "5 out of 5"),
    ("It is a non-family-friendly pub .", "familyFriendly", "no"),
])
def test_the_sixth_set_slot_rules_leave_values_said(text, field, value):
    assert _said(text, field, value)


def test_the_slot_helpers_directly():
    def at(text: str, word: str) -> tuple[list[str], tuple[str, ...], int]:
        words = normalise(text).split()
        return words, normalise_case_kept(text), words.index(word)

    assert in_a_place_phrase(*at("They eat food in the riverside Cotto .", "cotto"))
    assert not in_a_place_phrase(*at("In Cotto you eat well .", "cotto"))
    assert not in_a_place_phrase(*at("Cotto is in the city centre .", "cotto"))
    norm = normalise("the price is expensive-25 .")
    start = norm.index("expensive")
    assert glued_amount(norm, start, start + len("expensive"), "priceRange")
    assert not glued_amount(norm, start, start + len("expensive"), "food")  # not an amount field
    norm = normalise("it is high-priced .")
    assert not glued_amount(norm, norm.index("high"), norm.index("high") + 4, "priceRange")
    assert not in_a_place_phrase(*at("Price is moderate in Cotto .", "cotto"))  # the place itself

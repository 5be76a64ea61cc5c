"""The rules written after the seventh labelled set (``tests/fixtures/check_labels_blind7.jsonl``): each one fires on
its kind of text and stays quiet on the good texts next to it — the cases are new texts, not the labelled rows.

Infill (ctrlgen.oracles.clauses, ctrlgen.oracles.complements): a sentence with no verb at all, a location participle
with a preposition that places nothing (*located to X*); and the other way, a name's end before a preposition or
conjunction is not held against a fill by the word-pair table (ctrlgen.oracles.name_runs).
SemanticField (ctrlgen.oracles.slot_names, ctrlgen.oracles.slots): a landmark run into a capitalised word that makes
another name, a name that ends its sentence after an area in a place phrase, and the other way, a price with its cue
after a rating's *out of* is still a price.
"""

from __future__ import annotations

import pytest

from ctrlgen import Infill, SemanticField
from ctrlgen.oracles.clauses import verbless_sentence
from ctrlgen.oracles.complements import bare_location
from ctrlgen.oracles.name_runs import name_ends
from ctrlgen.oracles.phrases import parse_words, phrase_errors
from ctrlgen.oracles.slot_names import in_a_place_phrase, landmark_runs_on
from ctrlgen.oracles.slots import normalise, normalise_case_kept
from ctrlgen.oracles.word_pairs import WordPairs


def _parsed(text: str) -> tuple[list[str], object]:
    words = text.split()
    return words, parse_words([words])[0]


@pytest.mark.parametrize(("text", "rule"), [
    ("Cotto in the city centre near the river .", verbless_sentence),
    ("The Mill , a cheap pub by the river .", verbless_sentence),
    ("Zizzi is a pub . Near the station with a garden .", verbless_sentence),  # the second sentence has none
    ("Cotto with cheap food and a low rating", verbless_sentence),  # no stop at the end
    ("Zizzi is located to the river .", bare_location),
    ("The Mill is situated to Café Rouge .", bare_location),
    ("Cotto is located of the city centre .", bare_location),
    ("Aromi is located from the station .", bare_location),
])
def test_the_seventh_set_phrase_rules_fire(text, rule):
    words, p = _parsed(text)
    found = rule(words, p, set(range(len(words))))
    assert found
    assert phrase_errors(words) == found  # the rule alone catches it: without it the phrase rules pass the text


@pytest.mark.parametrize("text", [
    "Cotto is in the city centre near the river .",
    "Near the river , there is a pub .",
    "Try Cotto !",  # an imperative is a verb
    "Located near the river , Cotto serves food .",  # a participle is a verb form
    "Zizzi is a pub . It is near the station .",
    "Zizzi is located to the north of the river .",  # a direction opens a place phrase
    "Zizzi is located to the east .",
    "Zizzi is located close to the river .",
    "Zizzi is well located for the station .",  # "for" is left alone
    "The menu is based on local produce .",
])
def test_the_seventh_set_phrase_rules_stay_quiet_on_good_text(text):
    words, p = _parsed(text)
    every = set(range(len(words)))
    assert not verbless_sentence(words, p, every) and not bare_location(words, p, every)


def test_a_verbless_sentence_counts_only_where_it_touches_a_hole():
    words, p = _parsed("Zizzi is a pub . Near the station .")
    assert verbless_sentence(words, p, {6}) and not verbless_sentence(words, p, {0, 1, 2})
    assert verbless_sentence(words, p, {4})  # a stop filled in a hole cuts off the sentence after it


def test_a_name_ending_before_a_preposition_is_no_unseen_pair():
    words, p = _parsed("There is a pub called the Express near the river .")
    assert name_ends(words, p) == {6}  # "Express" | "near"
    assert not name_ends(*_parsed("Near the river is Cotto ."))  # a sentence's first word says nothing
    assert not name_ends(*_parsed("It is a cheap pub near the river ."))  # a common noun
    assert not name_ends(*_parsed("It is a pub called Cocum pub ."))  # a noun, not a new phrase
    table = WordPairs.from_texts(["There is a pub called the Express .", "It is near the river .",
                                  "Cotto is a pub and it is cheap ."])
    template = "There is a pub called [MASK:2] near the river ."
    text = "There is a pub called the Express near the river ."
    assert Infill(template, pairs=table, grammar=False).unseen_pairs(text) == [("express", "near")]
    assert Infill(template, pairs=table).unseen_pairs(text) == []  # the parse excuses it
    assert Infill(template, pairs=table).unseen_pairs("There is a pub called the pub near the river .")


def _said(text: str, field: str, value: str) -> bool:
    return SemanticField(field, value, contexts=None).satisfied([text])[0]  # the slot rules alone


@pytest.mark.parametrize(("text", "field", "value"), [
    ("Zizzi is a pub near Café Rouge Bistro .", "near", "Café Rouge"),  # a landmark run into a name word
    ("It is close to Burger King Express , a cheap pub .", "near", "Burger King"),
    ("The pub serves Indian food near the river Zizzi .", "name", "Zizzi"),  # a name after an area, at the end
    ("A cheap pub by the city centre Cotto .", "name", "Cotto"),
    ("Cheap food along the riverside area Strada !", "name", "Strada"),
])
def test_the_seventh_set_slot_rules_refuse(text, field, value):
    assert not _said(text, field, value)


@pytest.mark.parametrize(("text", "field", "value"), [
    ("Zizzi is a pub near Café Rouge riverside .", "near", "Café Rouge"),  # an area word is no name
    ("Zizzi is a pub near Café Rouge Riverside .", "near", "Café Rouge"),
    ("Near Café Rouge The Mill is a pub .", "near", "Café Rouge"),  # "The" starts the next name
    ("Zizzi is near Café Rouge . Cotto is cheap .", "near", "Café Rouge"),
    ("Zizzi is near Café Rouge In the city centre .", "near", "Café Rouge"),
    ("Near the river Zizzi is a pub .", "name", "Zizzi"),  # the place phrase opens the sentence
    ("It is a pub around the city centre , Zizzi .", "name", "Zizzi"),  # a comma between
    ("Zizzi is in the city centre .", "name", "Zizzi"),
    ("Zizzi has a rating of 1 out of cheap price range .", "priceRange", "cheap"),  # a price with its cue
    ("It has 3 out of £20-25 prices .", "priceRange", "£20-25"),
])
def test_the_seventh_set_slot_rules_leave_values_said(text, field, value):
    assert _said(text, field, value)


@pytest.mark.parametrize(("text", "field", "value"), [
    ("Zizzi has a rating of 1 out of average .", "customer rating", "average"),  # still the scale
    ("Zizzi is rated 3 out of cheap .", "priceRange", "cheap"),  # no price cue: still the scale
])
def test_a_rating_scale_without_a_cue_is_still_no_value(text, field, value):
    assert not _said(text, field, value)


def test_the_slot_helpers_directly():
    def at(text: str, word: str) -> tuple[list[str], tuple[str, ...], int]:
        words = normalise(text).split()
        return words, normalise_case_kept(text), words.index(word)

    assert landmark_runs_on(*at("It is near Clare Hall Bistro .", "clare"), 2)
    assert not landmark_runs_on(*at("It is near Clare Hall Bistro .", "clare"), 3)  # the whole run
    assert not landmark_runs_on(*at("It is near Clare Hall Indian food .", "clare"), 2)  # a field's word
    assert in_a_place_phrase(*at("It is cheap near the riverside Cotto .", "cotto"), 1)
    assert not in_a_place_phrase(*at("It is cheap near the riverside Cotto and Zizzi .", "cotto"), 1)  # goes on
    assert not in_a_place_phrase(*at("It is cheap near the Cotto .", "cotto"), 1)  # no area word

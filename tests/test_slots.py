"""The slot check behind ``SemanticField``: a value counts only where it plays its field's role."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctrlgen import SemanticField
from ctrlgen.oracles.metrics import semantic_success
from ctrlgen.oracles.slots import EXCLUSIVE, PATTERNS, slot_realised
from ctrlgen.text.e2e import read_e2e_csv
from tests.conftest import TINY_CSV

#: One natural phrasing per (field, value) with a pattern, as the E2E references say them.
SAID = {
    ("area", "riverside"): "It is in the riverside area .",
    ("area", "city centre"): "It is in the city centre .",
    ("priceRange", "cheap"): "It is a cheap pub .",
    ("priceRange", "moderate"): "It is in the moderate price range .",
    ("priceRange", "high"): "It is in the high price range .",
    ("priceRange", "less than £20"): "It costs less than £ 20 .",
    ("priceRange", "£20-25"): "It is in the £ 20 - 25 price range .",
    ("priceRange", "more than £30"): "It costs more than £ 30 .",
    ("customer rating", "1 out of 5"): "It has a customer rating of 1 out of 5 .",
    ("customer rating", "3 out of 5"): "It is rated 3 out of 5 .",
    ("customer rating", "5 out of 5"): "It has a 5 out of 5 customer rating .",
    ("customer rating", "high"): "It has a high customer rating .",
    ("customer rating", "average"): "Its customer rating is average .",
    ("customer rating", "low"): "It has a low customer rating .",
    ("eatType", "coffee shop"): "Zizzi is a coffee shop .",
    ("eatType", "pub"): "Zizzi is a pub .",
    ("eatType", "restaurant"): "Zizzi is a restaurant .",
    **{("food", v): f"It serves {v} food ." for v in ("Chinese", "English", "Fast food", "French", "Italian",
                                                        "Japanese", "Indian")},
}


@pytest.mark.parametrize("key", sorted(PATTERNS), ids=lambda k: f"{k[0]}={k[1]}")
def test_every_pattern_has_a_phrasing_that_it_accepts(key):
    field, value = key
    assert slot_realised(SAID[key], field, value)


def test_the_reported_failures_are_refused():
    """The cases of issue 18: a value in another slot is not that field."""
    assert not slot_realised("The Vaults is a cheap pub near Japanese .", "food", "Japanese")
    assert semantic_success("The Vaults is a cheap pub near Japanese .", "Japanese")  # what it replaced said yes
    assert not slot_realised("It has a high customer rating .", "priceRange", "high")
    assert not slot_realised("It is not family - friendly .", "familyFriendly", "yes")
    assert not slot_realised("The Vaults is a cheap pub near expensive .", "priceRange", "more than £30")
    assert not slot_realised("Zizzi is near Raja Indian Cuisine .", "food", "Indian")
    assert not slot_realised("The Vaults is a high price cheap pub .", "priceRange", "high")  # two values


def test_near_and_name_are_told_apart():
    text = "The Mill is a pub near Café Rouge ."
    assert slot_realised(text, "name", "The Mill") and slot_realised(text, "near", "Café Rouge")
    assert not slot_realised(text, "near", "The Mill") and not slot_realised(text, "name", "Café Rouge")


def test_family_friendly_both_ways():
    for yes in ("It is family friendly .", "It is kid - friendly .", "Children are welcome ."):
        assert slot_realised(yes, "familyFriendly", "yes") and not slot_realised(yes, "familyFriendly", "no")
    for no in ("It is not family friendly .", "It is n't kid friendly .", "No children allowed .", "Adults only ."):
        assert slot_realised(no, "familyFriendly", "no") and not slot_realised(no, "familyFriendly", "yes")


@pytest.mark.parametrize("field", sorted(EXCLUSIVE))
def test_conflicting_values_of_one_field_fail_both(field):
    groups = EXCLUSIVE[field]
    a, b = sorted(groups[0])[0], sorted(groups[-1])[0]
    text = SAID[(field, a)][:-1] + "and " + SAID[(field, b)][0].lower() + SAID[(field, b)][1:]
    assert slot_realised(SAID[(field, a)], field, a)
    assert not slot_realised(text, field, a) and not slot_realised(text, field, b)


def test_tiny_references_realise_their_mr():
    """Every field of every hand-written reference in the fixture is found (recall on clean text)."""
    for e in read_e2e_csv(TINY_CSV):
        for field, value in e.mr.items():
            assert slot_realised(e.ref, field, value), (e.ref, field, value)


_WORD = st.sampled_from("the pub is a nice place with food and drinks in town it".split())


@settings(max_examples=60, deadline=None)
@given(st.lists(_WORD, max_size=8), st.sampled_from(["Japanese", "Italian", "Fast food", "Sushi Palace"]))
def test_a_value_right_after_near_is_never_food(prefix, value):
    text = " ".join([*prefix, "near", value, "."])
    assert not slot_realised(text, "food", value)
    assert slot_realised(" ".join([*prefix, "near", value, "."]), "near", value)


@settings(max_examples=60, deadline=None)
@given(st.lists(_WORD, max_size=8), st.lists(_WORD, max_size=8))
def test_unseen_values_fall_back_to_their_words(left, right):
    """A value no pattern knows (a new dish) is found by its words, wherever it is not a landmark."""
    text = " ".join([*left, "Peruvian", *right, "."])
    assert slot_realised(text, "food", "Peruvian")
    assert not slot_realised(text, "food", "Korean")


def test_semantic_field_uses_the_slot_check():
    c = SemanticField("food", "Japanese")
    assert c.satisfied(["The Vaults serves Japanese food .", "The Vaults is a pub near Japanese ."]) == [True, False]


@pytest.mark.parametrize("text, said", [
    ("The Mill is a pub near Café Rouge .", True),
    ("There is a pub called The Mill near The Sorrento .", True),
    ("The Mill is a pub . The pub is near The Sorrento .", True),  # "The pub": not a name
    ("The Mill coffee shop is cheap . The Chinese food is good .", True),  # a field value is not a name
    ("The Mill , there is a pub near Café Rouge . It is called Giraffe .", False),  # a second name for the place
    ("The Mill pub is cheap . The Phoenix , near Café Rouge , is family friendly .", False),
    ("Near The Mill there is a pub called Giraffe .", False),  # The Mill is the landmark, not the place
])
def test_a_place_given_another_name_does_not_say_name(text, said):
    assert slot_realised(text, "name", "The Mill") is said


def test_family_friendly_no_fails_when_the_text_also_says_yes():
    assert slot_realised("It is not family friendly .", "familyFriendly", "no")
    assert not slot_realised("The Vaults is a family-friendly pub . It is not family friendly .", "familyFriendly", "no")
    assert not slot_realised("The Vaults is a family-friendly pub . It is not family friendly .", "familyFriendly",
                             "yes")

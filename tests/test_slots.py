"""The slot check behind ``SemanticField``: a value counts only where it plays its field's role."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctrlgen import SemanticField
from ctrlgen.oracles.metrics import semantic_success
from ctrlgen.oracles.slot_context import glued_amount
from ctrlgen.oracles.slots import EXCLUSIVE, PATTERNS, normalise, normalise_case_kept, slot_realised
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
    both = "The Vaults is a family-friendly pub . It is not family friendly ."
    assert not slot_realised(both, "familyFriendly", "no")
    assert not slot_realised("The Vaults is a family-friendly pub . It is not family friendly .", "familyFriendly",
                             "yes")


# --- rules from the third labelled set and the reference measurement (recipes/slot_check_refs.py) --------------
@pytest.mark.parametrize("text, field, value, said", [
    ("It is not expensive .", "priceRange", "high", False),                       # denied
    ("It is less than expensive .", "priceRange", "more than £30", False),        # only compared with
    ("It has below average prices .", "priceRange", "moderate", False),
    ("It is not so highly rated .", "customer rating", "high", False),
    ("It is no more than £30 .", "priceRange", "more than £30", False),
    ("It is expensive , not cheap .", "priceRange", "high", True),                # the denied value is no conflict
    ("It is not far from the river and it is expensive .", "priceRange", "high", True),
    ("It is just below the river .", "area", "riverside", True),                  # a place is not compared with
])
def test_a_denied_or_compared_value_is_not_said(text, field, value, said):
    assert slot_realised(text, field, value) is said


@pytest.mark.parametrize("text, field, value, said", [
    ("Near Rainbow Vegetarian Café expensive , Giraffe is a pub .", "priceRange", "high", False),
    ("Near The Portland cheap is a coffee shop .", "priceRange", "cheap", False),
    ("It is near Raja Indian Cuisine 5 out of 5 .", "customer rating", "5 out of 5", True),  # cued: still a rating
    ("Giraffe is near Café Rouge cheap prices .", "priceRange", "cheap", True),
    ("Kids are welcome at The Mill pub .", "eatType", "pub", True),              # "at": the place itself
    ("It is near Burger King The Eagle coffee shop .", "eatType", "coffee shop", True),  # "The" ends the landmark
    ("It is near Café Rouge riverside .", "area", "riverside", True),
])
def test_an_uncued_value_right_after_a_landmark_is_its_epithet(text, field, value, said):
    assert slot_realised(text, field, value) is said


@pytest.mark.parametrize("text, value", [
    ("It has a customer rating of 1 out 5 stars .", "1 out of 5"),
    ("It has 1 of 5 stars .", "1 out of 5"),
    ("It is a three of five star place .", "3 out of 5"),
    ("It is a 5 star place .", "5 out of 5"),
    ("It has a rating of 5 stars .", "5 out of 5"),
])
def test_a_rating_is_its_numerator_never_its_denominator(text, value):
    said = [v for g in EXCLUSIVE["customer rating"] for v in sorted(g) if slot_realised(text, "customer rating", v)]
    assert said == [value]


def test_price_groups_accept_each_others_phrasings():
    assert slot_realised("It costs less than £ 20 .", "priceRange", "cheap")
    assert slot_realised("It costs more than £ 30 .", "priceRange", "high")
    text = "It costs less than £ 20 and it is expensive ."
    assert not any(slot_realised(text, "priceRange", v) for v in ("cheap", "less than £20", "high", "more than £30"))


@pytest.mark.parametrize("text, said", [
    ("The Mill The Plough is a pub .", False),                 # two names run together
    ("There is a pub called The Plough The Mill .", False),
    ("The Mill is a pub near The Plough .", True),
    ("The Mill pub is near Café Rouge .", True),
])
def test_a_second_name_run_into_the_first_one(text, said):
    assert slot_realised(text, "name", "The Mill") is said


@pytest.mark.parametrize("text, yes, no", [
    ("If your kids not family want fast food , try Giraffe .", False, False),   # "not family" denies nothing
    ("It is not a family place .", False, True),
    ("It is a non family pub .", False, True),
    ("It is a not so family friendly pub .", False, True),
    ("It is a pub lacking a child friendly atmosphere .", False, True),
    ("It is a pub geared towards adults , not families .", False, True),
    ("Blue Spice pub in city centre family friendly no .", False, True),
    ("Children not welcome .", False, True),
    ("It is not family friend .", False, True),
    ("It is family friendly , no matter what .", True, False),
    ("Families are welcome , it is not expensive .", True, False),
])
def test_family_friendly_negations_must_reach_friendliness(text, yes, no):
    assert slot_realised(text, "familyFriendly", "yes") is yes
    assert slot_realised(text, "familyFriendly", "no") is no


@pytest.mark.parametrize("text, said", [
    ("Giraffe is a pub near Café Rouge . It is a kids friendly Blue Spice , a pub .", False),  # the subject's name
    ("Blue Spice is a pub near Café Rouge .", True),
    ("It is a pub . Blue Spice is near Café Rouge .", True),
    ("Price is moderate in Blue Spice .", True),                          # "Price is": no name
    ("Blue Spice is a pub . Raja Indian Cuisine is nearby .", True),      # a landmark as a subject
    ("Blue Spice is a pub near Burger King . Burger King is cheap .", True),
    ("Burger King is near the pub Blue Spice .", True),                   # placed near the place: a landmark
    ("Giraffe is located near Café Rouge . It is a pub called Blue Spice .", False),
])
def test_a_sentence_subject_names_the_place(text, said):
    assert slot_realised(text, "name", "Blue Spice") is said


@pytest.mark.parametrize("text, field, value, said", [
    ("A Japanese English pub .", "food", "English", False),              # an article or a value is no name part
    ("A 1 out of 5 pub called Cocum .", "customer rating", "1 out of 5", True),
    ("It serves Indian food near the Raja Indian Cuisine Hotel .", "food", "Indian", True),
    ("It is next to Raja Indian Cuisine .", "food", "Indian", False),
    ("Cocum is a pub in less £ 20 - 25 .", "priceRange", "£20-25", False),
    ("It is a 1-5 star pub .", "customer rating", "5 out of 5", False),
])
def test_names_articles_and_ranges(text, field, value, said):
    assert slot_realised(text, field, value) is said


@pytest.mark.parametrize("text, field, value, said", [
    ("The customer rating is Chinese at the coffee shop .", "food", "Chinese", False),  # another field's slot
    ("The price range is riverside .", "area", "riverside", False),
    ("It has a customer rating of 5 out of 5 .", "customer rating", "5 out of 5", True),  # its own field's cue
    ("The price range is moderate .", "priceRange", "moderate", True),
    ("It is moderately priced Chinese food .", "food", "Chinese", True),                  # no copula: no slot
])
def test_a_value_in_another_fields_slot_is_not_said(text, field, value, said):
    assert slot_realised(text, field, value) is said


def test_family_friendly_right_after_a_landmark_describes_the_landmark():
    assert not slot_realised("It is a pub near the Raja Indian Cuisine family friendly .", "familyFriendly", "yes")
    assert slot_realised("It is a pub near the Raja Indian Cuisine , family friendly .", "familyFriendly", "yes")
    assert slot_realised("It is a family friendly pub near the Raja Indian Cuisine .", "familyFriendly", "yes")


def test_prices_without_the_pound_sign():
    assert slot_realised("It costs less than 20 euros .", "priceRange", "cheap")
    assert not slot_realised("It is expensive and less than 20 .", "priceRange", "high")    # a conflict
    assert not slot_realised("It costs under £ 20 - 25 .", "priceRange", "cheap")            # a range, not under £20


@pytest.mark.parametrize("text, said", [
    ("There is a pub called The Plough Blue Spice near Café Rouge .", False),  # a name run holding more names
    ("The Punter Blue Spice is a pub .", False),
    ("Blue Spice near Café Rouge is The Vaults , a pub .", False),           # "is The Vaults": another name
    ("It is a coffee shop , Blue Spice The Cricketers , near Avalon .", False),
    ("There is a pub called Blue Spice That serves Chinese food .", True),   # "That" ends the name
    ("Near Café Rouge is The Blue Spice , a pub .", True),
    ("By Burger King is The Blue Spice British coffee shop .", True),      # a field's word is no name
    ("Blue Spice is a pub near The Portland Arms .", True),                 # a landmark is no name
])
def test_a_name_run_with_other_names_or_a_second_the_run(text, said):
    assert slot_realised(text, "name", "Blue Spice") is said


@pytest.mark.parametrize("text, field, value, said", [
    ("The Punter is a moderate expensive Chinese restaurant .", "priceRange", "high", False),  # two values at once
    ("It has a low high rating .", "customer rating", "high", False),
    ("It is an average cheap pub .", "priceRange", "cheap", False),
    ("It is a high expensive pub .", "priceRange", "high", True),                  # the same value twice
    ("Prices average more than £ 30 .", "priceRange", "more than £30", True),     # an amount is left alone
    ("It has a high customer rating .", "customer rating", "high", True),
])
def test_a_rival_value_word_right_before_a_bare_value(text, field, value, said):
    assert slot_realised(text, field, value) is said


@pytest.mark.parametrize("text, said", [
    ("Near Burger King is a pub Blue Spice Cotto .", False),               # glued to another name
    ("Near Burger King is a pub called Blue Spice .", True),
    ("Blue Spice Pub is near Burger King .", True),                        # a field's word, not a name
    ("Located near Burger King , Blue Spice is a pub .", True),
    ("A restaurant Cotto is located in the city centre . Blue Spice is close to Café Rouge .", False),  # a subject
    ("The pub is near the river and Raja Indian Cuisine is nearby . Blue Spice is cheap .", True),
    ("Giraffe is near the river . It is a pub called Blue Spice .", False),  # near the river: still a name
    ("Wow The Blue Spice is a pub .", True),
    ("It is by the The Portland Arms , a pub called Blue Spice .", True),  # a landmark after "the"
])
def test_names_glued_or_given_by_a_clause(text, said):
    assert slot_realised(text, "name", "Blue Spice") is said


@pytest.mark.parametrize("text, field, value, said", [
    ("Near Burger King is a pub called English Blue Spice .", "food", "English", False),  # part of the name
    ("Near Burger King is an English pub called Blue Spice .", "food", "English", True),
    ("It has a 1 out of average customer rating .", "customer rating", "average", False),  # the scale
    ("With a 1 out high customer rating , it is a pub .", "customer rating", "high", False),
    ("It has an average customer rating .", "customer rating", "average", True),
    ("It serves expensive cheap Chinese food .", "priceRange", "high", False),  # cheap still conflicts
    ("It serves expensive cheap Chinese food .", "priceRange", "cheap", False),
    ("It serves cheap average English food .", "priceRange", "cheap", True),    # "average" after: no rival
])
def test_names_scales_and_rivals(text, field, value, said):
    assert slot_realised(text, field, value) is said


def test_a_name_glued_to_a_landmark_is_the_landmarks():
    assert not slot_realised("It is an expensive restaurant located near Café Rouge Alimentum .", "name", "Alimentum")
    assert slot_realised("It is an expensive restaurant located near Café Rouge . Alimentum is cheap .", "name",
                         "Alimentum")
    assert slot_realised("Located near Café Rouge The Mill is a pub .", "name", "The Mill")  # "The": a boundary


@pytest.mark.parametrize("text, field, value, said", [
    ("The Eagle serves pasta for less than £moderate price .", "priceRange", "moderate", False),  # £ glued on
    ("It has a price range of cheap 20-25 .", "priceRange", "cheap", False),  # a second amount run in
    ("It has a price range of cheap 20-25 .", "priceRange", "less than £20", False),
    ("Meals cost less than £20 30 here .", "priceRange", "less than £20", False),
    ("It is rated high 5 stars .", "customer rating", "high", True),  # a rating's number: the conflict rule's
    ("It is a 5 out of 5 cheap pub .", "priceRange", "cheap", True),  # a rating ends before it
    ("It is a cheap 5 star pub .", "priceRange", "cheap", True),  # a rating opens after it
    ("Meals cost less than 20 £ here .", "priceRange", "less than £20", True),  # the currency written after
    ("It is cheap , £ 20 at most .", "priceRange", "cheap", True),  # a list, not a run-on
    ("It is rated low 1 out of 5 .", "customer rating", "low", True),
    ("It has a 5 out of 5 rating £ 20 - 25 .", "customer rating", "5 out of 5", True),  # a price: another field
    ("It serves Japanese 20 dishes .", "food", "Japanese", True),  # not an amount field
])
def test_a_stray_amount_run_into_a_price_or_rating(text, field, value, said):
    assert slot_realised(text, field, value) is said


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["£", "£30", "17", "20-25", "3.5"]), st.sampled_from(["", "pub", "here", "."]))
def test_an_amount_glued_after_a_price_always_garbles_it(amount, tail):
    assert slot_realised(f"It is a cheap {tail} place .", "priceRange", "cheap") or tail == "."
    assert not slot_realised(f"It is a cheap {amount} {tail} place .", "priceRange", "cheap")
    assert glued_amount(normalise(f"a cheap {amount} place"), 2, 7, "priceRange")
    assert not glued_amount(normalise(f"a cheap {amount} place"), 2, 7, "food")


@pytest.mark.parametrize("text, yes, no", [
    ("The Eagle is not family family friendly .", False, True),  # the stutter read once: the negation reaches
    ("The Eagle is a family friendly friendly pub .", True, False),
    ("The Eagle is an adult family friendly pub .", False, False),  # a contradiction says neither
    ("Adults like The Eagle , a family friendly pub .", True, False),  # not right before it
])
def test_stutters_and_adult_family_friendly(text, yes, no):
    assert slot_realised(text, "familyFriendly", "yes") is yes
    assert slot_realised(text, "familyFriendly", "no") is no


def test_a_word_said_twice_is_read_once_but_numbers_are_kept():
    assert normalise("A pub pub in the the city centre city centre") == "a pub in the city centre city centre"
    assert normalise_case_kept("The the Mill") == ("The", "Mill")
    assert normalise("rated 5 5 stars") == "rated 5 5 stars"
    assert slot_realised("The Eagle is a pub pub serving food .", "eatType", "pub")

"""Infill's check: template words in place *and* a well-formed text, never a fragment."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctrlgen import Infill
from ctrlgen.oracles.wellformed import ARTICLES_AND_POSSESSIVES, fragment_errors, well_formed
from ctrlgen.text.e2e import read_e2e_csv
from tests.conftest import TINY_CSV

TEMPLATE = "The Vaults is a [MASK:3] pub near [MASK] ."


@pytest.mark.parametrize("text", [
    "The Vaults is a family friendly Japanese pub near the .",     # the reported "… pub near the ."
    "The Vaults is a pub pub near riverside .",
    "The Vaults is a cheap pub near .",
    "The Vaults is a the pub .",
    ". The Vaults is a pub .",
    "The Vaults is a pub , .",
    "The Vaults is a [UNK] pub .",
    "The Vaults is a pub and .",
    "The Eagle is a coffee shop that serves The food .",         # a capitalised article inside a sentence
])
def test_fragments_are_found(text):
    assert fragment_errors(text)


@pytest.mark.parametrize("text", ["It is near The Mill .", "It is a pub . The food is cheap .", "The pub is cheap ."])
def test_a_capitalised_article_is_fine_before_a_name_and_after_a_stop(text):
    assert not fragment_errors(text)


def test_fixture_references_are_well_formed():
    for e in read_e2e_csv(TINY_CSV):
        assert well_formed(e.ref), (e.ref, fragment_errors(e.ref))


def test_infill_satisfied_needs_a_well_formed_fill():
    c = Infill(TEMPLATE, detector=None)  # the rules and tables; the learned gate has its own tests
    ok, frag = ("The Vaults is a family friendly Japanese pub near riverside .",
                "The Vaults is a cheap family friendly pub near the .")
    sat, scores = c.judge([ok, frag])
    assert sat == [True, False] and scores == [1.0, 1.0]          # the words are there; the fragment is not filled
    assert c.satisfied([ok, frag]) == sat


_WORDS = st.lists(st.sampled_from("pub food river cheap nice place serves Japanese".split()), min_size=1, max_size=6)


@settings(max_examples=80, deadline=None)
@given(_WORDS, st.sampled_from(sorted(ARTICLES_AND_POSSESSIVES)), st.sampled_from([".", ",", ""]))
def test_a_dangling_article_is_always_an_error(words, article, end):
    text = " ".join(["Zizzi", "is", "a", *words, "near", article, end]).strip()
    assert not well_formed(text)


@settings(max_examples=80, deadline=None)
@given(_WORDS)
def test_distinct_content_words_then_a_stop_are_fine(words):
    distinct = [w for k, w in enumerate(words) if k == 0 or w != words[k - 1]]
    assert well_formed(" ".join(["Zizzi", "is", "a", *distinct, "."]))

"""``SemanticField`` for any value: served as a placed phrase on backends with soft faces, judged by the slot check."""

from __future__ import annotations

import pytest

from ctrlgen import ConstraintError, SemanticField
from ctrlgen.constraints import OutOfVocabularyError, prepare
from ctrlgen.constraints.field_phrase import PHRASINGS, FieldPhrase, field_phrase
from ctrlgen.oracles.slots import slot_realised

SEQ = 24


def _leaf(c, tokenizer, backend):
    (term,) = prepare(c, tokenizer, SEQ, backend).terms
    return term.constraint


@pytest.mark.parametrize("backend", ["embedding", "discrete"])
def test_any_value_becomes_a_placed_phrase(tokenizer, backend):
    c = SemanticField("near", "Blue Oak")                       # a landmark no MR of the fixture has
    leaf = _leaf(c, tokenizer, backend)
    assert isinstance(leaf, FieldPhrase) and leaf.phrases == ("near Blue Oak",)
    assert repr(leaf) == repr(c)                                # reports keep the user's constraint name
    assert leaf.satisfied(["The Mill is near Blue Oak .", "Blue Oak is near The Mill ."]) == [True, False]


def test_edit_and_classifier_steering_keep_the_field(tokenizer):
    assert _leaf(SemanticField("food", "Italian"), tokenizer, "edit") == SemanticField("food", "Italian")
    assert isinstance(_leaf(SemanticField("near", "Blue Oak"), tokenizer, "edit"), FieldPhrase)  # open field: inserted
    assert isinstance(_leaf(SemanticField("food", "Italian", steer="phrase"), tokenizer, "edit"), FieldPhrase)
    keep = SemanticField("food", "Italian", steer="classifier")
    with pytest.raises(ConstraintError, match="needs the model"):   # classifier guidance needs a model context
        prepare(keep, tokenizer, SEQ, "embedding")


def test_phrasings_say_the_value_as_the_slot_check_reads_it():
    for (field, value), phrase in PHRASINGS.items():
        assert field_phrase(field, value) == phrase
        assert slot_realised(f"The Mill is {phrase} .", field, value), (field, value)
    assert field_phrase("food", "Italian") == "Italian food" and field_phrase("food", "Fast food") == "Fast food"
    assert field_phrase("near", "Green Oak") == "near Green Oak" and field_phrase("name", "Zizzi") == "Zizzi"


def test_unknown_words_are_named_before_sampling(tokenizer):
    with pytest.raises(OutOfVocabularyError, match="Zanzibar"):
        prepare(SemanticField("name", "Zanzibar Mill"), tokenizer, SEQ, "discrete")
    leaf = _leaf(SemanticField("name", "Zanzibar Mill", allow_unk=True), tokenizer, "discrete")
    assert leaf.allow_unk


def test_bad_values_and_steering_are_refused():
    with pytest.raises(ConstraintError, match="'yes' or 'no'"):
        SemanticField("familyFriendly", "maybe")
    with pytest.raises(ConstraintError, match="steer"):
        SemanticField("food", "Italian", steer="magic")


def test_conflicting_fields_still_conflict(tokenizer):
    from ctrlgen.errors import ConstraintConflictError
    with pytest.raises(ConstraintConflictError):
        prepare(SemanticField("food", "Italian") & SemanticField("food", "English"), tokenizer, SEQ, "discrete")


def test_spec_strings_take_steer_and_allow_unk():
    from ctrlgen.constraints.specs import parse_constraint
    assert parse_constraint("food=Japanese;steer=classifier") == SemanticField("food", "Japanese", steer="classifier")
    assert parse_constraint("near=Café Adriatic;allow_unk=true").allow_unk
    with pytest.raises(ConstraintError, match="allow_unk"):
        parse_constraint("food=Japanese;allow_unk=maybe")

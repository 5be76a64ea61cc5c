"""The value-context table behind ``SemanticField``'s check: delexicalised, hashed, open to new values."""

from __future__ import annotations

import pytest

from ctrlgen import SemanticField
from ctrlgen.constraints.base import ConstraintError
from ctrlgen.errors import CheckpointError
from ctrlgen.oracles.slots import slot_realised
from ctrlgen.oracles.value_contexts import VERBATIM_FIELDS, ValueContexts, bundled_contexts, value_said

EXAMPLES = [({"name": "Zizzi", "food": "Thai"}, "Zizzi serves Thai food ."),
            ({"name": "Cotto", "near": "Café Rouge"}, "There is a pub called Cotto near Café Rouge ."),
            ({"name": "The Mill", "familyFriendly": "yes"}, "It is cheap . The Mill is family friendly .")]


def test_contexts_are_delexicalised_so_a_new_value_is_judged_by_its_field():
    table = ValueContexts.from_examples(EXAMPLES)
    assert table.attested("Blue Bird serves Thai food .", "name", "Blue Bird")  # <s> _ serves
    assert table.attested("A pub called The Golden Hind near the river .", "name", "The Golden Hind")
    assert table.attested("It is a pub . Aromi is family friendly .", "name", "Aromi")  # a stop counts as <s>
    assert not table.attested("It serves Thai food Blue Bird .", "name", "Blue Bird")  # food _ .
    assert not table.attested("Zizzi serves Thai food .", "near", "Zizzi")  # that context is a name's, not a near's


def test_fields_said_in_many_words_and_paraphrases_are_not_judged_here():
    table = ValueContexts.from_examples(EXAMPLES)
    assert "familyFriendly" not in VERBATIM_FIELDS and "customer rating" not in VERBATIM_FIELDS
    assert table.attested("anything at all yes", "familyFriendly", "yes")
    assert table.attested("Zizzi serves sushi .", "food", "Japanese")  # no verbatim mention
    assert table.attested("It serves Thai food Blue Bird . Blue Bird serves Thai food .", "name", "Blue Bird")


def test_round_trip_holds_no_text_and_bad_files_are_refused(tmp_path):
    table = ValueContexts.from_examples(EXAMPLES, source="three rows")
    path = tmp_path / "contexts.safetensors"
    table.save(path)
    back = ValueContexts.load(path)
    assert (back.contexts, back.source) == (table.contexts, "three rows")
    assert b"Zizzi" not in path.read_bytes() and b"serves" not in path.read_bytes()
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError):
        ValueContexts.load(bad)
    with pytest.raises(CheckpointError):
        ValueContexts.load(tmp_path / "missing.safetensors")


@pytest.mark.parametrize(("text", "field", "value"), [
    ("The price range is moderate Zizzi .", "name", "Zizzi"),
    ("It is a pub with fast food Aromi , and it is kid friendly .", "name", "Aromi"),
    ("It is a pub near the river with a lovely setting The Waterman .", "name", "The Waterman"),
])
def test_semantic_field_refuses_a_value_tacked_on_where_no_one_writes_it(text, field, value):
    assert slot_realised(text, field, value)  # the slot rules alone accept these
    assert SemanticField(field, value).satisfied([text]) == [False]
    assert SemanticField(field, value, contexts=None).satisfied([text]) == [True]


def test_semantic_field_accepts_values_where_people_write_them_and_checks_its_contexts_argument():
    table = bundled_contexts()
    for text, field, value in [("Zizzi is a cheap pub near Café Rouge .", "name", "Zizzi"),
                               ("Zizzi is a cheap pub near Café Rouge .", "near", "Café Rouge"),
                               ("There is a Japanese coffee shop called The Golden Hind .", "name", "The Golden Hind"),
                               ("The Mill serves Italian food in the city centre .", "food", "Italian")]:
        assert value_said(text, field, value, table), (text, field)
        assert SemanticField(field, value).satisfied([text]) == [True]
    with pytest.raises(ConstraintError, match="contexts"):
        SemanticField("name", "Zizzi", contexts="no-such-table")

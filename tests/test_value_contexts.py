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
    assert (back.contexts, back.names, back.source) == (table.contexts, table.names, "three rows")
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


def test_a_known_name_outside_a_landmark_phrase_is_another_name_for_the_place():
    table = ValueContexts.from_examples(EXAMPLES + [({"name": "Giraffe", "near": "Ranch"}, "Giraffe is near Ranch .")])
    assert table.other_names("Giraffe serves food . It is a pub The Mill by the river .", "The Mill") == ["giraffe"]
    assert table.other_names("The Mill is a pub near Giraffe .", "The Mill") == []  # a landmark
    assert table.other_names("The Mill is a pub near the the Giraffe .", "The Mill") == []
    assert table.other_names("The Mill is a pub . The Mill is cheap .", "The Mill") == []  # the value itself
    assert table.other_names("The Mill is located Ranch .", "The Mill") == []  # landmarks are not names
    assert table.other_names("The Mill is a giraffe pub .", "The Mill") == []  # not capitalised: no name
    # a landmark whose last word is a known name (an unseen near value such as "Café Giraffe") stays a landmark
    assert table.other_names("The Mill is a pub near Café Giraffe .", "The Mill") == []
    assert table.other_names("The Mill is near the Old Café Giraffe .", "The Mill") == []
    assert table.other_names("The Mill is a pub . Giraffe is near .", "The Mill") == ["giraffe"]  # no cue before
    assert table.other_names("The Mill is a pub Café Giraffe .", "The Mill") == ["giraffe"]
    text = "Giraffe Thai food and is cheap . Blue Bird serves Thai food ."  # its context is attested
    assert value_said(text, "name", "Blue Bird", None)  # the slot rules alone
    assert table.attested(text, "name", "Blue Bird") and not value_said(text, "name", "Blue Bird", table)
    assert value_said(text, "food", "Thai", table)  # only name is asked


def test_a_name_later_in_a_sentence_whose_subject_is_a_bare_the_is_not_the_place_name():
    assert not slot_realised("The is a kids-friendly The Cambridge Blue coffee shop .", "name", "The Cambridge Blue")
    assert not slot_realised("The is a cheap pub The Vaults near the river .", "name", "The Vaults")
    assert slot_realised("The Vaults is a cheap pub near the river .", "name", "The Vaults")
    assert slot_realised("The pub is cheap . The Vaults is near the river .", "name", "The Vaults")

"""The word-pair table behind ``Infill``'s check: hashed, exact on its corpus, open to new words and names."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctrlgen import Infill
from ctrlgen.constraints.base import ConstraintError
from ctrlgen.errors import CheckpointError
from ctrlgen.oracles.word_pairs import WordPairs, bundled_pairs
from ctrlgen.text.tokenizer import split_words

CORPUS = ["The Vaults is a cheap pub near Café Rouge .", "Zizzi serves Italian food in the city centre .",
          "It is a family friendly coffee shop ."]
WORDS = st.sampled_from(sorted({w for t in CORPUS for w in split_words(t)}))


def test_every_pair_of_the_corpus_is_attested_wherever_the_holes_are():
    table = WordPairs.from_texts(CORPUS)
    for t in CORPUS:
        words = split_words(t)
        assert table.unseen(words, free=range(len(words) + 2)) == []


@settings(max_examples=60, deadline=None)
@given(st.lists(WORDS, min_size=2, max_size=8), st.data())
def test_unseen_is_exactly_the_unattested_pairs_touching_a_hole(words, data):
    """Brute force: a pair is reported iff it touches a free position, its second word is lower case, it is not a
    capitalised word before punctuation, and it is not a pair of the corpus (all words here are known)."""
    table = WordPairs.from_texts(CORPUS)
    free = data.draw(st.sets(st.integers(1, len(words))))
    corpus_pairs = {(a.lower(), b.lower()) for t in CORPUS for s in [["<s>", *split_words(t), "</s>"]]
                    for a, b in zip(s, s[1:])}
    seq = ["<s>", *words, "</s>"]
    want = [(seq[k].lower(), seq[k + 1].lower()) for k in range(len(seq) - 1)
            if (k in free or k + 1 in free) and not seq[k + 1][:1].isupper()
            and not (seq[k][:1].isupper() and seq[k + 1] in ".,;:!?")
            and (seq[k].lower(), seq[k + 1].lower()) not in corpus_pairs]
    assert table.unseen(words, free) == want


def test_new_words_and_names_are_never_held_against_a_fill():
    table = WordPairs.from_texts(CORPUS)
    assert table.unseen(["Zizzi", "serves", "Zyzzyva", "food", "."], free=[3]) == []  # unknown word
    assert table.unseen(["It", "is", "near", "Zizzi", "."], free=[4]) == []  # a name begins: capitalised
    assert table.unseen(["It", "is", "a", "food", "shop", "."], free=[4]) == [("a", "food"), ("food", "shop")]


def test_save_load_round_trip_and_no_text_in_the_file(tmp_path):
    table = WordPairs.from_texts(CORPUS, source="three lines")
    path = tmp_path / "pairs.safetensors"
    table.save(path)
    back = WordPairs.load(path)
    assert (back.pairs, back.words, back.source) == (table.pairs, table.words, "three lines")
    assert b"Vaults" not in path.read_bytes() and b"cheap" not in path.read_bytes()


@pytest.mark.parametrize("content", [b"", b"not a safetensors file at all", None])
def test_a_bad_table_file_is_a_checkpoint_error(tmp_path, content):
    path = tmp_path / "pairs.safetensors"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(CheckpointError):
        WordPairs.load(path)


def test_a_safetensors_file_of_another_format_is_refused(tmp_path):
    import torch
    from safetensors.torch import save_file
    save_file({"pairs": torch.zeros(2, dtype=torch.int64)}, str(tmp_path / "x.safetensors"))
    with pytest.raises(CheckpointError, match="not a word-pair table"):
        WordPairs.load(tmp_path / "x.safetensors")


def test_infill_check_uses_the_table_and_can_go_without_it():
    tpl = "The Punter serves [MASK:2] food in the [MASK:2] ."
    odd = "The Punter serves a coffee food in the customer rating ."
    fine = "The Punter serves cheap Chinese food in the city centre ."
    assert Infill(tpl).satisfied([odd, fine]) == [False, True]  # the bundled E2E table
    assert Infill(tpl).unseen_pairs(odd) == [("coffee", "food")]
    assert Infill(tpl, pairs=None, detector=None).satisfied([odd]) == [True]  # the closed-class rules alone
    own = WordPairs.from_texts(["The Punter serves a coffee food in the customer rating ."])
    assert Infill(tpl, pairs=own, detector=None).satisfied([odd]) == [True]
    assert repr(Infill(tpl, pairs=None)) == repr(Infill(tpl))  # the table is not part of the constraint's identity
    with pytest.raises(ConstraintError, match="WordPairs"):
        Infill(tpl, pairs="my-table").satisfied([odd])


def test_the_bundled_table_is_the_training_corpus_hashed():
    table = bundled_pairs()
    assert "train.csv sha256:" in table.source
    assert table.known("riverside") and table.attested("in", "the") and not table.attested("coffee", "food")


@settings(max_examples=60, deadline=None)
@given(st.lists(WORDS, min_size=3, max_size=8), st.data())
def test_unseen_triples_are_exactly_the_unattested_triples_touching_a_hole(words, data):
    """Brute force: a triple is reported iff it touches a free position, its second and third words are lower case,
    and it is not a triple of the corpus (all words here are known)."""
    table = WordPairs.from_texts(CORPUS)
    free = data.draw(st.sets(st.integers(1, len(words))))
    corpus = {tuple(x.lower() for x in s[k:k + 3]) for t in CORPUS for s in [["<s>", *split_words(t), "</s>"]]
              for k in range(len(s) - 2)}
    seq = ["<s>", *words, "</s>"]
    want = [tuple(x.lower() for x in seq[k:k + 3]) for k in range(len(seq) - 2)
            if free & {k, k + 1, k + 2} and not seq[k + 1][:1].isupper() and not seq[k + 2][:1].isupper()
            and tuple(x.lower() for x in seq[k:k + 3]) not in corpus]
    assert table.unseen_triples(words, free) == want


def test_triples_catch_what_pairs_miss_and_a_table_without_triples_asks_pairs_only(tmp_path):
    table = WordPairs.from_texts(["It is cheap .", "It is in the riverside area .", "By the riverside is a pub ."])
    words = split_words("It is riverside area .")  # "is riverside" is no pair of the corpus either
    assert table.unseen_triples(split_words("It is in the riverside area ."), free=[3, 4]) == []
    odd = split_words("The riverside is cheap .")  # every pair attested, the triple "riverside is cheap" not
    assert table.unseen(odd, free=[2]) == [] and ("riverside", "is", "cheap") in table.unseen_triples(odd, free=[2])
    assert table.unseen(words, free=[3]) == [("is", "riverside")]
    old = WordPairs(table.pairs, table.words)  # a table saved before triples existed
    path = tmp_path / "old.safetensors"
    old.save(path)
    back = WordPairs.load(path)
    assert back.triples == frozenset() and back.unseen_triples(odd, free=[2]) == []
    table.save(path)
    assert WordPairs.load(path).triples == table.triples


def test_the_bundled_table_holds_triples_and_infill_asks_them():
    table = bundled_pairs()
    assert len(table.triples) > 10_000
    tpl = "The Vaults is a [MASK:2] pub ."
    assert Infill(tpl).unseen_triples("The Vaults is a cheap family pub .")  # "a cheap family" "cheap family pub"
    assert Infill(tpl).unseen_triples("The Vaults is a family friendly pub .") == []
    assert Infill(tpl, pairs=None).unseen_triples("The Vaults is a cheap family pub .") == []

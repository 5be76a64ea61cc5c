"""Word <-> subword alignment (issue 15, item 2): spaCy words over BPE subwords, by character overlap."""

from __future__ import annotations

import doctest
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctrlgen.errors import DataError
from ctrlgen.text import alignment
from ctrlgen.text.alignment import align_text, owners, word_count, word_slice, words_of
from ctrlgen.text.bpe import BPETokenizer, byte_of_char
from ctrlgen.text.tokenizer import split_words

CORPUS = ["The Vaults is a pub near the river.", "The Mill is a cheap pub.", "It is gonna rain."] * 3


@pytest.fixture(scope="module")
def bpe() -> BPETokenizer:
    return BPETokenizer.train(CORPUS, vocab_size=300)


def _spelled(tok: BPETokenizer, ids: list[int], s: slice) -> str:
    return bytes(byte_of_char()[c] for i in ids[s] for c in tok.vocab.word(i)).decode().strip()


@pytest.mark.parametrize("text", [
    "Zyxwv is a pub.",                    # multi-subword word at the start
    "The Zyxwv pub is near the river.",   # in the middle
    "The pub is near Zyxwvut",            # at the end
    "Zyxw, Qrst. (Uvwx)! Zyx's",          # next to punctuation, a contraction
    "It isn't café-friendly: £30 😀.",    # contraction, infix hyphen, currency, multi-byte characters
])
def test_each_word_is_exactly_its_subwords(bpe, text):
    ids = bpe.encode(text)
    words = words_of(bpe, ids)
    assert [w.text for w in words] == split_words(text)
    assert any(w.stop - w.start > 1 for w in words)  # the test exercises multi-subword words
    assert words[0].start == 1 and words[-1].stop == len(ids) - 1  # after [START], before [END]
    for prev, w in pairwise(words):
        assert prev.stop == w.start or _spelled(bpe, ids, slice(prev.stop, w.start)) == ""  # only blanks between
    for w in words:
        assert _spelled(bpe, ids, w.positions) == w.text
    assert word_count(bpe, ids) == len(split_words(text))
    assert align_text(bpe, text) == (ids, words)  # the fast tokenizer's offsets agree with the byte spans
    own = owners(bpe, ids)
    for k, w in enumerate(words):
        assert all(own[p] == k for p in range(w.start, w.stop))


def test_reverse_lookup_and_range_error(bpe):
    ids = bpe.encode("The Zyxwv pub.")
    assert bpe.tokenize("The Zyxwv")[1:] == ["Ġ", "Z", "y", "x", "w", "v"]  # no merge of the space with "Z"
    assert word_slice(bpe, ids, 1) == slice(3, 8)  # the lone space subword (position 2) belongs to no word
    assert owners(bpe, ids)[:9] == [None, 0, None, 1, 1, 1, 1, 1, 2]
    with pytest.raises(DataError, match="has 4 words"):
        word_slice(bpe, ids, 4)


def test_a_straddling_subword_is_in_both_words_and_owned_by_the_first(bpe):
    """spaCy splits ``gonna`` into ``gon`` ``na``; the learned subwords ``Ġgo`` ``nna`` do not: ``nna`` is in both."""
    ids = bpe.encode("It is gonna rain.")
    assert bpe.tokenize("It is gonna rain.")[2:4] == ["Ġgo", "nna"]
    words = words_of(bpe, ids)
    assert [w.text for w in words] == ["It", "is", "gon", "na", "rain", "."]
    gon, na = words[2], words[3]
    assert (gon.start, gon.stop, na.start, na.stop) == (3, 5, 4, 5)
    assert owners(bpe, ids)[3:6] == [2, 2, 4]


def test_specials_padding_and_broken_bytes(bpe):
    body = bpe.encode("The Zyxwv")[1:-1]
    ids = [1, *body, bpe.vocab.mask_id, *bpe.encode(" pub")[1:-1], 2, 0, 0]
    words = words_of(bpe, ids)
    assert [w.text for w in words] == ["The", "Zyxwv", "[MASK]", "pub"]
    assert words[2].positions == slice(1 + len(body), 2 + len(body))
    assert owners(bpe, ids)[-3:] == [None, None, None]
    emoji = bpe.encode("a 😀")[1:-1][:-1]  # the emoji's last byte missing: not valid UTF-8
    words = words_of(bpe, [1, *emoji, 2])
    assert words[0].text == "a" and words[-1].stop == len(emoji) + 1


def test_word_level_alignment_is_the_identity(tokenizer, tiny_texts):
    for text in tiny_texts + ["Blorptastic isn't near £20-£25."]:
        ids = tokenizer.encode(text, 40)
        words = words_of(tokenizer, ids)
        n = len(split_words(text))
        assert [(w.start, w.stop) for w in words] == [(p, p + 1) for p in range(1, n + 1)]
        assert [w.text for w in words] == tokenizer.vocab.words_of(ids[1:n + 1])
        assert word_count(tokenizer, ids) == n and word_slice(tokenizer, ids, n - 1) == slice(n, n + 1)
        assert owners(tokenizer, ids) == [None, *range(n), *[None] * (40 - n - 1)]
        assert [w.text for w in align_text(tokenizer, text)[1]] == split_words(text)


@settings(max_examples=150, deadline=None)
@given(st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=40))
def test_alignment_invariants_on_any_text(bpe, text):
    ids = bpe.encode(text)
    words = words_of(bpe, ids)
    assert [w.text for w in words] == split_words(text)
    assert align_text(bpe, text) == (ids, words)
    for prev, w in pairwise(words):
        assert prev.start <= w.start and prev.stop <= w.stop and w.start >= prev.stop - 1  # share ≤ 1 subword
    own = owners(bpe, ids)
    assert all(own[p] is not None for w in words for p in range(w.start, w.stop))


def test_docstring_example_runs():
    assert doctest.testmod(alignment).failed == 0

"""Word <-> subword alignment of what a model may write but encoding never makes: subwords whose bytes are not valid
UTF-8 together (issue 15). The decoder turns each maximal invalid subsequence into one U+FFFD, so a run of bad bytes
can be fewer characters than bytes; the alignment's words are the output text's words all the same
(:func:`ctrlgen.text.alignment.words_of`)."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctrlgen.text.alignment import owners, words_of
from ctrlgen.text.bpe import BPETokenizer, byte_of_char
from ctrlgen.text.tokenizer import split_words
from ctrlgen.text.vocab import SPECIALS

CORPUS = ["The Vaults is a cheap pub near the river.", "The Mill is a coffee shop in the city centre.",
          "Zizzi is a family friendly Italian restaurant.", "Aromi serves Japanese food near Café Rouge."] * 3


@pytest.fixture(scope="module")
def bpe() -> BPETokenizer:
    return BPETokenizer.train(CORPUS, vocab_size=300)


def _ids(bpe: BPETokenizer, *raw: bytes) -> list[int]:
    """``[START]``, the subwords whose bytes are ``raw``, ``[END]``."""
    table = {b: c for c, b in byte_of_char().items()}
    return [bpe.vocab.start_id, *(bpe.vocab.words.index("".join(table[b] for b in r)) for r in raw), bpe.vocab.end_id]


@pytest.mark.parametrize("raw", [
    (b"\x04", b"\xe2", b"\x93", b"\xcc"),  # E2 93 is one truncated character (one U+FFFD), CC another
    (b"\x12", b"\xe5", b"\x00"),           # a truncated character between control bytes
    (b"\xf0", b"\x9f", b"\x98"),           # three bytes of a four-byte character: one U+FFFD
    (b"\x9f", b"\x98", b" the"),           # two stray continuation bytes: two U+FFFD, then a word
    (b"Ca", b"f\xc3", b"\xa9"),          # valid: one word, its é split over two subwords
])
def test_words_are_the_decoded_texts_words(bpe, raw):
    ids = _ids(bpe, *raw)
    words = words_of(bpe, ids)
    assert [w.text for w in words] == split_words(bpe.decode(ids))
    assert all(o is not None for w in words for o in owners(bpe, ids)[w.start:w.stop])


def test_a_truncated_character_is_one_word_over_its_subwords(bpe):
    ids = _ids(bpe, b"\xf0", b"\x9f", b"\x98")
    assert [(w.text, w.start, w.stop) for w in words_of(bpe, ids)] == [("\ufffd", 1, 4)]


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_alignment_matches_the_decoded_text_on_any_subwords(bpe, data):
    """Any sequence of non-special subwords (byte fragments favoured): the words are those of the decoded text, in
    order, each a slice of the sequence, consecutive words sharing at most one subword."""
    ordinary = [i for i, t in enumerate(bpe.vocab.words) if t not in SPECIALS]
    table = byte_of_char()
    high = [i for i in ordinary if any(table[c] >= 0x80 for c in bpe.vocab.words[i])]
    ids = data.draw(st.lists(st.sampled_from(high) | st.sampled_from(ordinary), min_size=1, max_size=10))
    seq = [bpe.vocab.start_id, *ids, bpe.vocab.end_id]
    words = words_of(bpe, seq)
    assert [w.text for w in words] == split_words(bpe.decode(seq))
    assert all(1 <= w.start < w.stop <= len(ids) + 1 for w in words)
    for prev, w in pairwise(words):
        assert prev.start <= w.start and prev.stop <= w.stop and w.start >= prev.stop - 1


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_text_intact_is_exactly_valid_utf8(bpe, data):
    """``text_intact`` holds iff the subwords' bytes are valid UTF-8 (else the decoded text has a U+FFFD the model
    made), and ``build_output`` reports such a sample as not well formed while the token shape alone is fine."""
    import torch

    from ctrlgen.core.output import build_output
    from ctrlgen.oracles.fluency import well_formed

    ordinary = [i for i, t in enumerate(bpe.vocab.words) if t not in SPECIALS]
    table = byte_of_char()
    high = [i for i in ordinary if any(table[c] >= 0x80 for c in bpe.vocab.words[i])]
    ids = data.draw(st.lists(st.sampled_from(high) | st.sampled_from(ordinary), min_size=1, max_size=10))
    seq = [bpe.vocab.start_id, *ids, bpe.vocab.end_id]
    raw = bytes(table[c] for i in ids for c in bpe.vocab.words[i])
    try:
        raw.decode("utf-8")
        valid = True
    except UnicodeDecodeError:
        valid = False
    assert bpe.text_intact(seq) == valid
    if not valid:
        assert "\ufffd" in bpe.decode(seq)
    out = build_output(torch.tensor([seq]), bpe, None)
    assert bool(well_formed(torch.tensor([seq]), bpe.vocab)[0])  # the shape is fine either way
    assert out.report["well_formed"] == [bpe.text_intact(seq)]


def test_text_intact_on_the_fixed_cases(bpe):
    assert not bpe.text_intact(_ids(bpe, b"\xf0", b"\x9f", b"\x98"))  # three bytes of a four-byte character
    assert not bpe.text_intact(_ids(bpe, b"\x9f", b"\x98", b" the"))
    assert bpe.text_intact(_ids(bpe, b"Ca", b"f\xc3", b"\xa9"))  # é split over two subwords is whole
    assert bpe.text_intact([bpe.vocab.start_id, bpe.vocab.end_id])  # the empty text

"""Byte-level BPE tokenizer (issue 15, item 1): any Unicode text round-trips, the Hugging Face file alone gives
the same ids, the shared special layout, typed errors."""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ctrlgen.errors import DataError
from ctrlgen.text.base import TOKENIZER_FILE, BaseTokenizer
from ctrlgen.text.bpe import BPETokenizer
from ctrlgen.text.loader import load_tokenizer
from ctrlgen.text.vocab import SPECIALS

HARD = ["Zoë's café — naïve 😀🇫🇷 costs ¥3,000!", "  two  spaces\tand tab\nnew line ",
        "[MASK] [PAD] literal", "\x00\x7f\u200b\ufeff", "日本語のテキスト", ""]


@pytest.fixture(scope="module")
def bpe(tiny_texts) -> BPETokenizer:
    return BPETokenizer.train(tiny_texts * 3, vocab_size=320)


def test_layout_and_interface(bpe):
    assert isinstance(bpe, BaseTokenizer) and bpe.kind == "bpe"
    assert tuple(bpe.vocab.words[:5]) == SPECIALS and len(bpe) == 320
    v = bpe.vocab
    assert (v.pad_id, v.start_id, v.end_id, v.unk_id, v.mask_id) == (0, 1, 2, 3, 4)
    assert any(len(w) > 3 for w in v.words[5 + 256:])  # merges were learned


def test_training_is_deterministic(tiny_texts, bpe):
    assert BPETokenizer.train(tiny_texts * 3, vocab_size=320).vocab.words == bpe.vocab.words


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_any_unicode_text_round_trips(bpe, text):
    ids = bpe.encode(text)
    assert ids[0] == bpe.vocab.start_id and ids[-1] == bpe.vocab.end_id
    assert bpe.vocab.unk_id not in ids and max(ids) < len(bpe)
    assert bpe.decode(ids) == text
    assert bpe.detokenize(bpe.tokenize(text)) == text
    assert bpe.vocab.ids(bpe.tokenize(text)) == ids[1:-1]


@pytest.mark.parametrize("text", HARD)
def test_hard_texts_round_trip_with_padding(bpe, text):
    ids = bpe.encode(text, 80)
    assert len(ids) == 80 and bpe.decode(ids) == text
    assert bpe.decode_batch(torch.tensor([ids, ids])) == [text, text]


def test_decode_stops_at_end_and_skips_pad(bpe):
    a, b = bpe.encode("The Mill"), bpe.encode("is a pub")
    assert bpe.decode([0, *a, *b[1:], 0]) == "The Mill"
    assert bpe.decode([1, 0, *a[1:]]) == "The Mill"
    m = bpe.vocab.mask_id
    assert bpe.decode([1, *a[1:-1], m, 2]) == "The Mill[MASK]"


def test_decode_substitutes_unk_words(bpe):
    ids = [1, *bpe.encode("The")[1:-1], bpe.vocab.unk_id, *bpe.encode(" is")[1:-1], 2]
    assert bpe.decode(ids, {len(ids) - 3: "Zoë"}) == "The Zoë is"


def test_saved_files_load_in_ctrlgen_tokenizers_and_transformers(bpe, tiny_texts, tmp_path):
    from tokenizers import Tokenizer as HFTokenizer

    transformers = pytest.importorskip("transformers")
    bpe.save(tmp_path)
    back = load_tokenizer(tmp_path)
    assert isinstance(back, BPETokenizer) and back.vocab.words == bpe.vocab.words
    hf = HFTokenizer.from_file(str(tmp_path / TOKENIZER_FILE))
    fast = transformers.PreTrainedTokenizerFast(tokenizer_file=str(tmp_path / TOKENIZER_FILE))
    full = transformers.PreTrainedTokenizerFast.from_pretrained(str(tmp_path))
    assert (full.pad_token_id, full.bos_token_id, full.eos_token_id, full.unk_token_id, full.mask_token_id) \
        == (0, 1, 2, 3, 4)
    for text in tiny_texts + HARD[:2]:
        ids = bpe.encode(text)
        assert back.encode(text) == ids and hf.encode(text).ids == ids and fast(text)["input_ids"] == ids
        assert full.decode(ids, skip_special_tokens=True) == text
    added = {t["content"]: (t["id"], t["special"]) for t in json.loads((tmp_path / TOKENIZER_FILE).read_text())
             ["added_tokens"]}
    assert added == {s: (i, True) for i, s in enumerate(SPECIALS)}


def test_too_long_and_bad_training_input(bpe):
    with pytest.raises(DataError, match=r"subwords, more than seq_len - 2 = 4"):
        bpe.encode("The Mill is a pub near the river", 6)
    assert bpe.encode("", 4) == [1, 2, 0, 0]
    with pytest.raises(DataError, match="no text"):
        BPETokenizer.train([])
    with pytest.raises(DataError, match="vocab_size must be >= 261"):
        BPETokenizer.train(["a b"], vocab_size=100)

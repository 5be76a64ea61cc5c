"""Word-level tokenizer as a real Hugging Face file; migration of the previous format; the one loader; bad files
(issue 15, items 1 and "Bad input")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ctrlgen.errors import CheckpointError, DataError
from ctrlgen.text.base import SPECIAL_NAMES, TOKENIZER_FILE
from ctrlgen.text.bpe import BPETokenizer
from ctrlgen.text.loader import load_tokenizer
from ctrlgen.text.tokenizer import Tokenizer, split_words
from ctrlgen.text.vocab import SPECIALS

ASSETS = Path(__file__).resolve().parent.parent / "ctrlgen" / "assets"
BUNDLED = sorted(p.parent for p in ASSETS.glob("*/tokenizer.json"))
#: assets written before tokenizer.json became a Hugging Face file (the migration path); newer ones are HF files
BUNDLED_V1 = [p for p in BUNDLED if json.loads((p / "tokenizer.json").read_text()).get("format") is not None]
SAMPLES = ["The Vaults is a family-friendly pub near Café Adriatic.", "It isn't cheap: it costs more than £30.",
           "Zizzi's, a coffee shop, has a 5 out of 5 rating.", "Blorptastic Quux serves 😀 food.", ""]


def test_bundled_assets_exist():
    assert len(BUNDLED_V1) >= 3 and len(BUNDLED) >= 5


@pytest.mark.parametrize("asset", sorted(set(BUNDLED) - set(BUNDLED_V1)), ids=lambda p: p.name)
def test_bundled_hf_format_assets_load_in_transformers(asset):
    transformers = pytest.importorskip("transformers")
    tok = load_tokenizer(asset)
    fast = transformers.PreTrainedTokenizerFast.from_pretrained(str(asset))
    for text in SAMPLES[:3]:
        assert fast(text)["input_ids"] == tok.encode(text)


@pytest.mark.parametrize("asset", BUNDLED_V1, ids=lambda p: p.name)
def test_previous_format_migrates_with_identical_ids_and_text(asset, tmp_path):
    """An asset's v1 tokenizer.json loads (unchanged bytes), re-saves as a Hugging Face file and loads back with
    the same vocabulary, rules, ids and decoded text."""
    before = (asset / TOKENIZER_FILE).read_bytes()
    assert json.loads(before)["format"] == "ctrlgen.word-tokenizer.v1"
    old = load_tokenizer(asset)
    assert isinstance(old, Tokenizer)
    old.save(tmp_path)
    new = load_tokenizer(tmp_path)
    assert isinstance(new, Tokenizer) and "format" not in json.loads((tmp_path / TOKENIZER_FILE).read_text())
    assert new.vocab.words == old.vocab.words
    assert (new.attach_left, new.attach_right, new.min_count) == (old.attach_left, old.attach_right, old.min_count)
    for text in SAMPLES:
        ids = old.encode(text, 40)
        assert new.encode(text, 40) == ids
        assert new.decode(ids) == old.decode(ids)
    assert (asset / TOKENIZER_FILE).read_bytes() == before  # the sealed asset is never rewritten


def test_hf_file_loads_in_tokenizers_and_transformers(tokenizer, tiny_texts, tmp_path):
    from tokenizers import Tokenizer as HFTokenizer

    transformers = pytest.importorskip("transformers")
    tokenizer.save(tmp_path)
    hf = HFTokenizer.from_file(str(tmp_path / TOKENIZER_FILE))
    assert [hf.token_to_id(s) for s in SPECIALS] == [0, 1, 2, 3, 4]
    fast = transformers.PreTrainedTokenizerFast(tokenizer_file=str(tmp_path / TOKENIZER_FILE))
    full = transformers.PreTrainedTokenizerFast.from_pretrained(str(tmp_path))
    assert (full.pad_token_id, full.bos_token_id, full.eos_token_id, full.unk_token_id, full.mask_token_id) \
        == (0, 1, 2, 3, 4)
    assert set(full.all_special_tokens) == set(SPECIAL_NAMES.values())
    for text in tiny_texts + ["Blorptastic isn't near £20-£25."]:  # the file's own split agrees with spaCy here
        ids = tokenizer.encode(text)
        assert hf.encode(text).ids == ids
        assert fast(text)["input_ids"] == ids and full(text)["input_ids"] == ids
    # the learned detokenisation rules live in tokenizer_config.json, not in tokenizer.json
    section = json.loads((tmp_path / "tokenizer_config.json").read_text())["ctrlgen"]
    assert section["kind"] == "word" and set(section["attach_left"]) == tokenizer.attach_left


def test_word_level_keeps_spacy_split_and_unk(tokenizer):
    text = "Blorptastic isn't cheap."
    ids = tokenizer.encode(text)
    assert len(ids) == len(split_words(text)) + 2 and tokenizer.vocab.unk_id in ids


def _hf_json(tok, tmp_path: Path) -> dict:
    tok.save(tmp_path)
    return json.loads((tmp_path / TOKENIZER_FILE).read_text())


def _write(tmp_path: Path, data) -> None:
    (tmp_path / TOKENIZER_FILE).write_text(json.dumps(data))


@pytest.mark.parametrize("kind", ["word", "bpe"])
def test_missing_or_misplaced_specials_are_refused(kind, tokenizer, tiny_texts, tmp_path):
    tok = tokenizer if kind == "word" else BPETokenizer.train(tiny_texts, vocab_size=300)
    data = _hf_json(tok, tmp_path)
    data["added_tokens"] = [t for t in data["added_tokens"] if t["content"] != "[MASK]"]
    _write(tmp_path, data)
    with pytest.raises(CheckpointError, match=r"tokenizer\.json: special token \[MASK\] is missing"):
        load_tokenizer(tmp_path)
    data = _hf_json(tok, tmp_path)
    data["added_tokens"][1]["id"], data["added_tokens"][2]["id"] = 2, 1  # [START] and [END] swapped
    _write(tmp_path, data)
    with pytest.raises(CheckpointError, match=r"tokenizer\.json: special token \[START\] has id 2.*expected id 1"):
        load_tokenizer(tmp_path)
    data = _hf_json(tok, tmp_path)
    data["added_tokens"][0]["special"] = False
    _write(tmp_path, data)
    with pytest.raises(CheckpointError, match=r"\[PAD\].*special"):
        load_tokenizer(tmp_path)


def test_specials_at_other_ids_in_a_foreign_file_are_refused(tmp_path):
    from tokenizers import AddedToken, models
    from tokenizers import Tokenizer as HFTokenizer

    vocab = {"a": 0, "b": 1, **{s: i + 2 for i, s in enumerate(SPECIALS)}}
    hf = HFTokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    hf.add_special_tokens([AddedToken(s, special=True) for s in SPECIALS])
    hf.save(str(tmp_path / TOKENIZER_FILE))
    with pytest.raises(CheckpointError, match=r"\[PAD\] has id 2"):
        load_tokenizer(tmp_path)


@pytest.mark.parametrize("content, match", [
    ({"model": {"type": "Unigram", "vocab": []}}, "neither.*model: Unigram"),
    ({"version": "1.0"}, "neither.*no 'model' field"),
    ([1, 2, 3], "neither"),
    ({"format": "other", "words": []}, "format is 'other'"),
    ("not json", "corrupted"),
])
def test_a_file_of_neither_format_is_refused(content, match, tmp_path):
    path = tmp_path / TOKENIZER_FILE
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(CheckpointError, match=match) as info:
        load_tokenizer(tmp_path)
    assert str(path) in info.value.message and info.value.hint


def test_missing_file_and_wrong_kind(tokenizer, tiny_texts, tmp_path):
    with pytest.raises(CheckpointError, match="tokenizer.json is missing"):
        load_tokenizer(tmp_path)
    BPETokenizer.train(tiny_texts, vocab_size=300).save(tmp_path)
    with pytest.raises(CheckpointError, match="holds a bpe tokenizer"):
        Tokenizer.load(tmp_path)
    tokenizer.save(tmp_path)
    with pytest.raises(CheckpointError, match="holds a word tokenizer"):
        BPETokenizer.load(tmp_path)


def test_word_level_too_long_states_the_limit(tokenizer):
    with pytest.raises(DataError, match=r"more than seq_len - 2 = 8"):
        tokenizer.encode("The Mill " * 5, 10)
    assert tokenizer.encode("", 4) == [1, 2, 0, 0]  # zero words: START END (refused upstream, as before)

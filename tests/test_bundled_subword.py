"""The bundled byte-level BPE models (issue 15): they load offline as subword models, and text the word-level
vocabulary refuses (accents, emoji, a new name) goes in and comes out character for character."""

from __future__ import annotations

import pytest

import ctrlgen
from ctrlgen.constraints.base import is_subword
from ctrlgen.constraints.infill import Prefix
from ctrlgen.text.tokenizer import split_words

SUBWORD_MODELS = {"e2e-masked-bpe": {"steps": 8}}


@pytest.mark.parametrize("name", sorted(SUBWORD_MODELS))
def test_bundled_bpe_model_keeps_every_character_it_is_given(name: str) -> None:
    gen = ctrlgen.load(name)
    assert is_subword(gen.tokenizer)
    given = "Zoë's Café 😀 is"
    out = gen.generate(n=2, seed=0, constraints=Prefix(given), **SUBWORD_MODELS[name])
    assert all(t.startswith(given) for t in out.texts)
    assert all(out.report["satisfied"])
    assert all(len(split_words(t)) > len(split_words(given)) for t in out.texts)  # and the model wrote on

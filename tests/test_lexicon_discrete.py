"""``lexicon=True`` on the discrete backend (issue 14): the per-label lexicon (:mod:`ctrlgen.core.lexicon`, probed
from the model's own samples) joins the hard faces' bans, so every labelled position draws a word of its label and
the word count is fixed; off by default; a bad value is refused."""

from __future__ import annotations

import pytest
import torch
from label_support import TokenParityLabels, parity

from ctrlgen.errors import SamplingError


def test_every_labelled_word_is_of_its_label_and_the_count_is_fixed(sedd_gen, tokenizer):
    labels = ["ODD", "EVEN", "EVEN", "ODD"]
    out = sedd_gen.generate(n=6, steps=8, seed=1, constraints=TokenParityLabels(labels), lexicon=True)
    vocab = tokenizer.vocab
    probe = [w for row in sedd_gen.lexicons._words for w in row]  # the words the lexicon was probed from
    for row in out.tokens.tolist():
        assert row[len(labels) + 1] == vocab.end_id and set(row[len(labels) + 2:]) <= {vocab.pad_id}
        words = [vocab.word(i) for i in row[1:len(labels) + 1]]
        for w, lab in zip(words, labels, strict=True):  # a label with no probed word leaves the position free
            assert parity(w) == lab or not any(parity(p) == lab for p in probe)
    free = sedd_gen.generate(n=6, steps=8, seed=1, constraints=TokenParityLabels(labels))
    assert not torch.equal(free.tokens, out.tokens)  # off by default


def test_the_lexicon_is_probed_once_per_model(sedd_gen):
    calls = []
    probe = sedd_gen.lexicons.probe
    sedd_gen.lexicons.probe = lambda n, seed: calls.append(n) or probe(n, seed)
    c = TokenParityLabels(["ODD", "EVEN"])
    sedd_gen.generate(n=2, steps=4, seed=0, constraints=c, lexicon=True)
    sedd_gen.generate(n=2, steps=4, seed=1, constraints=c, lexicon=True)
    assert calls == [128]


@pytest.mark.parametrize("bad", [1, "yes", None])
def test_a_bad_lexicon_value_is_refused(sedd_gen, bad):
    with pytest.raises(SamplingError, match="lexicon"):
        sedd_gen.generate(n=1, steps=2, lexicon=bad)

"""``lexicon=True`` on the discrete backend (issue 14): the per-label lexicon (:mod:`ctrlgen.core.lexicon`, probed
from the model's own samples) joins the hard faces' bans, so every labelled position draws a word of its label and
the word count is fixed; off by default; a bad value is refused."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import torch

from ctrlgen.constraints.base import Constraint
from ctrlgen.errors import SamplingError
from ctrlgen.registry import CHECK, SOFT_TOKEN


def _parity(word: str) -> str:
    return "ODD" if len(word) % 2 else "EVEN"


class _TokenLabels(Constraint):
    """A per-word label constraint with a (zero) token-space soft face: its labeller is a word's length parity."""

    faces = frozenset({SOFT_TOKEN, CHECK})

    def __init__(self, labels: Sequence[str]) -> None:
        self.labels = tuple(labels)

    @property
    def word_labels(self) -> tuple[str, ...]:
        return self.labels

    @staticmethod
    def label_words(sentences: Sequence[Sequence[str]]) -> list[list[str]]:
        return [[_parity(w) for w in s] for s in sentences]

    def soft(self, tokenizer, seq_len, backend):
        return lambda onehot, sigma: onehot.sum((1, 2)) * 0.0

    def score(self, texts):
        return [float([_parity(w) for w in t.split()] == list(self.labels)) for t in texts]

    def judge(self, texts):
        s = self.score(texts)
        return [v == 1.0 for v in s], s

    def __repr__(self) -> str:
        return f"_TokenLabels({self.labels})"


def test_every_labelled_word_is_of_its_label_and_the_count_is_fixed(sedd_gen, tokenizer):
    labels = ["ODD", "EVEN", "EVEN", "ODD"]
    out = sedd_gen.generate(n=6, steps=8, seed=1, constraints=_TokenLabels(labels), lexicon=True)
    vocab = tokenizer.vocab
    probe = [w for row in sedd_gen.lexicons._words for w in row]  # the words the lexicon was probed from
    for row in out.tokens.tolist():
        assert row[len(labels) + 1] == vocab.end_id and set(row[len(labels) + 2:]) <= {vocab.pad_id}
        words = [vocab.word(i) for i in row[1:len(labels) + 1]]
        for w, lab in zip(words, labels, strict=True):  # a label with no probed word leaves the position free
            assert _parity(w) == lab or not any(_parity(p) == lab for p in probe)
    free = sedd_gen.generate(n=6, steps=8, seed=1, constraints=_TokenLabels(labels))
    assert not torch.equal(free.tokens, out.tokens)  # off by default


def test_the_lexicon_is_probed_once_per_model(sedd_gen):
    calls = []
    probe = sedd_gen.lexicons.probe
    sedd_gen.lexicons.probe = lambda n, seed: calls.append(n) or probe(n, seed)
    c = _TokenLabels(["ODD", "EVEN"])
    sedd_gen.generate(n=2, steps=4, seed=0, constraints=c, lexicon=True)
    sedd_gen.generate(n=2, steps=4, seed=1, constraints=c, lexicon=True)
    assert calls == [128]


@pytest.mark.parametrize("bad", [1, "yes", None])
def test_a_bad_lexicon_value_is_refused(sedd_gen, bad):
    with pytest.raises(SamplingError, match="lexicon"):
        sedd_gen.generate(n=1, steps=2, lexicon=bad)

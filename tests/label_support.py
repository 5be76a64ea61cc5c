"""A stand-in per-word label constraint for the lexicon tests (tests/test_fluent_structure.py on the embedding
backend, tests/test_lexicon_discrete.py on the discrete one): its labeller is a word's length parity, so no tagger
or parser is loaded. ``ParityLabels`` has a (zero) embedding-space soft face, ``TokenParityLabels`` a token-space one."""

from __future__ import annotations

from collections.abc import Sequence

from ctrlgen.constraints.base import Constraint
from ctrlgen.registry import CHECK, SOFT_EMBEDDING, SOFT_TOKEN


def parity(word: str) -> str:
    return "ODD" if len(word) % 2 else "EVEN"


class ParityLabels(Constraint):
    """A per-word label constraint (WordLabelled) whose labeller is the parity of a word's length."""

    faces = frozenset({SOFT_EMBEDDING, CHECK})

    def __init__(self, labels: Sequence[str]) -> None:
        self.labels = tuple(labels)

    @property
    def word_labels(self) -> tuple[str, ...]:
        return self.labels

    @staticmethod
    def label_words(sentences: Sequence[Sequence[str]]) -> list[list[str]]:
        return [[parity(w) for w in s] for s in sentences]

    def soft(self, tokenizer, seq_len, backend):
        return lambda x, t: x.sum((1, 2)) * 0.0

    def score(self, texts):
        out = []
        for t in texts:
            got = [parity(w) for w in t.split()]
            out.append(sum(a == b for a, b in zip(got, self.labels, strict=False)) / len(self.labels))
        return out

    def judge(self, texts):
        s = self.score(texts)
        return [v == 1.0 for v in s], s

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.labels})"


class TokenParityLabels(ParityLabels):
    """The same with a (zero) token-space soft face, which the discrete backend can use."""

    faces = frozenset({SOFT_TOKEN, CHECK})

    def soft(self, tokenizer, seq_len, backend):
        return lambda onehot, sigma: onehot.sum((1, 2)) * 0.0

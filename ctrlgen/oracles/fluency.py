"""Teacher-free sample statistics: bigram precision (fluency proxy), well-formedness,
distinct-n, copy rate and length histogram.

Bigram precision: the share of a text's word bigrams — including (<s>, w1) and (wn, </s>) —
that occur in the training references, pooled over all texts (micro average). Real held-out
E2E references score ≈ 0.98; word salad ≈ 0.7.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import torch

from ctrlgen.text.tokenizer import split_words
from ctrlgen.text.vocab import Vocabulary

BOS, EOS = "<s>", "</s>"


def _bigrams(words: Sequence[str]) -> list[tuple[str, str]]:
    seq = [BOS, *words, EOS]
    return list(zip(seq, seq[1:]))


class BigramReference:
    """The set of word bigrams of a reference corpus."""

    def __init__(self, texts: Iterable[str]) -> None:
        self.bigrams: set[tuple[str, str]] = set()
        self.sentences: set[tuple[str, ...]] = set()
        for t in texts:
            w = split_words(t)
            self.bigrams.update(_bigrams(w))
            self.sentences.add(tuple(w))

    def precision(self, texts: Sequence[str]) -> float:
        """Pooled share of the texts' bigrams found in the reference corpus."""
        hit = total = 0
        for t in texts:
            bg = _bigrams(split_words(t))
            hit += sum(b in self.bigrams for b in bg)
            total += len(bg)
        return hit / max(1, total)

    def copy_rate(self, texts: Sequence[str]) -> float:
        """Share of texts whose words equal a reference sentence verbatim."""
        return sum(tuple(split_words(t)) in self.sentences for t in texts) / max(1, len(texts))


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Unique n-grams / all n-grams over the texts (Li et al. 2016)."""
    grams = [tuple(w[i:i + n]) for t in texts for w in [split_words(t)] for i in range(len(w) - n + 1)]
    return len(set(grams)) / max(1, len(grams))


def well_formed(tokens: torch.Tensor, vocab: Vocabulary) -> torch.Tensor:
    """``tokens: Tensor[B, L]`` → ``Tensor[B]`` bool: START, then ≥ 0 words (no specials), END, then only PAD."""
    out = []
    specials = {vocab.pad_id, vocab.start_id, vocab.end_id, vocab.mask_id}
    for row in tokens.tolist():
        ok = len(row) >= 2 and row[0] == vocab.start_id and vocab.end_id in row[1:]
        if ok:
            e = row.index(vocab.end_id, 1)
            ok = not any(w in specials for w in row[1:e]) and all(w == vocab.pad_id for w in row[e + 1:])
        out.append(ok)
    return torch.tensor(out, dtype=torch.bool)


def length_histogram(texts: Sequence[str]) -> dict[int, int]:
    return dict(sorted(Counter(len(split_words(t)) for t in texts).items()))

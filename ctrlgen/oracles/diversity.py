"""Diversity of the samples drawn for one target: distinct-n, self-BLEU and the number of different texts.

A control method that meets the structure by returning the same text n times is not a sampler. These
measures look *within* each target's group of samples (the samples of different targets differ anyway):

- ``distinct_n(group, n)``: unique n-grams / all n-grams over the group's texts (Li et al. 2016,
  :func:`ctrlgen.oracles.fluency.distinct_n`), then the mean over groups;
- self-BLEU (Zhu et al. 2018): each text scored by BLEU-4 against the *other* texts of its group as
  references (:func:`ctrlgen.oracles.metrics.infill_bleu4`, sacrebleu's 13a tokenisation and exp
  smoothing), the mean over the group, then over groups; 1.0 when all texts of a group are the same,
  lower is more diverse; a group of one text has none (``None``);
- distinct samples: how many different texts a group holds (string equality after collapsing
  whitespace), the mean over groups; ``n`` when every sample differs.

Everything is in [0, 1] except ``distinct_samples`` (a count); the harness reports them per row.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from ctrlgen.errors import DataError
from ctrlgen.oracles.fluency import distinct_n
from ctrlgen.oracles.metrics import infill_bleu4

Groups = Sequence[Sequence[str]]


def _norm(text: str) -> str:
    return " ".join(text.split())


def distinct_texts(group: Sequence[str]) -> int:
    """Different texts in ``group`` (whitespace collapsed before comparing)."""
    return len({_norm(t) for t in group})


def self_bleu(group: Sequence[str]) -> float | None:
    """Mean BLEU-4 of each text against the others of ``group`` (``None`` for fewer than two texts)."""
    texts = [_norm(t) for t in group]
    if len(texts) < 2:
        return None
    return statistics.fmean(infill_bleu4([h], [texts[:k] + texts[k + 1:]]) for k, h in enumerate(texts))


def diversity_stats(groups: Groups) -> dict[str, float | None]:
    """``distinct_1_target``, ``distinct_2_target``, ``self_bleu`` (means over groups; ``None`` when no group
    has two texts) and ``distinct_samples`` (mean count of different texts per group) of ``groups``
    (one list of texts per target)."""
    if not groups or any(not g for g in groups):
        raise DataError("diversity needs at least one text per target", hint="pass one non-empty list per target")
    bleus = [b for b in map(self_bleu, groups) if b is not None]
    return {"distinct_1_target": statistics.fmean(distinct_n(list(g), 1) for g in groups),
            "distinct_2_target": statistics.fmean(distinct_n(list(g), 2) for g in groups),
            "self_bleu": statistics.fmean(bleus) if bleus else None,
            "distinct_samples": statistics.fmean(distinct_texts(g) for g in groups)}

"""The baseline every control number stands beside: best-of-N sampling from an AR LM, ranked by the same checks.

A user who wants a text with ``food = Japanese`` and has only an autoregressive model draws N samples and keeps
the ones that pass the check. :func:`ar_best_of_n` does exactly that with the bundled draft LM
(``e2e-ar-draft``): draw ``pool`` samples (one batch of the KV-cached sampler, temperature 1), judge them with
the constraint's check face, and return the ``keep`` best — passing ones first, then by score, ties in draw
order — with how many of the pool passed. Nothing about the constraint steers the draws.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ctrlgen.constraints.base import Constraint


@dataclass(frozen=True)
class BestOfN:
    """``texts``: the ``keep`` best of the pool; ``satisfied``/``scores`` for them; ``passed``: passing draws."""

    texts: list[str]
    satisfied: list[bool]
    scores: list[float]
    passed: int
    pool: int


def ar_best_of_n(model: Any, tokenizer: Any, constraint: Constraint, *, keep: int, pool: int, seed: int,
                 batch_size: int = 64) -> BestOfN:
    """Draw ``pool`` texts from ``model`` (an :class:`~ctrlgen.models.ar_lm.ARLM`) in batches of ``batch_size``,
    rank them by ``constraint.judge`` and return the best ``keep`` (``keep <= pool``)."""
    if not 0 < keep <= pool:
        raise ValueError(f"need 0 < keep <= pool, got keep={keep}, pool={pool}")
    generator = torch.Generator(device=next(model.parameters()).device).manual_seed(seed)
    texts: list[str] = []
    while len(texts) < pool:
        ids = model.sample(min(batch_size, pool - len(texts)), generator)
        texts.extend(tokenizer.decode_batch(ids))
    satisfied, scores = constraint.judge(texts)
    order = sorted(range(pool), key=lambda i: (not satisfied[i], -scores[i], i))[:keep]
    return BestOfN([texts[i] for i in order], [satisfied[i] for i in order], [scores[i] for i in order],
                   sum(satisfied), pool)

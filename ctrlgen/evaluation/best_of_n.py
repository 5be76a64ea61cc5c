"""The baseline every control number stands beside: best-of-N sampling from an AR LM, ranked by the same checks.

A user who wants a text with ``food = Japanese`` and has only an autoregressive model draws N samples and keeps
the ones that pass the check. :func:`ar_best_of_n` does exactly that with the bundled draft LM
(``e2e-ar-draft``): draw ``pool`` samples (one batch of the KV-cached sampler, temperature 1), judge them with
the constraint's check face, and return the ``keep`` best — passing ones first, then by score, ties in draw
order — with how many of the pool passed. Nothing about the constraint steers the draws. With ``fluency`` (as in
:meth:`Generator.best_of <ctrlgen.core.contract.Generator.best_of>`: ``"draft"`` or a callable ``texts -> scores``),
ties in check score go to the more fluent draw first — the same tie-break the diffusion rows' reranking uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ctrlgen.constraints.base import Constraint
from ctrlgen.core.rerank import Fluency, fluency_scores


@dataclass(frozen=True)
class BestOfN:
    """``texts``: the ``keep`` best of the pool; ``satisfied``/``scores`` for them; ``passed``: passing draws."""

    texts: list[str]
    satisfied: list[bool]
    scores: list[float]
    passed: int
    pool: int


def ar_best_of_n(model: Any, tokenizer: Any, constraint: Constraint, *, keep: int, pool: int, seed: int,
                 batch_size: int = 64, fluency: Fluency | str | None = None) -> BestOfN:
    """Draw ``pool`` texts from ``model`` (an :class:`~ctrlgen.models.ar_lm.ARLM`) in batches of ``batch_size``,
    rank them by ``constraint.judge`` (then by ``fluency``, when given) and return the best ``keep``
    (``keep <= pool``)."""
    if not 0 < keep <= pool:
        raise ValueError(f"need 0 < keep <= pool, got keep={keep}, pool={pool}")
    generator = torch.Generator(device=next(model.parameters()).device).manual_seed(seed)
    texts: list[str] = []
    while len(texts) < pool:
        ids = model.sample(min(batch_size, pool - len(texts)), generator)
        texts.extend(tokenizer.decode_batch(ids))
    satisfied, scores = constraint.judge(texts)
    return rank_draws(texts, satisfied, scores, keep=keep, fluency=fluency)


def rank_draws(texts: list[str], satisfied: list[bool], scores: list[float], *, keep: int,
               fluency: Fluency | str | None = None) -> BestOfN:
    """The best ``keep`` of ``texts`` (a pool with its checks): passing first, then by check score, then by
    ``fluency`` (when given), ties in draw order; ``passed`` counts the pool's passing draws."""
    pool = len(texts)
    if not 0 < keep <= pool:
        raise ValueError(f"need 0 < keep <= pool, got keep={keep}, pool={pool}")
    fl = fluency_scores(fluency, texts) if fluency is not None else [0.0] * pool
    order = sorted(range(pool), key=lambda i: (not satisfied[i], -scores[i], -fl[i], i))[:keep]
    return BestOfN([texts[i] for i in order], [satisfied[i] for i in order], [scores[i] for i in order],
                   sum(satisfied), pool)

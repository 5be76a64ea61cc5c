"""The revision loop of :class:`~ctrlgen.backends.edit.sampler.EditSampler` (2D beam over revisions; see its module
docstring). State lives in the call; the sampler object only configures it. The loop sees the sampler through
the :class:`~ctrlgen.backends.edit.types.Reviser` protocol, so this module does not import the sampler's."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from tqdm.auto import tqdm

from ctrlgen.backends.edit.edits import EditScript
from ctrlgen.backends.edit.ops import start_flags
from ctrlgen.backends.edit.types import (
    EditLayout,
    EditRevision,
    EditSampleOutput,
    Phrases,
    ProposeFn,
    Protect,
    RankFn,
    Reviser,
    SpanGenerator,
    Tagger,
)
from ctrlgen.errors import SamplingError


@dataclass
class _Hyp:  # one kept text of one sample
    ids: tuple[int, ...]
    protected: tuple[bool, ...]
    log_prob: float  # the path's log-likelihood
    score: float  # log_prob + rank_weight * rank
    rank: float  # the check score in [0, 1] (1.0 without a rank function)
    history: tuple[tuple[float, EditScript, tuple[int, ...], float], ...] = ()


def _ranked(rank: RankFn, ids: list[list[int]]) -> list[float]:
    scores = rank(ids)
    if not isinstance(scores, Sequence | Tensor) or len(scores) != len(ids) or \
            not all(math.isfinite(float(v)) for v in scores):
        raise SamplingError(f"rank returned {type(scores).__name__} for {len(ids)} candidates",
                            "rank(list of id lists) must return one finite float per candidate")
    return [float(v) for v in scores]


@torch.no_grad()
def run_loop(sampler: Reviser, tagger: Tagger, edit_generator: SpanGenerator, rows: list[list[int]],
             ts: list[float], generator: torch.Generator | None, protect: Protect, rank: RankFn | None,
             return_trajectory: bool, progress: bool, layout: EditLayout | None,
             phrases: Phrases = (), fluency: RankFn | None = None,
             propose: ProposeFn | None = None, explore_rank: RankFn | None = None) -> EditSampleOutput:
    """Revise ``rows`` (validated word ids) over the step indices ``ts``; see ``EditSampler.sample``.

    A candidate's score is its path log-likelihood + ``rank_weight · rank`` + ``fluency_weight · fluency``. With a
    layout length, only the candidates closest to it survive a step (so the length moves toward it whenever
    some candidate does)."""
    n, w = len(rows), sampler.rank_weight
    predicate = protect if callable(protect) else None
    flags = start_flags(protect, rows) if predicate is None else [[False] * (len(r) + 1) for r in rows]
    ranks = _ranked(rank, rows) if rank is not None else [1.0] * n
    hyps = [[_Hyp(tuple(r), tuple(f), 0.0, w * rk if rank else 0.0, rk)] for r, f, rk in zip(rows, flags, ranks)]
    target = None if layout is None else layout.length
    steps, done = [0] * n, [False] * n
    for t in tqdm(ts, disable=not progress, desc="revising", leave=False):
        active = [s for s in range(n) if not done[s]]
        if not active:
            break
        flat = [(s, h) for s in active for h in hyps[s]]
        prot = [tuple(p or (predicate is not None and k > 0 and bool(predicate(h.ids[k - 1])))
                      for k, p in enumerate(h.protected)) for _, h in flat]
        wants = (sampler.explore or propose is not None) and rank is not None
        explore = [h.rank if wants and h.rank < 1.0 else None for _, h in flat]
        out = sampler.step(tagger, edit_generator, [h.ids for _, h in flat], t, generator, prot, layout, explore,
                           rank, phrases, fluency, propose, explore_rank)
        pools: dict[int, dict[tuple[int, ...], _Hyp]] = {s: {} for s in active}
        for (s, h), cands in zip(flat, out.candidates):
            for c in cands:
                lp = h.log_prob + c.log_prob
                hist = h.history + ((t, c.edits, c.ids, lp),) if return_trajectory else ()
                if c.ids not in pools[s] or lp > pools[s][c.ids].log_prob:
                    pools[s][c.ids] = _Hyp(c.ids, c.protected, lp, lp, 1.0, hist)
        flat_h = [h for pool in pools.values() for h in pool.values()]
        if rank is not None:  # one call for every candidate of every active sample
            for h, v in zip(flat_h, _ranked(rank, [list(h.ids) for h in flat_h])):
                h.rank, h.score = v, h.score + w * v
        if fluency is not None:
            for h, v in zip(flat_h, _ranked(fluency, [list(h.ids) for h in flat_h])):
                h.score += sampler.fluency_weight * v
        for s in active:
            cands = list(pools[s].values())
            if target is not None:
                closest = min(abs(len(h.ids) - target) for h in cands)
                cands = [h for h in cands if abs(len(h.ids) - target) == closest]
            new = sorted(cands, key=lambda h: -h.score)[:sampler.beam[0]]
            steps[s] += 1
            done[s] = {h.ids for h in new} == {h.ids for h in hyps[s]}
            hyps[s] = new
    best = [max(hs, key=lambda h: h.score) for hs in hyps]
    trajectory = []
    for j in range(max(steps) if return_trajectory else 0):
        rec = [h.history[j] if j < len(h.history) else (0.0, EditScript.keep_all(len(h.ids)), h.ids, h.log_prob)
               for h in best]
        trajectory.append(EditRevision(ts[j], [r[1] for r in rec], [list(r[2]) for r in rec], [r[3] for r in rec]))
    beams = [[list(h.ids) for h in sorted(hs, key=lambda h: -h.score)] for hs in hyps]
    return EditSampleOutput([list(h.ids) for h in best], [h.log_prob for h in best], [h.score for h in best],
                            steps, trajectory, beams)

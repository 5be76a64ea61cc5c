"""Rows of different requests in one batch: the backend-independent part of ``Generator.sample_requests``.

A backend whose sampler conditions every row on its own fixed tokens and bans (``Generator.mixes_requests``: the
discrete and the masked backend) supplies two things — its ``conditioning(prepared)`` / ``placement_score(...)``
(the per-request hard face and the ``Contains`` placement score, as in its ``generate``) and
``sample_rows(fixed, values, banned)`` (one batch) — and :func:`sample_shared` does the rest: every request's rows
built before any sampling (so a phrase with no room fails first; placement scores memoised across the call's
requests, :func:`~ctrlgen.core.placement.memoised`: many requests often share a phrase and its context), stacked,
sampled ``batch_size`` rows at a time whatever the mix, split back, and each request's own output
(:func:`~ctrlgen.core.placement.placed_output`: decoded, checked, reported) handed to ``on_request`` as soon as its
last row is done. See :mod:`ctrlgen.core.requests` for the user-facing side.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from ctrlgen.constraints.base import HardSpec
from ctrlgen.constraints.composition import PreparedConstraint
from ctrlgen.core.placement import (
    base_tokens,
    memoised,
    place_phrases,
    placed_output,
    with_placements,
)
from ctrlgen.core.requests import OnRequest
from ctrlgen.errors import ConfigError

#: one batch: ``fixed: BoolTensor[b, L]``, ``values: LongTensor[b, L]``, ``banned: BoolTensor[b, L, N]`` → ids ``[b, L]``
SampleRows = Callable[[Tensor, Tensor, Tensor], Tensor]


def check_unguided(items: Sequence[tuple[PreparedConstraint | None, int]]) -> None:
    """Shared batches carry hard faces only: a request with a soft (guided) term is refused with the way out."""
    guided = [j for j, (p, _) in enumerate(items) if p is not None and p.soft_terms]
    if guided:
        raise ConfigError(f"requests {guided} have soft (guided) constraints and cannot share batches",
                          "run them through generate_requests, which gives them their own calls")


def sample_shared(gen: Any, items: Sequence[tuple[PreparedConstraint | None, int]], batch_size: int,
                  rng: torch.Generator | None, sample_rows: SampleRows, on_request: OnRequest | None,
                  **call: Any) -> None:
    """Sample ``n`` rows for each ``(prepared, n)`` of ``items`` on ``gen`` (a generator with ``conditioning``,
    ``placement_score`` and ``tokenizer``), ``batch_size`` rows per ``sample_rows`` call; ``on_request(j, out)`` with item ``j``'s own
    output once its last row is done. ``call``: the report's call entries (steps, seed, ...); ``seconds`` is each
    request's time from the start of the call to its output."""
    check_unguided(items)
    t0 = time.perf_counter()
    rows: list[tuple[Tensor, Tensor, Tensor]] = []
    placements: list[list[HardSpec] | None] = []
    score = memoised(gen.placement_score)  # one memo for the call: a context shared by requests is scored once
    for prepared, n in items:  # every row's conditioning before any sampling
        fixed, values, banned = gen.conditioning(prepared)
        placed = place_phrases(prepared, gen.tokenizer, int(fixed.shape[0]), base_tokens(fixed, values), n, score, rng)
        specs = placed if placed is not None else [HardSpec(fixed.shape[0], {})] * n
        rows.append(with_placements(fixed, values, banned, specs, gen.tokenizer.vocab))
        placements.append(placed)
    fixed_all, values_all, banned_all = (torch.cat([r[k] for r in rows]) for k in range(3))
    total = int(fixed_all.shape[0])
    ends = torch.tensor([n for _, n in items]).cumsum(0).tolist()
    tokens: list[Tensor] = []
    first = 0  # the first item not yet handed out
    for start in range(0, total, batch_size):
        stop = min(total, start + batch_size)
        tokens.append(sample_rows(fixed_all[start:stop], values_all[start:stop], banned_all[start:stop]).cpu())
        while first < len(items) and ends[first] <= stop:  # items whose rows are all sampled
            ids = torch.cat(tokens)[ends[first] - items[first][1]:ends[first]]
            out = placed_output(ids, gen.tokenizer, items[first][0], placements[first], None,
                                seconds=time.perf_counter() - t0, batched_with=len(items), **call)
            if on_request is not None:
                on_request(first, out)
            first += 1

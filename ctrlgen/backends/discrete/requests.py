"""Many requests in shared batches on the discrete backend (:mod:`ctrlgen.core.requests`).

Exact conditioning is per row already (a ``Contains`` phrase is placed per sample): every row of a batch carries
its own fixed positions, values and banned ids (``BoolTensor[L, N]``: MASK/UNK always, PAD/START/END before a
fixed ``[END]`` or a placed phrase's last word). So requests with different hard faces (``Infill`` templates,
``Length``, prefixes, ``Contains`` placements) are stacked row by row and sampled ``batch_size`` rows at a time —
one score-model forward per step for the whole batch, whatever the mix. Soft faces (rate guidance) are not mixed:
:func:`ctrlgen.core.requests.generate_requests` runs those requests as their own calls.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import torch

from ctrlgen.backends.discrete.banned import BannedTokens
from ctrlgen.backends.discrete.sampler import SEDDSampler, fixed_tokens_projector
from ctrlgen.constraints.base import HardSpec
from ctrlgen.constraints.composition import PreparedConstraint
from ctrlgen.core.placement import placed_output, with_placements
from ctrlgen.core.requests import OnRequest
from ctrlgen.errors import ConfigError


def sample_requests(gen: Any, items: Sequence[tuple[PreparedConstraint | None, int]],
                    on_request: OnRequest | None = None, *, steps: int | None = None, seed: int | None = 0,
                    batch_size: int = 64, sampler: SEDDSampler | None = None, progress: bool | None = None,
                    device: str | None = None, dtype: str | None = None, **unused: Any) -> None:
    """Sample ``n`` rows for each ``(prepared, n)`` of ``items`` in shared batches on ``gen`` (the
    :class:`~ctrlgen.backends.discrete.generator.DiscreteGenerator` whose method calls this); ``on_request(j, out)`` with
    item ``j``'s output (its own report) once its last row is done. Items must have no soft term."""
    guided = [j for j, (p, _) in enumerate(items) if p is not None and p.soft_terms]
    if guided:
        raise ConfigError(f"requests {guided} have soft (guided) constraints and cannot share batches",
                          "run them through generate_requests, which gives them their own calls")
    extra = {k: v for k, v in unused.items() if k not in ("guidance_scale", "guidance_shortlist")}
    if extra:
        raise ConfigError(f"unknown options for discrete requests: {sorted(extra)}",
                          "options: steps, seed, batch_size, sampler, progress, device, dtype")
    total = sum(n for _, n in items)
    opts = gen.options(n=total, steps=steps, sampler_steps=None if sampler is None else sampler.steps, seed=seed,
                       batch_size=batch_size, device=device, dtype=dtype, progress=progress)
    assert opts.steps is not None
    sampler = SEDDSampler(steps=opts.steps) if sampler is None else replace(sampler, steps=opts.steps)
    on = gen.place(opts)
    gen.check_budget(opts, sampler)
    rng = gen.rng(opts, on)
    t0 = time.perf_counter()
    rows_f, rows_v, rows_ban, placements = [], [], [], []
    for prepared, n in items:  # every row's conditioning, before any sampling (placement errors raise here)
        fixed, values, banned = gen.conditioning(prepared)
        placed = gen.place_phrases(prepared, fixed, values, n, rng)
        specs = placed if placed is not None else [HardSpec(fixed.shape[0], {})] * n
        f, v, ban = with_placements(fixed, values, banned, specs, gen.tokenizer.vocab)
        rows_f.append(f)
        rows_v.append(v)
        rows_ban.append(ban)
        placements.append(placed)
    fixed_all, values_all, banned_all = torch.cat(rows_f), torch.cat(rows_v), torch.cat(rows_ban)
    ends = torch.tensor([n for _, n in items]).cumsum(0).tolist()
    tokens: list[torch.Tensor] = []
    done, first = 0, 0  # rows sampled so far; the first item not yet finished
    for start in range(0, total, opts.batch_size):
        stop = min(total, start + opts.batch_size)
        model = BannedTokens(gen.model, banned_all[start:stop].to(on))
        projector = fixed_tokens_projector(fixed_all[start:stop].to(on), values_all[start:stop].to(on))
        out = sampler.sample(model, gen.diffusion, stop - start, None, rng, projector=projector,
                             progress=opts.show_progress())
        tokens.append(out.tokens)
        done = stop
        while first < len(items) and ends[first] <= done:  # items whose rows are all sampled
            ids = torch.cat(tokens)[ends[first] - items[first][1]:ends[first]]
            result = placed_output(ids, gen.tokenizer, items[first][0], placements[first], None,
                                   seconds=time.perf_counter() - t0, steps=sampler.steps, seed=opts.seed,
                                   predictor=sampler.predictor, batched_with=len(items))
            if on_request is not None:
                on_request(first, result)
            first += 1

"""Many requests in shared batches on the masked backend (:mod:`ctrlgen.core.requests`).

The canvas of every row holds its own given tokens (START, the hard face, placed phrases) and its own bans, so
requests with different hard faces are stacked row by row (:func:`ctrlgen.core.shared_batches.sample_shared`) and
revealed ``batch_size`` rows at a time: one mask-predictor forward per step for the whole batch, whatever the mix.
Soft faces (logit guidance) are not mixed: :func:`ctrlgen.core.requests.generate_requests` gives them their own calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import torch
from torch import Tensor

from ctrlgen.backends.masked.sampler import SamplerConfig, sample
from ctrlgen.constraints.composition import PreparedConstraint
from ctrlgen.core.requests import OnRequest
from ctrlgen.core.shared_batches import check_unguided, sample_shared
from ctrlgen.errors import ConfigError


def sample_requests(gen: Any, items: Sequence[tuple[PreparedConstraint | None, int]],
                    on_request: OnRequest | None = None, *, steps: int | None = None, seed: int | None = 0,
                    batch_size: int = 64, sampler: SamplerConfig | None = None, progress: bool | None = None,
                    device: str | None = None, dtype: str | None = None, **unused: Any) -> None:
    """Sample ``n`` rows for each ``(prepared, n)`` of ``items`` in shared batches on ``gen`` (the
    :class:`~ctrlgen.backends.masked.generator.MaskedGenerator` whose method calls this); ``on_request(j, out)`` with
    item ``j``'s own output once its last row is done. Items must have no soft term."""
    check_unguided(items)
    extra = {k: v for k, v in unused.items() if k != "guidance_scale"}
    if extra:
        raise ConfigError(f"unknown options for masked requests: {sorted(extra)}",
                          "options: steps, seed, batch_size, sampler, progress, device, dtype")
    sampler = SamplerConfig() if sampler is None else sampler
    if sampler.block_length is None:  # the model's own default, as in generate
        sampler = replace(sampler, block_length=gen.defaults.block_length)
    opts = gen.options(n=sum(n for _, n in items), steps=steps, sampler_steps=sampler.steps, seed=seed,
                       batch_size=batch_size, device=device, dtype=dtype, progress=progress)
    assert opts.steps is not None
    sampler = replace(sampler, steps=opts.steps)
    sampler.schedule(gen.seq_len, opts.steps)  # refused before any network runs
    on = gen.place(opts)
    gen.check_budget(opts, sampler)
    rng = gen.rng(opts, on)
    mask_id = int(gen.model.mask_id)

    def rows(fixed: Tensor, values: Tensor, banned: Tensor) -> Tensor:
        fixed, values = fixed.to(on), values.to(on)
        x = torch.where(fixed, values, torch.full_like(values, mask_id))
        given = fixed.clone()
        given[:, 0] = False  # START is in every training sequence: kept in the unconditional CFG pass
        return sample(gen.model, x, sampler, opts.steps, given=given, banned=banned.to(on), generator=rng,
                      progress=opts.show_progress()).tokens

    sample_shared(gen, items, opts.batch_size, rng, rows, on_request, steps=opts.steps, seed=opts.seed,
                  remasking=sampler.remasking, block_length=sampler.block_length or gen.seq_len,
                  cfg_scale=sampler.cfg_scale, temperature=sampler.temperature)

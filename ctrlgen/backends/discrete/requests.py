"""Many requests in shared batches on the discrete backend (:mod:`ctrlgen.core.requests`).

Exact conditioning is per row already (a ``Contains`` phrase is placed per sample): every row of a batch carries
its own fixed positions, values and banned ids (``BoolTensor[L, N]``: MASK/UNK always, PAD/START/END before a
fixed ``[END]`` or a placed phrase's last word). So requests with different hard faces (``Infill`` templates,
``Length``, prefixes, ``Contains`` placements) are stacked row by row (:func:`ctrlgen.core.shared_batches.sample_shared`)
and sampled ``batch_size`` rows at a time — one score-model forward per step for the whole batch, whatever the mix.
Soft faces (rate guidance) are not mixed: :func:`ctrlgen.core.requests.generate_requests` runs those requests as
their own calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from torch import Tensor

from ctrlgen.backends.discrete.banned import BannedTokens
from ctrlgen.backends.discrete.sampler import SEDDSampler, fixed_tokens_projector
from ctrlgen.constraints.composition import PreparedConstraint
from ctrlgen.core.requests import OnRequest
from ctrlgen.core.shared_batches import check_unguided, sample_shared
from ctrlgen.errors import ConfigError


def sample_requests(gen: Any, items: Sequence[tuple[PreparedConstraint | None, int]],
                    on_request: OnRequest | None = None, *, steps: int | None = None, seed: int | None = 0,
                    batch_size: int = 64, sampler: SEDDSampler | None = None, progress: bool | None = None,
                    device: str | None = None, dtype: str | None = None, **unused: Any) -> None:
    """Sample ``n`` rows for each ``(prepared, n)`` of ``items`` in shared batches on ``gen`` (the
    :class:`~ctrlgen.backends.discrete.generator.DiscreteGenerator` whose method calls this); ``on_request(j, out)`` with
    item ``j``'s output (its own report) once its last row is done. Items must have no soft term."""
    check_unguided(items)
    extra = {k: v for k, v in unused.items() if k not in ("guidance_scale", "guidance_shortlist",
                                                                 "guidance_mode", "guidance_demote")}
    if extra:
        raise ConfigError(f"unknown options for discrete requests: {sorted(extra)}",
                          "options: steps, seed, batch_size, sampler, progress, device, dtype")
    opts = gen.options(n=sum(n for _, n in items), steps=steps,
                       sampler_steps=None if sampler is None else sampler.steps, seed=seed, batch_size=batch_size,
                       device=device, dtype=dtype, progress=progress)
    assert opts.steps is not None
    sampler = SEDDSampler(steps=opts.steps) if sampler is None else replace(sampler, steps=opts.steps)
    on = gen.place(opts)
    gen.check_budget(opts, sampler)
    rng = gen.rng(opts, on)

    def rows(fixed: Tensor, values: Tensor, banned: Tensor) -> Tensor:
        model = BannedTokens(gen.model, banned.to(on))
        return sampler.sample(model, gen.diffusion, fixed.shape[0], None, rng,
                              projector=fixed_tokens_projector(fixed.to(on), values.to(on)),
                              progress=opts.show_progress()).tokens

    sample_shared(gen, items, opts.batch_size, rng, rows, on_request, steps=sampler.steps, seed=opts.seed,
                  predictor=sampler.predictor)

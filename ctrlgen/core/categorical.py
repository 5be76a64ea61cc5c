"""Categorical draws by inverse CDF, shared by the discrete (SEDD) and masked (LLaDA-style) samplers.

One uniform per row, a cumulative sum in the probabilities' dtype and a binary search (``searchsorted``): one pass
over [*S, N] and no transcendental function per entry, where a Gumbel-max draw needs a uniform and two logs per
entry (three in float64 with the clamp). Exactness: each entry's probability is off by at most a few ulps of the
row total (float32: ~1e-7 of the row mass per entry, far below any sampling test's resolution; float64 for
more). Unlike float32 Gumbel noise, nothing is truncated: the rounding is relative to the row's mass, not to the
largest noise value, so low precision does not lower the effective temperature. Checked against exact
probabilities by ``tests/test_sedd_sampler.py::test_categorical_step_is_exact`` (20k draws, chi-square) and
``tests/test_masked_sampler.py::test_draws_match_the_float64_gumbel_path``.
"""

from __future__ import annotations

import torch
from torch import Tensor


def sample_categorical(probs: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Draw from unnormalised ``probs: Tensor[*S, N]`` -> ``LongTensor[*S]``. Entries ≤ 0 are never drawn (an Euler
    step with a large Δt can make a stay-probability negative; it counts as 0). ``probs`` is left as it is
    (:func:`sample_categorical_` draws the same ids, overwriting it)."""
    return _inverse_cdf(probs.clamp(min=0), generator)


def sample_categorical_(probs: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """:func:`sample_categorical` with ``probs`` as scratch space (its CDF is left there): the same ids for the same
    generator state, without the one [*S, N] copy. For a tensor the caller owns and no longer needs."""
    return _inverse_cdf(probs.clamp_(min=0), generator)


def _inverse_cdf(p: Tensor, generator: torch.Generator | None) -> Tensor:
    cdf = p.cumsum_(dim=-1)
    total = cdf[..., -1:]
    where = cdf.device if generator is None else generator.device  # a CPU generator may drive accelerator draws
    u = torch.rand(total.shape, generator=generator, device=where, dtype=cdf.dtype).to(cdf.device)
    # u < 1, but u·total may round up to total: keep the target strictly below it so a trailing 0 is never drawn
    v = torch.minimum(u * total, torch.nextafter(total, total.new_zeros(())))
    return torch.searchsorted(cdf, v, right=True).squeeze(-1).clamp_(max=p.shape[-1] - 1)

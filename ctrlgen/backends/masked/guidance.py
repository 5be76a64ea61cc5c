"""Soft constraints on masked diffusion: first-order logit guidance with ``soft:token`` faces.

Revealing masked position i as token y turns the state x into x with i→y. Conditioning the clean-token prediction
on an attribute c multiplies p_θ(y | x) by p(c | x with i→y) / p(c | x); to first order in the one-hot input e(x),

    log p(c | x with i→y) − log p(c | x)  ≈  g_{i,y} − g_{i,x_i},    g = ∇_{e(x)} log p(c | e(x), σ̄)

so the guided logits are logits + γ·(g_{i,y} − g_{i,x_i}) summed over the soft terms with their weights — the
discrete backend's first-order rate guidance, on logits instead of rates (the same gradient). γ is
``guidance_scale``; 0 (or no soft term) means no hook at all, so the sampling is bit for bit unguided.

A ``soft:token`` face is called as ``soft(onehot: Tensor[B, L, V], sigma: Tensor[B])`` with σ̄ = −log(1 − t) and t
the share of MASK positions in the state (:mod:`.diffusion`: the same noise variable a token classifier of the
discrete backend is trained on).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from ctrlgen.backends.masked.diffusion import LinearMask

TokenSoftFn = Callable[[Tensor, Tensor], Tensor]  # (onehot [B, L, V], σ̄ [B]) -> −log p(c | x): Tensor[B]


class LogitGuidance:
    """``guide(x: LongTensor[B, L], logits: Tensor[B, L, V]) -> Tensor[B, L, V]`` for :func:`.sampler.sample`."""

    def __init__(self, terms: Sequence[tuple[float, TokenSoftFn]], scale: float, mask_id: int,
                 noise: LinearMask | None = None) -> None:
        self.terms, self.scale, self.mask_id = list(terms), float(scale), mask_id
        self.noise = noise or LinearMask()

    def sigma(self, x: Tensor) -> Tensor:
        """σ̄ of the state ``x: LongTensor[B, L]`` from its share of MASK positions: ``Tensor[B]``."""
        return self.noise.total_noise((x == self.mask_id).double().mean(-1)).float()

    def __call__(self, x: Tensor, logits: Tensor) -> Tensor:
        with torch.enable_grad():
            onehot = F.one_hot(x, logits.shape[-1]).float().requires_grad_(True)
            sigma = self.sigma(x)
            nll = sum(w * soft(onehot, sigma) for w, soft in self.terms)
            (grad,) = torch.autograd.grad(-nll.sum(), onehot)  # type: ignore[union-attr]
        ratio = grad - grad.gather(-1, x[..., None])
        return logits + self.scale * ratio.to(logits.dtype)

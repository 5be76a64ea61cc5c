"""Soft constraints on discrete diffusion: first-order rate reweighting (``reference/sedd.md``, guidance).

The reverse process jumps position i from x_i to y at a rate proportional to the score s_{i,y}. Conditioning
on an attribute c multiplies that rate by the likelihood ratio p(c | x with i→y) / p(c | x). Computing it
exactly costs one classifier call per candidate jump (L·N per step); the first-order (Taylor) approximation
needs one gradient with respect to the one-hot input e(x):

    log p(c | x with i→y) − log p(c | x)  ≈  g_{i,y} − g_{i,x_i},    g = ∇_{e(x)} log p(c | e(x), σ̄)

so the guided log-score is log s_{i,y} + γ·(g_{i,y} − g_{i,x_i}), summed over the soft terms with their
weights. ``γ`` (``scale``) is the guidance strength: 0 returns the model's scores untouched (bit for bit).

A ``soft:token`` face (``constraints.base.SoftFn``) is called as ``soft(onehot: Tensor[B, L, N], sigma: Tensor[B])``
and returns −log p(c | x_t): ``Tensor[B]``, differentiable in the one-hot input (MASK is a token like any other;
a classifier for the absorbing graph is trained on masked inputs over the noise schedule).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .errors import SamplingError

#: ``soft(onehot: Tensor[B, L, N], sigma: Tensor[B]) -> Tensor[B]``: −log p(c | x_t), differentiable in onehot.
TokenSoftFn = Callable[[Tensor, Tensor], Tensor]


class RateGuidance(nn.Module):
    """Wraps a score model (``model(x_t, sigma) -> log-score Tensor[B, L, N]``) so its log-scores carry the
    first-order likelihood ratios of ``terms`` (``(weight, soft)`` pairs), scaled by ``scale``."""

    def __init__(self, model: nn.Module, terms: Sequence[tuple[float, TokenSoftFn]], scale: float = 1.0) -> None:
        super().__init__()
        if not isinstance(scale, (int, float)) or isinstance(scale, bool) or not math.isfinite(scale) or scale < 0:
            raise SamplingError(f"guidance scale must be a number >= 0, got {scale!r}", "0 turns guidance off")
        self.model, self.terms, self.scale = model, list(terms), float(scale)
        self.config = getattr(model, "config", None)

    def log_ratio(self, x_t: Tensor, sigma: Tensor) -> Tensor:
        """g_{i,y} − g_{i,x_i}: ``Tensor[B, L, N]`` (0 at each position's own token)."""
        n = self.config.vocab_size if self.config is not None else int(x_t.max()) + 1
        with torch.enable_grad():
            onehot = F.one_hot(x_t, n).float().requires_grad_(True)
            nll = sum(w * soft(onehot, sigma) for w, soft in self.terms)
            (grad,) = torch.autograd.grad(-nll.sum(), onehot)  # type: ignore[union-attr]
        return grad - grad.gather(-1, x_t[..., None])

    def forward(self, x_t: Tensor, sigma: Tensor) -> Tensor:
        out = self.model(x_t, sigma)
        if self.scale == 0 or not self.terms:
            return out
        s = torch.as_tensor(sigma, device=x_t.device).reshape(-1).expand(x_t.shape[0])
        return out + self.scale * self.log_ratio(x_t, s).to(out.dtype)

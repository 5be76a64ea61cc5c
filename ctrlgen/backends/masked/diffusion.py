"""Masked diffusion (LLaDA / MDLM): the forward process and its training loss. Math only; the network is passed in.

Forward process: each token of x_0 is replaced by MASK independently with probability t, t ∈ (0, 1] (the linear
schedule of LLaDA; MDLM's log-linear one is the same process in the variable t). The loss is the ELBO of
LLaDA eq. (3) / MDLM eq. (11) with t ~ U(eps, 1]:

    loss(x_0) = E_t [ (1 / t) · Σ_{i masked} −log p_θ(x_0^i | x_t) ] / L

— the cross-entropy on the masked tokens, weighted by 1/t, normalised by the sequence length L (nats per token;
LLaDA normalises by the length of the answer, here every position is generated).

The same process in the discrete backend's words (:attr:`MaskedDiffusion.graph`, :attr:`MaskedDiffusion.noise`):
the absorbing graph with total noise σ̄(t) = −log(1 − t), i.e. P(MASK) = 1 − e^{−σ̄}. Token-space classifiers
(``soft:token`` faces) are trained and called with that σ̄, so one classifier convention serves both backends.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ctrlgen.errors import ConfigError

Gen = torch.Generator | None


def uniform(shape: torch.Size | tuple[int, ...], generator: Gen, device: torch.device | str) -> Tensor:
    """U[0, 1) draws in float64 of ``shape`` from ``generator`` (drawn on the generator's own device, then moved
    to ``device``): one rule for every random draw of the backend, so a seed means the same on any device."""
    where = generator.device if generator is not None else torch.device(device)
    return torch.rand(shape, generator=generator, dtype=torch.float64, device=where).to(device)


@dataclass
class MaskedDiffusionConfig:
    eps: float = 1e-3  # smallest t: training draws t ~ U[eps, 1], so the 1/t weight stays below 1/eps

    def __post_init__(self) -> None:
        if isinstance(self.eps, bool) or not isinstance(self.eps, int | float) or not 0 < self.eps < 1:
            raise ConfigError(f"diffusion.eps must be in (0, 1), got {self.eps!r}", "1e-3 is the LLaDA/MDLM default")


class AbsorbingMask:
    """The forward process as a graph: ``sample_transition(ids, sigma)`` masks each token w.p. 1 − e^{−σ̄}."""

    absorbing = True

    def __init__(self, mask_id: int) -> None:
        self.mask_id = mask_id

    def sample_transition(self, ids: Tensor, sigma: Tensor, generator: Gen = None) -> Tensor:
        """``ids: LongTensor[B, L]``, ``sigma: Tensor[B, L]`` (or broadcastable) → x_t: ``LongTensor[B, L]``."""
        p = -torch.expm1(-torch.as_tensor(sigma, dtype=torch.float64)).expand(ids.shape)
        u = uniform(ids.shape, generator, ids.device)
        return ids.masked_fill(u < p.to(ids.device), self.mask_id)


class LinearMask:
    """t ↔ σ̄: ``total_noise(t) = −log(1 − (1 − eps)·t)`` (eps keeps σ̄(1) finite, as SEDD's log-linear)."""

    def __init__(self, eps: float = 1e-3) -> None:
        self.eps = eps

    def total_noise(self, t: Tensor) -> Tensor:
        return -torch.log1p(-(1 - self.eps) * t)


class MaskedDiffusion:
    """The masking process and the loss; ``graph`` / ``noise`` for token-space classifiers (module doc)."""

    def __init__(self, mask_id: int, config: MaskedDiffusionConfig | None = None) -> None:
        self.mask_id, self.config = mask_id, config or MaskedDiffusionConfig()
        self.graph, self.noise = AbsorbingMask(mask_id), LinearMask(self.config.eps)

    def sample_t(self, batch: int, generator: Gen, device: torch.device) -> Tensor:
        """t ~ U[eps, 1]: ``Tensor[B]`` in float64."""
        eps = self.config.eps
        return eps + (1 - eps) * uniform((batch,), generator, device)

    def training_losses(self, model: nn.Module, ids: Tensor, generator: Gen) -> dict[str, Tensor]:
        """``ids: LongTensor[B, L]``, ``model(x_t) -> logits Tensor[B, L, V]`` → ``loss: Tensor[B]`` (the weighted
        masked cross-entropy per token, module doc), ``masked_ce: Tensor[B]`` (unweighted, per masked token)."""
        B, L = ids.shape
        t = self.sample_t(B, generator, ids.device)
        u = uniform(ids.shape, generator, ids.device)
        masked = u < t[:, None]
        x_t = ids.masked_fill(masked, self.mask_id)
        logits = model(x_t)
        ce = nn.functional.cross_entropy(logits.float().transpose(1, 2), ids, reduction="none")  # [B, L]
        ce = torch.where(masked, ce, torch.zeros_like(ce))  # unmasked positions: no term (and no −inf·0)
        loss = (ce.sum(-1) / t.to(ce.dtype)) / L
        return {"loss": loss, "masked_ce": ce.sum(-1) / masked.sum(-1).clamp(min=1)}


class MaskedObjective(nn.Module):
    """``forward(ids: LongTensor[B, L], generator) -> dict of Tensor[B]``: the trainer's objective (an ``nn.Module``
    so DDP can wrap it; its parameters are the model's)."""

    def __init__(self, model: nn.Module, diffusion: MaskedDiffusion) -> None:
        super().__init__()
        self.model, self.diffusion = model, diffusion

    def forward(self, ids: Tensor, generator: torch.Generator) -> dict[str, Tensor]:
        return self.diffusion.training_losses(self.model, ids, generator)

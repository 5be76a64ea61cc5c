"""Gaussian diffusion on word embeddings (Diffusion-LM): schedules, q_sample, posterior,
respacing and the end-to-end training loss. Math only; the network is passed in.

Schedule arrays are float64 numpy (as improved-DDPM) and cast to the input's dtype when used.
Timestep ``t`` is an index ``0..T-1`` into the (possibly respaced) schedule; ``timesteps[t]`` is
the index of the training schedule that the network is conditioned on.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ctrlgen.errors import ConfigError, SamplingError

Schedule = Literal["sqrt", "linear", "cosine"]


@dataclass
class DiffusionConfig:
    schedule: Schedule = "sqrt"  # noise schedule; sqrt adds noise fast early (Diffusion-LM default)
    steps: int = 2000  # training diffusion steps T
    rounding_on_prediction: bool = False  # also apply the rounding loss to f(x_t, t) (original: only x0)
    self_condition_prob: float = 0.5  # training: share of batches that see a self-conditioning input
    t_sampling: Literal["uniform", "low_noise"] = "uniform"  # low_noise: t ~ T*u^2 (more weight on small t)


def alpha_bar_fn(schedule: Schedule) -> Callable[[float], float]:
    """ᾱ as a function of t ∈ [0, 1] for the schedules defined through ᾱ."""
    if schedule == "sqrt":
        return lambda t: 1 - math.sqrt(t + 1e-4)
    if schedule == "cosine":
        return lambda t: math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2
    raise ConfigError(f"schedule {schedule!r} is not defined through alpha_bar")


def make_betas(schedule: Schedule, steps: int, max_beta: float = 0.999) -> np.ndarray:
    """β_1..β_T (float64). ``linear``: DDPM's 1e-4..0.02 rescaled to T steps; ``sqrt`` and ``cosine``:
    β_i = 1 − ᾱ((i+1)/T) / ᾱ(i/T), clipped at ``max_beta`` (improved-DDPM's betas_for_alpha_bar)."""
    if steps <= 0:
        raise ConfigError(f"diffusion steps must be > 0, got {steps}")
    if schedule == "linear":
        scale = 1000 / steps
        return np.linspace(scale * 1e-4, scale * 0.02, steps, dtype=np.float64)
    if schedule not in ("sqrt", "cosine"):
        raise ConfigError(f"unknown schedule {schedule!r}", "choose 'sqrt', 'linear' or 'cosine'")
    f = alpha_bar_fn(schedule)
    return np.array([min(1 - f((i + 1) / steps) / f(i / steps), max_beta) for i in range(steps)], dtype=np.float64)


class GaussianDiffusion:
    """Forward process q and the posterior q(x_{t-1} | x_t, x0) for a set of betas."""

    def __init__(self, betas: np.ndarray, timesteps: np.ndarray | None = None, config: DiffusionConfig | None = None):
        self.config = config or DiffusionConfig()
        self.betas = np.asarray(betas, dtype=np.float64)
        self.num_steps = len(self.betas)
        self.timesteps = np.arange(self.num_steps) if timesteps is None else np.asarray(timesteps)
        a = 1.0 - self.betas
        self.alphas_cumprod = np.cumprod(a)
        self.alphas_cumprod_prev = np.append(1.0, self.alphas_cumprod[:-1])
        self.posterior_variance = self.betas * (1.0 - self.alphas_cumprod_prev) / (1.0 - self.alphas_cumprod)
        # log of the variance, with t=0 (variance 0) replaced by t=1's value, as improved-DDPM
        clipped = np.append(self.posterior_variance[1:2], self.posterior_variance[1:])
        self.posterior_log_variance_clipped = np.log(clipped) \
            if self.num_steps > 1 else np.log(np.maximum(self.posterior_variance, 1e-20))
        self.posterior_mean_coef1 = self.betas * np.sqrt(self.alphas_cumprod_prev) / (1.0 - self.alphas_cumprod)
        self.posterior_mean_coef2 = (1.0 - self.alphas_cumprod_prev) * np.sqrt(a) / (1.0 - self.alphas_cumprod)
        self._torch: dict[str, Tensor] = {}

    @classmethod
    def from_config(cls, config: DiffusionConfig) -> "GaussianDiffusion":
        return cls(make_betas(config.schedule, config.steps), config=config)

    def respace(self, num_steps: int) -> "GaussianDiffusion":
        """The same process observed at ``num_steps`` evenly spaced timesteps (first and last kept):
        β'_k = 1 − ᾱ[s_k] / ᾱ[s_{k−1}] (improved-DDPM's respacing)."""
        if not isinstance(num_steps, int) or num_steps <= 0:
            raise SamplingError(f"steps must be > 0, got {num_steps}")
        if num_steps > self.num_steps:
            raise SamplingError(f"steps = {num_steps} exceeds the model's {self.num_steps} training steps",
                                f"use at most {self.num_steps}")
        keep = np.unique(np.round(np.linspace(0, self.num_steps - 1, num_steps)).astype(np.int64))
        last, betas = 1.0, []
        for i in keep:
            betas.append(1 - self.alphas_cumprod[i] / last)
            last = self.alphas_cumprod[i]
        return GaussianDiffusion(np.array(betas), self.timesteps[keep], self.config)

    # ------------------------------------------------------------------ helpers
    def _get(self, name: str, t: Tensor, like: Tensor) -> Tensor:
        """``getattr(self, name)[t]`` broadcast to ``like``'s rank. ``t: Tensor[B]``."""
        key = f"{name}:{like.device}"
        if key not in self._torch:
            self._torch[key] = torch.from_numpy(np.asarray(getattr(self, name), dtype=np.float64)).to(like.device)
        v = self._torch[key][t].to(like.dtype)
        return v.view(-1, *([1] * (like.dim() - 1)))

    def model_time(self, t: Tensor) -> Tensor:
        """Training-schedule index the network sees for respaced index ``t``."""
        key = f"timesteps:{t.device}"
        if key not in self._torch:
            self._torch[key] = torch.from_numpy(self.timesteps.astype(np.int64)).to(t.device)
        return self._torch[key][t]

    # ------------------------------------------------------------------ forward process
    def q_sample(self, x0: Tensor, t: Tensor, noise: Tensor) -> Tensor:
        """x_t = sqrt(ᾱ_t)·x0 + sqrt(1 − ᾱ_t)·ε. ``x0, noise: Tensor[B, L, d]``, ``t: Tensor[B]``."""
        return self._get("alphas_cumprod", t, x0).sqrt() * x0 + (1 - self._get("alphas_cumprod", t, x0)).sqrt() * noise

    def q_posterior(self, x0: Tensor, x_t: Tensor, t: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Mean, variance and clipped log-variance of q(x_{t−1} | x_t, x0)."""
        mean = self._get("posterior_mean_coef1", t, x_t) * x0 + self._get("posterior_mean_coef2", t, x_t) * x_t
        return mean, self._get("posterior_variance", t, x_t), self._get("posterior_log_variance_clipped", t, x_t)

    # ------------------------------------------------------------------ training loss
    def sample_t(self, batch: int, generator: torch.Generator, device: torch.device) -> Tensor:
        u = torch.rand(batch, generator=generator, device=device)
        if self.config.t_sampling == "low_noise":
            u = u * u
        return (u * self.num_steps).long().clamp_(max=self.num_steps - 1)

    def training_losses(self, model: torch.nn.Module, ids: Tensor, generator: torch.Generator) -> dict[str, Tensor]:
        """Diffusion-LM's L_e2e_simple for ``ids: Tensor[B, L]``; every term ``Tensor[B]``.

        ``mse``: ‖f(x_t, t) − x0‖² (target Emb(w) at t = 0); ``tT``: ‖sqrt(ᾱ_T)·x0‖²;
        ``nll``: −log p(w | x0) through the tied rounding head. Means over positions and dims.
        """
        emb = model.embed(ids)
        dev = ids.device
        x0 = emb + math.sqrt(1 - self.alphas_cumprod[0]) * torch.randn(emb.shape, generator=generator, device=dev)
        t = self.sample_t(ids.shape[0], generator, dev)
        x_t = self.q_sample(x0, t, torch.randn(x0.shape, generator=generator, device=dev))
        model_t = self.model_time(t)
        x0_prev = None
        if getattr(model.config, "self_condition", False) and \
                torch.rand((), generator=generator, device=dev) < self.config.self_condition_prob:
            with torch.no_grad():
                x0_prev = model(x_t, model_t, None).detach()
        pred = model(x_t, model_t, x0_prev)
        target = torch.where((t == 0).view(-1, 1, 1), emb, x0)
        mse = ((pred - target) ** 2).mean(dim=(1, 2))
        last = torch.full_like(t, self.num_steps - 1)
        tT = ((self._get("alphas_cumprod", last, x0).sqrt() * x0) ** 2).mean(dim=(1, 2))
        nll = F.cross_entropy(model.logits(x0).transpose(1, 2), ids, reduction="none").mean(dim=1)
        if self.config.rounding_on_prediction:
            nll = nll + F.cross_entropy(model.logits(pred).transpose(1, 2), ids, reduction="none").mean(dim=1)
        return {"loss": mse + tT + nll, "mse": mse, "tT": tT, "nll": nll}


class EmbeddingObjective(torch.nn.Module):
    """``forward(ids: Tensor[B, L], generator) -> dict of Tensor[B]``: the trainer's objective
    (an ``nn.Module`` so DDP can wrap it; its parameters are the model's)."""

    def __init__(self, model: torch.nn.Module, diffusion: GaussianDiffusion) -> None:
        super().__init__()
        self.model = model
        self.diffusion = diffusion

    def forward(self, ids: Tensor, generator: torch.Generator) -> dict[str, Tensor]:
        return self.diffusion.training_losses(self.model, ids, generator)

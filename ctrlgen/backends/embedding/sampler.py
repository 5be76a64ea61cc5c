"""Ancestral sampling for embedding diffusion (Diffusion-LM), with clamping.

Each step, top to bottom:
1. x̂0 = f_θ(x_t, t) (self-conditioned on the previous x̂0 when the model was trained so);
2. optionally *clamp* x̂0 to the nearest word embeddings — it makes the model commit to real words;
3. x_{t−1} = μ̃(x_t, x̂0) + σ̃·z (no noise at the last step);
4. the ``hook`` (guidance, hard constraints) may change x_{t−1} — it is never called when ``None``,
   so unguided sampling does no extra work.
The sampler is stateless: everything that changes during a call lives in that call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal, Protocol

import torch
from torch import Tensor

from ctrlgen.backends.embedding.diffusion import GaussianDiffusion
from ctrlgen.errors import SamplingError


@dataclass
class StepOutput:
    """One denoising step. ``x_prev, x0_pred, x0_raw, mean: Tensor[B, L, d]``, ``std: Tensor[B, 1, 1]``.

    ``x0_pred`` is the (possibly clamped) x̂0 the posterior used; ``x0_raw`` the network's own output,
    which is what self-conditioning feeds back (as in training)."""

    x_prev: Tensor
    x0_pred: Tensor
    mean: Tensor
    std: Tensor
    x0_raw: Tensor
    t_model: Tensor  # Tensor[B]: the training-schedule step the network was conditioned on
    step_index: int = 0  # 0 for the first (noisiest) step of the trajectory
    num_steps: int = 1  # steps in the trajectory


class StepHook(Protocol):
    """Called after every step: ``hook(step_output, t, model) -> Tensor[B, L, d]`` (the new x_{t−1}).

    ``t: Tensor[B]`` is the respaced step index. Guidance optimises x_{t−1} near ``mean`` here;
    hard constraints overwrite fixed positions with clean embeddings."""

    def __call__(self, out: StepOutput, t: Tensor, model: torch.nn.Module) -> Tensor: ...


@dataclass
class FixedEmbeddings:
    """Hard constraints on the embedding backend: ``mask: Tensor[B|1, L]`` bool positions whose
    latents are overwritten with the clean embeddings ``emb: Tensor[B|1, L, d]`` of ``ids``."""

    mask: Tensor
    ids: Tensor
    emb: Tensor
    banned: Tensor | None = None  # Tensor[B|1, L|1, V] ids that rounding may not pick (see round_to_words)
    active: bool = True  # False when no position is fixed: apply()/apply_ids() then cost nothing per step

    @classmethod
    def build(cls, model: torch.nn.Module, mask: Tensor, ids: Tensor, banned: Tensor | None = None) -> FixedEmbeddings:
        mask, ids = (mask[None], ids[None]) if mask.dim() == 1 else (mask, ids)
        return cls(mask=mask, ids=ids, emb=model.embed(ids).detach(), banned=banned, active=bool(mask.any()))

    def apply(self, x: Tensor) -> Tensor:
        """``x: Tensor[B, L, d]`` with the fixed positions overwritten."""
        return torch.where(self.mask[..., None], self.emb, x) if self.active else x

    def apply_ids(self, tokens: Tensor) -> Tensor:
        return torch.where(self.mask, self.ids, tokens) if self.active else tokens


@dataclass
class SampleOutput:
    tokens: Tensor  # Tensor[B, L] word ids
    x0: Tensor  # Tensor[B, L, d] final x̂0
    trajectory: list[Tensor] = field(default_factory=list)  # per step Tensor[B, L] ids of round(x̂0)


def round_to_words(model: torch.nn.Module, x: Tensor, mode: Literal["l2", "logits"],
                   banned: Tensor | None = None) -> Tensor:
    """Nearest word per position. ``x: Tensor[B, L, d]`` → ids ``Tensor[B, L]``.

    ``banned: Tensor[B|1, L|1, V]`` bool marks ids a position may not take (e.g. MASK, which
    embedding diffusion never trains on, or END inside a fixed length)."""
    if mode == "logits":
        score = model.logits(x)
    else:
        emb = model.embedding.weight  # [V, d]
        score = 2 * x @ emb.T - (emb * emb).sum(-1)  # −‖x − e‖² up to a per-position constant
    if banned is not None:
        score = score.masked_fill(banned, float("-inf"))
    return score.argmax(-1)


@dataclass(frozen=True, kw_only=True)
class EmbeddingSampler:
    """Keyword-only configuration of the sampling loop (no state)."""

    steps: int = 200  # respaced number of denoising steps (≤ training T)
    clamp: bool = True  # snap x̂0 to word embeddings (the clamping trick)
    clamp_after: float = 0.0  # fraction of steps run before clamping starts (0: clamp every step)
    rounding: Literal["l2", "logits"] = "l2"  # how clamping and the final words pick a word
    temperature: float = 1.0  # scales the noise added at each step (1 = ancestral sampling)
    self_condition_input: Literal["raw", "clamped"] = "raw"  # which x̂0 self-conditioning feeds back

    def __post_init__(self) -> None:
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps <= 0:
            raise SamplingError(f"steps must be an int > 0, got {self.steps!r}", "e.g. steps=200 (≤ the model's T)")
        if not 0.0 <= self.clamp_after <= 1.0:
            raise SamplingError(f"clamp_after must be in [0, 1], got {self.clamp_after}",
                                "the fraction of steps run before clamping starts; 0 clamps every step")
        if not 0 <= self.temperature < math.inf:
            raise SamplingError(f"temperature must be a finite number >= 0, got {self.temperature}",
                                "1 is ancestral sampling, 0 is deterministic")
        if self.self_condition_input not in ("raw", "clamped"):
            raise SamplingError(f"self_condition_input must be 'raw' or 'clamped', got {self.self_condition_input!r}",
                                "'raw' feeds back x̂0 as predicted, 'clamped' after snapping to words")
        if self.rounding not in ("l2", "logits"):
            raise SamplingError(f"rounding must be 'l2' or 'logits', got {self.rounding!r}",
                                "'l2': nearest embedding, 'logits': the model's word logits")

    def step(self, model: torch.nn.Module, diffusion: GaussianDiffusion, x_t: Tensor, t: Tensor,
             x0_prev: Tensor | None, generator: torch.Generator, clamp: bool,
             fixed: FixedEmbeddings | None = None) -> StepOutput:
        """One step on a respaced ``diffusion``. ``x_t: Tensor[B, L, d]``, ``t: Tensor[B]``.

        ``fixed`` positions of x̂0 are replaced by their clean embeddings before the posterior."""
        t_model = diffusion.model_time(t)
        x0_raw = x0 = model(x_t, t_model, x0_prev)
        if clamp:
            x0 = model.embed(round_to_words(model, x0_raw, self.rounding, fixed.banned if fixed else None))
        if fixed is not None:
            x0 = fixed.apply(x0)
        mean, _, logvar = diffusion.q_posterior(x0, x_t, t)
        std = (0.5 * logvar).exp() * self.temperature
        if int(t[0]) > 0:
            x_prev = mean + std * torch.randn(x_t.shape, generator=generator, device=x_t.device, dtype=x_t.dtype)
        else:
            x_prev = mean
        return StepOutput(x_prev=x_prev, x0_pred=x0, mean=mean, std=std, x0_raw=x0_raw, t_model=t_model,
                          step_index=diffusion.num_steps - 1 - int(t[0]), num_steps=diffusion.num_steps)

    @torch.no_grad()
    def sample(self, model: torch.nn.Module, diffusion: GaussianDiffusion, n: int, generator: torch.Generator,
               hook: StepHook | None = None, return_trajectory: bool = False,
               progress: bool = False, fixed: FixedEmbeddings | None = None) -> SampleOutput:
        """Draw ``n`` sequences. ``diffusion`` is the training process; it is respaced here.

        ``fixed`` (hard constraints): those positions start from and are reset to their clean
        embeddings after every step (after the hook), and the returned tokens hold them exactly;
        its ``banned`` ids are excluded from clamping and the final rounding."""
        if not isinstance(n, int) or n <= 0:
            raise SamplingError(f"n must be > 0, got {n}")
        cfg = model.config
        sched = diffusion.respace(self.steps)
        param = next(model.parameters())
        device = param.device
        x = torch.randn((n, cfg.seq_len, cfg.embed_dim), generator=generator, device=device, dtype=param.dtype)
        if fixed is not None:
            x = fixed.apply(x)
        x0_prev: Tensor | None = None
        trajectory: list[Tensor] = []
        clamp_from = round(self.clamp_after * sched.num_steps)
        banned = fixed.banned if fixed is not None else None
        from tqdm.auto import tqdm  # lazy: start-up speed

        for k, i in enumerate(tqdm(range(sched.num_steps - 1, -1, -1), disable=not progress, desc="sampling",
                                   leave=False)):
            t = torch.full((n,), i, device=device, dtype=torch.long)
            out = self.step(model, sched, x, t, x0_prev, generator, clamp=self.clamp and k >= clamp_from, fixed=fixed)
            x = out.x_prev if hook is None else hook(out, t, model)
            if fixed is not None:
                x = fixed.apply(x)
            if getattr(cfg, "self_condition", False):
                x0_prev = out.x0_raw if self.self_condition_input == "raw" else out.x0_pred
            if return_trajectory:
                step_ids = round_to_words(model, out.x0_pred, self.rounding, banned)
                trajectory.append(step_ids if fixed is None else fixed.apply_ids(step_ids))
        tokens = round_to_words(model, out.x0_pred, self.rounding, banned)
        if fixed is not None:
            tokens = fixed.apply_ids(tokens)
        return SampleOutput(tokens=tokens, x0=out.x0_pred, trajectory=trajectory)

"""Gradient guidance on the latents of embedding diffusion (Diffusion-LM, section 4 of the notes).

After the sampler proposes x_{t−1} ~ N(μ, σ²), run K gradient steps on x_{t−1} minimising

    Σ_c w_c · (−log p(c | x_{t−1}, t))  +  λ · Σ (x_{t−1} − μ)² / σ      (or / σ², ``fluency_norm="var"``)

The second term keeps x_{t−1} near the language model's own proposal (fluency). The original code
builds a fresh Adagrad optimiser per inner step, which moves every coordinate by ≈ ``step_size`` in
the direction of −sign(gradient): that is ``optimizer="sign"`` here; ``"adagrad"`` (kept across the K
steps) and ``"adam"`` are the alternatives. Guidance runs only inside the active window of the
trajectory (the original skips the last 10 of 200 steps: ``stop=0.95``).

Strength 0 (``step_size == 0``, ``num_inner == 0``, or every weight 0) returns x_{t−1} untouched:
guided sampling then equals unguided sampling bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from ctrlgen.backends.embedding.sampler import StepOutput
from ctrlgen.errors import SamplingError

#: ``soft(x: Tensor[B, L, d], t: Tensor[B]) -> Tensor[B]``: −log p(c | x, t), differentiable in x.
SoftLoss = Callable[[Tensor, Tensor], Tensor]


@dataclass(frozen=True)
class GuidanceConfig:
    num_inner: int = 3  # K gradient steps per diffusion step
    step_size: float = 0.1  # learning rate of the inner optimiser
    fluency_weight: float = 0.01  # λ of the fluency term (paper: semantic 0.01, POS/tree 5e-4, spans 0.1)
    fluency_norm: Literal["std", "var"] = "std"  # divide (x − μ)² by σ (original) or σ²
    optimizer: Literal["sign", "adagrad", "adam"] = "sign"  # see module doc
    start: float = 0.0  # fraction of the trajectory before guidance starts
    stop: float = 0.95  # fraction after which guidance stops (original: last 10 of 200 steps unguided)

    def __post_init__(self) -> None:
        if isinstance(self.num_inner, bool) or not isinstance(self.num_inner, int) or self.num_inner < 0:
            raise SamplingError(f"num_inner must be an integer >= 0, got {self.num_inner!r}", "e.g. num_inner=3")
        for name in ("step_size", "fluency_weight", "start", "stop"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
                raise SamplingError(f"{name} must be a finite number >= 0, got {v!r}",
                                    f"e.g. {name}={getattr(GuidanceConfig, name)}; 0 switches it off")
        if not 0.0 <= self.start <= self.stop <= 1.0:
            raise SamplingError(f"need 0 <= start <= stop <= 1, got start={self.start}, stop={self.stop}")
        if self.optimizer not in ("sign", "adagrad", "adam"):
            raise SamplingError(f"unknown optimizer {self.optimizer!r}", "choose 'sign', 'adagrad' or 'adam'")
        if self.fluency_norm not in ("std", "var"):
            raise SamplingError(f"fluency_norm must be 'std' or 'var', got {self.fluency_norm!r}")


class Guidance:
    """A ``StepHook`` for ``EmbeddingSampler``: weighted soft losses plus the fluency term.

    ``terms``: ``(weight, soft_loss)`` pairs. Stateless between calls (the inner optimiser lives
    inside one call), so one instance serves many sampling runs.
    """

    def __init__(self, terms: Sequence[tuple[float, SoftLoss]], config: GuidanceConfig | None = None) -> None:
        self.terms = [(float(w), f) for w, f in terms]
        self.config = config or GuidanceConfig()

    @property
    def is_null(self) -> bool:
        c = self.config
        return c.step_size == 0 or c.num_inner == 0 or not any(w != 0 for w, _ in self.terms)

    def active(self, out: StepOutput) -> bool:
        frac = out.step_index / max(1, out.num_steps)
        return not self.is_null and self.config.start <= frac < self.config.stop

    def __call__(self, out: StepOutput, t: Tensor, model: torch.nn.Module) -> Tensor:
        if not self.active(out):
            return out.x_prev
        c = self.config
        mean = out.mean.detach()
        denom = (out.std if c.fluency_norm == "std" else out.std ** 2).clamp_min(1e-8)
        x = out.x_prev.detach().clone().requires_grad_(True)
        opt: torch.optim.Optimizer | None = None
        if c.optimizer == "adagrad":
            opt = torch.optim.Adagrad([x], lr=c.step_size)
        elif c.optimizer == "adam":
            opt = torch.optim.Adam([x], lr=c.step_size)
        with torch.enable_grad():
            for _ in range(c.num_inner):
                loss = sum(w * f(x, out.t_model).sum() for w, f in self.terms if w != 0)
                loss = loss + c.fluency_weight * ((x - mean) ** 2 / denom).sum()
                (grad,) = torch.autograd.grad(loss, x)
                if opt is None:
                    with torch.no_grad():
                        x -= c.step_size * grad.sign()
                else:
                    x.grad = grad
                    opt.step()
        return x.detach()

"""Gradient guidance on the latents of embedding diffusion (Diffusion-LM, section 4 of the notes).

After the sampler proposes x_{t−1} ~ N(μ, σ²), run K gradient steps on x_{t−1} minimising

    Σ_c w_c · (−log p(c | x_{t−1}, t))  +  λ · Σ (x_{t−1} − μ)² / σ      (or / σ², ``fluency_norm="var"``)

The second term keeps x_{t−1} near the language model's own proposal (fluency). The original code
builds a fresh Adagrad optimiser per inner step, which moves every coordinate by ≈ ``step_size`` in
the direction of −sign(gradient): that is ``optimizer="sign"`` here; ``"adagrad"`` (kept across the K
steps) and ``"adam"`` are the alternatives. Guidance runs only inside the active window of the
trajectory (the original skips the last 10 of 200 steps: ``stop=0.95``).

The defaults are a cheap setting (issue 17): one sign step of 0.3 per diffusion step over the first 70% of the
trajectory, where Diffusion-LM takes three of 0.1 over 95% — :meth:`GuidanceConfig.full` keeps that original method
bit for bit. With the window then at 75% (70% since the last measurement below), side by side on every kind of the
control table's targets (8 targets × 8 samples, 100 steps;
``recipes/guidance_default.py``, ``recipes/results/guidance_default.json``) it costs 2.1–2.3× unguided with one
constraint and 3.2× with two, where ``full()`` costs 5.0–6.0× and 9.4×, at the same control success (within noise).
A step of 0.4 (:meth:`GuidanceConfig.cheap`, measured at 50 steps) broke fluency at 100 steps on SemanticField
and SyntaxSpans (bigram precision 0.79 / 0.77); 0.2 lost 8 points on SyntaxSpans.

The step is the one measured for a 100-step trajectory (``reference_steps=100``): on a longer one every guided step
is scaled by 100 / steps, so the trajectory's total push stays the measured one. Unscaled, the 0.3 step at the
model's default 200 steps wrote word salad (``SemanticField``: bigram precision 0.727, lm-score 156;
``SyntaxSpans``: 0.656, 324). Scaled (0.15 at 200 steps), side by side with ``full()`` on 8 control-table targets × 4
samples per kind (``recipes/guidance_default.py --steps 200``, ``recipes/results/guidance_default_200.json``;
success / bigram precision % / lm-score / CPU × unguided, the calls in turn): semantic 75.0 / 98.1 / 4.19 / 2.2× vs
75.0 / 98.5 / 3.91 / 5.8×, spans 68.8 / 99.2 / 4.06 / 2.6× vs 68.8 / 99.5 / 3.63 / 6.5×, POS 97.2 / 93.8 / 11.4 /
2.1× vs 97.3 / 92.6 / 13.5 / 5.2×, tree F1 79.4 / 89.5 / 26.8 / 2.6× vs 76.2 / 80.6 / 84.6 / 6.6×.
Stopping at 70% instead of 75% (same targets and seeds, one run, ``recipes/results/guidance_default_200_stop07.json``;
75% → 70%): CPU × unguided semantic 2.40 → 2.31, POS 2.30 → 2.20, spans 2.22 → 2.08, tree 2.34 → 2.25,
semantic + POS 3.50 → 3.37, paired success differences 0.0 / +0.3 / 0.0 / +0.2 / −0.3 points (the last ± 0.2, the
others within one standard error), bigram precision equal or better, lm-score within 0.4 (tree 26.8 → 23.1) — so
the default stops at 70%.
(The 75% rows here cost less than in the earlier run, 2.6× for spans and tree: CPU-second ratios drift between runs
on a shared machine by about ±0.2; the comparison within one run is what the choice rests on.)

Cheaper still (issue 17; every option below is off by default; ``recipes/bench_guidance_cost.py`` measures each
against control success):

- ``every=k`` guides only every k-th step of the window (its first step included);
- ``skip_below=s`` (nats) leaves a sample alone at this step once its constraint loss Σ_c w_c·(−log p(c | x)) is
  below ``s``; when no sample of the batch needs guidance the backward pass is skipped (one classifier forward,
  no backward: about 0.4 of a guided pass);
- ``tolerance=ε`` (nats) ends a sample's inner steps once its constraint loss improved by less than ε since the
  previous inner step (adaptive K); the loop ends when no sample is left.

Fluency under structure (issue 14; off by default, ``recipes/fluent_structure.py`` measures them):

- ``decay=D`` schedules the strength over the window: the step is ``step_size · (1 − p)^D`` (p: progress through
  the window), strong early while the structure forms, fading out so the denoiser alone writes the last words;
- ``denoiser_weight=μ`` adds μ · :func:`denoiser_nll` — the model's own negative log-likelihood of the rounded
  words of x̂0 = f(x_{t−1}, t) — to the loss (one denoiser forward and backward per inner step).

Strength 0 (``step_size == 0``, ``num_inner == 0``, or every weight 0) returns x_{t−1} untouched:
guided sampling then equals unguided sampling bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor

from ctrlgen.backends.embedding.sampler import StepOutput
from ctrlgen.errors import SamplingError

#: ``soft(x: Tensor[B, L, d], t: Tensor[B]) -> Tensor[B]``: −log p(c | x, t), differentiable in x.
SoftLoss = Callable[[Tensor, Tensor], Tensor]


@dataclass(frozen=True)
class GuidanceConfig:
    # Defaults: the cheap setting of the module doc (recipes/results/guidance_default.json); full() is Diffusion-LM's
    # K = 3, step 0.1, stop 0.95 (the default before issue 17).
    num_inner: int = 1  # K gradient steps per diffusion step (cost ∝ K; K=1 at step_size 0.3 matched K=3 at 0.1)
    step_size: float = 0.3  # learning rate of the inner optimiser (sign: the move per coordinate and inner step)
    fluency_weight: float = 0.01  # λ of the fluency term (paper: semantic 0.01, POS/tree 5e-4, spans 0.1)
    fluency_norm: Literal["std", "var"] = "std"  # divide (x − μ)² by σ (original) or σ²
    optimizer: Literal["sign", "adagrad", "adam"] = "sign"  # see module doc
    start: float = 0.0  # fraction of the trajectory before guidance starts
    stop: float = 0.7  # fraction after which guidance stops (full(): 0.95, the original's last 10 of 200 unguided)
    every: int = 1  # guide every k-th step of the window (2: −5 to −14 points of success at the cost of stop=0.5)
    skip_below: float = 0.0  # nats: leave samples whose constraint loss is below this; 0 = off (0.05: no gain on 2)
    tolerance: float | None = None  # nats: adaptive K, stop on no improvement; None = off (0.01 saved only 8–15%)
    decay: float = 0.0  # strength schedule: step × (1 − progress through the window)^decay; 0 = constant (issue 14)
    denoiser_weight: float = 0.0  # μ of the denoiser's own fluency term (module doc); 0 = off (issue 14)
    #: The trajectory length ``step_size`` was measured for: on a longer one each step is scaled by
    #: reference_steps / steps, so the whole trajectory's push stays the measured one (module doc); None = per step
    #: as given (full(): Diffusion-LM's setting). Shorter trajectories are never scaled up.
    reference_steps: int | None = 100

    def __post_init__(self) -> None:
        if isinstance(self.num_inner, bool) or not isinstance(self.num_inner, int) or self.num_inner < 0:
            raise SamplingError(f"num_inner must be an integer >= 0, got {self.num_inner!r}", "e.g. num_inner=3")
        if isinstance(self.every, bool) or not isinstance(self.every, int) or self.every < 1:
            raise SamplingError(f"every must be an integer >= 1, got {self.every!r}", "1 guides every step")
        if self.reference_steps is not None and (isinstance(self.reference_steps, bool)
                                                 or not isinstance(self.reference_steps, int) or self.reference_steps < 1):
            raise SamplingError(f"reference_steps must be None or an integer >= 1, got {self.reference_steps!r}",
                                "e.g. reference_steps=100; None applies step_size at every step as given")
        if self.tolerance is not None and (isinstance(self.tolerance, bool) or not isinstance(self.tolerance, int | float)
                                           or not math.isfinite(self.tolerance) or self.tolerance < 0):
            raise SamplingError(f"tolerance must be None or a finite number >= 0, got {self.tolerance!r}",
                                "None runs all num_inner steps; e.g. tolerance=0.01")
        for name in ("step_size", "fluency_weight", "start", "stop", "skip_below", "decay",
                     "denoiser_weight"):
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

    @classmethod
    def full(cls, **overrides: Any) -> GuidanceConfig:
        """Diffusion-LM's original setting and the default before issue 17: three sign steps of 0.1 per diffusion step
        over the first 95% of the trajectory — 2.3–2.9× the guided cost of the default for the same control success
        (module doc). ``overrides``: other fields, e.g. the task's ``fluency_weight``."""
        return cls(**{"num_inner": 3, "step_size": 0.1, "stop": 0.95, "reference_steps": None, **overrides})

    @classmethod
    def cheap(cls, **overrides: Any) -> GuidanceConfig:
        """The opt-in cheap setting measured first (issue 17): one sign step of 0.4 over the first 75% of the
        trajectory. At 50 steps it kept the original's success at 2.0× / 3.5× unguided (recipes/results/
        bench_guidance_cost.json); at 100 steps it broke fluency on SemanticField and SyntaxSpans, so the default
        takes 0.3 (module doc). ``overrides``: other fields, e.g. the task's ``fluency_weight``."""
        return cls(**{"num_inner": 1, "step_size": 0.4, "stop": 0.75, **overrides})


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

    @property
    def adaptive(self) -> bool:
        """Whether the per-sample loop runs (``skip_below`` or ``tolerance`` set)."""
        return self.config.skip_below > 0 or self.config.tolerance is not None

    def active(self, out: StepOutput) -> bool:
        c = self.config
        frac = out.step_index / max(1, out.num_steps)
        if self.is_null or not c.start <= frac < c.stop:
            return False
        if c.every == 1:
            return True
        n = max(1, out.num_steps)
        first = math.ceil(c.start * n)  # the window's first step: the least k with k / n >= start
        first += (first / n < c.start) - (first > 0 and (first - 1) / n >= c.start)  # float rounding of start·n
        return (out.step_index - first) % c.every == 0

    def strength(self, out: StepOutput) -> float:
        """The step size at this step: ``step_size`` — times ``reference_steps / num_steps`` on a trajectory longer
        than ``reference_steps`` — times ``(1 − p)^decay`` where p ∈ [0, 1) is how far the step is through the
        guidance window (``decay`` 0: constant, bit for bit)."""
        c = self.config
        base = c.step_size
        if c.reference_steps is not None and out.num_steps > c.reference_steps:
            base *= c.reference_steps / out.num_steps
        if c.decay == 0:
            return base
        frac = out.step_index / max(1, out.num_steps)
        p = (frac - c.start) / max(c.stop - c.start, 1e-12)
        return base * max(0.0, 1.0 - p) ** c.decay

    def __call__(self, out: StepOutput, t: Tensor, model: torch.nn.Module) -> Tensor:
        if not self.active(out):
            return out.x_prev
        c = self.config
        step = self.strength(out)
        mean = out.mean.detach()
        denom = (out.std if c.fluency_norm == "std" else out.std ** 2).clamp_min(1e-8)
        x = out.x_prev.detach().clone().requires_grad_(True)
        opt: torch.optim.Optimizer | None = None
        if c.optimizer == "adagrad":
            opt = torch.optim.Adagrad([x], lr=step)
        elif c.optimizer == "adam":
            opt = torch.optim.Adam([x], lr=step)
        if self.adaptive:
            return self._adaptive(x, mean, denom, out, model, opt, step)
        with torch.enable_grad():
            for _ in range(c.num_inner):
                loss = sum(w * f(x, out.t_model).sum() for w, f in self.terms if w != 0)
                loss = loss + c.fluency_weight * ((x - mean) ** 2 / denom).sum()
                if c.denoiser_weight:
                    loss = loss + c.denoiser_weight * denoiser_nll(model, x, out.t_model, out.x0_raw).sum()
                (grad,) = torch.autograd.grad(loss, x)
                self._move(x, grad, opt, step)
        return x.detach()

    def _move(self, x: Tensor, grad: Tensor, opt: torch.optim.Optimizer | None, step: float) -> None:
        """One inner update of ``x: Tensor[B, L, d]`` (in place) from ``grad``: a sign step of ``step``, or
        ``opt``'s step."""
        if opt is None:
            with torch.no_grad():
                x -= step * grad.sign()
        else:
            x.grad = grad
            opt.step()

    def _adaptive(self, x: Tensor, mean: Tensor, denom: Tensor, out: StepOutput, model: torch.nn.Module,
                  opt: torch.optim.Optimizer | None, step: float) -> Tensor:
        """The inner loop with a per-sample active set (``skip_below`` / ``tolerance``). ``x, mean: Tensor[B, L, d]``
        (``x`` a leaf that requires grad), ``denom: Tensor[B, 1, 1]``, ``out``: the step → the new ``x``.

        A sample whose constraint loss is below ``skip_below``, or improved by less than ``tolerance`` since the
        previous inner step, is not moved again in this call; the classifier forward of a step in which no sample
        is left is the last one (no backward)."""
        c, t = self.config, out.t_model
        keep = torch.ones(x.shape[0], dtype=torch.bool, device=x.device)
        prev: Tensor | None = None
        with torch.enable_grad():
            for _ in range(c.num_inner):
                per = torch.stack([w * f(x, t) for w, f in self.terms if w != 0]).sum(0)  # Tensor[B]
                now = per.detach()
                if c.skip_below > 0:
                    keep &= now >= c.skip_below
                if prev is not None and c.tolerance is not None:
                    keep &= prev - now > c.tolerance
                if not bool(keep.any()):
                    break
                prev = now
                loss = per.sum() + c.fluency_weight * ((x - mean) ** 2 / denom).sum()
                if c.denoiser_weight:
                    loss = loss + c.denoiser_weight * denoiser_nll(model, x, t, out.x0_raw).sum()
                (grad,) = torch.autograd.grad(loss, x)
                self._move(x, grad * keep[:, None, None], opt, step)  # frozen samples: zero gradient (sign, Adagrad: no move)
        return x.detach()


def denoiser_nll(model: torch.nn.Module, x: Tensor, t: Tensor, x0_prev: Tensor | None) -> Tensor:
    """The denoiser's own fluency term: −Σ_positions log softmax(logits(f(x, t)))[its argmax], ``Tensor[B]``.

    ``x: Tensor[B, L, d]`` (differentiable), ``t: Tensor[B]`` model time, ``x0_prev``: the self-conditioning input
    (the step's raw x̂0, detached). Low where the model predicts one word confidently at every position from
    ``x`` — the rounded tokens are likely under the model's own x̂0 — so guidance that adds it stays near latents
    the language model reads as words in context."""
    cond = None if x0_prev is None else x0_prev.detach()
    logp = model.logits(model(x, t, cond)).log_softmax(-1)
    return -logp.max(-1).values.sum(-1)

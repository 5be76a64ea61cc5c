"""Rate guidance paid only where the reverse step moves (absorbing graph): ``guidance_mode="on-move"``.

**Why.** Every-step rate guidance (:class:`~ctrlgen.backends.discrete.guidance.RateGuidance`) reweights the
rates of every masked position at every step, and its exact shortlist costs one classifier call per masked
position × k per step (``e2e-sedd``, 8 samples × 64 steps, k = 4: ~49 000 classifier rows, 16× the unguided
call). Yet a masked position's token is chosen once, at the step where it unmasks; only ~L/steps positions
of a row unmask per step.

**Math.** On the absorbing graph a masked position i either stays MASK or jumps to a token y ≠ MASK, and every
predictor (analytic, Euler, the final denoise step) gives the jump to y a probability proportional to its
(guided) ratio s_y·r_y, with r_y = p(c | x_t with i→y) / p(c | x_t). So one step factorises per position into

    P(move) = f(Σ_y s_y·r_y)          and          P(y | move) = s_y·r_y / Σ_y' s_y'·r_y'.

With exact ratios and a classifier consistent with the denoiser (s_y ∝ p(x0_i = y | x_t)), the sum is
Σ_y p(x0_i = y | x_t)·p(c | x_t, x0_i = y) / p(c | x_t) = 1 times the unguided total: guidance changes
*which* token a moving position takes, not *when* it moves. This mode therefore

1. calls the score model unguided (recording x_t, σ̄ and the log-scores) and lets the sampler draw the step
   from it — the unguided move times;
2. right after the step (the first half of the projector, :meth:`OnMoveGuidance.projector`), redraws the token
   of every position that moved (MASK → token) from P(y | move) ∝ s_y·exp(γ·ratio_y), with ``ratio_y`` exactly
   the every-step mode's for the same x_t: exact log p(c | x_t with i→y) − log p(c | x_t) for the ``shortlist``
   likeliest y (one classifier row each), the first-order g_{i,y} − g_{i,MASK} of one forward + backward of the
   rows that moved for the other y (``tail="none"``: ratio 0 there, no backward), ``demote_outside`` as there.

Given x_t, a moving position's token has the every-step mode's distribution (``tests/test_move_guidance.py``
checks it against :class:`RateGuidance`'s log-rates); only the move times differ (unguided here, the
shortlist's Σ s_y·r_y there, which a first-order tail can push far from 1). Cost per step: forward + backward of
the rows with a move, and k classifier rows per move — about L·k rows per sample over the whole call instead of
~L·k·steps/2. Scale γ = 0 (or no soft term) redraws nothing and draws no random number: unguided bit for bit.

**Measured** (``recipes/bench_guidance_cost.py --backend discrete``, ``recipes/results/
bench_guidance_cost_discrete.json``: ``e2e-sedd``, ``SemanticField(..., steer="classifier")``, 8 targets × 8 samples,
64 steps, γ = 1, one thread, CPU seconds ÷ the unguided call's, interleaved): every-step k = 4 (the old default)
18.1×, ``satisfied`` 35.9%, harness success 31.2%; on-move k = 4 2.2×, 37.5 / 25.0%; k = 8 (the default) 2.4×,
42.2 / 39.1%; k = 16 3.05×, 50.0 / 51.6%; ``tail="none"`` k = 8 2.0×, 37.5 / 39.1%; unguided 4.7% success
(8 × 8 samples: about ±6 points). ``rank = "guided"`` (the Taylor top-k rescored) gave 45.3 / 42.2% at k = 8,
within that noise of ``"model"``, so it stays an option.

**State.** The record of step 1 lives in this object, which the generator builds per call (and per batch);
the sampler calls the score model once per step and the projector once after it, which is all this relies on
(a projector call with no new record leaves ``x`` as it is).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from ctrlgen.backends.discrete.graphs import sample_categorical
from ctrlgen.backends.discrete.guidance import RateGuidance
from ctrlgen.backends.discrete.sampler import Projector
from ctrlgen.errors import SamplingError

Tail = Literal["first-order", "none"]


class OnMoveGuidance(nn.Module):
    """Wraps a score model (``model(x_t, σ̄) -> log-score Tensor[B, L, N]``, bans applied) for on-move rate
    guidance with ``guidance``'s terms, scale, shortlist and ``mask_id`` (its own wrapped model is not called).
    ``generator`` draws the redraws; ``tail``: the ratios outside the shortlist (see the module doc; default: the
    class attribute :attr:`tail`, ``"first-order"``)."""

    tail: Tail = "first-order"  # class-wide default; "none" skips the backward (benchmarks compare the two)
    #: class-wide default: the shortlist ranks jumps by the model's scores ("model") or by the first-order guided
    #: scores log s_y + γ·ratio_y ("guided", with the first-order tail: Taylor picks, exact rescores)
    rank: Literal["model", "guided"] = "model"

    def __init__(self, model: nn.Module, guidance: RateGuidance, generator: torch.Generator | None = None,
                 tail: Tail | None = None) -> None:
        super().__init__()
        tail = type(self).tail if tail is None else tail
        if guidance.mask_id is None:
            raise SamplingError("on-move guidance needs the absorbing graph (a MASK id)",
                                "use guidance_mode='every-step' with the uniform graph")
        if tail not in ("first-order", "none"):
            raise SamplingError(f"tail must be 'first-order' or 'none', got {tail!r}",
                                "'first-order' matches every-step guidance; 'none' skips the backward")
        self.model, self.guidance, self.generator, self.tail = model, guidance, generator, tail
        self.config = getattr(model, "config", None)
        self._last: tuple[Tensor, Tensor, Tensor] | None = None

    @property
    def active(self) -> bool:
        """False when guidance is off (γ = 0 or no term): then nothing is recorded or redrawn."""
        return self.guidance.scale != 0 and bool(self.guidance.terms)

    def forward(self, x_t: Tensor, sigma: Tensor) -> Tensor:
        """The model's log-scores of ``x_t: LongTensor[B, L]`` at ``sigma`` (unguided), recorded for :meth:`redraw`."""
        out = self.model(x_t, sigma)
        if self.active:
            s = torch.as_tensor(sigma, device=x_t.device).reshape(-1).expand(x_t.shape[0])
            self._last = (x_t, s, out)
        return out

    def conditional(self, x_t: Tensor, sigma: Tensor, scores: Tensor, where: Tensor) -> Tensor:
        """Guided log-weights of P(y | move) at the positions ``where: BoolTensor[R, L]`` (MASKed in ``x_t:
        LongTensor[R, L]``), from ``scores: Tensor[R, L, N]`` at ``sigma: Tensor[R]``: ``Tensor[M, N]`` (M =
        ``where.sum()``, row-major), log s_y + γ·ratio_y, −∞ at MASK."""
        g = self.guidance
        if self.tail == "first-order":
            ratio = g.log_ratio(x_t, sigma).detach()
        else:
            ratio = torch.zeros(scores.shape, dtype=torch.float32, device=scores.device)
        if g.shortlist:  # rank="guided": the shortlist is the k likeliest jumps under the first-order guided rates
            ranking = scores.float() + g.scale * ratio if self.rank == "guided" else scores
            ratio = g.exact_ratios(x_t, sigma, ranking, ratio, where=where)
        logits = scores[where].float() + g.scale * ratio[where].float()
        logits[:, g.mask_id] = -float("inf")
        return logits

    @torch.no_grad()
    def redraw(self, x_prev: Tensor) -> Tensor:
        """``x_prev: LongTensor[B, L]`` (the step's draw from the recorded x_t) with every position that moved
        from MASK redrawn from the guided P(y | move); ``x_prev`` itself when nothing is recorded or moved."""
        if self._last is None:
            return x_prev
        x_t, sigma, scores = self._last
        self._last = None
        if x_prev.shape != x_t.shape:
            raise SamplingError(f"the step returned ids of shape {tuple(x_prev.shape)} for x_t of shape "
                                f"{tuple(x_t.shape)}", "on-move guidance needs one projector call per model call")
        moved = (x_t == self.guidance.mask_id) & (x_prev != self.guidance.mask_id)
        rows = moved.any(dim=1).nonzero().flatten()
        if len(rows) == 0:
            return x_prev
        logits = self.conditional(x_t[rows], sigma[rows], scores[rows], moved[rows])
        probs = (logits - logits.max(dim=-1, keepdim=True).values).exp()
        out = x_prev.clone()
        out[moved] = sample_categorical(probs, self.generator)  # rows ascending: the same row-major order
        return out

    def projector(self, inner: Projector) -> Projector:
        """A projector that redraws the moved positions (:meth:`redraw`), then applies ``inner``."""
        return lambda x: inner(self.redraw(x))

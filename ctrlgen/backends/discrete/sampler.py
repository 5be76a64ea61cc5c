"""Reverse sampling for score-entropy discrete diffusion (SEDD), with the projection hook for hard constraints.

The loop, top to bottom (SEDD's ``get_pc_sampler``):
1. start from the graph's limit: all MASK (absorbing) or uniform tokens;
2. for ``steps`` equal steps of t from 1 down to ``eps``: *project* (overwrite the fixed positions), then
   one predictor step from t to t − Δt, with the ratios s_θ(x_t, σ̄(t)) = exp(model(x_t, σ̄(t)));
3. if ``denoise``: project, then one last Tweedie step from t = ``eps`` all the way to σ̄ = 0 (absorbing:
   MASK is never drawn there, so no MASK is left); finally project once more, so fixed positions hold in
   every output (SEDD's conditional script projects its samples the same way).

Projecting before every step is *exact* conditioning on known tokens at known positions for a model trained
unconditionally (SEDD §4.2, ``reference/sedd.md``): the conditional ratios equal the unconditional ones
evaluated with the known tokens in place. That holds for the **absorbing** graph, where an unmasked token is a
clean one. With the uniform graph the projected ratios condition on the *noised* token having that value, an
approximation, biased at high noise (on a two-position toy with an exact score, p(x¹ | x⁰) came out
0.70 / 0.29 / 0.01 instead of 0.75 / 0.25 / 0).

Predictors (a registry, ``PREDICTORS``, as in SEDD's ``sampling.py``):
- ``"euler"``: τ-leaping, x' ~ onehot(x) + Δt·σ'(t)·R̂(x → ·) with R̂(x → y) = Q(y, x)·s_y;
- ``"analytic"``: Tweedie τ-leaping, p(x' = y) ∝ [exp(−Δσ̄Q)s]_y · exp(Δσ̄Q)(x, y), exact for a single
  position (so exact for data whose positions are independent, whatever ``steps``).
All math lives on the ``Graph`` (``ctrlgen.backends.discrete.diffusion``); this file only orders it. The sampler is a
frozen dataclass: everything that changes during a call lives in that call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

import torch
from torch import Tensor

from ctrlgen.backends.discrete.diffusion import DiscreteDiffusion
from ctrlgen.backends.discrete.graphs import Graph, sample_categorical
from ctrlgen.backends.discrete.noise import Noise
from ctrlgen.errors import SamplingError
from ctrlgen.registry import Registry

ScoreFn = Callable[[Tensor, Tensor], Tensor]  # (x: LongTensor[B, L], σ̄: Tensor[B]) -> log-ratios Tensor[B, L, N]
Projector = Callable[[Tensor], Tensor]  # x: LongTensor[B, L] -> LongTensor[B, L]
DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclass
class SEDDStepOutput:
    """One reverse step. ``x_prev: LongTensor[B, L]`` is the state at the smaller time; ``log_score: Tensor[B, L, N]``
    the model's log-ratios log s_θ(x_t, σ̄) the step used (the model's dtype); ``sigma: Tensor[B]`` that σ̄(t)."""

    x_prev: Tensor
    log_score: Tensor
    sigma: Tensor


@dataclass
class SEDDSampleOutput:
    tokens: Tensor  # LongTensor[B, L] final ids, fixed positions in place
    trajectory: list[Tensor] = field(default_factory=list)  # LongTensor[B, L] after each step (projected);
    # steps entries, plus one for the denoise step; the last one equals ``tokens``


class Predictor(Protocol):
    """``predictor(graph, noise, score_fn, x, t, t_next, generator, dtype) -> SEDDStepOutput``: one step of
    ``x: LongTensor[B, L]`` from time ``t: Tensor[B]`` to ``t_next: Tensor[B]`` (t_next < t), its step math in
    ``dtype``."""

    def __call__(self, graph: Graph, noise: Noise, score_fn: ScoreFn, x: Tensor, t: Tensor, t_next: Tensor,
                 generator: torch.Generator | None, dtype: torch.dtype) -> SEDDStepOutput: ...


PREDICTORS: Registry[Predictor] = Registry("predictor")


def _draw(graph: Graph, x: Tensor, log_score: Tensor, coef: Tensor, dtype: torch.dtype,
          probs_fn: Callable[[Tensor, Tensor, Tensor], Tensor], generator: torch.Generator | None,
          drop_limit: bool = False) -> Tensor:
    """Sample the next ``x: LongTensor[B, L]`` from ``probs_fn(ids[R], ratios[R, N], coef[R])`` over the rows R the
    graph can move (absorbing: the MASKed ones; the others stay); ``coef: Tensor[B]`` is the step's per-sample
    constant. The ratios are exp(log_score) of those rows only, in ``dtype``, in a fresh tensor the step
    overwrites. ``drop_limit``: never draw an id of the limit's support (the absorbing denoise step's MASK)."""
    live = graph.movable(x)
    coef = coef.to(dtype)[:, None].expand(x.shape)
    if live is not None:
        x_live, ls, coef = x[live], log_score[live], coef[live]
    else:
        x_live, ls = x, log_score
    s = ls.to(dtype)
    s = s.exp() if s is log_score else s.exp_()  # own the ratios: the step writes into them
    probs = probs_fn(x_live, s, coef)
    if drop_limit:
        probs.index_fill_(-1, graph.limit(torch.bool, probs.device).nonzero().flatten(), 0.0)
    draw = sample_categorical(probs, generator)
    if live is None:
        return draw
    out = x.clone()
    out[live] = draw
    return out


def euler_predictor(graph: Graph, noise: Noise, score_fn: ScoreFn, x: Tensor, t: Tensor, t_next: Tensor,
                    generator: torch.Generator | None, dtype: torch.dtype = torch.float32) -> SEDDStepOutput:
    sigma, rate = noise(t)
    log_score = score_fn(x, sigma)
    # the reverse CTMC's rates at t, held fixed for Δt (a stay-probability that goes negative counts as 0)
    x_prev = _draw(graph, x, log_score, (t - t_next) * rate, dtype, graph.euler_probs, generator)
    return SEDDStepOutput(x_prev, log_score, sigma)


def analytic_predictor(graph: Graph, noise: Noise, score_fn: ScoreFn, x: Tensor, t: Tensor, t_next: Tensor,
                       generator: torch.Generator | None, dtype: torch.dtype = torch.float32) -> SEDDStepOutput:
    sigma, sigma_next = noise(t)[0], noise(t_next)[0]
    log_score = score_fn(x, sigma)
    # p(x' = y | x) ∝ p_{t−Δt}(y)/p_t(x) · q(x | y): the staggered score times the transposed transition
    x_prev = _draw(graph, x, log_score, sigma - sigma_next, dtype, graph.analytic_probs, generator)
    return SEDDStepOutput(x_prev, log_score, sigma)


PREDICTORS.register("euler", euler_predictor)
PREDICTORS.register("analytic", analytic_predictor)


@dataclass(frozen=True, kw_only=True)
class SEDDSampler:
    """Keyword-only configuration of the SEDD sampling loop (no state).

    Cost: each step is one model forward plus about five passes over the [B, L, N] ratios of the positions that
    can move (exp, a sum, the fused predictor formula, a cumulative sum, a binary search per position), with no
    logs and one uniform per position (``recipes/bench_discrete_floor.py`` measures it against bare forwards).
    ``dtype`` is the precision of that step math; times and σ̄ are always float64. float32 is the default
    because it is exact enough: ``tests/test_sedd_sampler.py::test_categorical_step_is_exact`` draws one step
    20 000 times with both dtypes and checks the token frequencies against the exact float64 probabilities
    (chi-square at 99.9%, a check that rejects a sampler whose ratio for one token is 10% off), and the exact-score
    tests (``test_matches_data_distribution_with_exact_score``) run on the default. The float32 error per draw is a few
    ulps of a row's mass (~1e-7); its one hazard is a log-ratio above 88 (exp overflows; float64 holds to 709)."""

    steps: int = 128  # predictor steps from t = 1 to t = eps (SEDD's default; quality grows with steps)
    predictor: Literal["euler", "analytic"] = "analytic"  # any name in PREDICTORS; "analytic" is the better one
    denoise: bool = True  # last Tweedie step from t = eps to σ̄ = 0 (removes every MASK); SEDD's noise_removal
    dtype: Literal["float32", "float64"] = "float32"  # precision of the ratios and the step math (see above;
    # the network itself runs in its own dtype)
    eps: float | None = None  # smallest t; None: the diffusion's sampling_eps (the smallest t it was trained on)

    def __post_init__(self) -> None:
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps <= 0:
            raise SamplingError(f"steps must be > 0, got {self.steps!r}", "pass an int such as steps=128")
        if not isinstance(self.predictor, str) or self.predictor not in PREDICTORS:
            raise SamplingError(f"unknown predictor {self.predictor!r}",
                                f"choose one of {', '.join(map(repr, PREDICTORS))}")
        if not isinstance(self.dtype, str) or self.dtype not in DTYPES:
            raise SamplingError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}",
                                "float32 is exact enough and faster; float64 for log-ratios beyond ±88")
        if self.eps is not None and (isinstance(self.eps, bool) or not isinstance(self.eps, (int, float))
                                     or not 0 < self.eps < 1):
            raise SamplingError(f"eps must be in (0, 1), got {self.eps!r}", "leave it None to use the diffusion's")

    def step(self, model: torch.nn.Module, diffusion: DiscreteDiffusion, x: Tensor, t: Tensor, t_next: Tensor,
             generator: torch.Generator | None = None) -> SEDDStepOutput:
        """One predictor step of ``x: LongTensor[B, L]`` from ``t: Tensor[B]`` to ``t_next: Tensor[B]``.
        ``model(x, σ̄: Tensor[B])`` returns the log-score ``Tensor[B, L, N]``."""
        predictor = PREDICTORS.get(self.predictor)
        return predictor(diffusion.graph, diffusion.noise, model, x, t, t_next, generator, DTYPES[self.dtype])

    def denoise_step(self, model: torch.nn.Module, diffusion: DiscreteDiffusion, x: Tensor, t: Tensor,
                     generator: torch.Generator | None = None) -> SEDDStepOutput:
        """The final Tweedie step from ``t: Tensor[B]`` (= eps) to σ̄ = 0:
        p(x0 = y | x_t) ∝ [exp(−σ̄Q)s]_y·q(x_t | y).
        Absorbing graphs never draw MASK here (SEDD drops the last column; ctrlgen's MASK
        may sit at any id, so its column is zeroed).
        Sampled, not argmax, as in SEDD: the exact posterior draw."""
        graph = diffusion.graph
        sigma = diffusion.noise(t)[0]
        log_score = model(x, sigma)
        x_prev = _draw(graph, x, log_score, sigma, DTYPES[self.dtype], graph.analytic_probs, generator,
                       drop_limit=graph.absorbing)
        return SEDDStepOutput(x_prev, log_score, sigma)

    @torch.no_grad()
    def sample(self, model: torch.nn.Module, diffusion: DiscreteDiffusion, n: int, seq_len: int | None,
               generator: torch.Generator | None, projector: Projector | None = None,
               return_trajectory: bool = False, progress: bool = False) -> SEDDSampleOutput:
        """Draw ``n`` sequences of ``seq_len`` ids (None: ``model.config.seq_len``).

        ``projector(x: LongTensor[n, L]) -> LongTensor[n, L]`` runs before every step, before the denoise step
        and on the output; ``fixed_tokens_projector`` builds the usual one. The model's train/eval mode is left
        as it is (call ``model.eval()`` for sampling without dropout)."""
        cfg = getattr(model, "config", None)
        seq_len = self._check(cfg, diffusion, n, seq_len)
        graph = diffusion.graph
        device = _device(model, generator)
        eps = diffusion.config.sampling_eps if self.eps is None else self.eps
        times = torch.linspace(1.0, eps, self.steps + 1, dtype=torch.float64, device=device)
        project = (lambda x: x) if projector is None else (lambda x: _project(projector, x))
        from tqdm.auto import tqdm  # lazy: start-up speed

        x = project(graph.sample_limit((n, seq_len), generator, device))
        trajectory: list[Tensor] = []
        for i in tqdm(range(self.steps), disable=not progress, desc="sampling", leave=False):
            x = project(self.step(model, diffusion, x, times[i].expand(n), times[i + 1].expand(n), generator).x_prev)
            if return_trajectory:
                trajectory.append(x)
        if self.denoise:
            x = project(self.denoise_step(model, diffusion, x, times[-1].expand(n), generator).x_prev)
            if return_trajectory:
                trajectory.append(x)
        return SEDDSampleOutput(tokens=x, trajectory=trajectory)

    @staticmethod
    def _check(cfg: object, diffusion: DiscreteDiffusion, n: int, seq_len: int | None) -> int:
        if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
            raise SamplingError(f"n must be > 0, got {n!r}", "pass the number of sequences to draw")
        max_len = getattr(cfg, "seq_len", None)
        if seq_len is None:
            if max_len is None:
                raise SamplingError("seq_len is None and the model has no config.seq_len", "pass seq_len")
            seq_len = max_len
        if isinstance(seq_len, bool) or not isinstance(seq_len, int) or seq_len <= 0:
            raise SamplingError(f"seq_len must be > 0, got {seq_len!r}", "pass the number of tokens per sequence")
        if max_len is not None and seq_len > max_len:
            raise SamplingError(f"seq_len {seq_len} exceeds the model's seq_len {max_len}",
                                f"pass seq_len <= {max_len}")
        graph_name = getattr(cfg, "graph", None)
        if graph_name is not None and (graph_name == "absorbing") != diffusion.graph.absorbing:
            raise SamplingError(f"the model was built for the {graph_name!r} graph, the diffusion's graph is "
                                f"{type(diffusion.graph).__name__}", "load the diffusion config saved with the model")
        vocab = getattr(cfg, "vocab_size", None)
        if vocab is not None and vocab != diffusion.graph.vocab_size:
            raise SamplingError(f"the model scores {vocab} ids, the diffusion's graph has {diffusion.graph.vocab_size}",
                                "build the diffusion with vocab_size=len(tokenizer)")
        return seq_len


def _device(model: torch.nn.Module, generator: torch.Generator | None) -> torch.device:
    try:
        return next(model.parameters()).device
    except (AttributeError, StopIteration):  # a parameter-free score function (an oracle, a test double)
        return generator.device if generator is not None else torch.device("cpu")


def _project(projector: Projector, x: Tensor) -> Tensor:
    y = projector(x)
    if not isinstance(y, Tensor) or y.shape != x.shape or y.dtype != x.dtype:
        got = f"{type(y).__name__} {tuple(y.shape)} {y.dtype}" if isinstance(y, Tensor) else type(y).__name__
        raise SamplingError(f"the projector returned {got}, expected {tuple(x.shape)} {x.dtype}",
                            "a projector maps LongTensor[B, L] ids to ids of the same shape")
    return y


@dataclass(frozen=True)
class _FixedTokens:
    positions: Tensor  # BoolTensor[B, L] or [1, L]
    values: Tensor  # LongTensor, same shape

    def __call__(self, x: Tensor) -> Tensor:
        if self.positions.shape[-1] != x.shape[-1] or self.positions.shape[0] not in (1, x.shape[0]):
            raise SamplingError(f"fixed positions of shape {tuple(self.positions.shape)} do not fit ids of shape "
                                f"{tuple(x.shape)}", "pass masks of shape [n, seq_len] or [seq_len]")
        return torch.where(self.positions.to(x.device), self.values.to(x.device), x)


def fixed_tokens_projector(positions: Tensor, values: Tensor) -> Projector:
    """A projector that overwrites ``x`` with ``values`` where ``positions`` is True (exact conditioning:
    infilling, prefix, suffix, END/PAD for a length). ``positions: BoolTensor[B, L]`` and ``values: LongTensor[B, L]``,
    or both ``[L]`` for the same constraint on every sample; ``values`` outside ``positions`` are ignored."""
    if positions.dtype != torch.bool:
        raise SamplingError(f"positions must be a bool mask, got {positions.dtype}", "pass e.g. ids != MASK")
    if values.dtype not in (torch.int64, torch.int32):
        raise SamplingError(f"values must be integer token ids, got {values.dtype}", "pass a LongTensor of ids")
    if positions.shape != values.shape or positions.dim() not in (1, 2):
        raise SamplingError(f"positions {tuple(positions.shape)} and values {tuple(values.shape)} must have one shape, "
                            "[B, L] or [L]", "build both from the same template")
    if positions.dim() == 1:
        positions, values = positions[None], values[None]
    if values.device.type == "cpu" and bool((values[positions] < 0).any()):
        raise SamplingError("values at fixed positions must be token ids >= 0", "encode the fixed words first")
    return _FixedTokens(positions, values.long())

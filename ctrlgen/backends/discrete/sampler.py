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
from typing import Literal

import torch
from torch import Tensor

from ctrlgen.backends.discrete.diffusion import DiscreteDiffusion
from ctrlgen.backends.discrete.graphs import Graph
from ctrlgen.backends.discrete.noise import Noise
from ctrlgen.core.categorical import sample_categorical_
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


Schedule = Callable[[Noise, Tensor], tuple[Tensor, Tensor]]  # (noise, times: Tensor[T+1]) -> (σ̄[T+1], coef[T])


@dataclass(frozen=True)
class Predictor:
    """A predictor = its schedule + the graph's closed-form step probabilities (``Graph.<probs>``).

    ``schedule(noise, times)`` gives, for the decreasing ``times: Tensor[T + 1]``, σ̄ at every time (what the model
    reads) and the step constant of each of the T steps (analytic: Δσ̄; Euler: Δt·σ'(t)), all in one call, so the
    sampling loop evaluates (and checks) the noise schedule once per call, not twice per step.
    ``predictor(graph, noise, score_fn, x, t, t_next, generator, dtype) -> SEDDStepOutput`` is one step of
    ``x: LongTensor[B, L]`` from ``t: Tensor[B]`` to ``t_next: Tensor[B]`` (t_next < t), its math in ``dtype``."""

    schedule: Schedule
    probs: str  # the name of the Graph method: probs(ids[R], ratios[R, N], coef[R] or a scalar) -> Tensor[R, N]

    def __call__(self, graph: Graph, noise: Noise, score_fn: ScoreFn, x: Tensor, t: Tensor, t_next: Tensor,
                 generator: torch.Generator | None, dtype: torch.dtype = torch.float32) -> SEDDStepOutput:
        sigma, coef = self.schedule(noise, torch.stack([t, t_next]))  # [2, B] and [1, B]
        return self.apply(graph, score_fn, x, sigma[0], coef[0].to(dtype), generator)

    def apply(self, graph: Graph, score_fn: ScoreFn, x: Tensor, sigma: Tensor, coef: Tensor,
              generator: torch.Generator | None, drop_limit: bool = False) -> SEDDStepOutput:
        """The step with its schedule already evaluated: ``sigma: Tensor[B]`` for the model, ``coef`` the step
        constant in the step's dtype, ``Tensor[B]`` or one number (a 0-d tensor) shared by every sample."""
        log_score = score_fn(x, sigma)
        return SEDDStepOutput(_draw(graph, x, log_score, coef, getattr(graph, self.probs), generator, drop_limit),
                              log_score, sigma)


PREDICTORS: Registry[Predictor] = Registry("predictor")


def _draw(graph: Graph, x: Tensor, log_score: Tensor, coef: Tensor,
          probs_fn: Callable[[Tensor, Tensor, Tensor], Tensor], generator: torch.Generator | None,
          drop_limit: bool = False) -> Tensor:
    """Sample the next ``x: LongTensor[B, L]`` from ``probs_fn(ids[R], ratios[R, N], coef)`` over the rows R the
    graph can move (absorbing: the MASKed ones; the others stay); ``coef`` is the step's constant in the step's
    dtype, ``Tensor[B]`` (per sample) or 0-d (shared). The ratios are exp(log_score) of those rows only, in coef's
    dtype, in a fresh tensor that the step math and the draw overwrite (``log_score`` itself is never written).
    ``drop_limit``: never draw an id of the limit's support (the absorbing denoise step's MASK)."""
    live = graph.movable(x)
    n = log_score.shape[-1]
    if coef.dim():  # per sample: one value per position
        coef = coef[:, None].expand(x.shape)
    if live is not None:  # one nonzero for the ids, the rows, the constant and the write-back
        rows = live.reshape(-1).nonzero().squeeze(1)
        i, s = x.reshape(-1)[rows], log_score.reshape(-1, n)[rows].to(coef.dtype).exp_()
        coef = coef.reshape(-1)[rows] if coef.dim() else coef
    else:
        i, s = x, log_score.to(coef.dtype)
        s = s.exp() if s is log_score else s.exp_()  # own the ratios: the step writes into them
    probs = probs_fn(i, s, coef)
    if drop_limit:
        probs.index_fill_(-1, graph.limit(torch.bool, probs.device).nonzero().flatten(), 0.0)
    draw = sample_categorical_(probs, generator)
    return draw if live is None else x.masked_scatter(live, draw)


def _analytic_schedule(noise: Noise, times: Tensor) -> tuple[Tensor, Tensor]:
    # p(x' = y | x) ∝ p_{t−Δt}(y)/p_t(x) · q(x | y): the staggered score times the transposed transition, over Δσ̄
    sigma = noise(times)[0]
    return sigma, sigma[:-1] - sigma[1:]


def _euler_schedule(noise: Noise, times: Tensor) -> tuple[Tensor, Tensor]:
    # the reverse CTMC's rates at t, held fixed for Δt (a stay-probability that goes negative counts as 0)
    sigma, rate = noise(times)
    return sigma, (times[:-1] - times[1:]) * rate[:-1]


PREDICTORS.register("euler", Predictor(_euler_schedule, "euler_probs"))
PREDICTORS.register("analytic", Predictor(_analytic_schedule, "analytic_probs"))


@dataclass(frozen=True, kw_only=True)
class SEDDSampler:
    """Keyword-only configuration of the SEDD sampling loop (no state).

    Cost: each step is one model forward plus about five passes over the [B, L, N] ratios of the positions that
    can move (exp, a sum, the fused predictor formula, a cumulative sum, a binary search per position), with no
    logs and one uniform per position, all in buffers the step owns (no copy for the draw); the noise schedule is
    evaluated once per call, not per step, since at batch 1 the small per-step ops cost as much as the big ones
    (``recipes/bench_discrete_floor.py`` and ``recipes/bench_speed.py`` measure it against bare forwards).
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
        sigma = diffusion.noise(t)[0]
        return self._denoise(model, diffusion.graph, x, sigma, sigma.to(DTYPES[self.dtype]), generator)

    @staticmethod
    def _denoise(model: ScoreFn, graph: Graph, x: Tensor, sigma: Tensor, coef: Tensor,
                 generator: torch.Generator | None) -> SEDDStepOutput:
        return PREDICTORS.get("analytic").apply(graph, model, x, sigma, coef, generator, drop_limit=graph.absorbing)

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

        # the whole schedule once: σ̄ at every time (float64, what the model reads) and each step's constant, shared
        # by every sample (a 0-d tensor per step), in the step's dtype
        predictor, dtype = PREDICTORS.get(self.predictor), DTYPES[self.dtype]
        sigmas, coefs = predictor.schedule(diffusion.noise, times)
        coefs, last = coefs.to(dtype), sigmas[-1].to(dtype)
        x = project(graph.sample_limit((n, seq_len), generator, device))
        trajectory: list[Tensor] = []
        for i in tqdm(range(self.steps), disable=not progress, desc="sampling", leave=False):
            x = project(predictor.apply(graph, model, x, sigmas[i].expand(n), coefs[i], generator).x_prev)
            if return_trajectory:
                trajectory.append(x)
        if self.denoise:
            x = project(self._denoise(model, graph, x, sigmas[-1].expand(n), last, generator).x_prev)
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

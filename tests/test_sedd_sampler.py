"""SEDD sampler (ctrlgen.backends.discrete.sampler); the score model's own tests are in test_score_model.py.

The sampler's distribution is checked against an *exact* score: on V = 5 tokens and 2–3 positions, p_t over every
sequence is computed by brute force (data distribution pushed through exp(σ̄Q) per position), so the ratios
p_t(x with i→y)/p_t(x) are exact. The analytic step is exact for a single position, hence exact for data whose
positions are independent, and exact conditioning by projection leaves one free position exact too.
"""

from __future__ import annotations

import math

import pytest
import torch

from ctrlgen.backends.discrete.banned import BannedTokens
from ctrlgen.backends.discrete.diffusion import (
    DiscreteDiffusion,
    DiscreteDiffusionConfig,
)
from ctrlgen.backends.discrete.graphs import Graph
from ctrlgen.backends.discrete.model import ScoreModel, ScoreModelConfig
from ctrlgen.backends.discrete.sampler import SEDDSampler, fixed_tokens_projector
from ctrlgen.errors import SamplingError

torch.set_num_threads(1)
V, MASK = 5, 2  # MASK is not the last id on purpose (ctrlgen's vocabulary has it at id 4 of many)
CHI2_999 = {17: 40.790, 1: 10.828}  # 99.9% quantiles of chi-square(df) (scipy.stats.chi2.ppf(0.999, df))
SENTENCES = ["The Vaults is a cheap pub near Café Adriatic .", "Loch Fyne serves Japanese food in the city centre .",
             "The Eagle is a family friendly coffee shop ."]


# ---------------------------------------------------------------------------------------------- helpers
def diffusion_for(graph: str, vocab_size: int = V, mask_id: int = MASK) -> DiscreteDiffusion:
    return DiscreteDiffusion.from_config(DiscreteDiffusionConfig(graph=graph), vocab_size, mask_id)


def tiny_model(graph: str = "absorbing", vocab_size: int = 12, seq_len: int = 8, seed: int = 0) -> ScoreModel:
    """hidden 32, 2 layers; the zero-initialised head is randomised so the outputs depend on the input."""
    torch.manual_seed(seed)
    model = ScoreModel(ScoreModelConfig(vocab_size=vocab_size, seq_len=seq_len, hidden=32, layers=2, heads=2,
                                        dropout=0.0, graph=graph))
    torch.nn.init.normal_(model.head.weight, std=0.5)
    torch.nn.init.normal_(model.head.bias, std=0.5)
    return model.eval()


class ExactScore:
    """The true log-score of data ``p0: Tensor[V]*L`` under ``graph``, by brute force over all V^L sequences.
    ``__call__(x: LongTensor[B, L], sigma: Tensor[B]) -> Tensor[B, L, V]``; counts visits to states of p_t = 0."""

    def __init__(self, graph: Graph, p0: torch.Tensor) -> None:
        self.graph, self.p0, self.impossible = graph, p0.double(), 0

    def p_t(self, sigma: float) -> torch.Tensor:
        trans = self.graph.transition(torch.arange(V), torch.tensor(sigma, dtype=torch.float64))  # [x0, x_t]
        p = self.p0
        for _ in range(p.dim()):  # contract the leading x0 axis, append the x_t axis: axes come back in order
            p = torch.tensordot(p, trans, dims=([0], [0]))
        return p

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        sigma = torch.as_tensor(sigma).reshape(-1)
        assert bool((sigma == sigma[0]).all()), "the sampler calls with one time per batch"
        p = self.p_t(float(sigma[0]))
        L = x.shape[1]
        eye = torch.eye(L, dtype=torch.bool)[None, :, None, :]  # [1, L(i), 1, L]
        cand = torch.where(eye, torch.arange(V)[None, None, :, None], x[:, None, None, :])  # [B, L, V, L]: x, i→y
        px = p[tuple(x.unbind(-1))]
        self.impossible += int((px == 0).sum())
        ratio = p[tuple(cand.unbind(-1))] / px.clamp(min=1e-300)[:, None, None]
        return ratio.log()


def independent(*marginals: dict[int, float]) -> torch.Tensor:
    p = torch.ones((), dtype=torch.float64)
    for m in marginals:
        v = torch.zeros(V, dtype=torch.float64)
        for k, w in m.items():
            v[k] = w
        p = p[..., None] * v
    return p


def joint(table: dict[tuple[int, ...], float], length: int) -> torch.Tensor:
    p = torch.zeros((V,) * length, dtype=torch.float64)
    for seq, w in table.items():
        p[seq] = w
    return p


def histogram(tokens: torch.Tensor) -> torch.Tensor:
    """Empirical distribution over all V^L sequences: ``Tensor[V]*L``."""
    L = tokens.shape[1]
    flat = (tokens * (V ** torch.arange(L - 1, -1, -1))).sum(-1)
    return torch.bincount(flat, minlength=V ** L).double().view((V,) * L) / tokens.shape[0]


def chi_square(freq: torch.Tensor, p: torch.Tensor, n: int) -> float:
    support = p > 0
    return float((n * (freq[support] - p[support]) ** 2 / p[support]).sum())


INDEP = independent({0: 0.5, 1: 0.3, 3: 0.2}, {4: 0.7, 0: 0.3}, {1: 0.25, 3: 0.25, 4: 0.5})  # 18 sequences
CORR = joint({(0, 1): 0.3, (0, 3): 0.1, (1, 0): 0.3, (3, 3): 0.2, (4, 1): 0.1}, 2)


# ---------------------------------------------------------------------------------------------- exact oracle
@pytest.mark.parametrize("graph,predictor,steps,eps", [
    ("absorbing", "analytic", 8, None), ("absorbing", "euler", 8, None), ("uniform", "analytic", 8, None),
    ("uniform", "euler", 32, None), ("uniform", "analytic", 4, 0.3)])  # eps=0.3: a long Tweedie denoise step
def test_matches_data_distribution_with_exact_score(graph: str, predictor: str, steps: int, eps: float | None) -> None:
    # independent positions: the analytic step is exact whatever `steps`; so is Euler on the absorbing graph
    # with the log-linear schedule (a masked position unmasks w.p. Δt/t, to y ∝ p(y)); Euler on the uniform graph
    # is O(Δt). Uniform starts from the uniform limit rather than p_1, off by ~eps = 1e-3 in total variation.
    d = diffusion_for(graph)
    oracle = ExactScore(d.graph, INDEP)
    n = 4000
    sampler = SEDDSampler(steps=steps, predictor=predictor, eps=eps)
    out = sampler.sample(oracle, d, n, 3, torch.Generator().manual_seed(0))
    freq = histogram(out.tokens)
    off_support = float(freq[INDEP == 0].sum())
    assert off_support <= (0.0 if graph == "absorbing" else 0.005)  # absorbing: never MASK, never a 0-prob sequence
    assert chi_square(freq, INDEP, n) < CHI2_999[17]
    assert oracle.impossible == 0


@pytest.mark.parametrize("predictor", ["analytic", "euler"])
def test_absorbing_unmasks_on_schedule(predictor: str) -> None:
    # with the exact score, the MASK fraction after the step to time t is the forward one, (1 − eps)·t
    d = diffusion_for("absorbing")
    n, steps = 2000, 8
    out = SEDDSampler(steps=steps, predictor=predictor).sample(ExactScore(d.graph, INDEP), d, n, 3,
                                                               torch.Generator().manual_seed(3), return_trajectory=True)
    eps = d.config.sampling_eps
    times = torch.linspace(1, eps, steps + 1, dtype=torch.float64)[1:]
    frac = torch.stack([(x == MASK).double().mean() for x in out.trajectory[:steps]])
    torch.testing.assert_close(frac, (1 - eps) * times, atol=0.03, rtol=0)  # 6000 positions: sd ≤ 0.0065


def test_chi_square_check_has_power() -> None:
    # the same check rejects a sampler driven by the score of other data (a swapped marginal)
    d = diffusion_for("absorbing")
    wrong = independent({0: 0.2, 1: 0.3, 3: 0.5}, {4: 0.7, 0: 0.3}, {1: 0.25, 3: 0.25, 4: 0.5})
    out = SEDDSampler(steps=8).sample(ExactScore(d.graph, wrong), d, 4000, 3, torch.Generator().manual_seed(0))
    assert chi_square(histogram(out.tokens), INDEP, 4000) > 10 * CHI2_999[17]


def test_correlated_data_close_with_many_steps() -> None:
    # two positions unmasking in the same step are drawn independently (τ-leaping): with exact ratios that
    # happens to a fraction ≈ 1/steps of samples, so the total variation is small but not 0
    d = diffusion_for("absorbing")
    oracle = ExactScore(d.graph, CORR)
    out = SEDDSampler(steps=128).sample(oracle, d, 4000, 2, torch.Generator().manual_seed(1))
    tv = 0.5 * float((histogram(out.tokens) - CORR).abs().sum())
    assert tv < 0.04, tv


def test_projection_is_exact_conditioning() -> None:
    # fixing x^0 = 0 leaves one free position: its law must be p(x^1 | x^0 = 0) = {1: 0.75, 3: 0.25}.
    # Absorbing only: an unmasked token is a clean one, so the projected ratios are the conditional ones. With the
    # uniform graph they condition on the *noised* token being 0 and come out biased (~0.70 / 0.29 / 1% other here).
    d = diffusion_for("absorbing")
    n = 2000
    proj = fixed_tokens_projector(torch.tensor([True, False]), torch.tensor([0, 0]))
    out = SEDDSampler(steps=16).sample(ExactScore(d.graph, CORR), d, n, 2, torch.Generator().manual_seed(2),
                                       projector=proj)
    assert bool((out.tokens[:, 0] == 0).all())
    counts = torch.bincount(out.tokens[:, 1], minlength=V).double()
    cond = torch.tensor([0, 0.75, 0, 0.25, 0], dtype=torch.float64)
    assert counts[cond == 0].sum() == 0
    assert chi_square(counts / n, cond, n) < CHI2_999[1]


# ---------------------------------------------------------------------------------------------- invariants
@pytest.mark.parametrize("predictor", ["analytic", "euler"])
def test_same_seed_same_tokens(predictor: str) -> None:
    model, d = tiny_model(), diffusion_for("absorbing", 12, 4)
    sampler = SEDDSampler(steps=6, predictor=predictor)
    a = sampler.sample(model, d, 8, 8, torch.Generator().manual_seed(5)).tokens
    b = sampler.sample(model, d, 8, 8, torch.Generator().manual_seed(5)).tokens
    c = sampler.sample(model, d, 8, 8, torch.Generator().manual_seed(6)).tokens
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.dtype == torch.long and a.shape == (8, 8)


@pytest.mark.parametrize("graph", ["absorbing", "uniform"])
@pytest.mark.parametrize("predictor", ["analytic", "euler"])
def test_loop_equals_its_steps_one_by_one(graph: str, predictor: str) -> None:
    # sample() evaluates the noise schedule once for all steps and shares each step's constant across the batch;
    # step() and denoise_step() evaluate it per call, per sample: the same draws from the same generator
    model, d = tiny_model(graph), diffusion_for(graph, 12, 4)
    sampler = SEDDSampler(steps=5, predictor=predictor)  # type: ignore[arg-type]
    out = sampler.sample(model, d, 6, 8, torch.Generator().manual_seed(3), return_trajectory=True)
    g = torch.Generator().manual_seed(3)
    x = d.graph.sample_limit((6, 8), g)
    times = torch.linspace(1.0, d.config.sampling_eps, 6, dtype=torch.float64)
    for i in range(5):
        x = sampler.step(model, d, x, times[i].repeat(6), times[i + 1].repeat(6), g).x_prev
        assert torch.equal(x, out.trajectory[i])
    assert torch.equal(sampler.denoise_step(model, d, x, times[-1].repeat(6), g).x_prev, out.tokens)


def test_banned_ids_get_log_score_minus_infinity() -> None:
    # the additive ban equals masked_fill(banned, −∞) with 0 at each position's own token; the model's output stays
    model = tiny_model()
    x = torch.randint(0, 12, (3, 8), generator=torch.Generator().manual_seed(0))
    banned = torch.rand(1, 8, 12, generator=torch.Generator().manual_seed(1)) < 0.3

    class Keep(torch.nn.Module):  # records the wrapped model's outputs
        config, kept = model.config, []

        def forward(self, x_: torch.Tensor, s_: torch.Tensor) -> torch.Tensor:
            self.kept.append(model(x_, s_))
            return self.kept[-1]

    inner = Keep()
    out = BannedTokens(inner, banned)(x, torch.full((3,), 0.7))
    ref = model(x, torch.full((3,), 0.7)).masked_fill(banned, -math.inf).scatter(-1, x[..., None], 0.0)
    assert torch.equal(out, ref)
    assert torch.equal(inner.kept[0], model(x, torch.full((3,), 0.7)))  # not written in place


@pytest.mark.parametrize("graph", ["absorbing", "uniform"])
@pytest.mark.parametrize("predictor", ["analytic", "euler"])
def test_fixed_positions_never_change(graph: str, predictor: str) -> None:
    model, d = tiny_model(graph), diffusion_for(graph, 12, 4)
    gen = torch.Generator().manual_seed(0)
    positions = torch.rand(6, 8, generator=gen) < 0.4  # a different template per sample
    positions[:, 0] = True
    values = torch.randint(5, 12, (6, 8), generator=gen)
    # eps=0.5: a big final denoise jump, which moves uniform-graph fixed positions unless the output is projected
    out = SEDDSampler(steps=5, predictor=predictor, eps=0.5).sample(model, d, 6, 8, gen,
                                                           projector=fixed_tokens_projector(positions, values),
                                                           return_trajectory=True)
    assert len(out.trajectory) == 5 + 1 and torch.equal(out.trajectory[-1], out.tokens)
    for x in [*out.trajectory, out.tokens]:
        assert torch.equal(x[positions], values[positions])
    assert not torch.equal(out.tokens[~positions], values[~positions])  # the free positions were sampled


@pytest.mark.parametrize("predictor", ["analytic", "euler"])
@pytest.mark.parametrize("steps", [1, 2])
@pytest.mark.parametrize("bias", [0.0, -5.0])
def test_absorbing_denoise_leaves_no_mask(predictor: str, steps: int, bias: float) -> None:
    # bias -5: an under-confident model (ratios ~e^-5 too small) would leave the MASK the likeliest choice
    model, d = tiny_model(), diffusion_for("absorbing", 12, 4)
    with torch.no_grad():
        model.head.bias += bias
    out = SEDDSampler(steps=steps, predictor=predictor, dtype="float32").sample(
        model, d, 32, 8, torch.Generator().manual_seed(0))
    assert bool((out.tokens != 4).all())


def test_float32_and_seq_len_default() -> None:
    model, d = tiny_model(), diffusion_for("absorbing", 12, 4)
    out = SEDDSampler(steps=3, dtype="float32").sample(model, d, 2, None, torch.Generator().manual_seed(0))
    assert out.tokens.shape == (2, 8) and out.trajectory == []


@pytest.mark.parametrize("kwargs", [{"steps": 0}, {"steps": -2}, {"steps": 2.5}, {"steps": True}, {"predictor": "heun"},
                                    {"dtype": "float16"}, {"eps": 0.0}, {"eps": 1.5}, {"eps": "1e-3"}])
def test_bad_sampler_config_raises(kwargs: dict) -> None:
    with pytest.raises(SamplingError) as e:
        SEDDSampler(**kwargs)
    assert e.value.hint


def test_unknown_predictor_lists_the_known_ones() -> None:
    with pytest.raises(SamplingError, match="heun") as e:
        SEDDSampler(predictor="heun")
    assert "'analytic'" in e.value.hint and "'euler'" in e.value.hint


def test_bad_sample_arguments_raise() -> None:
    model, d = tiny_model(), diffusion_for("absorbing", 12, 4)
    s, g = SEDDSampler(steps=2), torch.Generator().manual_seed(0)
    for n, seq_len in [(0, 8), (2, 0), (2, 9)]:
        with pytest.raises(SamplingError):
            s.sample(model, d, n, seq_len, g)
    with pytest.raises(SamplingError, match="graph"):
        s.sample(model, diffusion_for("uniform", 12), 2, 8, g)
    with pytest.raises(SamplingError, match="13"):
        s.sample(model, diffusion_for("absorbing", 13, 4), 2, 8, g)
    with pytest.raises(SamplingError, match="projector"):
        s.sample(model, d, 2, 8, g, projector=lambda x: x[:, :4])
    with pytest.raises(SamplingError, match="do not fit"):
        s.sample(model, d, 2, 8, g, projector=fixed_tokens_projector(torch.ones(3, 8, dtype=torch.bool),
                                                                     torch.zeros(3, 8, dtype=torch.long)))


def test_bad_projector_arguments_raise() -> None:
    with pytest.raises(SamplingError, match="bool"):
        fixed_tokens_projector(torch.ones(4), torch.zeros(4, dtype=torch.long))
    with pytest.raises(SamplingError, match="one shape"):
        fixed_tokens_projector(torch.ones(4, dtype=torch.bool), torch.zeros(5, dtype=torch.long))
    with pytest.raises(SamplingError, match="integer"):
        fixed_tokens_projector(torch.ones(4, dtype=torch.bool), torch.zeros(4))
    with pytest.raises(SamplingError, match=">= 0"):
        fixed_tokens_projector(torch.ones(4, dtype=torch.bool), -torch.ones(4, dtype=torch.long))


# ---------------------------------------------------------------------------------------------- exactness of a step
def _one_step_frequencies(graph: str, predictor: str, dtype: str, n: int, bias: float = 0.0) -> tuple[torch.Tensor,
                                                                                                      torch.Tensor]:
    """``n`` draws of one step of a single MASKed (absorbing) / token-0 (uniform) position under fixed log-ratios, by
    the sampler's own predictor in ``dtype``; returns (frequencies, exact float64 probabilities by the reference
    formulas). ``bias`` multiplies the ratio of token 1 fed to the sampler only (a deliberately wrong sampler)."""
    d = diffusion_for(graph)
    log_score = torch.log(torch.tensor([0.05, 0.30, 1.0, 0.15, 0.50], dtype=torch.float64))  # id 2 = MASK: own entry
    x = torch.full((n, 1), MASK if graph == "absorbing" else 0)
    log_score = log_score if graph == "absorbing" else log_score[[2, 1, 0, 3, 4]]
    fed = log_score.clone()
    fed[1] += math.log1p(bias)
    t, t_next = torch.full((n,), 0.6, dtype=torch.float64), torch.full((n,), 0.45, dtype=torch.float64)
    sampler = SEDDSampler(steps=1, predictor=predictor, dtype=dtype)  # type: ignore[arg-type]
    out = sampler.step(lambda x_, s_: fed.float().expand(n, 1, V), d, x, t, t_next, torch.Generator().manual_seed(0))
    freq = torch.bincount(out.x_prev[:, 0], minlength=V).double() / n
    sig, rate = d.noise(t[:1])
    s, i = log_score.exp()[None], x[:1, 0]
    if predictor == "analytic":
        ds = sig - d.noise(t_next[:1])[0]
        p = d.graph.staggered_score(s, ds) * d.graph.transp_transition(i, ds)
    else:
        p = torch.nn.functional.one_hot(i, V).double() + (0.15 * rate)[:, None] * d.graph.reverse_rate(i, s)
    p = p[0].clamp(min=0)
    return freq, p / p.sum()


@pytest.mark.parametrize("graph", ["absorbing", "uniform"])
@pytest.mark.parametrize("predictor", ["analytic", "euler"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_categorical_step_is_exact(graph: str, predictor: str, dtype: str) -> None:
    # 20k draws of one step: the frequencies match the exact probabilities (chi-square, 4 dof, 99.9%)
    n = 20000
    freq, p = _one_step_frequencies(graph, predictor, dtype, n)
    assert freq[p == 0].sum() == 0
    assert chi_square(freq, p, n) < 18.467  # scipy.stats.chi2.ppf(0.999, 4)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_categorical_step_check_has_power(dtype: str) -> None:
    # the same check rejects a sampler whose ratio for one token is 10% off
    n = 20000
    freq, p = _one_step_frequencies("absorbing", "analytic", dtype, n, bias=0.1)
    assert chi_square(freq, p, n) > 18.467

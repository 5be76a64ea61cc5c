"""SEDD math (ctrlgen.backends.discrete.diffusion) against definitions: dense rate matrices written from the
reference, torch.linalg.matrix_exp, brute-force score entropy and Bayes' rule on a tiny vocabulary."""

from __future__ import annotations

import pytest
import torch

from ctrlgen.backends.discrete.diffusion import DiscreteDiffusion, DiscreteDiffusionConfig, make_graph
from ctrlgen.backends.discrete.graphs import GRAPHS, Absorbing, Graph, Uniform, sample_categorical
from ctrlgen.backends.discrete.noise import NOISES, Geometric, LogLinear
from ctrlgen.config import from_dict
from ctrlgen.errors import ConfigError, SamplingError
from ctrlgen.registry import RegistryError

torch.set_num_threads(1)
V = 5
MASK = 2  # not the last id on purpose: ctrlgen's vocabulary puts MASK at id 4 of many
SIGMAS = [0.0, 1e-3, 0.3, 1.7, 6.0]


def dense_q(graph: Graph) -> torch.Tensor:
    """Q written straight from the reference (column convention: Q[y, x] = rate x → y)."""
    if isinstance(graph, Absorbing):
        q = torch.zeros(V, V, dtype=torch.float64)
        for x in range(V):
            if x != graph.mask_id:
                q[x, x], q[graph.mask_id, x] = -1.0, 1.0
        return q
    return (torch.ones(V, V, dtype=torch.float64) - V * torch.eye(V, dtype=torch.float64)) / V


GRAPH_CASES = [Absorbing(V, MASK), Uniform(V)]
graphs = pytest.mark.parametrize("graph", GRAPH_CASES, ids=["absorbing", "uniform"])


def brute_score_entropy(q: torch.Tensor, sigma: float, log_score: torch.Tensor, x: int, x0: int) -> torch.Tensor:
    """Σ_{y≠x} Q(x, y)·[s_y − ρ_y·log s_y + K(ρ_y)], ρ_y = p_σ(y|x0)/p_σ(x|x0), K(a) = a(log a − 1)."""
    p = torch.linalg.matrix_exp(sigma * q)[:, x0]
    total = torch.zeros((), dtype=torch.float64)
    for y in range(V):
        if y == x or q[x, y] == 0:
            continue
        rho = p[y] / p[x]
        k = rho * (rho.log() - 1) if rho > 0 else torch.zeros((), dtype=torch.float64)
        total = total + q[x, y] * (log_score[y].exp() - rho * log_score[y] + k)
    return total


def reachable_pairs(q: torch.Tensor, sigma: float) -> list[tuple[int, int]]:
    p = torch.linalg.matrix_exp(sigma * q)
    return [(x, x0) for x in range(V) for x0 in range(V) if p[x, x0] > 0]


@graphs
def test_rate_matrix_matches_definition(graph: Graph) -> None:
    q = dense_q(graph)
    torch.testing.assert_close(graph.rate_matrix(), q)
    torch.testing.assert_close(q.sum(dim=0), torch.zeros(V, dtype=torch.float64))  # columns of a rate matrix
    ids = torch.arange(V)
    torch.testing.assert_close(graph.transp_rate(ids, dtype=torch.float64), q)  # row i
    torch.testing.assert_close(graph.rate(ids, dtype=torch.float64), q.T)  # column i


@graphs
@pytest.mark.parametrize("sigma", SIGMAS)
def test_transition_is_matrix_exponential(graph: Graph, sigma: float) -> None:
    expected = torch.linalg.matrix_exp(sigma * dense_q(graph))
    ids = torch.arange(V)
    s = torch.tensor(sigma, dtype=torch.float64)
    col = graph.transition(ids, s)  # row i of the result = column i of exp(σQ)
    torch.testing.assert_close(col, expected.T)
    torch.testing.assert_close(col.sum(dim=-1), torch.ones(V, dtype=torch.float64))  # column stochastic
    assert bool((col >= 0).all())
    torch.testing.assert_close(graph.transp_transition(ids, s), expected)


@graphs
def test_per_row_sigma_broadcasts(graph: Graph) -> None:
    ids = torch.tensor([[0, 1, MASK], [3, 4, 1]])
    sig = torch.tensor([0.2, 2.0], dtype=torch.float64)  # Tensor[B]: one σ̄ per sequence
    out = graph.transition(ids, sig)
    assert out.shape == (2, 3, V)
    torch.testing.assert_close(out[1, 2], graph.transition(torch.tensor(1), torch.tensor(2.0, dtype=torch.float64)))


@graphs
@pytest.mark.parametrize("sigma", [1e-3, 0.3, 1.7, 6.0])
def test_score_entropy_closed_form_equals_brute_force(graph: Graph, sigma: float) -> None:
    q = dense_q(graph)
    pairs = reachable_pairs(q, sigma)
    g = torch.Generator().manual_seed(int(sigma * 1000))
    log_score = 2 * torch.randn(len(pairs), V, dtype=torch.float64, generator=g)
    x = torch.tensor([p[0] for p in pairs])
    x0 = torch.tensor([p[1] for p in pairs])
    got = graph.score_entropy(log_score, torch.full((len(pairs),), sigma, dtype=torch.float64), x, x0)
    want = torch.stack([brute_score_entropy(q, sigma, log_score[k], *pairs[k]) for k in range(len(pairs))])
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)
    assert bool((got >= -1e-12).all())  # every term is ≥ 0


@graphs
@pytest.mark.parametrize("sigma", [1e-2, 0.5, 3.0])
def test_score_entropy_is_zero_at_true_ratio(graph: Graph, sigma: float) -> None:
    q = dense_q(graph)
    p = torch.linalg.matrix_exp(sigma * q)
    pairs = reachable_pairs(q, sigma)
    x = torch.tensor([a for a, _ in pairs])
    x0 = torch.tensor([b for _, b in pairs])
    true = (p[:, x0] / p[x, x0]).T.log()  # log p(y|x0)/p(x|x0), −inf where unreachable
    s = torch.tensor(sigma, dtype=torch.float64)
    torch.testing.assert_close(graph.score_entropy(true, s, x, x0), torch.zeros(len(pairs), dtype=torch.float64),
                               rtol=0, atol=1e-10)
    # any other finite score does worse wherever the position contributes at all
    noise = torch.randn(true.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    off = true.clamp(min=-30) + 0.1 * noise
    contributes = (q[x] != 0).sum(dim=-1) > 1  # some y ≠ x with Q(x, y) > 0
    assert bool((graph.score_entropy(off, s, x, x0)[contributes] > 0).all())


@graphs
def test_score_entropy_gradients_finite_at_zero_noise(graph: Graph) -> None:
    ids = torch.tensor([[0, 1, 3, 4]])
    log_score = torch.zeros(1, 4, V, requires_grad=True)
    out = graph.score_entropy(log_score, torch.zeros(1), ids, ids)
    out.sum().backward()
    assert bool(torch.isfinite(out).all()) and bool(torch.isfinite(log_score.grad).all())


@graphs
def test_sample_transition_frequencies_match_transition(graph: Graph) -> None:
    n, sigma = 20000, 0.8
    x0 = torch.arange(V).repeat_interleave(n).view(V, n)
    xt = graph.sample_transition(x0, torch.full((V,), sigma), torch.Generator().manual_seed(1))
    freq = torch.stack([torch.bincount(xt[i], minlength=V) for i in range(V)]).double() / n
    prob = graph.transition(torch.arange(V), torch.tensor(sigma, dtype=torch.float64))
    torch.testing.assert_close(freq, prob, rtol=0, atol=0.015)  # ≥ 4 standard errors


@graphs
def test_sample_limit(graph: Graph) -> None:
    x = graph.sample_limit((4, 3000), torch.Generator().manual_seed(0))
    assert x.shape == (4, 3000) and x.dtype == torch.long
    if graph.absorbing:
        assert bool((x == MASK).all())
    else:  # the uniform graph's stationary distribution
        torch.testing.assert_close(torch.bincount(x.flatten(), minlength=V).double() / x.numel(),
                                   torch.full((V,), 1 / V, dtype=torch.float64), rtol=0, atol=0.01)


@graphs
def test_staggered_score_and_reverse_rate(graph: Graph) -> None:
    q = dense_q(graph)
    s = torch.rand(3, V, dtype=torch.float64, generator=torch.Generator().manual_seed(2)) + 0.1
    ds = 0.37
    torch.testing.assert_close(graph.staggered_score(s, torch.tensor(ds, dtype=torch.float64)),
                               (torch.linalg.matrix_exp(-ds * q) @ s.T).T)
    i = torch.tensor([0, MASK, 4])
    r = graph.reverse_rate(i, s)
    for k in range(3):
        for y in range(V):
            if y != int(i[k]):
                assert float(r[k, y]) == pytest.approx(float(q[i[k], y] * s[k, y]))
    torch.testing.assert_close(r.sum(dim=-1), torch.zeros(3, dtype=torch.float64))


@graphs
def test_analytic_step_with_true_score_is_exact_posterior(graph: Graph) -> None:
    """[exp(−ΔQ) s]_y · exp(ΔQ)(x, y) ∝ p_{σ̄−Δ}(y)·q(x | y) when s is the true ratio p_σ̄(·)/p_σ̄(x)."""
    q = dense_q(graph)
    p0 = torch.tensor([0.1, 0.4, 0.0, 0.2, 0.3], dtype=torch.float64)  # no data mass on MASK
    sigma, ds = 1.3, 0.4
    pt, prev = torch.linalg.matrix_exp(sigma * q) @ p0, torch.linalg.matrix_exp((sigma - ds) * q) @ p0
    step = torch.linalg.matrix_exp(ds * q)
    x = torch.arange(V)[pt > 0]
    score = pt[None, :] / pt[x, None]
    d = torch.tensor(ds, dtype=torch.float64)
    probs = graph.staggered_score(score, d) * graph.transp_transition(x, d)
    bayes = prev[None, :] * step[x, :]  # p(x_{t−Δ} = y) · q(x_t = x | y)
    torch.testing.assert_close(probs / probs.sum(-1, keepdim=True), bayes / bayes.sum(-1, keepdim=True))


def test_sample_categorical() -> None:
    probs = torch.tensor([[0.2, 0.0, 0.5, -0.1, 0.3]]).expand(30000, V)  # unnormalised, one negative entry
    x = sample_categorical(probs, torch.Generator().manual_seed(3))
    freq = torch.bincount(x, minlength=V).double() / x.numel()
    torch.testing.assert_close(freq, torch.tensor([0.2, 0, 0.5, 0, 0.3], dtype=torch.float64), rtol=0, atol=0.015)


@pytest.mark.parametrize("noise", [LogLinear(1e-3), Geometric(1e-4, 20.0), Geometric(0.5, 3.0)])
def test_total_noise_is_integral_of_rate(noise) -> None:
    u = torch.linspace(0, 1, 20001, dtype=torch.float64)
    t = 1 - (1 - u) ** 3  # dense near t = 1, where LogLinear's rate climbs to 1/eps
    total, rate = noise(t)
    integral = torch.cat([torch.zeros(1, dtype=torch.float64), torch.cumulative_trapezoid(rate, t)])
    torch.testing.assert_close(total - total[0], integral, rtol=1e-6, atol=1e-6)
    tt = torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(noise.total_noise(tt).sum(), tt)
    torch.testing.assert_close(grad, noise.rate_noise(tt.detach()))
    assert bool((total.diff() > 0).all())


def test_loglinear_absorbing_mask_probability_is_linear() -> None:
    t = torch.linspace(0, 1, 11, dtype=torch.float64)
    total, _ = LogLinear(1e-3)(t)
    mask_prob = Absorbing(V, MASK).transition(torch.zeros(11, dtype=torch.long), total)[:, MASK]
    torch.testing.assert_close(mask_prob, (1 - 1e-3) * t)


def test_registries_and_config() -> None:
    assert list(GRAPHS) == ["absorbing", "uniform"] and list(NOISES) == ["geometric", "loglinear"]
    with pytest.raises(RegistryError, match="available: absorbing, uniform") as e:
        DiscreteDiffusionConfig(graph="absorbin")
    assert "did you mean 'absorbing'" in str(e.value)
    with pytest.raises(RegistryError, match="available: geometric, loglinear"):
        DiscreteDiffusionConfig(noise="cosine")
    with pytest.raises(ConfigError, match="sigma_min"):
        DiscreteDiffusionConfig(noise="geometric", sigma_min=1.0, sigma_max=0.5)
    with pytest.raises(ConfigError, match="sampling_eps"):
        DiscreteDiffusionConfig(sampling_eps=0.0)
    cfg = from_dict(DiscreteDiffusionConfig, {"graph": "uniform", "noise": "geometric", "sigma_max": 10})
    d = DiscreteDiffusion.from_config(cfg, V)
    assert isinstance(d.graph, Uniform) and isinstance(d.noise, Geometric) and d.noise.sigma_max == 10.0
    with pytest.raises(ConfigError, match="mask_id"):
        make_graph("absorbing", V)
    assert make_graph("absorbing", V, mask_id=MASK).mask_id == MASK


def test_bad_inputs_raise() -> None:
    g = Absorbing(V, MASK)
    ids = torch.tensor([[0, 1]])
    with pytest.raises(SamplingError, match="sigma must be >= 0"):
        g.transition(ids, -0.1)
    with pytest.raises(SamplingError, match="sigma must be >= 0"):
        Uniform(V).sample_transition(ids, torch.tensor([-1.0]))
    with pytest.raises(SamplingError, match="sigma must be >= 0"):
        g.score_entropy(torch.zeros(1, 2, V), torch.tensor([float("nan")]), ids, ids)
    with pytest.raises(SamplingError, match="dsigma must be >= 0"):
        g.staggered_score(torch.ones(1, V), -1.0)
    with pytest.raises(SamplingError, match="broadcast"):
        g.transition(ids, torch.ones(3, 3))
    with pytest.raises(SamplingError, match=r"t must lie in \[0, 1\]"):
        LogLinear()(torch.tensor([0.5, 1.5]))
    with pytest.raises(ConfigError, match="mask_id"):
        Absorbing(V, V)
    with pytest.raises(ConfigError, match="vocab_size"):
        Uniform(1)
    with pytest.raises(ConfigError, match="eps"):
        LogLinear(eps=0.0)


@pytest.mark.parametrize("graph", ["absorbing", "uniform"])
def test_training_losses(graph: str) -> None:
    d = DiscreteDiffusion.from_config(DiscreteDiffusionConfig(graph=graph), V, MASK)
    emb = torch.nn.Embedding(V, V)
    ids = torch.tensor([[0, 1, 3, 4, 4, 0], [3, 3, 1, 0, 4, 1]])
    out = d.training_losses(lambda x_t, sigma: emb(x_t) - sigma.log()[:, None, None], ids,
                            torch.Generator().manual_seed(0))
    assert out["loss"].shape == (2,) and bool(torch.isfinite(out["loss"]).all())
    out["loss"].mean().backward()
    assert emb.weight.grad is not None and bool(torch.isfinite(emb.weight.grad).all())
    t = d.sample_t(1000, torch.Generator().manual_seed(0), "cpu")
    assert float(t.min()) >= d.config.sampling_eps and float(t.max()) <= 1
    assert bool(torch.isfinite(out["score_entropy"].detach()).all())

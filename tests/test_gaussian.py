import math

import numpy as np
import pytest
import torch

from ctrlgen.backends.embedding.diffusion import DiffusionConfig, EmbeddingObjective, GaussianDiffusion, make_betas
from ctrlgen.errors import ConfigError, SamplingError
from ctrlgen.text.dataset import encode_corpus


def test_sqrt_schedule_matches_formula():
    T = 2000
    ab = np.cumprod(1 - make_betas("sqrt", T))
    direct = np.array([(1 - math.sqrt((i + 1) / T + 1e-4)) / (1 - math.sqrt(1e-4)) for i in range(T)])
    # betas are clipped at 0.999 only at the very end
    np.testing.assert_allclose(ab[:-5], direct[:-5], rtol=1e-9)
    assert np.all(np.diff(ab) < 0)


def test_cosine_and_linear_schedules():
    T = 100
    ab = np.cumprod(1 - make_betas("cosine", T))
    f = lambda t: math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    np.testing.assert_allclose(ab[:50], [f((i + 1) / T) / f(0) for i in range(50)], rtol=1e-9)
    lin = make_betas("linear", 1000)
    assert lin[0] == pytest.approx(1e-4) and lin[-1] == pytest.approx(0.02)
    with pytest.raises(ConfigError):
        make_betas("bogus", 10)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        make_betas("sqrt", 0)


def test_posterior_matches_bayes_rule():
    """q(x_{t-1}|x_t,x0) ∝ q(x_t|x_{t-1}) q(x_{t-1}|x0): product of two Gaussians in x_{t-1}."""
    d = GaussianDiffusion.from_config(DiffusionConfig(steps=50))
    x0, xt = torch.randn(3, 4, 5, dtype=torch.float64), torch.randn(3, 4, 5, dtype=torch.float64)
    for t in [1, 7, 49]:
        beta, ab_prev = d.betas[t], d.alphas_cumprod[t - 1]
        prec = (1 - beta) / beta + 1 / (1 - ab_prev)
        mean = (math.sqrt(1 - beta) / beta * xt + math.sqrt(ab_prev) / (1 - ab_prev) * x0) / prec
        m, v, logv = d.q_posterior(x0, xt, torch.full((3,), t))
        torch.testing.assert_close(m, mean)
        assert float(v[0]) == pytest.approx(1 / prec, rel=1e-9)
        assert float(logv[0]) == pytest.approx(math.log(1 / prec), rel=1e-9)


def test_q_sample_moments():
    d = GaussianDiffusion.from_config(DiffusionConfig(steps=100))
    x0 = torch.full((20000, 1, 1), 2.0, dtype=torch.float64)
    t = torch.full((20000,), 30)
    xt = d.q_sample(x0, t, torch.randn_like(x0))
    ab = d.alphas_cumprod[30]
    assert float(xt.mean()) == pytest.approx(2 * math.sqrt(ab), abs=0.02)
    assert float(xt.var()) == pytest.approx(1 - ab, rel=0.05)


def test_respacing_keeps_alpha_bar():
    d = GaussianDiffusion.from_config(DiffusionConfig(steps=2000))
    r = d.respace(200)
    assert r.num_steps == 200 and r.timesteps[0] == 0 and r.timesteps[-1] == 1999
    np.testing.assert_allclose(r.alphas_cumprod, d.alphas_cumprod[r.timesteps], rtol=1e-10)
    assert d.respace(2000).timesteps.tolist() == list(range(2000))
    for bad in (0, -3, 2001):
        with pytest.raises(SamplingError):
            d.respace(bad)


def test_training_loss_terms(tiny_model, diffusion):
    ids = torch.randint(0, tiny_model.config.vocab_size, (4, tiny_model.config.seq_len))
    g = torch.Generator().manual_seed(0)
    terms = EmbeddingObjective(tiny_model, diffusion)(ids, g)
    assert set(terms) == {"loss", "mse", "tT", "nll"}
    for v in terms.values():
        assert v.shape == (4,) and torch.isfinite(v).all()
    torch.testing.assert_close(terms["loss"], terms["mse"] + terms["tT"] + terms["nll"])
    # the rounding term equals the cross-entropy of lm_head on the noised x0, by hand
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    t1 = diffusion.training_losses(tiny_model, ids, g1)
    emb = tiny_model.embed(ids)
    x0 = emb + math.sqrt(1 - diffusion.alphas_cumprod[0]) * torch.randn(emb.shape, generator=g2)
    V = tiny_model.config.vocab_size
    ce = torch.nn.functional.cross_entropy(tiny_model.logits(x0).reshape(-1, V), ids.reshape(-1),
                                           reduction="none").view(4, -1).mean(1)
    torch.testing.assert_close(t1["nll"], ce)


def test_loss_decreases_when_training(tiny_model, diffusion, tokenizer, tiny_texts):
    data = encode_corpus(tiny_texts, tokenizer, tiny_model.config.seq_len)
    obj = EmbeddingObjective(tiny_model.train(), diffusion)
    opt = torch.optim.Adam(tiny_model.parameters(), lr=3e-3)
    losses = []
    for step in range(150):
        g = torch.Generator().manual_seed(step % 5)  # fixed noise pool: the loss must go down
        loss = obj(data, g)["loss"].mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert np.mean(losses[-10:]) < 0.6 * np.mean(losses[:10])

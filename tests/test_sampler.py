import pytest
import torch

from ctrlgen.backends.embedding.generator import EmbeddingGenerator
from ctrlgen.backends.embedding.sampler import EmbeddingSampler, round_to_words
from ctrlgen.errors import SamplingError


def test_same_seed_same_tokens(tiny_model, diffusion):
    s = EmbeddingSampler(steps=10)
    a = s.sample(tiny_model, diffusion, 3, torch.Generator().manual_seed(5))
    b = s.sample(tiny_model, diffusion, 3, torch.Generator().manual_seed(5))
    c = s.sample(tiny_model, diffusion, 3, torch.Generator().manual_seed(6))
    assert torch.equal(a.tokens, b.tokens) and torch.equal(a.x0, b.x0)
    assert not torch.equal(a.x0, c.x0)
    assert a.tokens.shape == (3, tiny_model.config.seq_len)


def test_identity_hook_equals_no_hook(tiny_model, diffusion):
    """The hook seam adds nothing by itself: an identity hook reproduces unhooked sampling bit for bit."""
    s = EmbeddingSampler(steps=8)
    calls = []

    def hook(out, t, model):
        calls.append(int(t[0]))
        return out.x_prev

    a = s.sample(tiny_model, diffusion, 2, torch.Generator().manual_seed(1))
    b = s.sample(tiny_model, diffusion, 2, torch.Generator().manual_seed(1), hook=hook)
    assert torch.equal(a.x0, b.x0)
    assert calls == list(range(7, -1, -1))


def test_hook_changes_the_next_step(tiny_model, diffusion):
    s = EmbeddingSampler(steps=5, clamp=False)
    a = s.sample(tiny_model, diffusion, 2, torch.Generator().manual_seed(1))
    b = s.sample(tiny_model, diffusion, 2, torch.Generator().manual_seed(1), hook=lambda o, t, m: o.x_prev + 1.0)
    assert not torch.equal(a.x0, b.x0)


def test_clamping_snaps_to_embeddings(tiny_model, diffusion):
    out = EmbeddingSampler(steps=4, clamp=True).sample(tiny_model, diffusion, 2, torch.Generator().manual_seed(0))
    torch.testing.assert_close(out.x0, tiny_model.embed(out.tokens))
    free = EmbeddingSampler(steps=4, clamp=False).sample(tiny_model, diffusion, 2, torch.Generator().manual_seed(0))
    assert not torch.allclose(free.x0, tiny_model.embed(free.tokens))


def test_rounding_modes(tiny_model):
    w = tiny_model.embedding.weight[:7].detach()[None]  # exact embeddings round to themselves in L2
    assert round_to_words(tiny_model, w, "l2").tolist() == [list(range(7))]
    assert round_to_words(tiny_model, w, "logits").shape == (1, 7)


def test_trajectory(tiny_model, diffusion):
    out = EmbeddingSampler(steps=6).sample(tiny_model, diffusion, 2, torch.Generator().manual_seed(0),
                                          return_trajectory=True)
    assert len(out.trajectory) == 6 and torch.equal(out.trajectory[-1], out.tokens)


@pytest.mark.parametrize("kw", [{"steps": 0}, {"steps": -1}, {"clamp_after": 1.5}, {"rounding": "cosine"},
                                {"temperature": -1.0}, {"self_condition_input": "both"}])
def test_bad_sampler_args(kw):
    with pytest.raises(SamplingError):
        EmbeddingSampler(**kw)


def test_generator_bad_input(tiny_model, tokenizer, diffusion):
    gen = EmbeddingGenerator(tiny_model, tokenizer, diffusion)
    with pytest.raises(SamplingError, match="n must"):
        gen.generate(n=0)
    with pytest.raises(SamplingError, match="exceeds"):
        gen.generate(n=1, steps=101)
    out = gen.generate(n=3, steps=5, seed=2, batch_size=2, return_trajectory=True)
    assert len(out.texts) == 3 and len(out.report["well_formed"]) == 3
    assert len(out.trajectory) == 5 and len(out.trajectory[0]) == 3
    assert gen.generate(n=3, steps=5, seed=2, batch_size=2).texts == out.texts


def test_generator_steps_default_and_sampler_precedence(tiny_model, tokenizer, diffusion):
    """``steps=None`` → the sampler's steps when one is passed, else ``spec.default_steps`` (200 > this T = 100:
    refused up front); an explicit ``steps`` wins over the sampler's and keeps its other options."""
    gen = EmbeddingGenerator(tiny_model, tokenizer, diffusion)
    with pytest.raises(SamplingError, match="200 exceeds"):
        gen.generate(n=1)
    unclamped = EmbeddingSampler(steps=7, clamp=False)
    assert gen.generate(n=2, seed=1, sampler=unclamped).report["steps"] == 7
    out = gen.generate(n=2, steps=3, seed=1, sampler=unclamped)
    assert out.report["steps"] == 3
    assert torch.equal(out.tokens, gen.generate(n=2, seed=1, sampler=EmbeddingSampler(steps=3, clamp=False)).tokens)
    assert not torch.equal(out.tokens, gen.generate(n=2, steps=3, seed=1).tokens)  # clamp=False was kept


def test_generator_budget_estimate(tiny_model, tokenizer, diffusion, monkeypatch):
    gen = EmbeddingGenerator(tiny_model, tokenizer, diffusion)
    seconds, per_sample = gen.budget(gen.options(n=4))
    cfg = tiny_model.config
    assert 0 < seconds < 1 and per_sample == 4 * cfg.seq_len * (8 * cfg.hidden + cfg.heads * cfg.seq_len
                                                                 + 2 * cfg.vocab_size + 8 * cfg.embed_dim)
    assert gen.budget(gen.options(n=4))[0] == seconds  # measured once, then memoised
    monkeypatch.setenv("CTRLGEN_MAX_BYTES", str(per_sample * 3))
    with pytest.raises(SamplingError, match="memory"):
        gen.generate(n=4, steps=2, batch_size=4)
    assert len(gen.generate(n=4, steps=2, batch_size=3).texts) == 4  # a smaller batch fits

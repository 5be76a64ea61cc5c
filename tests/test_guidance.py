from itertools import pairwise

import pytest
import torch

from ctrlgen.backends.embedding.generator import EmbeddingGenerator
from ctrlgen.backends.embedding.guidance import Guidance, GuidanceConfig, denoiser_nll
from ctrlgen.backends.embedding.sampler import EmbeddingSampler, StepOutput
from ctrlgen.constraints.base import Constraint
from ctrlgen.errors import SamplingError
from ctrlgen.registry import SOFT_EMBEDDING


def _toward_word(model, word_id: int, position: int):
    """A toy soft constraint: −log p ∝ distance of the latent at ``position`` to the word's embedding."""
    target = model.embedding.weight[word_id].detach()

    def soft(x, t):
        return ((x[:, position] - target) ** 2).sum(-1)

    return soft


@pytest.mark.parametrize("cfg,weight", [(GuidanceConfig(step_size=0.0), 1.0), (GuidanceConfig(num_inner=0), 1.0),
                                        (GuidanceConfig(), 0.0)])
def test_strength_zero_is_bit_identical(tiny_model, diffusion, cfg, weight):
    s = EmbeddingSampler(steps=8)
    hook = Guidance([(weight, _toward_word(tiny_model, 7, 2))], cfg)
    a = s.sample(tiny_model, diffusion, 3, torch.Generator().manual_seed(4))
    b = s.sample(tiny_model, diffusion, 3, torch.Generator().manual_seed(4), hook=hook)
    assert torch.equal(a.x0, b.x0) and torch.equal(a.tokens, b.tokens)


class _PassThrough(torch.nn.Module):
    """A denoiser whose x̂0 is its input: what guidance does to x_{t−1} shows up in the words."""

    def __init__(self, lm):
        super().__init__()
        self.lm, self.config, self.embedding = lm, lm.config, lm.embedding

    def embed(self, ids):
        return self.lm.embed(ids)

    def logits(self, x):
        return self.lm.logits(x)

    def forward(self, x_t, t, x0_prev=None):
        return x_t


@pytest.mark.parametrize("optimizer", ["sign", "adagrad", "adam"])
def test_guidance_steers(tiny_model, diffusion, optimizer):
    word, pos = 9, 3
    tiny_model = _PassThrough(tiny_model)
    s = EmbeddingSampler(steps=10)
    hook = Guidance([(1.0, _toward_word(tiny_model, word, pos))],
                    GuidanceConfig(step_size=0.5, num_inner=3, fluency_weight=0.0, optimizer=optimizer, stop=1.0))
    free = s.sample(tiny_model, diffusion, 16, torch.Generator().manual_seed(0))
    guided = s.sample(tiny_model, diffusion, 16, torch.Generator().manual_seed(0), hook=hook)
    hits = lambda out: int((out.tokens[:, pos] == word).sum())
    assert hits(guided) >= 12 and hits(guided) > hits(free)


def test_window_limits_guidance(tiny_model, diffusion):
    s = EmbeddingSampler(steps=10)
    calls = []

    def soft(x, t):
        calls.append(int(t[0]))
        return x.sum(dim=(1, 2)) * 0

    s.sample(tiny_model, diffusion, 1, torch.Generator().manual_seed(0),
             hook=Guidance([(1.0, soft)], GuidanceConfig(num_inner=1, start=0.2, stop=0.6)))
    assert len(calls) == 4  # steps 2, 3, 4, 5 of 10


@pytest.mark.parametrize("kw", [{"step_size": -1}, {"start": 0.8, "stop": 0.5}, {"optimizer": "sgd"},
                                {"fluency_norm": "l1"}])
def test_bad_config(kw):
    with pytest.raises(SamplingError):
        GuidanceConfig(**kw)


class _Toward(Constraint):
    """A soft:embedding face pulling the latent at position 3 toward a constant vector."""

    faces = frozenset({SOFT_EMBEDDING})

    def soft(self, tokenizer, seq_len, backend):
        return lambda x, t: ((x[:, 3] - 3.0) ** 2).sum(-1)


def test_guidance_scale_multiplies_the_step_size(tiny_model, tokenizer, diffusion):
    """``guidance_scale`` scales ``guidance.step_size`` (default ``GuidanceConfig()``): 0 is unguided bit for bit."""
    gen = EmbeddingGenerator(tiny_model, tokenizer, diffusion)
    kw = dict(n=4, steps=8, seed=2, constraints=_Toward())
    plain = gen.generate(n=4, steps=8, seed=2).tokens
    assert torch.equal(gen.generate(**kw, guidance_scale=0.0).tokens, plain)
    default = gen.generate(**kw).tokens
    assert not torch.equal(default, plain)
    step = GuidanceConfig().step_size
    assert torch.equal(gen.generate(**kw, guidance=GuidanceConfig(step_size=2 * step), guidance_scale=0.5).tokens,
                       default)
    strong = gen.generate(**kw, guidance_scale=3.0).tokens
    assert torch.equal(strong, gen.generate(**kw, guidance=GuidanceConfig(step_size=step * 3.0)).tokens)
    assert not torch.equal(strong, default)
    with pytest.raises(SamplingError, match="guidance_scale"):
        gen.generate(**kw, guidance_scale=-1.0)


@pytest.mark.parametrize("kw", [{"step_size": float("nan")}, {"fluency_weight": float("inf")}, {"step_size": -0.1},
                                {"num_inner": 1.5}, {"fluency_weight": "a"}, {"start": float("nan")}])
def test_guidance_config_refuses_non_finite_and_bad_numbers(kw):
    """``--fluency-weight nan`` used to switch guidance off silently; every such number is a typed error now."""
    with pytest.raises(SamplingError, match=next(iter(kw))):
        GuidanceConfig(**kw)


def test_decay_schedules_the_step_over_the_window(tiny_model, diffusion):
    """``decay``: the step is ``step_size · (1 − p)^decay`` over the window (p: progress through it); 0 is constant."""
    def at(k: int) -> StepOutput:
        z = torch.zeros(1, 2, 2)
        return StepOutput(z, z, z, torch.ones(1, 1, 1), z, torch.zeros(1), step_index=k, num_steps=10)

    flat = Guidance([(1.0, lambda x, t: x.sum((1, 2)))], GuidanceConfig(step_size=0.2, stop=1.0))
    assert [flat.strength(at(k)) for k in range(10)] == [0.2] * 10
    sched = Guidance([(1.0, lambda x, t: x.sum((1, 2)))], GuidanceConfig(num_inner=3, step_size=0.2, stop=1.0,
                                                                           decay=2.0))
    steps = [sched.strength(at(k)) for k in range(10)]
    assert steps[0] == pytest.approx(0.2) and steps[5] == pytest.approx(0.2 * 0.25)
    assert all(a > b for a, b in pairwise(steps))
    # the sign step moves each coordinate by exactly the scheduled amount
    moved = sched(at(5), torch.zeros(1, dtype=torch.long), tiny_model)
    assert torch.allclose(moved, torch.full((1, 2, 2), -3 * 0.2 * 0.25))


def test_decay_changes_guided_samples_but_not_unguided(tiny_model, diffusion):
    s = EmbeddingSampler(steps=10)
    lm = _PassThrough(tiny_model)
    soft = _toward_word(lm, 9, 3)
    cfg = GuidanceConfig(step_size=0.5, fluency_weight=0.0, stop=1.0)
    a = s.sample(lm, diffusion, 8, torch.Generator().manual_seed(0), hook=Guidance([(1.0, soft)], cfg))
    b = s.sample(lm, diffusion, 8, torch.Generator().manual_seed(0),
                 hook=Guidance([(1.0, soft)], GuidanceConfig(**{**cfg.__dict__, "decay": 3.0})))
    assert not torch.equal(a.x0, b.x0)
    with pytest.raises(SamplingError, match="decay"):
        GuidanceConfig(decay=-1.0)


def test_denoiser_weight_pulls_toward_confident_words(tiny_model, diffusion):
    """``denoiser_weight``: the model's own NLL of x̂0's rounded words is minimised (off: unchanged samples)."""
    s = EmbeddingSampler(steps=6)
    none = lambda x, t: x.sum((1, 2)) * 0.0
    a = s.sample(tiny_model, diffusion, 4, torch.Generator().manual_seed(0),
                 hook=Guidance([(1.0, none)], GuidanceConfig(step_size=0.05, fluency_weight=0.0)))
    b = s.sample(tiny_model, diffusion, 4, torch.Generator().manual_seed(0),
                 hook=Guidance([(1.0, none)], GuidanceConfig(step_size=0.05, fluency_weight=0.0, denoiser_weight=1.0)))
    assert not torch.equal(a.x0, b.x0)
    x = torch.randn(2, tiny_model.config.seq_len, tiny_model.config.embed_dim, generator=torch.Generator().manual_seed(1))
    t = torch.full((2,), 10, dtype=torch.long)
    g = Guidance([(1.0, none)], GuidanceConfig(step_size=0.02, num_inner=5, fluency_weight=0.0, denoiser_weight=1.0,
                                               stop=1.0))
    out = StepOutput(x, x, x.clone(), torch.ones(2, 1, 1), torch.zeros_like(x), t, step_index=0, num_steps=6)
    before = denoiser_nll(tiny_model, x, t, out.x0_raw)
    after = denoiser_nll(tiny_model, g(out, t, tiny_model), t, out.x0_raw)
    assert (after < before).all()


@pytest.mark.parametrize("num_steps", [10, 100, 200, 400])
def test_reference_steps_keeps_the_trajectory_push_of_the_measured_length(num_steps):
    """``reference_steps``: on a trajectory longer than it each step is scaled by reference / steps (the summed push of
    a constant window is the same at 100, 200 or 400 steps); shorter ones and ``full()`` are never scaled."""
    z = torch.zeros(1, 2, 2)
    out = StepOutput(z, z, z, torch.ones(1, 1, 1), z, torch.zeros(1), step_index=0, num_steps=num_steps)
    scaled = Guidance([(1.0, lambda x, t: x.sum((1, 2)))], GuidanceConfig(step_size=0.3))
    assert scaled.strength(out) == pytest.approx(0.3 * min(1.0, 100 / num_steps))
    window = GuidanceConfig().stop * num_steps  # guided steps of the default window
    if num_steps >= 100:
        assert scaled.strength(out) * window == pytest.approx(0.3 * GuidanceConfig().stop * 100)
    assert Guidance([(1.0, lambda x, t: x.sum((1, 2)))], GuidanceConfig.full()).strength(out) == 0.1
    assert Guidance([(1.0, lambda x, t: x.sum((1, 2)))],
                    GuidanceConfig(step_size=0.3, reference_steps=None)).strength(out) == 0.3


def test_reference_steps_changes_nothing_up_to_its_length(tiny_model, diffusion):
    """At or below ``reference_steps`` guided sampling is bit for bit the unscaled one; above it, it differs."""
    soft = _toward_word(tiny_model, 7, 2)
    for steps, same in ((8, True), (12, False)):
        s = EmbeddingSampler(steps=steps)
        a = s.sample(tiny_model, diffusion, 3, torch.Generator().manual_seed(4),
                     hook=Guidance([(1.0, soft)], GuidanceConfig(reference_steps=8)))
        b = s.sample(tiny_model, diffusion, 3, torch.Generator().manual_seed(4),
                     hook=Guidance([(1.0, soft)], GuidanceConfig(reference_steps=None)))
        assert torch.equal(a.x0, b.x0) == same


@pytest.mark.parametrize("bad", [0, -5, 2.5, True, "100"])
def test_reference_steps_must_be_a_positive_integer(bad):
    with pytest.raises(SamplingError, match="reference_steps"):
        GuidanceConfig(reference_steps=bad)

"""The cost knobs of embedding guidance (issue 17): ``every``, ``skip_below``, ``tolerance``."""

import pytest
import torch

from ctrlgen.backends.embedding.guidance import Guidance, GuidanceConfig
from ctrlgen.backends.embedding.sampler import EmbeddingSampler, StepOutput
from ctrlgen.errors import SamplingError


def _toward_word(model, word_id: int, position: int):
    target = model.embedding.weight[word_id].detach()
    return lambda x, t: ((x[:, position] - target) ** 2).sum(-1)


def _recording(calls: list, values=None):
    """A soft loss that records the step of each classifier forward; ``values: Tensor[B]`` its constant loss
    (zero gradient), else a loss pulling every latent toward 1."""

    def soft(x, t):
        calls.append(int(t[0]))
        return x.sum(dim=(1, 2)) * 0 + values if values is not None else ((x - 1) ** 2).sum(dim=(1, 2))

    return soft


def _step(b: int = 3, seed: int = 0) -> StepOutput:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, 5, 4, generator=g)
    return StepOutput(x_prev=x, x0_pred=x, mean=x + 0.1, std=torch.full((b, 1, 1), 0.5), x0_raw=x,
                      t_model=torch.full((b,), 7), step_index=0, num_steps=10)


def test_every_guides_every_kth_step_of_the_window(tiny_model, diffusion):
    calls: list = []
    s = EmbeddingSampler(steps=10)
    s.sample(tiny_model, diffusion, 1, torch.Generator().manual_seed(0),
             hook=Guidance([(1.0, _recording(calls))], GuidanceConfig(num_inner=1, start=0.2, stop=1.0, every=2)))
    steps = [diffusion.respace(10).num_steps - 1 - i for i in range(10)]  # step index → respaced t
    assert calls == [int(diffusion.respace(10).timesteps[t]) for t in steps[2::2]]  # steps 2, 4, 6, 8


def test_skip_below_leaves_satisfied_samples_alone_and_skips_the_backward():
    calls: list = []
    out = _step()
    losses = torch.tensor([0.01, 5.0, 0.02])
    moved = Guidance([(1.0, lambda x, t: _recording(calls)(x, t) * 0 + losses + (x ** 2).sum(dim=(1, 2)) * 1e-9)],
                     GuidanceConfig(num_inner=3, skip_below=0.05))(out, out.t_model, None)
    assert torch.equal(moved[0], out.x_prev[0]) and torch.equal(moved[2], out.x_prev[2])
    assert not torch.equal(moved[1], out.x_prev[1])
    calls.clear()
    done = Guidance([(1.0, _recording(calls, torch.tensor([0.01, 0.0, 0.04])))],
                    GuidanceConfig(num_inner=3, skip_below=0.05))(out, out.t_model, None)
    assert torch.equal(done, out.x_prev) and len(calls) == 1  # one forward, then nothing left to guide


def test_tolerance_stops_the_inner_loop_when_the_loss_stops_improving():
    out = _step()
    plateau: list = []
    Guidance([(1.0, _recording(plateau, torch.ones(3)))], GuidanceConfig(num_inner=5, tolerance=0.01))(
        out, out.t_model, None)
    assert len(plateau) == 2  # the second forward shows no improvement: no third
    improving: list = []
    Guidance([(1.0, _recording(improving))], GuidanceConfig(num_inner=5, step_size=0.01, tolerance=0.01))(
        out, out.t_model, None)
    assert len(improving) == 5


def test_adaptive_loop_equals_the_plain_one_when_nothing_triggers(tiny_model, diffusion):
    """With thresholds that never fire, the per-sample loop moves the latents as the original loop does."""
    s = EmbeddingSampler(steps=8)
    soft = _toward_word(tiny_model, 7, 2)
    plain = s.sample(tiny_model, diffusion, 3, torch.Generator().manual_seed(4), hook=Guidance([(1.0, soft)]))
    never = Guidance([(1.0, soft)], GuidanceConfig(skip_below=1e-30, tolerance=None))
    assert never.adaptive
    adaptive = s.sample(tiny_model, diffusion, 3, torch.Generator().manual_seed(4), hook=never)
    assert torch.equal(plain.tokens, adaptive.tokens) and torch.allclose(plain.x0, adaptive.x0, atol=1e-5)


@pytest.mark.parametrize("kw", [{"every": 2}, {"skip_below": 0.05}, {"tolerance": 0.01}])
def test_cost_knobs_keep_strength_zero_bit_identical(tiny_model, diffusion, kw):
    s = EmbeddingSampler(steps=8)
    hook = Guidance([(1.0, _toward_word(tiny_model, 7, 2))], GuidanceConfig(step_size=0.0, **kw))
    a = s.sample(tiny_model, diffusion, 3, torch.Generator().manual_seed(4))
    b = s.sample(tiny_model, diffusion, 3, torch.Generator().manual_seed(4), hook=hook)
    assert torch.equal(a.x0, b.x0) and torch.equal(a.tokens, b.tokens)


@pytest.mark.parametrize("kw", [{"every": 0}, {"every": 1.5}, {"every": True}, {"tolerance": -1.0},
                                {"tolerance": float("nan")}, {"skip_below": float("inf")}, {"skip_below": -0.1}])
def test_bad_cost_knobs(kw):
    with pytest.raises(SamplingError):
        GuidanceConfig(**kw)


def test_default_runs_a_quarter_of_the_full_settings_classifier_passes(tiny_model, diffusion):
    """The default (issue 17): one inner step of 0.3 on the first 70% of the steps; ``full()``, the original
    method: three of 0.1 on 95%; ``cheap()``: one of 0.4 on 75%."""
    s = EmbeddingSampler(steps=20)
    counts = []
    for cfg in (GuidanceConfig.full(), GuidanceConfig(), GuidanceConfig.cheap(fluency_weight=5e-4)):
        calls: list = []
        s.sample(tiny_model, diffusion, 1, torch.Generator().manual_seed(0), hook=Guidance([(1.0, _recording(calls))], cfg))
        counts.append(len(calls))
    assert counts == [3 * 19, 14, 15]
    assert GuidanceConfig.cheap(fluency_weight=5e-4) == GuidanceConfig(step_size=0.4, stop=0.75, fluency_weight=5e-4)
    assert GuidanceConfig.full(fluency_weight=5e-4) == GuidanceConfig(num_inner=3, step_size=0.1, stop=0.95,
                                                                      fluency_weight=5e-4, reference_steps=None)

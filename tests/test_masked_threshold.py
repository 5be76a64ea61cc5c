"""Confidence-threshold parallel decoding on the masked sampler (``SamplerConfig.threshold``, Fast-dLLM): ``steps``
becomes a ceiling, every candidate whose drawn token is probable enough is revealed with the scheduled ones, a block
ends once it has no MASK left, finished rows take no forward, and the fixed schedule is untouched without it."""

from __future__ import annotations

import argparse

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor

from ctrlgen.backends.masked.flags import FLAGS
from ctrlgen.backends.masked.sampler import SamplerConfig, sample
from ctrlgen.errors import SamplingError

V, MASK = 7, 6


class Peaked(torch.nn.Module):
    """Logits with one sharp word per position (p ≈ ``sharp``) at the positions < ``sure_until`` and flat ones after;
    records the batch rows of each forward."""

    mask_id, vocab_size = MASK, V

    def __init__(self, sure_until: int, strength: float = 12.0) -> None:
        super().__init__()
        self.sure_until, self.strength, self.rows = sure_until, strength, []

    def forward(self, ids: Tensor) -> Tensor:
        self.rows.append(ids.shape[0])
        logits = torch.zeros(*ids.shape, V)
        pos = torch.arange(ids.shape[1])
        logits[:, pos < self.sure_until, 0] = self.strength
        return logits


def _canvas(b: int, length: int) -> Tensor:
    return torch.full((b, length), MASK)


def test_confident_positions_are_revealed_together_and_the_block_ends_early():
    model = Peaked(sure_until=8)  # every position: p(word 0) ≈ 1 - 6e-6
    out = sample(model, _canvas(2, 8), SamplerConfig(block_length=4, threshold=0.9), 8,
                 generator=torch.Generator().manual_seed(0), return_trajectory=True)
    assert out.forwards == 2 and len(model.rows) == 2  # one forward per block instead of 4
    assert not (out.tokens == MASK).any() and (out.tokens == 0).all()
    assert (out.trajectory[0][:, :4] != MASK).all() and (out.trajectory[0][:, 4:] == MASK).all()


def test_unsure_positions_keep_the_schedule():
    model = Peaked(sure_until=0)  # flat: p = 1/6 everywhere, below the threshold
    out = sample(model, _canvas(3, 8), SamplerConfig(threshold=0.5), 8, generator=torch.Generator().manual_seed(0),
                 return_trajectory=True)
    revealed = [int((s != MASK).sum(1)[0]) for s in out.trajectory]
    assert revealed == list(range(1, 9)) and out.forwards == 8  # one per step per row, as scheduled


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 4), st.sampled_from([1, 2, 4, 8]), st.integers(0, 8), st.floats(0.05, 1.0),
       st.integers(0, 3))
def test_invariants(batch, block, sure_until, threshold, seed):
    """Every MASK is filled, the given tokens never change, forwards never exceed the steps, and every forward
    runs on the rows that still had something to reveal."""
    model = Peaked(sure_until=sure_until, strength=3.0)
    x = _canvas(batch, 8)
    x[:, 0] = 3  # given
    if batch > 1:
        x[0, 1:] = 5  # row 0 is complete: it never needs a forward
    steps = 8
    out = sample(model, x, SamplerConfig(block_length=block, threshold=threshold), steps,
                 generator=torch.Generator().manual_seed(seed))
    assert not (out.tokens == MASK).any() and (out.tokens[:, 0] == 3).all()
    assert out.forwards <= steps and out.forwards == len(model.rows)
    assert out.row_forwards == sum(model.rows)
    if batch > 1:
        assert torch.equal(out.tokens[0], x[0]) and max(model.rows) <= batch - 1


def test_without_a_threshold_every_step_runs_on_every_row():
    model = Peaked(sure_until=8)
    out = sample(model, _canvas(2, 8), SamplerConfig(block_length=4), 6, generator=torch.Generator().manual_seed(0))
    assert out.forwards == 6 and model.rows == [2] * 6 and out.row_forwards == 12


def test_a_guide_sees_the_whole_batch():
    seen = []

    def guide(x: Tensor, logits: Tensor) -> Tensor:
        seen.append(x.shape[0])
        return logits

    x = _canvas(3, 4)
    x[0, 1:] = 5
    sample(Peaked(sure_until=0), x, SamplerConfig(threshold=0.9), 3, guide=guide,
           generator=torch.Generator().manual_seed(0))
    assert seen and set(seen) == {3}


@pytest.mark.parametrize("bad", [0, 0.0, -0.1, 1.5, float("nan"), True, "0.9"])
def test_bad_thresholds_are_refused(bad):
    with pytest.raises(SamplingError, match="threshold"):
        SamplerConfig(threshold=bad)


def test_the_command_line_flag():
    parser = argparse.ArgumentParser()
    FLAGS.add_arguments(parser)
    assert FLAGS.to_kwargs(parser.parse_args(["--threshold", "0.7"]))["sampler"].threshold == 0.7
    assert FLAGS.to_kwargs(parser.parse_args([]))["sampler"].threshold is None
    for bad in ("0", "1.2", "x"):
        with pytest.raises(SystemExit):
            parser.parse_args(["--threshold", bad])


def test_the_generator_reports_its_forwards():
    import ctrlgen

    gen = ctrlgen.load("e2e-masked")
    plain = gen.generate(n=2, steps=16, seed=0)
    fast = gen.generate(n=2, steps=16, seed=0, sampler=SamplerConfig(threshold=0.7))
    assert plain.report["forwards"] == 16 and plain.report["threshold"] is None
    assert 3 <= fast.report["forwards"] <= 16 and fast.report["threshold"] == 0.7
    assert fast.report["row_forwards"] <= 2 * fast.report["forwards"]

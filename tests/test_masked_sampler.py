"""The masked backend's LLaDA sampler on toy mask predictors: tokens per step, remasking strategies, blocks,
classifier-free guidance, the token draws (against the float64 Gumbel path they replaced), and the typed errors of ``SamplerConfig``."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import Tensor

from ctrlgen.backends.masked.flags import STRATEGIES
from ctrlgen.backends.masked.sampler import (
    REMASKING,
    SamplerConfig,
    draw_tokens,
    sample,
    tokens_per_step,
)
from ctrlgen.errors import SamplingError

V, MASK = 7, 6  # toy vocabulary: ids 0..5 are words, 6 is MASK


class Toy(torch.nn.Module):
    """Logits that depend on the position and on the tokens present (a fixed random map), never on the RNG."""

    mask_id, vocab_size = MASK, V

    def __init__(self, length: int = 8) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.pos = torch.randn(length, V, generator=g)
        self.ctx = torch.randn(V, V, generator=g)
        self.calls: list[Tensor] = []

    def forward(self, ids: Tensor) -> Tensor:
        self.calls.append(ids.clone())
        ctx = torch.nn.functional.one_hot(ids, V).float().mean(1) @ self.ctx  # [B, V]
        return self.pos[None, : ids.shape[1]] + ctx[:, None]


def canvas(b: int = 3, length: int = 8, given: dict[int, int] | None = None) -> Tensor:
    x = torch.full((b, length), MASK)
    for p, i in (given or {}).items():
        x[:, p] = i
    return x


def test_tokens_per_step_splits_each_count_evenly_front_loaded():
    masked = torch.tensor([[True] * 7 + [False], [True] * 2 + [False] * 6, [False] * 8])
    k = tokens_per_step(masked, 3)
    assert k.tolist() == [[3, 2, 2], [1, 1, 0], [0, 0, 0]]
    assert (k.sum(-1) == masked.sum(-1)).all()


def test_strategies_are_registered_once_and_offered_on_the_command_line():
    assert sorted(REMASKING) == sorted(STRATEGIES) == ["entropy", "low_confidence", "margin", "random"]


def test_each_strategy_ranks_positions_as_documented():
    # position 0: peaked (p ≈ .98); position 1: two tied words (margin 0, low entropy); position 2: flat over 6
    logits = torch.tensor([[[8.0, 0, 0, 0, 0, 0, -math.inf], [5.0, 5.0, 0, 0, 0, 0, -math.inf],
                            [0.0, 0, 0, 0, 0, 0, -math.inf]]], dtype=torch.float64)
    x0 = logits.argmax(-1)
    conf = {name: REMASKING.get(name)(logits, x0, None)[0] for name in ("low_confidence", "margin", "entropy")}
    assert conf["low_confidence"].argsort(descending=True).tolist() == [0, 1, 2]
    assert conf["margin"][0] > conf["margin"][2] and conf["margin"][1] < 1e-12  # ties rank last with margin
    assert conf["entropy"].argsort(descending=True).tolist() == [0, 1, 2]
    assert torch.isfinite(conf["entropy"]).all()  # −∞ logits (banned words) add 0, not NaN
    r = REMASKING.get("random")(logits, x0, torch.Generator().manual_seed(0))
    assert r.shape == (1, 3) and ((r >= 0) & (r < 1)).all()


@pytest.mark.parametrize("remasking", sorted(REMASKING))
@pytest.mark.parametrize("block_length, cfg", [(None, 0.0), (4, 2.0), (2, 0.0)])
def test_given_tokens_never_change_and_every_mask_is_filled(remasking, block_length, cfg):
    given = {0: 1, 3: 2, 7: 4}
    x = canvas(given=given)
    out = sample(Toy(), x, SamplerConfig(remasking=remasking, block_length=block_length, cfg_scale=cfg), 4,
                 generator=torch.Generator().manual_seed(0), return_trajectory=True)
    assert len(out.trajectory) == 4 and torch.equal(out.trajectory[-1], out.tokens)
    for state in out.trajectory:
        for p, i in given.items():
            assert (state[:, p] == i).all()
    assert not (out.tokens == MASK).any() and torch.equal(x, canvas(given=given))  # the input is not modified
    revealed = [int((s != MASK).sum()) for s in [x, *out.trajectory]]
    blocks = 8 // (block_length or 8)
    k = tokens_per_step((x == MASK).view(3, blocks, -1)[:, 0], 4 // blocks)  # every block has the same layout here
    assert all(b >= a for a, b in itertools.pairwise(revealed)) and revealed[-1] == 24
    if block_length is None:  # one block: each step reveals exactly its scheduled count per row
        assert [b - a for a, b in itertools.pairwise(revealed)] == (3 * k[0]).tolist()


def test_blocks_are_filled_left_to_right():
    out = sample(Toy(), canvas(), SamplerConfig(block_length=4), 4, generator=torch.Generator().manual_seed(1),
                 return_trajectory=True)
    first, second = out.trajectory[0], out.trajectory[1]
    assert (first[:, 4:] == MASK).all() and (second[:, :4] != MASK).all() and (second[:, 4:] == MASK).all()


def test_cfg_runs_one_batched_forward_with_the_given_tokens_masked():
    model = Toy()
    x = canvas(b=2, given={0: 1, 2: 3})
    given = torch.zeros(2, 8, dtype=torch.bool)
    given[:, 2] = True  # position 0 is kept in the unconditional pass (as START is)
    sample(model, x, SamplerConfig(cfg_scale=1.5), 3, given=given, generator=torch.Generator().manual_seed(0))
    assert len(model.calls) == 3 and all(c.shape == (4, 8) for c in model.calls)
    cond, uncond = model.calls[0].chunk(2)
    assert torch.equal(cond, x) and (uncond[:, 2] == MASK).all() and (uncond[:, 0] == 1).all()
    model.calls.clear()
    sample(model, x, SamplerConfig(cfg_scale=0.0), 3, generator=torch.Generator().manual_seed(0))
    assert all(c.shape == (2, 8) for c in model.calls)


class TwoWay(torch.nn.Module):
    """With word 0 present (conditional): logits (a, b) = (1.0, 0.9); without it (unconditional): (1.5, 0.5)."""

    mask_id, vocab_size = 2, 3

    def forward(self, ids: Tensor) -> Tensor:
        cond = (ids == 0).any(-1)[:, None, None]
        out = torch.where(cond, torch.tensor([1.0, 0.9, 0.0]), torch.tensor([1.5, 0.5, 0.0]))
        return out.expand(ids.shape[0], ids.shape[1], 3).clone()


def test_cfg_extrapolates_away_from_the_unconditional_logits():
    x = torch.tensor([[0, 2]])
    greedy = {"temperature": 0.0}
    assert sample(TwoWay(), x, SamplerConfig(**greedy), 1).tokens[0, 1] == 0  # conditional alone: a
    # s = 1: un + 2·(cond − un) = (0.5, 1.3): b
    assert sample(TwoWay(), x, SamplerConfig(cfg_scale=1.0, **greedy), 1).tokens[0, 1] == 1


def test_draws_follow_softmax_at_the_temperature_and_greedy_at_zero():
    logits = torch.tensor([0.0, 1.0, 2.0]).expand(40000, 1, 3)
    draws = draw_tokens(logits, 0.5, torch.Generator().manual_seed(0))[:, 0]
    freq = torch.bincount(draws, minlength=3).double() / len(draws)
    assert torch.allclose(freq, (logits[0, 0] / 0.5).double().softmax(-1), atol=0.01)
    assert (draw_tokens(logits, 0.0, None) == 2).all()


def _gumbel64(logits: Tensor, temperature: float, generator: torch.Generator) -> Tensor:
    """The float64 Gumbel-max draw the sampler used before its float32 inverse-CDF draw (the reference path)."""
    u = torch.rand(logits.shape, generator=generator, dtype=torch.float64)
    return (logits.double() / temperature - torch.log(-torch.log(u.clamp(min=torch.finfo(torch.float64).tiny)))
            ).argmax(-1)


ROW = torch.tensor([0.3, -1.2, 2.0, 0.0, 1.1, -0.4, -math.inf])  # id 6 (MASK) banned


def _chi_square(draws: Tensor, p: Tensor) -> float:
    freq = torch.bincount(draws, minlength=V).double() / len(draws)
    live = p > 0
    return float(((freq - p)[live] ** 2 / p[live]).sum() * len(draws))


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_draws_match_the_float64_gumbel_path(temperature):
    # 40k draws of one 7-way row: the float32 inverse-CDF draw and the float64 Gumbel path both fit the exact
    # softmax (chi-square, 5 dof, 99.9%) and each other (total variation), and neither draws the banned id
    n = 40000
    new = draw_tokens(ROW.expand(n, V), temperature, torch.Generator().manual_seed(0))
    old = _gumbel64(ROW.expand(n, V), temperature, torch.Generator().manual_seed(1))
    p = (ROW.double() / temperature).softmax(-1)
    for draws in (new, old):
        assert not (draws == MASK).any()
        assert _chi_square(draws, p) < 20.515  # scipy.stats.chi2.ppf(0.999, 5)
    f_new, f_old = (torch.bincount(d, minlength=V).double() / n for d in (new, old))
    assert 0.5 * (f_new - f_old).abs().sum() < 0.015


def test_draw_check_has_power():
    # the same chi-square rejects a draw whose logit for one token is 0.1 off (its probability ~10% off)
    n = 40000
    biased = ROW.clone()
    biased[2] += 0.1
    draws = draw_tokens(biased.expand(n, V), 1.0, torch.Generator().manual_seed(0))
    assert _chi_square(draws, ROW.double().softmax(-1)) > 20.515


def test_an_all_banned_row_draws_no_nan():
    row = torch.full((2, V), -math.inf)
    assert draw_tokens(row, 1.0, torch.Generator().manual_seed(0)).tolist() == [V - 1, V - 1]


def test_temperature_zero_is_the_same_for_every_seed_and_positive_is_not():
    runs = {s: sample(Toy(), canvas(), SamplerConfig(temperature=0.0), 4, generator=torch.Generator().manual_seed(s))
            for s in (0, 1)}
    assert torch.equal(runs[0].tokens, runs[1].tokens)
    hot = [sample(Toy(), canvas(), SamplerConfig(), 4, generator=torch.Generator().manual_seed(s)).tokens for s in (0, 1)]
    assert not torch.equal(*hot)


def test_banned_ids_are_never_drawn():
    banned = torch.zeros(1, 8, V, dtype=torch.bool)
    banned[..., 0] = banned[..., 1] = True
    out = sample(Toy(), canvas(b=8), SamplerConfig(temperature=3.0), 4, banned=banned,
                 generator=torch.Generator().manual_seed(0))
    assert not torch.isin(out.tokens, torch.tensor([0, 1, MASK])).any()


@pytest.mark.parametrize("kwargs, match", [
    ({"remasking": "low-confidence"}, "remasking"), ({"block_length": 0}, "block_length"),
    ({"cfg_scale": -1.0}, "cfg_scale"), ({"cfg_scale": math.nan}, "cfg_scale"), ({"temperature": -0.5}, "temperature"),
    ({"steps": 0}, "steps"), ({"block_length": 2.5}, "block_length"), ({"temperature": True}, "temperature")])
def test_bad_config_fields_raise_typed_errors_with_hints(kwargs, match):
    with pytest.raises(SamplingError, match=match) as info:
        SamplerConfig(**kwargs)
    assert info.value.hint


def test_schedule_refuses_blocks_that_do_not_divide_and_spreads_steps_that_do_not():
    with pytest.raises(SamplingError, match="does not divide") as info:
        SamplerConfig(block_length=5).schedule(24, 12)
    assert "1, 2, 3, 4, 6, 8, 12, 24" in info.value.hint
    with pytest.raises(SamplingError, match="fewer than the 3 blocks") as info:
        SamplerConfig(block_length=8).schedule(24, 2)
    assert "steps >= 3" in info.value.hint
    assert SamplerConfig(block_length=8).schedule(24, 12) == (3, [4, 4, 4])
    for steps in range(3, 40):  # every step is spent, as evenly as possible, earlier blocks first
        blocks, per = SamplerConfig(block_length=8).schedule(24, steps)
        assert blocks == 3 and sum(per) == steps and max(per) - min(per) <= 1 and per == sorted(per, reverse=True)
    model = Toy()
    with pytest.raises(SamplingError):
        sample(model, canvas(), SamplerConfig(block_length=3), 4)
    assert model.calls == []  # refused before any forward

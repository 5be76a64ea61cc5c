"""On-move rate guidance (``ctrlgen.backends.discrete.move_guidance``, issue 17): its P(y | move) is the every-step
mode's guided rates at the same x_t, its redraw samples that law and touches nothing else, and the first-order
(Taylor) ratio it uses outside the shortlist is the directional derivative of log p(c | ·) it claims to be."""

from __future__ import annotations

import argparse

import pytest
import torch
import torch.nn.functional as F
from rate_guidance_support import (
    MASK,
    L,
    TinyScoreModel,
    V,
    noisy_inputs,
    tiny_classifier,
)

from ctrlgen.backends.discrete.flags import FLAGS
from ctrlgen.backends.discrete.guidance import RateGuidance
from ctrlgen.backends.discrete.move_guidance import OnMoveGuidance
from ctrlgen.constraints.base import Constraint
from ctrlgen.constraints.classifier import ClassifierSoft
from ctrlgen.errors import SamplingError
from ctrlgen.registry import SOFT_TOKEN


def _soft(value: str = "Japanese") -> ClassifierSoft:
    clf = tiny_classifier()
    return ClassifierSoft(clf, clf.encode_target(("food", value), None, L))


@pytest.mark.parametrize("shortlist", [0, 3])
@pytest.mark.parametrize("demote", [False, True])
def test_conditional_is_the_every_step_rates(shortlist: int, demote: bool) -> None:
    """Given x_t, P(y | move) of on-move guidance = the every-step guided rates of the non-MASK ids, renormalised."""
    model, (x, sigma) = TinyScoreModel(), noisy_inputs(all_mask_row=True)
    rate = RateGuidance(model, [(1.5, _soft())], 2.0, shortlist=shortlist, mask_id=MASK, demote_outside=demote)
    with torch.no_grad():
        every, scores = rate(x, sigma), model(x, sigma)
    where = x == MASK
    got = OnMoveGuidance(model, rate).conditional(x, sigma, scores, where)
    want = every[where].clone()
    want[:, MASK] = -float("inf")
    torch.testing.assert_close(got.log_softmax(-1), want.log_softmax(-1), atol=1e-5, rtol=0)


def test_tail_none_is_exact_on_the_shortlist_and_unguided_elsewhere() -> None:
    model, (x, sigma) = TinyScoreModel(), noisy_inputs(all_mask_row=True)
    soft = _soft("Chinese")
    rate = RateGuidance(model, [(1.0, soft)], 1.0, shortlist=3, mask_id=MASK)
    with torch.no_grad():
        scores = model(x, sigma)
    where = x == MASK
    got = OnMoveGuidance(model, rate, tail="none").conditional(x, sigma, scores, where)
    bi, li = where.nonzero(as_tuple=True)
    for m, (b, i) in enumerate(zip(bi.tolist(), li.tolist(), strict=True)):
        ranked = scores[b, i].clone()
        ranked[MASK] = -float("inf")
        top = set(ranked.topk(3).indices.tolist())
        for y in range(V - 1):
            ratio = 0.0
            if y in top:  # brute force: the classifier on x_t and on x_t with i → y
                moved = x[b:b + 1].clone()
                moved[0, i] = y
                e = soft.embedding()
                ratio = float(soft.embedded(e[x[b:b + 1]], sigma[b:b + 1]) - soft.embedded(e[moved], sigma[b:b + 1]))
            assert float(got[m, y]) == pytest.approx(float(scores[b, i, y]) + ratio, abs=1e-5)
        assert got[m, MASK] == -float("inf")


def test_guided_rank_rescores_the_taylor_top_k() -> None:
    """``rank="guided"``: the exact ratios go to the k likeliest jumps under the first-order guided scores."""
    model, (x, sigma) = TinyScoreModel(), noisy_inputs(all_mask_row=True)
    soft = _soft("Chinese")
    rate = RateGuidance(model, [(1.0, soft)], 20.0, shortlist=2, mask_id=MASK)
    with torch.no_grad():
        scores = model(x, sigma)
    where = x == MASK
    guide = OnMoveGuidance(model, rate)
    guide.rank = "guided"
    got = guide.conditional(x, sigma, scores, where)
    taylor = scores + 20.0 * rate.log_ratio(x, sigma).detach()
    e, differs = soft.embedding(), 0
    for m, (b, i) in enumerate(zip(*where.nonzero(as_tuple=True), strict=True)):
        ranked = taylor[b, i].clone()
        ranked[MASK] = -float("inf")
        top = ranked.topk(2).indices.tolist()
        differs += set(top) != set(scores[b, i, :MASK].topk(2).indices.tolist())
        for y in range(V - 1):
            if y in top:
                moved = x[b:b + 1].clone()
                moved[0, i] = y
                exact = soft.embedded(e[x[b:b + 1]], sigma[b:b + 1]) - soft.embedded(e[moved], sigma[b:b + 1])
                want = float(scores[b, i, y]) + 20.0 * float(exact)
            else:
                want = float(taylor[b, i, y])
            assert float(got[m, y]) == pytest.approx(want, abs=1e-4)
    assert differs  # the case is not vacuous: the Taylor top-k is not the model's somewhere


def test_first_order_ratio_is_the_directional_derivative() -> None:
    """Taylor estimate vs brute force on a tiny vocabulary: g_{i,y} − g_{i,x_i} equals the central difference of
    log p(c | e) along onehot(y) − onehot(x_i), and is exact for a soft face linear in the one-hot input."""
    model, (x, sigma) = TinyScoreModel(), noisy_inputs(all_mask_row=True)
    soft = _soft()
    rate = RateGuidance(model, [(1.0, soft)], 1.0, fast=False)
    ratio = rate.log_ratio(x, sigma).double()
    onehot = F.one_hot(x, V).double()
    h = 1e-3
    for b, i, y in [(0, 1, 3), (1, 2, 0), (2, 4, 7), (3, 0, 5), (4, 5, 10)]:
        d = torch.zeros_like(onehot[b:b + 1])
        d[0, i, y] += 1
        d[0, i, x[b, i]] -= 1
        s = sigma[b:b + 1]
        central = (soft((onehot[b:b + 1] - h * d).float(), s) - soft((onehot[b:b + 1] + h * d).float(), s)) / (2 * h)
        assert float(ratio[b, i, y]) == pytest.approx(float(central), abs=2e-2, rel=2e-2)
    lin = torch.randn(L, V, dtype=torch.float32, generator=torch.Generator().manual_seed(4))
    linear = lambda e, t: -(e * lin).sum((1, 2))
    r = RateGuidance(model, [(1.0, linear)], 1.0).log_ratio(x, sigma)
    for b, i, y in [(0, 1, 3), (2, 4, 7)]:
        moved = x[b:b + 1].clone()
        moved[0, i] = y
        brute = linear(F.one_hot(x[b:b + 1], V).float(), None) - linear(F.one_hot(moved, V).float(), None)
        assert float(r[b, i, y]) == pytest.approx(float(brute), abs=1e-5)


def test_redraw_samples_the_conditional_and_keeps_the_rest() -> None:
    model, (x, sigma) = TinyScoreModel(), noisy_inputs(all_mask_row=True)
    rate = RateGuidance(model, [(1.0, _soft())], 3.0, shortlist=4, mask_id=MASK)
    guide = OnMoveGuidance(model, rate, torch.Generator().manual_seed(0))
    j = int((x[2] == MASK).nonzero()[0])
    x_prev = x.clone()
    x_prev[0, 2], x_prev[2, j] = 0, 1  # row 0 moves at position 2, row 2 at position j; the rest stays
    with torch.no_grad():
        want = guide.conditional(x, sigma, model(x, sigma), x_prev != x).softmax(-1)  # [2, V]
    draws = 3000  # the two rows, each repeated: one redraw draws every copy
    xs, ss, prev = x[[0, 2]].repeat(draws, 1), sigma[[0, 2]].repeat(draws), x_prev[[0, 2]].repeat(draws, 1)
    with torch.no_grad():
        guide(xs, ss)
    out = guide.redraw(prev)
    moved = prev != xs
    assert torch.equal(out[~moved], prev[~moved])
    got = out[moved].view(draws, 2)
    freq = torch.stack([torch.bincount(got[:, r], minlength=V) for r in range(2)]).float() / draws
    assert freq[:, MASK].sum() == 0
    assert (freq - want).abs().max() < 0.035  # ~4 standard errors at 3000 draws
    assert guide.redraw(prev) is prev  # no record since the last redraw: nothing to do


def test_scale_zero_records_and_redraws_nothing() -> None:
    model, (x, sigma) = TinyScoreModel(), noisy_inputs(all_mask_row=True)
    guide = OnMoveGuidance(model, RateGuidance(model, [(1.0, _soft())], 0.0, shortlist=2, mask_id=MASK))
    with torch.no_grad():
        assert torch.equal(guide(x, sigma), model(x, sigma))
    x_prev = torch.zeros_like(x)
    assert guide.redraw(x_prev) is x_prev


class _WordAt(Constraint):
    """A soft:token face that wants ``word`` at ``position``, nonlinear in the one-hot input."""

    faces = frozenset({SOFT_TOKEN})

    def __init__(self, word_id: int, position: int) -> None:
        self.word_id, self.position = word_id, position

    def soft(self, tokenizer, seq_len, backend):
        return lambda onehot, sigma: -20.0 * onehot[:, self.position, self.word_id].tanh()

    def __repr__(self) -> str:
        return f"_WordAt({self.word_id}, {self.position})"


@pytest.mark.parametrize("mode", ["on-move", "every-step"])
def test_both_modes_steer_and_scale_zero_is_unguided(sedd_gen, tokenizer, mode: str) -> None:
    want = tokenizer.vocab.id("pub")
    c = _WordAt(want, 3)
    plain = sedd_gen.generate(n=32, steps=8, seed=5)
    zero = sedd_gen.generate(n=32, steps=8, seed=5, constraints=c, guidance_scale=0.0, guidance_mode=mode)
    assert torch.equal(plain.tokens, zero.tokens)
    guided = sedd_gen.generate(n=32, steps=8, seed=5, constraints=c, guidance_mode=mode)
    hits = lambda out: (out.tokens[:, 3] == want).float().mean().item()
    assert hits(guided) > hits(plain) + 0.3


def test_bad_mode_and_graph_are_refused(sedd_gen) -> None:
    with pytest.raises(SamplingError, match="guidance_mode"):
        sedd_gen.generate(n=1, steps=2, guidance_mode="sometimes")
    model = TinyScoreModel()
    with pytest.raises(SamplingError, match="absorbing"):
        OnMoveGuidance(model, RateGuidance(model, [(1.0, _soft())], 1.0))
    with pytest.raises(SamplingError, match="tail"):
        OnMoveGuidance(model, RateGuidance(model, [(1.0, _soft())], 1.0, mask_id=MASK), tail="some")  # type: ignore[arg-type]


def test_cli_flag_reaches_generate() -> None:
    parser = argparse.ArgumentParser()
    FLAGS.add_arguments(parser)
    assert FLAGS.to_kwargs(parser.parse_args(["--guidance-mode", "every-step"]))["guidance_mode"] == "every-step"
    assert "guidance_mode" not in FLAGS.to_kwargs(parser.parse_args([]))

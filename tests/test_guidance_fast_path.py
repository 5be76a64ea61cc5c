"""Discrete rate guidance's fast path (issue 17, cheap guidance): a token-space classifier with
``token_embedding`` / ``log_prob_embedded`` is fed ``table[ids]`` instead of one-hot tensors, with the same
guided log-rates as the one-hot path; plug-ins without the hooks keep the one-hot path."""

from __future__ import annotations

import pytest
import torch
from rate_guidance_support import (
    MASK,
    L,
    TinyScoreModel,
    V,
    noisy_inputs,
    tiny_classifier,
)
from torch import Tensor, nn

from ctrlgen.backends.discrete.guidance import RateGuidance
from ctrlgen.constraints.classifier import ClassifierSoft
from ctrlgen.constraints.plugin import NoiseAwareClassifier


class _NoHooks(NoiseAwareClassifier):
    """A user's token-space plug-in without the fast-path hooks."""

    space = "token"

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(2)
        self.w = nn.Linear(V, 1)

    def log_prob(self, x: Tensor, t: Tensor, target: object) -> Tensor:
        return nn.functional.logsigmoid(self.w(x).mean((1, 2)) + t)


@pytest.mark.parametrize("shortlist", [0, 3])
def test_fast_path_gives_the_one_hot_rates(shortlist: int) -> None:
    clf = tiny_classifier()
    soft = ClassifierSoft(clf, clf.encode_target(("food", "Japanese"), None, L))
    assert soft.embedding is not None
    x, sigma = noisy_inputs()
    model = TinyScoreModel()
    fast = RateGuidance(model, [(1.5, soft)], 2.0, shortlist=shortlist, mask_id=MASK, fast=True)
    slow = RateGuidance(model, [(1.5, soft)], 2.0, shortlist=shortlist, mask_id=MASK, fast=False)
    with torch.no_grad():
        plain = model(x, sigma)
    a, b = fast(x, sigma), slow(x, sigma)
    assert (b - plain).abs().max() > 1e-3  # guidance does move the rates
    torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def test_fast_path_builds_no_one_hot(monkeypatch: pytest.MonkeyPatch) -> None:
    clf = tiny_classifier()
    soft = ClassifierSoft(clf, clf.encode_target(("food", "Chinese"), None, L))
    x, sigma = noisy_inputs()
    guided = RateGuidance(TinyScoreModel(), [(1.0, soft)], 1.0, shortlist=2, mask_id=MASK, fast=True)
    want = guided(x, sigma)

    def refuse(self: ClassifierSoft, x: Tensor, t: Tensor) -> Tensor:
        raise AssertionError("the fast path fed a one-hot input to the classifier")

    monkeypatch.setattr(ClassifierSoft, "__call__", refuse)
    torch.testing.assert_close(guided(x, sigma), want, atol=0, rtol=0)


def test_mixed_terms_and_plugins_without_hooks() -> None:
    clf, plain_clf = tiny_classifier(), _NoHooks().eval().requires_grad_(False)
    fast_soft = ClassifierSoft(clf, clf.encode_target(("area", "riverside"), None, L))
    slow_soft = ClassifierSoft(plain_clf, None)
    assert slow_soft.embedding is None  # no hooks: the one-hot path
    x, sigma = noisy_inputs()
    model = TinyScoreModel()
    terms = [(1.0, fast_soft), (0.5, slow_soft), (0.25, lambda onehot, t: onehot[..., 3].sum(-1))]
    a = RateGuidance(model, terms, 1.0, shortlist=2, mask_id=MASK, fast=True)(x, sigma)
    b = RateGuidance(model, terms, 1.0, shortlist=2, mask_id=MASK, fast=False)(x, sigma)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def test_scale_zero_is_the_model_bit_for_bit() -> None:
    clf = tiny_classifier()
    soft = ClassifierSoft(clf, clf.encode_target(("food", "Japanese"), None, L))
    x, sigma = noisy_inputs()
    model = TinyScoreModel()
    with torch.no_grad():
        want = model(x, sigma)
        got = RateGuidance(model, [(1.0, soft)], 0.0, shortlist=3, mask_id=MASK, fast=True)(x, sigma)
    assert torch.equal(got, want)


def test_class_default_switches_the_path() -> None:
    clf = tiny_classifier()
    soft = ClassifierSoft(clf, clf.encode_target(("food", "Japanese"), None, L))
    assert RateGuidance(TinyScoreModel(), [(1.0, soft)]).fast is True
    try:
        RateGuidance.fast = False
        assert RateGuidance(TinyScoreModel(), [(1.0, soft)]).fast is False
    finally:
        RateGuidance.fast = True

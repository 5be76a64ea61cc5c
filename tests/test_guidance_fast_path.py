"""Discrete rate guidance's fast path (issue 17, cheap guidance): a token-space classifier with
``token_embedding`` / ``log_prob_embedded`` is fed ``table[ids]`` instead of one-hot tensors, with the same
guided log-rates as the one-hot path; plug-ins without the hooks keep the one-hot path."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from classifiers.semantic_token import SemanticTokenClassifier
from ctrlgen.backends.discrete.guidance import RateGuidance
from ctrlgen.constraints.classifier import ClassifierSoft
from ctrlgen.constraints.plugin import NoiseAwareClassifier

V, L, MASK = 12, 6, 11


class _Config:
    vocab_size = V


class _ScoreModel(nn.Module):
    """A tiny deterministic score model: ``(x: Tensor[B, L], sigma) -> log-score Tensor[B, L, V]``."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.config = _Config()
        self.emb = nn.Embedding(V, 16)
        self.out = nn.Linear(16, V)

    def forward(self, x: Tensor, sigma: Tensor) -> Tensor:
        return self.out(self.emb(x).tanh()).log_softmax(-1)


def _classifier() -> SemanticTokenClassifier:
    torch.manual_seed(0)
    values = {"food": ["none", "Japanese", "Chinese"], "area": ["none", "riverside"]}
    clf = SemanticTokenClassifier(vocab_size=V, seq_len=L, values=values, embed_dim=8, hidden=16, layers=1, heads=2)
    return clf.eval().requires_grad_(False)


class _NoHooks(NoiseAwareClassifier):
    """A user's token-space plug-in without the fast-path hooks."""

    space = "token"

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(2)
        self.w = nn.Linear(V, 1)

    def log_prob(self, x: Tensor, t: Tensor, target: object) -> Tensor:
        return nn.functional.logsigmoid(self.w(x).mean((1, 2)) + t)


def _inputs() -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(3)
    x = torch.randint(0, MASK, (5, L), generator=g)
    x[torch.rand(5, L, generator=g) < 0.5] = MASK
    return x, torch.linspace(0.2, 2.0, 5)


@pytest.mark.parametrize("shortlist", [0, 3])
def test_fast_path_gives_the_one_hot_rates(shortlist: int) -> None:
    clf = _classifier()
    soft = ClassifierSoft(clf, clf.encode_target(("food", "Japanese"), None, L))
    assert soft.embedding is not None
    x, sigma = _inputs()
    model = _ScoreModel()
    fast = RateGuidance(model, [(1.5, soft)], 2.0, shortlist=shortlist, mask_id=MASK, fast=True)
    slow = RateGuidance(model, [(1.5, soft)], 2.0, shortlist=shortlist, mask_id=MASK, fast=False)
    with torch.no_grad():
        plain = model(x, sigma)
    a, b = fast(x, sigma), slow(x, sigma)
    assert (b - plain).abs().max() > 1e-3  # guidance does move the rates
    torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def test_fast_path_builds_no_one_hot(monkeypatch: pytest.MonkeyPatch) -> None:
    clf = _classifier()
    soft = ClassifierSoft(clf, clf.encode_target(("food", "Chinese"), None, L))
    x, sigma = _inputs()
    guided = RateGuidance(_ScoreModel(), [(1.0, soft)], 1.0, shortlist=2, mask_id=MASK, fast=True)
    want = guided(x, sigma)

    def refuse(self: ClassifierSoft, x: Tensor, t: Tensor) -> Tensor:
        raise AssertionError("the fast path fed a one-hot input to the classifier")

    monkeypatch.setattr(ClassifierSoft, "__call__", refuse)
    torch.testing.assert_close(guided(x, sigma), want, atol=0, rtol=0)


def test_mixed_terms_and_plugins_without_hooks() -> None:
    clf, plain_clf = _classifier(), _NoHooks().eval().requires_grad_(False)
    fast_soft = ClassifierSoft(clf, clf.encode_target(("area", "riverside"), None, L))
    slow_soft = ClassifierSoft(plain_clf, None)
    assert slow_soft.embedding is None  # no hooks: the one-hot path
    x, sigma = _inputs()
    model = _ScoreModel()
    terms = [(1.0, fast_soft), (0.5, slow_soft), (0.25, lambda onehot, t: onehot[..., 3].sum(-1))]
    a = RateGuidance(model, terms, 1.0, shortlist=2, mask_id=MASK, fast=True)(x, sigma)
    b = RateGuidance(model, terms, 1.0, shortlist=2, mask_id=MASK, fast=False)(x, sigma)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def test_scale_zero_is_the_model_bit_for_bit() -> None:
    clf = _classifier()
    soft = ClassifierSoft(clf, clf.encode_target(("food", "Japanese"), None, L))
    x, sigma = _inputs()
    model = _ScoreModel()
    with torch.no_grad():
        want = model(x, sigma)
        got = RateGuidance(model, [(1.0, soft)], 0.0, shortlist=3, mask_id=MASK, fast=True)(x, sigma)
    assert torch.equal(got, want)


def test_class_default_switches_the_path() -> None:
    clf = _classifier()
    soft = ClassifierSoft(clf, clf.encode_target(("food", "Japanese"), None, L))
    assert RateGuidance(_ScoreModel(), [(1.0, soft)]).fast is True
    try:
        RateGuidance.fast = False
        assert RateGuidance(_ScoreModel(), [(1.0, soft)]).fast is False
    finally:
        RateGuidance.fast = True

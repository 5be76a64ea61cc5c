"""Shared pieces of the discrete rate-guidance tests: a tiny deterministic score model, a tiny semantic token
classifier and noisy inputs over a 12-token vocabulary (id 11 = MASK) of length 6."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from classifiers.semantic_token import SemanticTokenClassifier

V, L, MASK = 12, 6, 11


class _Config:
    vocab_size = V


class TinyScoreModel(nn.Module):
    """A tiny deterministic score model: ``(x: Tensor[B, L], sigma) -> log-score Tensor[B, L, V]``."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.config = _Config()
        self.emb = nn.Embedding(V, 16)
        self.out = nn.Linear(16, V)

    def forward(self, x: Tensor, sigma: Tensor) -> Tensor:
        return self.out(self.emb(x).tanh()).log_softmax(-1)


def tiny_classifier() -> SemanticTokenClassifier:
    """An untrained ``semantic-token.v1`` over ``food`` / ``area`` (seed 0), frozen."""
    torch.manual_seed(0)
    values = {"food": ["none", "Japanese", "Chinese"], "area": ["none", "riverside"]}
    clf = SemanticTokenClassifier(vocab_size=V, seq_len=L, values=values, embed_dim=8, hidden=16, layers=1, heads=2)
    return clf.eval().requires_grad_(False)


def noisy_inputs(all_mask_row: bool = False) -> tuple[Tensor, Tensor]:
    """``x: LongTensor[5, L]`` with about half the positions MASK (row 0 all MASK if ``all_mask_row``) and
    ``sigma: Tensor[5]``."""
    g = torch.Generator().manual_seed(3)
    x = torch.randint(0, MASK, (5, L), generator=g)
    x[torch.rand(5, L, generator=g) < 0.5] = MASK
    if all_mask_row:
        x[0] = MASK
    return x, torch.linspace(0.2, 2.0, 5)

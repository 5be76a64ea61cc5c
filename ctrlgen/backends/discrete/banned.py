"""Banned ids: a score-model wrapper that gives chosen ids reverse rate 0 (MASK/UNK, PAD/START/END before an END)."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class BannedTokens(nn.Module):
    """Wraps a score model so ids in ``banned: BoolTensor[1 | B, L, N]`` get log-score −∞ (reverse rate 0),
    except at a position's own current token (whose entry stays 0, the score model's convention).

    The ban is an added bias (0 where allowed, −∞ where banned), built once: a broadcast add is a plain vectorised
    pass, about 6× faster than ``masked_fill`` with a broadcast mask (which was ~9% of a sampling step at batch 8).
    It equals ``masked_fill(banned, −∞)`` for every log-score below +∞ (an entry of +∞, which no sampler can use,
    would become NaN instead of −∞ where banned)."""

    def __init__(self, model: nn.Module, banned: Tensor) -> None:
        super().__init__()
        self.model, self.banned = model, banned
        self.bias = torch.zeros(banned.shape, device=banned.device).masked_fill_(banned, float("-inf"))
        self.config = model.config  # type: ignore[assignment]

    def forward(self, x_t: Tensor, sigma: Tensor) -> Tensor:
        out = self.model(x_t, sigma)
        out = out + self.bias.to(device=out.device, dtype=out.dtype)  # a fresh tensor: the model's output is kept
        return out.scatter_(-1, x_t[..., None], 0.0)  # in place: ``out`` is the add's fresh copy

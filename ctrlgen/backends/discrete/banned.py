"""Banned ids: a score-model wrapper that gives chosen ids reverse rate 0 (MASK/UNK, PAD/START/END before an END)."""

from __future__ import annotations

from torch import Tensor, nn


class BannedTokens(nn.Module):
    """Wraps a score model so ids in ``banned: BoolTensor[1 | B, L, N]`` get log-score −∞ (reverse rate 0),
    except at a position's own current token (whose entry stays 0, the score model's convention)."""

    def __init__(self, model: nn.Module, banned: Tensor) -> None:
        super().__init__()
        self.model, self.banned = model, banned
        self.config = model.config  # type: ignore[assignment]

    def forward(self, x_t: Tensor, sigma: Tensor) -> Tensor:
        out = self.model(x_t, sigma).masked_fill(self.banned.to(x_t.device), float("-inf"))
        return out.scatter_(-1, x_t[..., None], 0.0)  # in place: ``out`` is masked_fill's fresh copy

"""Rotary position embeddings (RoPE, "rotate half" / GPT-NeoX layout) as SEDD and MDLM apply them.

The frequency of pair j of a head of width D is θ_j = base^{−2j/D}; position p turns the pair
(u_j, u_{j+D/2}) by the angle p·θ_j. Queries and keys are turned, values are not. The buffer is named
``inv_freq`` as in both references (it is part of their state dicts).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class Rotary(nn.Module):
    """``forward(seq_len, device) -> (cos, sin)``, each ``Tensor[L, D]`` (the angles repeated over both halves)."""

    def __init__(self, dim: int, base: float = 10_000.0) -> None:
        super().__init__()
        inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2).float() / dim))
        self.register_buffer("inv_freq", inv_freq)  # persistent: the references save it

    def forward(self, seq_len: int, device: torch.device | None = None) -> tuple[Tensor, Tensor]:
        t = torch.arange(seq_len, device=device, dtype=self.inv_freq.dtype)
        angles = torch.outer(t, self.inv_freq)  # [L, D/2]
        emb = torch.cat((angles, angles), dim=-1)  # [L, D]
        return emb.cos(), emb.sin()


def rotate_half(x: Tensor) -> Tensor:
    """(u1, u2) -> (−u2, u1) over the last dimension split in halves."""
    u1, u2 = x.chunk(2, dim=-1)
    return torch.cat((-u2, u1), dim=-1)


def apply_rotary(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Turn ``x: Tensor[B, H, L, D]`` by position; ``cos, sin: Tensor[L, D]``."""
    return x * cos + rotate_half(x) * sin

"""The shared body of the built-in classifiers: a small transformer over noisy latents and the time."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def time_features(t: Tensor, dim: int) -> Tensor:
    """Sinusoidal features of the step: ``t: Tensor[B]`` (0..T−1) → ``Tensor[B, dim]``."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([args.sin(), args.cos()], dim=-1)


class LatentEncoder(nn.Module):
    """``(x: Tensor[B, L, d], t: Tensor[B]) → h: Tensor[B, L, H]``: the latents projected to ``H``, plus
    learned positions and the step's features, through ``layers`` pre-norm transformer blocks."""

    def __init__(self, embed_dim: int, seq_len: int, hidden: int, layers: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.hidden = hidden
        self.inp = nn.Linear(embed_dim, hidden)
        self.pos = nn.Parameter(torch.randn(seq_len, hidden) * 0.02)
        self.time = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        block = nn.TransformerEncoderLayer(hidden, heads, 2 * hidden, dropout=dropout, batch_first=True,
                                           norm_first=True, activation="gelu")
        self.blocks = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(hidden)

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        L = x.shape[1]
        h = self.inp(x) + self.pos[:L] + self.time(time_features(t, self.hidden))[:, None]
        return self.norm(self.blocks(h))

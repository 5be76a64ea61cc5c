"""Transformer backbone with a timestep embedding, shared by the diffusion models.

Two encoder implementations (``attention``):
- ``"sdpa"`` (default): pre-LayerNorm blocks over ``torch.nn.functional.scaled_dot_product_attention``;
- ``"bert"``: ``transformers``' ``BertEncoder`` (post-LayerNorm), the original Diffusion-LM encoder.
``recipes/bench_backbone.py`` times both on CPU at the default size (4 × 128, batch 64 × 48; results in
``recipes/results/bench_backbone*.json``): they are within 5% of each other — BERT's training step is
≈ 4% faster, SDPA's no-grad forward (what sampling runs 200 times per batch) ≈ 2–4% faster. SDPA is
the default because sampling is the user's hot path and it keeps ``transformers`` out of the core model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class BackboneConfig:
    hidden: int = 128  # transformer width H
    layers: int = 4  # number of encoder blocks
    heads: int = 4  # attention heads (hidden must be divisible by heads)
    ff_mult: int = 4  # feed-forward width = ff_mult * hidden
    dropout: float = 0.1  # dropout on embeddings, attention output and feed-forward
    seq_len: int = 48  # maximum sequence length (learned position embeddings)
    attention: Literal["sdpa", "bert"] = "sdpa"  # encoder implementation, see module doc


def timestep_features(t: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """Sinusoidal features of (possibly fractional) timesteps. ``t: Tensor[B]`` → ``Tensor[B, dim]``."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    return F.pad(emb, (0, dim % 2))


class TimestepEmbedding(nn.Module):
    """sinusoidal(t) → Linear → SiLU → Linear. ``t: Tensor[B]`` → ``Tensor[B, H]``."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.hidden = hidden
        self.mlp = nn.Sequential(nn.Linear(hidden, 4 * hidden), nn.SiLU(), nn.Linear(4 * hidden, hidden))

    def forward(self, t: Tensor) -> Tensor:
        return self.mlp(timestep_features(t, self.hidden).to(self.mlp[0].weight.dtype))


class Block(nn.Module):
    """Pre-LN transformer block with scaled-dot-product attention (no mask: PAD is modelled too)."""

    def __init__(self, cfg: BackboneConfig) -> None:
        super().__init__()
        if cfg.hidden % cfg.heads:
            raise ValueError(f"hidden ({cfg.hidden}) must be divisible by heads ({cfg.heads})")
        self.heads = cfg.heads
        self.dropout = cfg.dropout
        self.ln1 = nn.LayerNorm(cfg.hidden)
        self.qkv = nn.Linear(cfg.hidden, 3 * cfg.hidden)
        self.proj = nn.Linear(cfg.hidden, cfg.hidden)
        self.ln2 = nn.LayerNorm(cfg.hidden)
        self.ff = nn.Sequential(nn.Linear(cfg.hidden, cfg.ff_mult * cfg.hidden), nn.GELU(),
                                nn.Linear(cfg.ff_mult * cfg.hidden, cfg.hidden), nn.Dropout(cfg.dropout))
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, h: Tensor) -> Tensor:
        B, L, H = h.shape
        q, k, v = self.qkv(self.ln1(h)).view(B, L, 3, self.heads, H // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)
        h = h + self.drop(self.proj(a.transpose(1, 2).reshape(B, L, H)))
        return h + self.ff(self.ln2(h))


class Backbone(nn.Module):
    """Adds position and time embeddings, then runs the encoder.

    ``forward(h: Tensor[B, L, H], temb: Tensor[B, H]) -> Tensor[B, L, H]``.
    """

    def __init__(self, cfg: BackboneConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.pos = nn.Embedding(cfg.seq_len, cfg.hidden)
        self.ln_in = nn.LayerNorm(cfg.hidden)
        self.drop = nn.Dropout(cfg.dropout)
        if cfg.attention == "sdpa":
            self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg.layers)])
            self.ln_out: nn.Module = nn.LayerNorm(cfg.hidden)
            self.bert = None
        elif cfg.attention == "bert":
            from transformers import BertConfig
            from transformers.models.bert.modeling_bert import BertEncoder

            self.blocks = nn.ModuleList()
            self.ln_out = nn.Identity()
            self.bert = BertEncoder(BertConfig(
                hidden_size=cfg.hidden, num_hidden_layers=cfg.layers, num_attention_heads=cfg.heads,
                intermediate_size=cfg.ff_mult * cfg.hidden, hidden_dropout_prob=cfg.dropout,
                attention_probs_dropout_prob=cfg.dropout, max_position_embeddings=cfg.seq_len))
        else:
            raise ValueError(f"attention must be 'sdpa' or 'bert', got {cfg.attention!r}")

    def forward(self, h: Tensor, temb: Tensor) -> Tensor:
        L = h.shape[1]
        if L > self.cfg.seq_len:
            raise ValueError(f"sequence length {L} exceeds the model's seq_len {self.cfg.seq_len}")
        h = h + self.pos.weight[:L][None] + temb[:, None, :]
        h = self.drop(self.ln_in(h))
        if self.bert is not None:
            return self.bert(h)[0]
        for block in self.blocks:
            h = block(h)
        return self.ln_out(h)

"""Diffusion-LM's denoiser: learned word embeddings, x0-prediction, tied rounding head."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from ctrlgen.models.backbone import Backbone, BackboneConfig, TimestepEmbedding
from ctrlgen.models.hub import HubMixin


@dataclass
class EmbeddingLMConfig:
    vocab_size: int  # number of words incl. specials (from the tokenizer)
    seq_len: int = 48  # fixed sequence length; E2E: 99.3% of references fit in 48 with START/END
    embed_dim: int = 16  # word-embedding size d (16 for E2E in the paper)
    hidden: int = 128  # transformer width H
    layers: int = 4  # transformer blocks
    heads: int = 4  # attention heads
    dropout: float = 0.1  # dropout inside the transformer
    attention: Literal["sdpa", "bert"] = "sdpa"  # encoder implementation (see models/backbone.py)
    self_condition: bool = True  # feed the previous x̂0 back as input (Chen et al. 2022)
    timestep_scale: float = 1.0  # the time embedding sees t * timestep_scale (t: step index 0..T-1)

    def backbone(self) -> BackboneConfig:
        return BackboneConfig(hidden=self.hidden, layers=self.layers, heads=self.heads, dropout=self.dropout,
                              seq_len=self.seq_len, attention=self.attention)


class EmbeddingLM(nn.Module, HubMixin):
    """f_θ(x_t, t) → x̂0 over word embeddings of size d.

    - ``embed(ids: Tensor[B, L]) -> Tensor[B, L, d]``
    - ``forward(x_t: Tensor[B, L, d], t: Tensor[B], x0_prev: Tensor[B, L, d] | None) -> Tensor[B, L, d]``
    - ``logits(x: Tensor[B, L, d]) -> Tensor[B, L, V]`` — rounding head, weight tied to the embeddings.
    """

    model_type = "embedding-lm"
    config_class = EmbeddingLMConfig

    def __init__(self, config: EmbeddingLMConfig) -> None:
        super().__init__()
        self.config = c = config
        self.embedding = nn.Embedding(c.vocab_size, c.embed_dim)
        nn.init.normal_(self.embedding.weight, std=1.0)
        self.lm_bias = nn.Parameter(torch.zeros(c.vocab_size))
        in_dim = 2 * c.embed_dim if c.self_condition else c.embed_dim
        self.up = nn.Sequential(nn.Linear(in_dim, c.hidden), nn.Tanh(), nn.Linear(c.hidden, c.hidden))
        self.time = TimestepEmbedding(c.hidden)
        self.backbone = Backbone(c.backbone())
        self.down = nn.Sequential(nn.Linear(c.hidden, c.hidden), nn.Tanh(), nn.Linear(c.hidden, c.embed_dim))

    def embed(self, ids: Tensor) -> Tensor:
        return self.embedding(ids)

    def logits(self, x: Tensor) -> Tensor:
        return x @ self.embedding.weight.T + self.lm_bias

    def forward(self, x_t: Tensor, t: Tensor, x0_prev: Tensor | None = None) -> Tensor:
        if self.config.self_condition:
            x_t = torch.cat([x_t, torch.zeros_like(x_t) if x0_prev is None else x0_prev], dim=-1)
        h = self.up(x_t)
        h = self.backbone(h, self.time(t.float() * self.config.timestep_scale))
        return self.down(h)

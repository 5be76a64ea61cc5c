"""SEDD's score network: token ids x_t and the total noise σ̄(t) → the log concrete score.

``forward(x_t, sigma)[b, i, y]`` estimates log p_t(x_t with position i set to y) / p_t(x_t), the
input ``DiscreteDiffusion.training_losses`` and ``samplers.sedd`` expect. Three choices, written down:

- **Time input.** The network is conditioned on σ̄(t), never on t (the same model then serves any noise
  schedule with the same range of σ̄). The sinusoidal ``TimestepEmbedding`` reads **log σ̄**, not σ̄ as the SEDD
  code does: σ̄ spans 1e-3..7 (log-linear) or 1e-4..20 (geometric) and most of the interesting range is near
  0, where sinusoids of σ̄ itself barely move; log σ̄ spreads it evenly. σ̄ is clamped at 1e-8 first.
- **Absorbing scaling** (SEDD's ``scale_by_sigma``): the head's output is shifted by
  −log(e^{σ̄} − 1) − log(N − 1), N counting MASK. With the head initialised to zero (as in SEDD) the model
  starts at "each non-MASK token equally likely, with the right total": Σ_{y≠MASK} s_y = 1/(e^{σ̄} − 1), the
  exact ratio p_t(unmasked)/p_t(MASK) of one position. The uniform graph gets no shift.
- **Own token.** The log-score at the input token's own id is set to 0 (the ratio p_t(x)/p_t(x) = 1), for
  both graphs, as SEDD does; no loss or sampler reads it as anything else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from ctrlgen.errors import ConfigError
from ctrlgen.models.backbone import Backbone, BackboneConfig, TimestepEmbedding
from ctrlgen.models.hub import HubMixin


@dataclass
class ScoreModelConfig:
    vocab_size: int  # N: every id the model scores, MASK included (len(tokenizer))
    seq_len: int = 48  # maximum sequence length; E2E: 99.3% of references fit in 48 with START/END
    hidden: int = 128  # transformer width H
    layers: int = 4  # transformer blocks
    heads: int = 4  # attention heads (hidden must be divisible by heads)
    dropout: float = 0.1  # dropout inside the transformer (SEDD uses 0.1)
    attention: Literal["sdpa", "bert"] = "sdpa"  # encoder (models/backbone.py); runs on CPU, no flash-attn
    graph: Literal["absorbing", "uniform"] = "absorbing"  # forward graph it is trained for; "absorbing" turns on
    # the scale-by-σ̄ output shift (see the module doc). Must match DiscreteDiffusionConfig.graph.

    def __post_init__(self) -> None:
        if not isinstance(self.vocab_size, int) or self.vocab_size < 2:
            raise ConfigError(f"vocab_size must be an int >= 2, got {self.vocab_size!r}",
                              "pass len(tokenizer), MASK included")
        if self.graph not in ("absorbing", "uniform"):
            raise ConfigError(f"graph must be 'absorbing' or 'uniform', got {self.graph!r}",
                              "use the same graph as the DiscreteDiffusionConfig you train with")

    def backbone(self) -> BackboneConfig:
        return BackboneConfig(hidden=self.hidden, layers=self.layers, heads=self.heads, dropout=self.dropout,
                              seq_len=self.seq_len, attention=self.attention)


class ScoreModel(nn.Module, HubMixin):
    """s_θ(x_t, σ̄) as a log-score.

    - ``logits(x_t: LongTensor[B, L], sigma: Tensor[B] | float) -> Tensor[B, L, N]``: the head's raw output;
    - ``forward(x_t, sigma) -> Tensor[B, L, N]``: the log-score, ``logits`` scaled for the absorbing graph and
      0 at each position's own token (see the module doc).
    """

    model_type = "sedd-score"
    config_class = ScoreModelConfig

    def __init__(self, config: ScoreModelConfig) -> None:
        super().__init__()
        self.config = c = config
        self.embedding = nn.Embedding(c.vocab_size, c.hidden)
        self.time = TimestepEmbedding(c.hidden)
        self.backbone = Backbone(c.backbone())
        self.head = nn.Linear(c.hidden, c.vocab_size)
        # Zero head, as SEDD: the untrained model predicts the uninformed ratios (module doc), not noise.
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def _sigma(self, x_t: Tensor, sigma: Tensor | float) -> Tensor:
        """σ̄ as ``Tensor[B]`` (a number or one-element tensor is shared by every row)."""
        s = torch.as_tensor(sigma, device=x_t.device).reshape(-1)
        return s.expand(x_t.shape[0]) if s.numel() == 1 else s

    def logits(self, x_t: Tensor, sigma: Tensor | float) -> Tensor:
        s = self._sigma(x_t, sigma)
        temb = self.time(s.float().clamp(min=1e-8).log())
        return self.head(self.backbone(self.embedding(x_t), temb))

    def forward(self, x_t: Tensor, sigma: Tensor | float) -> Tensor:
        out = self.logits(x_t, sigma)
        if self.config.graph == "absorbing":
            # expm1 keeps e^{σ̄} − 1 accurate for σ̄ ~ 1e-4; σ̄ = 0 (never sampled) gives huge scores
            s = self._sigma(x_t, sigma).float()
            shift = torch.expm1(s).clamp(min=torch.finfo(s.dtype).tiny).log() + math.log(out.shape[-1] - 1)
            out = out - shift.to(out.dtype)[:, None, None]
        return out.scatter(-1, x_t[..., None], 0.0)

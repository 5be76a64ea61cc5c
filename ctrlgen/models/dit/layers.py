"""The DiT trunk shared by SEDD and MDLM: the same maths and the same parameter names in both references.

Shapes: B batch, L length, H hidden (``hidden_size``), C ``cond_dim``, V vocabulary (MASK included).

    x = vocab_embed[ids]                               # [B, L, H]
    c = SiLU(sigma_map(σ))                             # [B, C], σ through a 256-wide sinusoid and an MLP
    for block:                                         # adaLN: six [B, H] vectors from c
        x = x + gate_msa · attn(LN(x)·(1 + scale_msa) + shift_msa)      # rotary on q, k; bidirectional
        x = x + gate_mlp · mlp(LN(x)·(1 + scale_mlp) + shift_mlp)       # GELU (tanh), width 4H
    logits = linear(LN(x)·(1 + scale) + shift)         # [B, L, V]

LayerNorm has no bias and normalises in float32. Attention is
``torch.nn.functional.scaled_dot_product_attention`` (softmax scale 1/√(H/heads), no causal mask, no
attention dropout — as the references' flash-attn call), so it runs on CPU. Dropout acts on the two
residual branches in training only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ctrlgen.models.dit.rotary import Rotary, apply_rotary

FREQUENCY_SIZE = 256  # width of the sinusoidal σ features (both references)


@dataclass
class DiTConfig:
    vocab_size: int  # V: rows of vocab_embed and outputs of the head (MASK included)
    hidden_size: int = 768  # H
    cond_dim: int = 128  # C: width of the σ conditioning vector
    n_blocks: int = 12  # DDiT blocks
    n_heads: int = 12  # attention heads (H divisible by n_heads)
    length: int = 1024  # sequence length the model was trained at (informational; RoPE extends)
    dropout: float = 0.1  # residual dropout (training only)
    mlp_ratio: int = 4  # MLP width / H (4 in both references)


class LayerNorm(nn.Module):
    """LayerNorm without bias, computed in float32: ``Tensor[B, L, H] -> Tensor[B, L, H]``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return F.layer_norm(x.float(), [self.dim]) * self.weight


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    """adaLN: ``x: Tensor[B, L, H]``, ``shift, scale: Tensor[B, 1, H]``."""
    return x * (1 + scale) + shift


class TimestepEmbedder(nn.Module):
    """σ: ``Tensor[B]`` -> ``Tensor[B, C]``: [cos(σ·f_k), sin(σ·f_k)] with f_k = 10000^{−k/128}, then an MLP."""

    def __init__(self, hidden_size: int, frequency_size: int = FREQUENCY_SIZE) -> None:
        super().__init__()
        self.frequency_size = frequency_size
        self.mlp = nn.Sequential(nn.Linear(frequency_size, hidden_size), nn.SiLU(),
                                 nn.Linear(hidden_size, hidden_size))

    @staticmethod
    def sinusoid(t: Tensor, dim: int, max_period: float = 10_000.0) -> Tensor:
        half = dim // 2
        freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
        args = t[:, None].float() * freqs[None]
        emb = torch.cat((torch.cos(args), torch.sin(args)), dim=-1)
        return F.pad(emb, (0, dim % 2))

    def forward(self, t: Tensor) -> Tensor:
        return self.mlp(self.sinusoid(t, self.frequency_size))


class EmbeddingLayer(nn.Module):
    """Token table named ``embedding`` (a bare parameter, as the references): ``LongTensor[B, L] -> [B, L, H]``."""

    def __init__(self, dim: int, vocab_size: int) -> None:
        super().__init__()
        self.embedding = nn.Parameter(torch.empty(vocab_size, dim))
        nn.init.kaiming_uniform_(self.embedding, a=math.sqrt(5))

    def forward(self, ids: Tensor) -> Tensor:
        return self.embedding[ids]


class DDiTBlock(nn.Module):
    """One pre-LN transformer block modulated by c: ``(x: [B, L, H], cos/sin: [L, D], c: [B, C]) -> [B, L, H]``."""

    def __init__(self, dim: int, n_heads: int, cond_dim: int, mlp_ratio: int = 4, dropout: float = 0.1) -> None:
        super().__init__()
        if dim % n_heads:
            raise ValueError(f"hidden size {dim} is not divisible by n_heads {n_heads}")
        self.n_heads, self.dropout = n_heads, dropout
        self.norm1 = LayerNorm(dim)
        self.attn_qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.attn_out = nn.Linear(dim, dim, bias=False)
        self.norm2 = LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.GELU(approximate="tanh"),
                                 nn.Linear(mlp_ratio * dim, dim))
        self.adaLN_modulation = nn.Linear(cond_dim, 6 * dim)
        nn.init.zeros_(self.adaLN_modulation.weight)  # zero modulation and gates at init, as DiT
        nn.init.zeros_(self.adaLN_modulation.bias)

    def _residual(self, x: Tensor, branch: Tensor, gate: Tensor) -> Tensor:
        return x + gate * F.dropout(branch, p=self.dropout, training=self.training)

    def attention(self, h: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        """``h: Tensor[B, L, H]`` -> ``Tensor[B, L, H]``; qkv split as (three, heads, head_dim) like the references."""
        b, n, _ = h.shape
        q, k, v = self.attn_qkv(h).view(b, n, 3, self.n_heads, -1).permute(2, 0, 3, 1, 4)  # 3 × [B, h, L, D]
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=0.0, is_causal=False)
        return self.attn_out(out.transpose(1, 2).reshape(b, n, -1))

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor, c: Tensor) -> Tensor:
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = self.adaLN_modulation(c)[:, None].chunk(6, -1)
        x = self._residual(x, self.attention(modulate(self.norm1(x), shift_msa, scale_msa), cos, sin), gate_msa)
        return self._residual(x, self.mlp(modulate(self.norm2(x), shift_mlp, scale_mlp)), gate_mlp)


class DDitFinalLayer(nn.Module):
    """Modulated LayerNorm and the output head: ``(x: [B, L, H], c: [B, C]) -> [B, L, V]`` (zero-initialised)."""

    def __init__(self, hidden_size: int, out_channels: int, cond_dim: int) -> None:
        super().__init__()
        self.norm_final = LayerNorm(hidden_size)
        self.linear = nn.Linear(hidden_size, out_channels)
        self.adaLN_modulation = nn.Linear(cond_dim, 2 * hidden_size)
        for p in (*self.linear.parameters(), *self.adaLN_modulation.parameters()):
            nn.init.zeros_(p)

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        shift, scale = self.adaLN_modulation(c)[:, None].chunk(2, dim=-1)
        return self.linear(modulate(self.norm_final(x), shift, scale))


class DiT(nn.Module):
    """The trunk: ``logits(ids: LongTensor[B, L], sigma: Tensor[B]) -> Tensor[B, L, V]``.

    Submodule names (``vocab_embed``, ``sigma_map``, ``rotary_emb``, ``blocks``, ``output_layer``) are the
    references', so their state dicts load unchanged.
    """

    def __init__(self, config: DiTConfig) -> None:
        super().__init__()
        self.dit_config = c = config
        self.vocab_embed = EmbeddingLayer(c.hidden_size, c.vocab_size)
        self.sigma_map = TimestepEmbedder(c.cond_dim)
        self.rotary_emb = Rotary(c.hidden_size // c.n_heads)
        self.blocks = nn.ModuleList(DDiTBlock(c.hidden_size, c.n_heads, c.cond_dim, c.mlp_ratio, c.dropout)
                                    for _ in range(c.n_blocks))
        self.output_layer = DDitFinalLayer(c.hidden_size, c.vocab_size, c.cond_dim)

    def logits(self, ids: Tensor, sigma: Tensor) -> Tensor:
        x = self.vocab_embed(ids)
        c = F.silu(self.sigma_map(sigma))
        cos, sin = self.rotary_emb(ids.shape[1], ids.device)
        for block in self.blocks:
            x = block(x, cos, sin, c)
        return self.output_layer(x, c)

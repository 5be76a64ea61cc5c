"""The LLaDA architecture (masked diffusion LM, e.g. GSAI-ML/LLaDA-8B-Base), written for ctrlgen.

Same maths and parameter names as the reference ``LLaDAModelLM`` (``model.transformer.*``), so its
``config.json`` + weights load unchanged (:meth:`LLaDAModel.from_reference`):

    x = wte(ids)                                     (* sqrt(d_model) if input_emb_norm)
    per block:  h = RMSNorm(x);  x += attn_out(Attention(RoPE(q_proj h), RoPE(k_proj h), v_proj h))
                h = RMSNorm(x);  x += ff_out(silu(ff_proj h) * up_proj h)
    logits = RMSNorm(x) @ ff_out  (or wte.T when weight_tying; / sqrt(d_model) if scale_logits)

Attention is bidirectional (no causal mask: the model denoises every position at once) and has no time
input — the masked positions themselves tell the model what is noise. Attention goes through
``torch.nn.functional.scaled_dot_product_attention`` (grouped-query heads with ``enable_gqa``), so it runs on
CPU and GPU alike. RoPE is the rotate-half layout (``cat(freqs, freqs)``) with the config's ``rope_theta``
(500000 in LLaDA-8B), computed in float32 when ``rope_full_precision``.

The interface the ``masked`` backend consumes: ``model(ids[B, L]) -> logits[B, L, vocab_size]``,
``model.mask_id``, ``model.vocab_size`` (logits of padding rows of the embedding past ``vocab_size`` are
dropped). No KV cache: every call is one full bidirectional pass.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ctrlgen.errors import CheckpointError
from ctrlgen.models.integrity import check_finite
from ctrlgen.models.llada.config import LLaDAConfig
from ctrlgen.models.reference_weights import check_state, read_state

TIED_OUTPUT = "model.transformer.ff_out.weight"  # present in some tied checkpoints; unused when tied


class RMSNorm(nn.Module):
    """``x / rms(x) * weight (+ bias)``; the normalisation runs in float32, the affine part in the model dtype."""

    def __init__(self, size: int, eps: float, affine: bool = True, bias: bool = False) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(size)) if affine else None
        self.bias = nn.Parameter(torch.zeros(size)) if affine and bias else None

    def forward(self, x: Tensor) -> Tensor:
        """x: Tensor[..., D] -> Tensor[..., D] (same dtype)."""
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        y = xf.to(x.dtype)
        if self.weight is not None:
            y = self.weight * y
        if self.bias is not None:
            y = y + self.bias
        return y


def rope_tables(length: int, head_dim: int, theta: float, device: torch.device) -> tuple[Tensor, Tensor]:
    """``(sin, cos)``: Tensor[L, head_dim] float32; frequencies repeated over both halves (rotate-half layout)."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim))
    angles = torch.outer(torch.arange(length, device=device, dtype=torch.float32), inv_freq)
    angles = torch.cat((angles, angles), dim=-1)
    return angles.sin(), angles.cos()


def apply_rope(x: Tensor, sin: Tensor, cos: Tensor) -> Tensor:
    """Rotate ``x``: Tensor[B, H, L, hd] by position; pairs are (i, i + hd/2)."""
    x1, x2 = x.chunk(2, dim=-1)
    return x * cos + torch.cat((-x2, x1), dim=-1) * sin


class LLaDABlock(nn.Module):
    """One pre-norm block (the reference's ``LLaDALlamaBlock``): bidirectional attention + SiLU-gated MLP."""

    def __init__(self, c: LLaDAConfig) -> None:
        super().__init__()
        self.c = c
        qkv_bias = c.include_bias or c.include_qkv_bias
        kv_dim = c.n_kv_heads * c.head_dim
        self.attn_norm = RMSNorm(c.d_model, c.rms_norm_eps, c.norm_affine, c.norm_bias)
        self.ff_norm = RMSNorm(c.d_model, c.rms_norm_eps, c.norm_affine, c.norm_bias)
        self.q_proj = nn.Linear(c.d_model, c.d_model, bias=qkv_bias)
        self.k_proj = nn.Linear(c.d_model, kv_dim, bias=qkv_bias)
        self.v_proj = nn.Linear(c.d_model, kv_dim, bias=qkv_bias)
        self.attn_out = nn.Linear(c.d_model, c.d_model, bias=c.include_bias)
        self.ff_proj = nn.Linear(c.d_model, c.mlp_hidden_size, bias=c.include_bias)   # gate (through SiLU)
        self.up_proj = nn.Linear(c.d_model, c.mlp_hidden_size, bias=c.include_bias)   # value
        self.ff_out = nn.Linear(c.mlp_hidden_size, c.d_model, bias=c.include_bias)

    def _rotate(self, x: Tensor, sin: Tensor, cos: Tensor) -> Tensor:
        if self.c.rope_full_precision:
            return apply_rope(x.float(), sin, cos).to(x.dtype)
        return apply_rope(x, sin.to(x.dtype), cos.to(x.dtype))

    def forward(self, x: Tensor, sin: Tensor, cos: Tensor, bias: Tensor | None) -> Tensor:
        """x: Tensor[B, L, D]; sin/cos: Tensor[L, hd] float32; bias: additive Tensor[B, 1, 1, L] or None."""
        return self.forward_kv(x, sin, cos, bias)[0]

    def forward_kv(self, x: Tensor, sin: Tensor, cos: Tensor, bias: Tensor | None,
                   cached: tuple[Tensor, Tensor] | None = None, start: int = 0) -> tuple[Tensor, Tensor, Tensor]:
        """``(x_out, k, v)``: the block on ``x: Tensor[B, l, D]`` (positions ``start … start + l − 1``; ``sin`` /
        ``cos``: Tensor[l, hd] for them) and its rotated keys / values ``Tensor[B, H_kv, l, hd]``. With ``cached``
        (the keys / values of all L positions from an earlier pass), the queries of the ``l`` positions attend to
        those, with the ``l`` positions' own entries replaced by the fresh ones (the block cache of
        :meth:`LLaDAModel.block_logits`)."""
        c = self.c
        b, length, _ = x.shape
        h = self.attn_norm(x)
        q = self.q_proj(h).view(b, length, c.n_heads, c.head_dim).transpose(1, 2)
        k = self.k_proj(h).view(b, length, c.n_kv_heads, c.head_dim).transpose(1, 2)
        v = self.v_proj(h).view(b, length, c.n_kv_heads, c.head_dim).transpose(1, 2)
        q, k = self._rotate(q, sin, cos), self._rotate(k, sin, cos)
        keys, values = k, v
        if cached is not None:
            keys, values = cached[0].clone(), cached[1].clone()
            keys[:, :, start:start + length], values[:, :, start:start + length] = k, v
        att = F.scaled_dot_product_attention(q, keys, values, attn_mask=bias, enable_gqa=c.n_kv_heads != c.n_heads)
        x = x + self.attn_out(att.transpose(1, 2).reshape(b, length, c.d_model))
        h = self.ff_norm(x)
        return x + self.ff_out(F.silu(self.ff_proj(h)) * self.up_proj(h)), k, v


class _Body(nn.Module):
    """Holds ``transformer`` (wte, blocks, ln_f, ff_out) so parameter names read ``model.transformer.*``."""

    def __init__(self, c: LLaDAConfig) -> None:
        super().__init__()
        # The embedding is created uninitialised and filled here only off the meta device: random init on
        # meta (from_reference builds there) would import torch's compiler stack, seconds for nothing.
        wte = nn.Embedding(c.embedding_size, c.d_model, _weight=torch.empty(c.embedding_size, c.d_model))
        if wte.weight.device.type != "meta":
            nn.init.normal_(wte.weight)
        parts: dict[str, nn.Module] = {
            "wte": wte,
            "blocks": nn.ModuleList(LLaDABlock(c) for _ in range(c.n_layers)),
            "ln_f": RMSNorm(c.d_model, c.rms_norm_eps, c.norm_affine, c.norm_bias),
        }
        if not c.weight_tying:
            parts["ff_out"] = nn.Linear(c.d_model, c.embedding_size, bias=c.include_bias)
        self.transformer = nn.ModuleDict(parts)


class LLaDAModel(nn.Module):
    """LLaDA masked diffusion LM: ``model(ids[B, L], attention_mask=None) -> logits[B, L, vocab_size]``."""

    def __init__(self, config: LLaDAConfig) -> None:
        super().__init__()
        self.config = config
        self.model = _Body(config)
        self.mask_id: int = config.mask_token_id
        self.vocab_size: int = config.vocab_size
        self.eos_id: int | None = config.eos_token_id

    def forward(self, ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        """ids: LongTensor[B, L]; attention_mask: Tensor[B, L] (1 = real token, 0 = padding no position may
        attend to) or None -> logits: Tensor[B, L, vocab_size] in the model dtype."""
        c, t = self.config, self.model.transformer
        x = self._embed(ids)
        sin, cos = rope_tables(ids.shape[1], c.head_dim, c.rope_theta, x.device)
        bias = None
        if attention_mask is not None and not bool(attention_mask.bool().all()):
            keep = attention_mask.bool().view(ids.shape[0], 1, 1, ids.shape[1])
            bias = torch.zeros(keep.shape, dtype=x.dtype, device=x.device).masked_fill(~keep, torch.finfo(x.dtype).min)
        for block in t.blocks:
            x = block(x, sin, cos, bias)
        return self._head(x)

    def prefill(self, ids: Tensor) -> tuple[Tensor, list[tuple[Tensor, Tensor]]]:
        """``(logits, cache)``: :meth:`forward` on ``ids: LongTensor[B, L]`` (no padding mask), and every layer's
        rotated keys / values ``Tensor[B, H_kv, L, hd]`` for :meth:`block_logits`."""
        c, t = self.config, self.model.transformer
        x = self._embed(ids)
        sin, cos = rope_tables(ids.shape[1], c.head_dim, c.rope_theta, x.device)
        cache = []
        for block in t.blocks:
            x, k, v = block.forward_kv(x, sin, cos, None)
            cache.append((k, v))
        return self._head(x), cache

    def block_logits(self, ids: Tensor, start: int, cache: list[tuple[Tensor, Tensor]]) -> Tensor:
        """The logits of positions ``start … start + l − 1`` only, ``ids: LongTensor[B, l]`` being their tokens
        now: each layer's queries there attend to the cached keys / values of every other position (from
        :meth:`prefill`) and to their own fresh ones — Fast-dLLM's block cache (arXiv:2505.22618, "DualCache").
        Exact (= ``forward(full)[:, start:start + l]``) while the block holds the tokens it held at the prefill;
        once they change, the other positions' keys / values from the second layer on are stale (they attended to
        the old block) — the approximation a sampler bounds by a fresh prefill at each block's start.
        ``Tensor[B, l, vocab_size]``."""
        c, t = self.config, self.model.transformer
        x = self._embed(ids)
        sin, cos = rope_tables(start + ids.shape[1], c.head_dim, c.rope_theta, x.device)
        sin, cos = sin[start:], cos[start:]
        for block, kv in zip(t.blocks, cache, strict=True):
            x = block.forward_kv(x, sin, cos, None, kv, start)[0]
        return self._head(x)

    def _embed(self, ids: Tensor) -> Tensor:
        c, t = self.config, self.model.transformer
        x = t.wte(ids)
        return x * c.d_model ** 0.5 if c.input_emb_norm else x

    def _head(self, x: Tensor) -> Tensor:
        c, t = self.config, self.model.transformer
        x = t.ln_f(x)
        logits = F.linear(x, t.wte.weight) if c.weight_tying else t.ff_out(x)
        if c.scale_logits:
            logits = logits * (1 / math.sqrt(c.d_model))
        return logits[..., : c.vocab_size]

    @classmethod
    def from_reference(cls, directory: str | os.PathLike, *, device: str | torch.device | None = None,
                       dtype: torch.dtype | None = None) -> LLaDAModel:
        """Load a reference checkpoint directory (``config.json`` with LLaDA's field names + weights, e.g. a
        download of GSAI-ML/LLaDA-8B-Base) in eval mode, as ``dtype`` (default float32) on ``device``.

        The module is built on the meta device and takes the file's tensors as they are (no second copy).
        Raises ``CheckpointError`` naming the field or tensor when the checkpoint does not fit.
        """
        directory = Path(directory)
        if not directory.is_dir():
            raise CheckpointError(f"checkpoint directory {directory} does not exist")
        path = directory / "config.json"
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            raise CheckpointError(f"{path} is missing", "a reference checkpoint has config.json beside its weights") \
                from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise CheckpointError(f"{path} is corrupted: {e}") from None
        if not isinstance(raw, dict):
            raise CheckpointError(f"{path} does not hold a JSON object")
        config = LLaDAConfig.from_reference(raw, source=str(path))
        with torch.device("meta"):
            model = cls(config)
        state = read_state(directory)
        expected = {k: v.shape for k, v in model.state_dict().items()}
        check_state(state, expected, str(directory), ignore=[TIED_OUTPUT] if config.weight_tying else [])
        state = {k: state[k] for k in expected}
        check_finite(state, directory)
        model.load_state_dict(state, assign=True)
        return model.to(device=device, dtype=dtype or torch.float32).eval()

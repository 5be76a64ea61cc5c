"""The masked backend's network: the LLaDA architecture (:class:`ctrlgen.models.llada.model.LLaDAModel`) in a
ctrlgen checkpoint, ids → clean-token logits.

``forward(ids: LongTensor[B, L]) -> Tensor[B, L, V]`` with the attributes ``mask_id``, ``vocab_size`` and
``config.seq_len``: the whole interface the sampler (:mod:`.sampler`) and the loss (:mod:`.diffusion`) read.
:class:`MaskedLLaDA` *holds* a ``LLaDAModel`` (same maths as a released LLaDA: RMSNorm, SiLU-gated MLP, RoPE,
bidirectional attention, no time input) and adds only what a ctrlgen checkpoint needs:

- a config in ctrlgen's terms (:class:`MaskedLLaDAConfig`: sizes, ``mask_id`` from the tokenizer, ``seq_len``),
  mapped onto :class:`~ctrlgen.models.llada.config.LLaDAConfig` by :meth:`MaskedLLaDAConfig.llada`;
- **MASK is never predicted**: the logit of ``mask_id`` is −∞ (MDLM's "zero masking probabilities"), so no
  probability mass goes to a token the clean text never holds and the sampler never has to ban it;
- a GPT-2-style initialisation for training from scratch (``LLaDAModel`` itself draws the embedding from N(0, 1),
  which is what a checkpoint load overwrites anyway).

A *reference* LLaDA directory (``config.json`` with LLaDA's own field names, e.g. GSAI-ML/LLaDA-8B-Base) is read
by ``LLaDAModel.from_reference(dir)``; give that model and a tokenizer whose ``vocab.mask_id`` is its
``mask_token_id`` to ``MaskedGenerator(model, tokenizer)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ctrlgen.errors import ConfigError
from ctrlgen.models.llada.config import LLaDAConfig
from ctrlgen.models.llada.model import LLaDAModel


def _positive(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"model.{name} must be a positive int, got {value!r}")


@dataclass
class MaskedLLaDAConfig:
    vocab_size: int  # V: every id the model reads, MASK included (len(tokenizer))
    mask_id: int | None = None  # the MASK token id; None = the tokenizer's (filled in by training.build)
    seq_len: int = 48  # canvas length (E2E: 99.3% of references fit in 48 with START/END); RoPE has no table limit
    d_model: int = 128  # transformer width (LLaDA-8B: 4096)
    n_heads: int = 4  # query heads; d_model / n_heads must be even (RoPE rotates pairs)
    n_kv_heads: int = 4  # key/value heads; < n_heads = grouped-query attention (LLaDA-8B: 32 of 32)
    n_layers: int = 4  # transformer blocks (LLaDA-8B: 32)
    mlp_hidden_size: int = 384  # SwiGLU width: 3 × d_model, LLaDA-8B's ratio (12288 / 4096)
    rope_theta: float = 10000.0  # RoPE base; LLaDA-8B's 500000 is for a 4096-token context, 48 positions need less
    rms_norm_eps: float = 1e-5  # RMSNorm epsilon (LLaDA-8B's)
    weight_tying: bool = False  # output through the embedding matrix (LLaDA-8B: separate ff_out)
    init_std: float = 0.02  # N(0, init_std) for weights at init; output projections / sqrt(2 · n_layers)

    def __post_init__(self) -> None:
        if isinstance(self.vocab_size, bool) or not isinstance(self.vocab_size, int) or self.vocab_size < 2:
            raise ConfigError(f"vocab_size must be an int >= 2, got {self.vocab_size!r}",
                              "pass len(tokenizer), MASK included")
        m = self.mask_id
        if m is not None and (isinstance(m, bool) or not isinstance(m, int) or not 0 <= m < self.vocab_size):
            raise ConfigError(f"field mask_id = {m!r} is outside the vocabulary [0, {self.vocab_size})",
                              "use the tokenizer's mask id (tokenizer.vocab.mask_id)")
        for name in ("seq_len", "d_model", "n_heads", "n_kv_heads", "n_layers", "mlp_hidden_size"):
            _positive(name, getattr(self, name))
        if not (isinstance(self.rope_theta, int | float) and math.isfinite(self.rope_theta) and self.rope_theta > 1):
            raise ConfigError(f"model.rope_theta must be a number > 1, got {self.rope_theta!r}")
        if not 0 < self.init_std < 1:
            raise ConfigError(f"model.init_std must be in (0, 1), got {self.init_std!r}")
        self.llada()  # the architecture's own checks (d_model / n_heads, even head width, GQA divisibility)

    def llada(self) -> LLaDAConfig:
        """The architecture's own config (``ConfigError`` when the sizes do not fit together)."""
        return LLaDAConfig(d_model=self.d_model, n_heads=self.n_heads, n_kv_heads=self.n_kv_heads,
                           n_layers=self.n_layers, mlp_hidden_size=self.mlp_hidden_size, vocab_size=self.vocab_size,
                           embedding_size=self.vocab_size, mask_token_id=int(self.mask_id or 0),
                           rope_theta=float(self.rope_theta), rms_norm_eps=self.rms_norm_eps,
                           weight_tying=self.weight_tying, max_sequence_length=self.seq_len,
                           eos_token_id=None, pad_token_id=None)


class MaskedLLaDA(nn.Module):
    """p_θ(x_0 | x_t) as logits: ``forward(ids: LongTensor[B, L]) -> Tensor[B, L, V]``, −∞ at ``mask_id``."""

    model_type = "llada"
    config_class = MaskedLLaDAConfig

    def __init__(self, config: MaskedLLaDAConfig) -> None:
        super().__init__()
        if config.mask_id is None:
            raise ConfigError("MaskedLLaDAConfig.mask_id is None", "pass mask_id=tokenizer.vocab.mask_id")
        self.config = config
        self.llada = LLaDAModel(config.llada())
        self._init(config)

    def _init(self, c: MaskedLLaDAConfig) -> None:
        """GPT-2-style: every weight ~ N(0, init_std), the residual outputs (attn_out, MLP ff_out) scaled by
        1 / sqrt(2 · n_layers), biases 0, RMSNorm weights 1 (as built)."""
        for name, p in self.llada.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif p.dim() == 2:
                residual = ".blocks." in name and name.endswith(("attn_out.weight", "ff_out.weight"))
                nn.init.normal_(p, std=c.init_std / (math.sqrt(2 * c.n_layers) if residual else 1.0))

    @property
    def mask_id(self) -> int:
        return int(self.config.mask_id)  # type: ignore[arg-type]

    @property
    def vocab_size(self) -> int:
        return self.config.vocab_size

    def forward(self, ids: Tensor) -> Tensor:
        """ids: LongTensor[B, L] (L ≤ seq_len is not enforced: RoPE extends) → logits: Tensor[B, L, V]."""
        return self._no_mask(self.llada(ids))

    def prefill(self, ids: Tensor) -> tuple[Tensor, list[tuple[Tensor, Tensor]]]:
        """``(forward(ids), cache)`` for :meth:`block_logits` (:meth:`LLaDAModel.prefill`)."""
        logits, cache = self.llada.prefill(ids)
        return self._no_mask(logits), cache

    def block_logits(self, ids: Tensor, start: int, cache: list[tuple[Tensor, Tensor]]) -> Tensor:
        """The logits of one block of positions against a cache (:meth:`LLaDAModel.block_logits`)."""
        return self._no_mask(self.llada.block_logits(ids, start, cache))

    def _no_mask(self, logits: Tensor) -> Tensor:
        return logits.index_fill(-1, torch.tensor([self.mask_id], device=logits.device), float("-inf"))

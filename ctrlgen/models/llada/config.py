"""The LLaDA configuration, read from the reference's own ``config.json`` field names.

The reference (``LLaDAConfig`` / ``ModelConfig`` of LLaDA's modelling code, an OLMo descendant) has many
switches; ctrlgen implements the path LLaDA-8B uses (``block_type="llama"``, RMSNorm, SiLU-gated MLP, RoPE,
bidirectional attention) plus the cheap switches around it (GQA/MQA, biases, weight tying, logit scaling,
input-embedding scaling, norm affine/bias). A field whose value would need another code path raises
:class:`~ctrlgen.errors.CheckpointError` naming the field, never a silent approximation.

A field missing from ``config.json`` takes the *reference's* default (what its ``ModelConfig`` would do),
so e.g. a config without ``block_type`` is refused as the reference's default ``"sequential"`` block.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ctrlgen.errors import CheckpointError, ConfigError

# The reference ModelConfig defaults for every field ctrlgen reads (used when config.json lacks the field).
REFERENCE_DEFAULTS: dict[str, Any] = {
    "d_model": 768, "n_heads": 12, "n_kv_heads": None, "multi_query_attention": None, "n_layers": 12,
    "mlp_ratio": 4, "mlp_hidden_size": None, "activation_type": "swiglu", "block_type": "sequential",
    "block_group_size": 1, "alibi": False, "rope": False, "rope_theta": 10000.0, "rope_full_precision": True,
    "attention_layer_norm": False, "layer_norm_type": "default", "layer_norm_with_affine": True,
    "rms_norm_eps": 1e-5, "include_bias": False, "include_qkv_bias": False, "bias_for_layer_norm": None,
    "scale_logits": False, "input_emb_norm": False, "vocab_size": 50257, "embedding_size": 50304,
    "weight_tying": True, "mask_token_id": 50256, "max_sequence_length": 1024, "eos_token_id": 50256,
    "pad_token_id": 50256,
}

# field -> the one value ctrlgen supports (the LLaDA-8B value); anything else needs code ctrlgen lacks.
SUPPORTED_VALUES: dict[str, Any] = {
    "block_type": "llama", "activation_type": "silu", "layer_norm_type": "rms", "rope": True, "alibi": False,
    "attention_layer_norm": False, "block_group_size": 1,
}

_HINT = "ctrlgen loads the LLaDA-8B architecture (block_type 'llama', RMSNorm, SiLU-gated MLP, RoPE)"


@dataclass(frozen=True)
class LLaDAConfig:
    """Resolved hyperparameters of a LLaDA model (defaults: LLaDA-8B-Base / -Instruct)."""

    d_model: int = 4096            # hidden width
    n_heads: int = 32              # query heads
    n_kv_heads: int = 32           # key/value heads (< n_heads: grouped-query attention)
    n_layers: int = 32             # transformer blocks
    mlp_hidden_size: int = 12288   # width of the gated MLP (ff_proj / up_proj outputs)
    vocab_size: int = 126464       # real tokens; logits are returned for these only
    embedding_size: int = 126464   # rows of wte (>= vocab_size; padding rows past vocab_size)
    mask_token_id: int = 126336    # the [MASK] token the masked-diffusion sampler writes
    rope_theta: float = 500000.0   # RoPE base
    rope_full_precision: bool = True  # rotate q/k in float32 whatever the model dtype
    rms_norm_eps: float = 1e-5     # RMSNorm epsilon
    include_bias: bool = False     # biases on every linear layer
    include_qkv_bias: bool = False  # biases on q/k/v projections only
    norm_affine: bool = True       # RMSNorm has a weight (reference: layer_norm_with_affine)
    norm_bias: bool = False        # RMSNorm has a bias (reference: bias_for_layer_norm, else include_bias)
    weight_tying: bool = False     # logits through wte.weight instead of a separate ff_out
    scale_logits: bool = False     # logits * 1/sqrt(d_model)
    input_emb_norm: bool = False   # embeddings * sqrt(d_model) before the first block
    max_sequence_length: int = 4096  # context trained at (RoPE itself does not cap the length)
    eos_token_id: int | None = 126081  # end of text (used by samplers for length via end-of-text)
    pad_token_id: int | None = 126081  # padding

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads or self.n_heads % self.n_kv_heads:
            raise ConfigError(f"d_model ({self.d_model}) must divide by n_heads ({self.n_heads}) and n_heads by "
                              f"n_kv_heads ({self.n_kv_heads})")
        if self.head_dim % 2:
            raise ConfigError(f"head_dim = d_model / n_heads = {self.head_dim} must be even for RoPE")
        if not 0 <= self.mask_token_id < self.vocab_size <= self.embedding_size:
            raise ConfigError(f"need 0 <= mask_token_id ({self.mask_token_id}) < vocab_size ({self.vocab_size}) "
                              f"<= embedding_size ({self.embedding_size})")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    @classmethod
    def from_reference(cls, cfg: Mapping[str, Any], source: str = "config.json") -> LLaDAConfig:
        """Validate a reference ``config.json`` dict; ``CheckpointError`` names the first bad field."""
        model_type = cfg.get("model_type", "llada")
        if model_type != "llada":
            raise CheckpointError(f"{source}: field 'model_type' is {model_type!r}, not 'llada'",
                                  "load this checkpoint with the loader of its own architecture")

        def get(name: str) -> Any:
            return cfg.get(name, REFERENCE_DEFAULTS[name])

        for name, supported in SUPPORTED_VALUES.items():
            if get(name) != supported:
                raise CheckpointError(f"{source}: field {name!r} = {get(name)!r} is not supported "
                                      f"(ctrlgen implements {name}={supported!r})", _HINT)
        d_model, n_heads = _int(get, "d_model", source), _int(get, "n_heads", source)
        if d_model % n_heads:
            raise CheckpointError(f"{source}: field 'd_model' = {d_model} is not divisible by n_heads = {n_heads}")
        n_kv = _kv_heads(get, n_heads, source)
        hidden = get("mlp_hidden_size")
        hidden = _int(get, "mlp_hidden_size", source) if hidden is not None \
            else _int(get, "mlp_ratio", source) * d_model
        vocab = _int(get, "vocab_size", source)
        emb = get("embedding_size")
        emb = vocab if emb is None else _int(get, "embedding_size", source)
        if emb < vocab:
            raise CheckpointError(f"{source}: field 'embedding_size' = {emb} is smaller than vocab_size = {vocab}")
        mask = get("mask_token_id")
        if isinstance(mask, bool) or not isinstance(mask, int) or not 0 <= mask < vocab:
            raise CheckpointError(f"{source}: field 'mask_token_id' = {mask!r} is not a token id in [0, {vocab})",
                                  "a masked diffusion LM needs its [MASK] id inside the vocabulary")
        theta = get("rope_theta")
        if isinstance(theta, bool) or not isinstance(theta, (int, float)) or not math.isfinite(theta) or theta <= 1:
            raise CheckpointError(f"{source}: field 'rope_theta' = {theta!r} must be a number > 1")
        eps = get("rms_norm_eps")
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 <= eps < 1:
            raise CheckpointError(f"{source}: field 'rms_norm_eps' = {eps!r} must be a number in [0, 1)")
        include_bias = _bool(get, "include_bias", source)
        norm_bias = get("bias_for_layer_norm")
        try:
            return cls(d_model=d_model, n_heads=n_heads, n_kv_heads=n_kv, n_layers=_int(get, "n_layers", source),
                       mlp_hidden_size=hidden, vocab_size=vocab, embedding_size=emb, mask_token_id=mask,
                       rope_theta=float(theta), rope_full_precision=_bool(get, "rope_full_precision", source),
                       rms_norm_eps=float(eps), include_bias=include_bias,
                       include_qkv_bias=_bool(get, "include_qkv_bias", source),
                       norm_affine=_bool(get, "layer_norm_with_affine", source),
                       norm_bias=include_bias if norm_bias is None else _bool(get, "bias_for_layer_norm", source),
                       weight_tying=_bool(get, "weight_tying", source), scale_logits=_bool(get, "scale_logits", source),
                       input_emb_norm=_bool(get, "input_emb_norm", source),
                       max_sequence_length=_int(get, "max_sequence_length", source),
                       eos_token_id=_token(get, "eos_token_id", emb), pad_token_id=_token(get, "pad_token_id", emb))
        except ConfigError as e:  # sizes that do not fit together (e.g. an odd head width)
            raise CheckpointError(f"{source}: {e.message}", _HINT) from None


def _int(get: Any, name: str, source: str) -> int:
    value = get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise CheckpointError(f"{source}: field {name!r} = {value!r} must be a positive integer")
    return value


def _bool(get: Any, name: str, source: str) -> bool:
    value = get(name)
    if not isinstance(value, bool):
        raise CheckpointError(f"{source}: field {name!r} = {value!r} must be true or false")
    return value


def _token(get: Any, name: str, size: int) -> int | None:
    """An optional special-token id: kept when it is a valid row of the embedding, else ``None`` (the
    reference ships GPT-2 defaults (50256) that tiny configs do not override; samplers must not trust those)."""
    value = get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < size else None


def _kv_heads(get: Any, n_heads: int, source: str) -> int:
    """The reference's ``effective_n_kv_heads``: ``n_kv_heads`` / ``multi_query_attention`` (one or the other)."""
    n_kv, mqa = get("n_kv_heads"), get("multi_query_attention")
    implied = None if mqa is None else (1 if mqa else n_heads)
    if n_kv is None:
        n_kv = implied or n_heads
    elif implied is not None and n_kv != implied:
        raise CheckpointError(f"{source}: fields 'n_kv_heads' = {n_kv} and 'multi_query_attention' = {mqa} "
                              "disagree", "set only one of them")
    if isinstance(n_kv, bool) or not isinstance(n_kv, int) or n_kv <= 0 or n_heads % n_kv:
        raise CheckpointError(f"{source}: field 'n_kv_heads' = {n_kv!r} must be a positive divisor of "
                              f"n_heads = {n_heads}")
    return n_kv

r"""MDLM in the ``kuleshov-group/mdlm-*`` layout (Sahoo et al., NeurIPS 2024): a DiT under ``backbone.*``.

**Clean-token log-probabilities (SUBS).** ``MDLMModel(ids)`` gives log p_θ(x0^i = v | x_t), ``Tensor[B, L, V]``:
the backbone's logits with the MASK logit set to −inf, log-softmax over v; at an unmasked position the
distribution is a point mass on the token already there (0 at it, −inf elsewhere: "carry-over unmasking").
With time conditioning off (every released MDLM) the backbone sees σ = 0 whatever the noise level.
The reference writes −1e6 where this module writes −inf; they agree after ``exp``.

**From x̂0 to the ratios SEDD's samplers consume** (absorbing graph, MASK = M). Forward process: each
position independently keeps its token with probability α_t = e^{−σ̄(t)} and becomes M otherwise (MDLM's
log-linear α_t = 1 − (1 − ε)t is SEDD's σ̄(t) = −log(1 − (1 − ε)t)). Let x_t have M at position i and let
y be x_t with position i set to v ≠ M. Since whether position i is masked is independent of all else,

    p_t(x_t) = (1 − α)·p_t(x_t^{−i}),
    p_t(y)   = α·P(x0^i = v, x_t^{−i}) = α·p(x0^i = v | x_t^{−i})·p_t(x_t^{−i}),

and x_t^i = M carries no information on x0^i, so p(x0^i = v | x_t^{−i}) = p(x0^i = v | x_t). Hence, exactly,

    s(x_t)_{i, M→v} = p_t(y) / p_t(x_t) = p(x0^i = v | x_t) · α/(1 − α) = p(x0^i = v | x_t) / (e^{σ̄} − 1).

:func:`subs_log_score` returns that as a log-score in ``ctrlgen.backends.discrete``'s convention (0 at each
position's own token): at a masked position log p_θ(v) − log(e^{σ̄} − 1) for v ≠ M and 0 at M; at an unmasked
position 0 at its token, log(e^{σ̄} − 1) at M and −inf elsewhere — the values of MDLM's own ``get_score``.
The absorbing graph's reverse rates out of an unmasked token are 0, so those entries are never used; the
ratios summed over v at a masked position are 1/(e^{σ̄} − 1) whatever the model, as the true ones.

Config: the Hugging Face layout of the hub models (``model_type: "mdlm"``; ``vocab_size`` counting MASK,
``hidden_dim``, ``cond_dim``, ``n_blocks``, ``n_heads``, ``model_length``, ``dropout``, ``time_conditioning``),
or the reference's hydra run config (``backbone: dit``, ``parameterization: subs``, ``time_conditioning``,
``model.{hidden_size, cond_dim, length, n_blocks, n_heads, dropout}``; V is read off the embedding table).
MASK is the last id (MDLM appends it to the tokenizer) unless the config names ``mask_index``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ctrlgen.errors import CheckpointError
from ctrlgen.models.dit.checkpoint import (
    dit_config,
    field,
    load_state,
    read_config,
    read_weights,
)
from ctrlgen.models.dit.layers import DiT, DiTConfig

EMBEDDING = "backbone.vocab_embed.embedding"
HUB_NAMES = {"hidden_size": "hidden_dim", "length": "model_length"}  # the hub config's names


@dataclass
class MDLMConfig:
    dit: DiTConfig  # the backbone; dit.vocab_size counts MASK
    mask_id: int  # MASK's id (the last one in the released models)
    time_conditioning: bool = False  # False: the backbone is fed σ = 0 (every released MDLM)

    @classmethod
    def from_reference(cls, cfg: dict[str, Any], state: Mapping[str, Tensor]) -> MDLMConfig:
        """Read either config layout (module doc); ``state`` gives V for the hydra layout."""
        if cfg.get("model_type") == "mdlm" or "MDLM" in (cfg.get("architectures") or []):
            dit = dit_config(cfg, field(cfg, "vocab_size", int), "config.json", HUB_NAMES)
        elif cfg.get("backbone") == "dit" and isinstance(cfg.get("model"), dict):
            where = "config.json: model"
            param = cfg.get("parameterization", "subs")
            if param != "subs":
                raise CheckpointError(f"config.json: parameterization {param!r} is not 'subs'",
                                      "ctrlgen reads MDLM checkpoints trained with the SUBS parameterisation")
            if EMBEDDING not in state:
                raise CheckpointError(f"weights: missing tensor {EMBEDDING!r}", "MDLM weights live under backbone.*")
            dit = dit_config(cfg["model"], int(state[EMBEDDING].shape[0]), where)
        else:
            kind = cfg.get("model_type", cfg.get("backbone"))
            raise CheckpointError(f"config.json: model_type {kind!r} is not an MDLM architecture",
                                  "expected model_type 'mdlm' (hub layout) or backbone 'dit' (MDLM run config)")
        mask = field(cfg, "mask_index", int, default=dit.vocab_size - 1)
        if not 0 <= mask < dit.vocab_size:
            raise CheckpointError(f"config.json: mask_index {mask} is outside the vocabulary [0, {dit.vocab_size})")
        return cls(dit=dit, mask_id=mask, time_conditioning=field(cfg, "time_conditioning", bool, default=False))


def subs_log_probs(logits: Tensor, ids: Tensor, mask_id: int) -> Tensor:
    """SUBS: ``logits: Tensor[B, L, V]``, ``ids: LongTensor[B, L]`` -> log p(x0 | x_t), ``Tensor[B, L, V]``."""
    logp = logits.float().index_fill(-1, torch.tensor([mask_id], device=logits.device), -math.inf).log_softmax(-1)
    carried = torch.full_like(logp, -math.inf).scatter(-1, ids[..., None], 0.0)
    return torch.where((ids != mask_id)[..., None], carried, logp)


def subs_log_score(log_probs: Tensor, ids: Tensor, sigma: Tensor | float, mask_id: int) -> Tensor:
    """x̂0 log-probs -> the absorbing graph's log-score at total noise σ̄ (module doc).

    ``log_probs: Tensor[B, L, V]`` (SUBS output), ``ids: LongTensor[B, L]``, ``sigma: Tensor[B]`` or a number.
    """
    s = torch.as_tensor(sigma, dtype=torch.float32, device=ids.device).reshape(-1)
    s = s.expand(ids.shape[0]) if s.numel() == 1 else s
    log_em1 = torch.expm1(s).clamp(min=torch.finfo(torch.float32).tiny).log()[:, None, None]  # log(e^σ̄ − 1)
    masked = (log_probs - log_em1).index_fill(-1, torch.tensor([mask_id], device=ids.device), 0.0)
    unmasked = torch.full_like(log_probs, -math.inf).scatter(-1, ids[..., None], 0.0)
    unmasked = unmasked.index_copy(-1, torch.tensor([mask_id], device=ids.device),
                                   log_em1.expand(*ids.shape, 1).to(unmasked.dtype))
    return torch.where((ids == mask_id)[..., None], masked, unmasked)


class MDLMModel(nn.Module):
    """``forward(ids: LongTensor[B, L], sigma=None) -> Tensor[B, L, V]``: log p_θ(x0 | x_t) (SUBS).

    ``log_score(ids, sigma)`` gives the absorbing log-score at σ̄ for SEDD-style samplers.
    """

    def __init__(self, config: MDLMConfig) -> None:
        super().__init__()
        self.config = config
        self.backbone = DiT(config.dit)

    @property
    def mask_id(self) -> int:
        return self.config.mask_id

    def logits(self, ids: Tensor, sigma: Tensor | float | None = None) -> Tensor:
        """The backbone's raw output ``Tensor[B, L, V]``; σ is replaced by 0 when time conditioning is off."""
        s = torch.zeros(ids.shape[0], device=ids.device) if sigma is None else \
            torch.as_tensor(sigma, dtype=torch.float32, device=ids.device).reshape(-1).expand(ids.shape[0])
        if not self.config.time_conditioning:
            s = torch.zeros_like(s)
        return self.backbone.logits(ids, s)

    def forward(self, ids: Tensor, sigma: Tensor | float | None = None) -> Tensor:
        return subs_log_probs(self.logits(ids, sigma), ids, self.config.mask_id)

    def log_score(self, ids: Tensor, sigma: Tensor | float) -> Tensor:
        return subs_log_score(self.forward(ids, sigma), ids, sigma, self.config.mask_id)

    @classmethod
    def from_reference(cls, directory: str | os.PathLike) -> MDLMModel:
        """Build from ``config.json`` and load the ``backbone.*`` weights; eval mode."""
        state = read_weights(directory)
        model = cls(MDLMConfig.from_reference(read_config(directory), state))
        load_state(model, state, source=f"{directory}")
        return model.eval()

"""SEDD's score network in the ``louaaron/sedd-*`` layout (Lou, Meng & Ermon, ICML 2024).

``SEDDModel(indices, sigma)[b, i, y]`` is the log concrete score log s_θ(x_t, σ̄)_{i, y} ≈
log p_t(x_t with position i set to y) / p_t(x_t): the DiT logits, shifted for an absorbing graph when
``scale_by_sigma`` is on by −log(e^{σ̄} − 1) − log(V − 1) (V counting MASK; ``expm1`` for σ̄ < 0.5, as the
reference), and 0 at each position's own token. σ̄ enters the σ embedder as it is (not its log).

Config (``config.json``, the omegaconf dict the reference's ``PyTorchModelHubMixin`` writes, either bare or
under a ``"config"`` key): ``tokens`` (vocabulary without MASK), ``graph.type`` (``absorb`` → MASK is id
``tokens`` and V = tokens + 1; ``uniform`` → V = tokens), ``model.{hidden_size, cond_dim, length, n_blocks,
n_heads, scale_by_sigma, dropout}``, ``model.type`` (``ddit`` when present). Parameter names are the
reference's (``vocab_embed.embedding``, ``sigma_map.mlp.0.weight``, ``blocks.0.attn_qkv.weight`` …).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ctrlgen.errors import CheckpointError
from ctrlgen.models.dit.checkpoint import (
    dit_config,
    field,
    load_state,
    read_config,
    read_weights,
)
from ctrlgen.models.dit.layers import DiT, DiTConfig

GRAPHS = {"absorb": "absorbing", "uniform": "uniform"}  # reference graph.type -> ctrlgen graph name


@dataclass
class SEDDConfig:
    dit: DiTConfig  # the trunk; dit.vocab_size counts MASK for an absorbing graph
    graph: str = "absorbing"  # "absorbing" or "uniform" (the reference's "absorb" / "uniform")
    scale_by_sigma: bool = True  # shift the log-score by −log(e^σ̄ − 1) − log(V − 1); absorbing only

    @property
    def mask_id(self) -> int | None:
        """MASK is the last id for an absorbing graph (GPT-2: 50257), none for a uniform one."""
        return self.dit.vocab_size - 1 if self.graph == "absorbing" else None

    @classmethod
    def from_reference(cls, cfg: dict[str, Any]) -> SEDDConfig:
        """Read the reference's config names; a missing or bad field raises ``CheckpointError`` naming it."""
        if isinstance(cfg.get("config"), dict) and "model" not in cfg:
            cfg = cfg["config"]  # the mixin's wrapped form
        model = field(cfg, "model", dict)
        kind = model.get("type", "ddit")
        if kind != "ddit":
            raise CheckpointError(f"config.json: model.type {kind!r} is not a SEDD architecture",
                                  "ctrlgen reads SEDD checkpoints with model.type 'ddit'")
        graph = field(field(cfg, "graph", dict), "type", str, "config.json: graph")
        if graph not in GRAPHS:
            raise CheckpointError(f"config.json: graph.type {graph!r} is not one of {sorted(GRAPHS)}")
        tokens = field(cfg, "tokens", int)
        m = "config.json: model"
        dit = dit_config(model, tokens + (graph == "absorb"), m)
        scale = field(model, "scale_by_sigma", bool, m)
        if scale and graph != "absorb":
            raise CheckpointError(f"{m}: scale_by_sigma is only defined for graph.type 'absorb', got {graph!r}")
        return cls(dit=dit, graph=GRAPHS[graph], scale_by_sigma=scale)


class SEDDModel(DiT):
    """``forward(indices: LongTensor[B, L], sigma: Tensor[B] | float) -> Tensor[B, L, V]`` (log-score)."""

    def __init__(self, config: SEDDConfig) -> None:
        super().__init__(config.dit)
        self.config = config

    @property
    def mask_id(self) -> int | None:
        return self.config.mask_id

    def forward(self, indices: Tensor, sigma: Tensor | float) -> Tensor:
        s = torch.as_tensor(sigma, device=indices.device, dtype=torch.float32).reshape(-1)
        s = s.expand(indices.shape[0]) if s.numel() == 1 else s
        x = self.logits(indices, s)
        if self.config.scale_by_sigma:
            esigm1 = torch.where(s < 0.5, torch.expm1(s), s.exp() - 1)
            x = x - esigm1.log().to(x.dtype)[:, None, None] - math.log(x.shape[-1] - 1)
        return x.scatter(-1, indices[..., None], 0.0)

    @classmethod
    def from_reference(cls, directory: str | os.PathLike) -> SEDDModel:
        """Build from ``config.json`` and load ``model.safetensors`` / ``pytorch_model.bin``; eval mode."""
        model = cls(SEDDConfig.from_reference(read_config(directory)))
        load_state(model, read_weights(directory), source=f"{directory}")
        return model.eval()

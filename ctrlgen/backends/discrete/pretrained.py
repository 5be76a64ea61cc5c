"""Pretrained SEDD and MDLM checkpoints as the discrete backend's score network.

```python
from ctrlgen.backends.discrete.pretrained import load_pretrained_score
from ctrlgen.backends.discrete.sampler import SEDDSampler, fixed_tokens_projector

score, diffusion = load_pretrained_score("path/to/sedd-small")       # or an MDLM directory
x = SEDDSampler(steps=128).sample(score.eval(), diffusion, n=4, seq_len=None, generator=None,
                                  projector=fixed_tokens_projector(fixed, values)).tokens
```

:class:`PretrainedScore` gives the samplers what they read (``forward(x_t, σ̄) -> log-score [B, L, V]`` and a
``config`` with ``vocab_size``, ``seq_len``, ``graph``), so the predictors, exact conditioning by projection
and rate guidance run on it unchanged:

- SEDD (``louaaron/sedd-*``) *is* a score network: its output is used as it is;
- MDLM (``kuleshov-group/mdlm-*``) predicts clean tokens; its SUBS log-probs become absorbing ratios
  s_{M→v} = p_θ(x0 = v | x_t) / (e^{σ̄} − 1) (derived in :mod:`ctrlgen.models.dit.mdlm`).

The diffusion comes from the checkpoint: the absorbing graph with the model's MASK id (SEDD's ``graph.type``
``uniform`` → the uniform graph) and SEDD's ``noise`` section (``loglinear`` / ``geometric`` with
``sigma_min``/``sigma_max``); MDLM's released models use the log-linear schedule (α_t = 1 − (1 − ε)t, the same
σ̄(t) as SEDD's). Token ids are the checkpoint's (GPT-2 BPE for the released models): turning text into them
is the tokenizer's job, not this module's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

from ctrlgen.backends.discrete.diffusion import (
    DiscreteDiffusion,
    DiscreteDiffusionConfig,
)
from ctrlgen.errors import CheckpointError
from ctrlgen.models.dit.checkpoint import field, read_config
from ctrlgen.models.dit.mdlm import MDLMModel
from ctrlgen.models.dit.sedd import SEDDModel
from ctrlgen.models.reference_weights import reference_architecture


@dataclass(frozen=True)
class PretrainedScoreConfig:
    vocab_size: int  # V: ids the model scores, MASK included (what the sampler checks against the graph)
    seq_len: int  # the length the model was trained at (the sampler's default and maximum)
    graph: str  # "absorbing" or "uniform"
    mask_id: int | None  # MASK's id for the absorbing graph


class PretrainedScore(nn.Module):
    """``forward(x_t: LongTensor[B, L], sigma: Tensor[B]) -> Tensor[B, L, V]``: the log-score of a loaded
    SEDD model, or an MDLM model's x̂0 turned into absorbing ratios."""

    def __init__(self, net: SEDDModel | MDLMModel) -> None:
        super().__init__()
        self.net = net
        if isinstance(net, MDLMModel):
            self.config = PretrainedScoreConfig(net.config.dit.vocab_size, net.config.dit.length, "absorbing",
                                                net.mask_id)
        else:
            self.config = PretrainedScoreConfig(net.config.dit.vocab_size, net.config.dit.length, net.config.graph,
                                                net.mask_id)

    def forward(self, x_t: Tensor, sigma: Tensor) -> Tensor:
        if isinstance(self.net, MDLMModel):
            return self.net.log_score(x_t, sigma)
        return self.net(x_t, sigma)


def architecture(cfg: dict[str, Any]) -> str:
    """``"mdlm"`` or ``"sedd"`` from a reference ``config.json``; anything else is a ``CheckpointError``."""
    arch = reference_architecture(cfg)
    if arch in ("mdlm", "sedd"):
        return arch
    kind = cfg.get("model_type", cfg.get("architectures"))
    raise CheckpointError(f"config.json: model_type {kind!r} is neither a SEDD nor an MDLM checkpoint",
                          "the discrete backend loads louaaron/sedd-* and kuleshov-group/mdlm-* layouts")


def _diffusion_config(cfg: dict[str, Any], graph: str) -> DiscreteDiffusionConfig:
    inner = cfg["config"] if isinstance(cfg.get("config"), dict) else cfg
    noise = inner.get("noise") if isinstance(inner.get("noise"), dict) else {"type": "loglinear"}
    kind = field(noise, "type", str, "config.json: noise")
    if kind == "loglinear":
        return DiscreteDiffusionConfig(graph=graph, noise="loglinear")
    if kind == "geometric":
        where = "config.json: noise"
        return DiscreteDiffusionConfig(graph=graph, noise="geometric",
                                       sigma_min=float(field(noise, "sigma_min", (int, float), where)),
                                       sigma_max=float(field(noise, "sigma_max", (int, float), where)))
    raise CheckpointError(f"config.json: noise.type {kind!r} is not 'loglinear' or 'geometric'")


def load_pretrained_score(directory: str | os.PathLike) -> tuple[PretrainedScore, DiscreteDiffusion]:
    """Load a SEDD or MDLM reference directory as ``(score network in eval mode, its diffusion)``."""
    cfg = read_config(directory)
    net: SEDDModel | MDLMModel = MDLMModel.from_reference(directory) if architecture(cfg) == "mdlm" \
        else SEDDModel.from_reference(directory)
    score = PretrainedScore(net).eval()
    c = score.config
    diffusion = DiscreteDiffusion.from_config(_diffusion_config(cfg, c.graph), c.vocab_size, c.mask_id)
    return score, diffusion

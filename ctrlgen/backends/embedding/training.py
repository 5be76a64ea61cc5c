"""How ``ctrlgen train`` builds the embedding backend's model (``backend = "embedding"`` in a run config)."""

from __future__ import annotations

from torch import nn

from ctrlgen.backends.embedding.diffusion import DiffusionConfig, EmbeddingObjective, GaussianDiffusion
from ctrlgen.backends.embedding.model import EmbeddingLM, EmbeddingLMConfig
from ctrlgen.text.tokenizer import Tokenizer

MODEL_CONFIG = EmbeddingLMConfig  # the [model] table (its vocab_size comes from the tokenizer)
DIFFUSION_CONFIG = DiffusionConfig  # the [diffusion] table


def build(mcfg: EmbeddingLMConfig, dcfg: DiffusionConfig, tok: Tokenizer) -> tuple[nn.Module, nn.Module]:
    """``(model, objective)`` for one run."""
    model = EmbeddingLM(mcfg)
    return model, EmbeddingObjective(model, GaussianDiffusion.from_config(dcfg))

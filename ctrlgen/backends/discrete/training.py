"""How ``ctrlgen train`` builds the discrete backend's SEDD score model (``backend = "discrete"``)."""

from __future__ import annotations

from torch import nn

from ctrlgen.backends.discrete.diffusion import DiscreteDiffusion, DiscreteDiffusionConfig, DiscreteObjective
from ctrlgen.backends.discrete.model import ScoreModel, ScoreModelConfig
from ctrlgen.errors import ConfigError
from ctrlgen.text.tokenizer import Tokenizer

MODEL_CONFIG = ScoreModelConfig  # the [model] table (its vocab_size comes from the tokenizer)
DIFFUSION_CONFIG = DiscreteDiffusionConfig  # the [diffusion] table


def build(mcfg: ScoreModelConfig, dcfg: DiscreteDiffusionConfig, tok: Tokenizer) -> tuple[nn.Module, nn.Module]:
    """``(model, objective)`` for one run; the model's graph and the diffusion's must agree."""
    if mcfg.graph != dcfg.graph:
        raise ConfigError(f"model.graph = {mcfg.graph!r} but diffusion.graph = {dcfg.graph!r}",
                          "set both to the same graph (the model's output scaling depends on it)")
    model = ScoreModel(mcfg)
    return model, DiscreteObjective(model, DiscreteDiffusion.from_config(dcfg, len(tok), tok.vocab.mask_id))

"""How ``ctrlgen train`` builds the masked backend's mask predictor (``backend = "masked"``): the ``[model]`` table is
:class:`~.llada.MaskedLLaDAConfig` (the LLaDA architecture; ``vocab_size`` and ``mask_id`` from the tokenizer),
``[diffusion]`` is :class:`~.diffusion.MaskedDiffusionConfig`; the loss is
:meth:`~.diffusion.MaskedDiffusion.training_losses`."""

from __future__ import annotations

from dataclasses import replace

from torch import nn

from ctrlgen.backends.masked.diffusion import (
    MaskedDiffusion,
    MaskedDiffusionConfig,
    MaskedObjective,
)
from ctrlgen.backends.masked.llada import MaskedLLaDA, MaskedLLaDAConfig
from ctrlgen.errors import ConfigError
from ctrlgen.text.tokenizer import Tokenizer

MODEL_CONFIG = MaskedLLaDAConfig  # the [model] table (vocab_size and mask_id come from the tokenizer)
DIFFUSION_CONFIG = MaskedDiffusionConfig  # the [diffusion] table


def build(mcfg: MaskedLLaDAConfig, dcfg: MaskedDiffusionConfig, tok: Tokenizer) -> tuple[nn.Module, nn.Module]:
    """``(model, objective)`` for one run; the model's MASK is the tokenizer's."""
    mask_id = tok.vocab.mask_id
    if mcfg.mask_id is not None and mcfg.mask_id != mask_id:
        raise ConfigError(f"model.mask_id = {mcfg.mask_id} but the tokenizer's [MASK] is {mask_id}",
                          "leave model.mask_id out (it is taken from the tokenizer)")
    model = MaskedLLaDA(replace(mcfg, mask_id=mask_id))
    return model, MaskedObjective(model, MaskedDiffusion(mask_id, dcfg))

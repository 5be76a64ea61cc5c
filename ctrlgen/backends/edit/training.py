"""How ``ctrlgen train`` builds the edit backend's models: ``backend = "edit"`` (DiffusER tagger + generator in
one module, the default) and ``backend = "edit-ar-generator"`` (the autoregressive span generator alone;
measured, not the default)."""

from __future__ import annotations

from types import SimpleNamespace

from torch import nn

from ctrlgen.backends.edit.ar_generator import EditARGenerator, EditARGeneratorConfig, EditARObjective
from ctrlgen.backends.edit.joint import EditModel, EditModelConfig, EditObjective, EditTrainingConfig
from ctrlgen.text.tokenizer import Tokenizer

MODEL_CONFIG = EditModelConfig  # the [model] table (its vocab_size comes from the tokenizer)
DIFFUSION_CONFIG = EditTrainingConfig  # the [diffusion] table: the edit corruption


def build(mcfg: EditModelConfig, dcfg: EditTrainingConfig, tok: Tokenizer) -> tuple[nn.Module, nn.Module]:
    """``(model, objective)`` for one run of the joint tagger + generator."""
    model = EditModel(mcfg)
    return model, EditObjective(model, dcfg)


def _build_ar(mcfg: EditARGeneratorConfig, dcfg: EditTrainingConfig, tok: Tokenizer) -> tuple[nn.Module, nn.Module]:
    model = EditARGenerator(mcfg)
    return model, EditARObjective(model, dcfg)


#: ``backend = "edit-ar-generator"``: the same three names as this module
AR_GENERATOR = SimpleNamespace(MODEL_CONFIG=EditARGeneratorConfig, DIFFUSION_CONFIG=EditTrainingConfig, build=_build_ar)

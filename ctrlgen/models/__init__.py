"""Shared neural-network pieces (no sampling, no training loop): the backbone, the AR LM (teacher and draft),
checkpoint save/load and the bundled-model lookup. Each backend's own model lives in ``ctrlgen/backends/<name>/``."""

from ctrlgen.models.ar_lm import ARLM, ARLMConfig, ARObjective
from ctrlgen.models.assets import DEFAULT_MODEL, MODELS, resolve_model_path
from ctrlgen.models.backbone import Backbone, BackboneConfig, TimestepEmbedding
from ctrlgen.models.pretrained import load_pretrained, read_config, save_pretrained

__all__ = ["ARLM", "DEFAULT_MODEL", "MODELS", "ARLMConfig", "ARObjective", "Backbone", "BackboneConfig",
           "TimestepEmbedding", "load_pretrained", "read_config", "resolve_model_path", "save_pretrained"]

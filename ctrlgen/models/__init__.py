"""Neural networks only (no sampling, no training loop)."""

from .backbone import Backbone, BackboneConfig, TimestepEmbedding
from .embedding_lm import EmbeddingLM, EmbeddingLMConfig
from .pretrained import load_pretrained, read_config, save_pretrained
from .score_model import ScoreModel, ScoreModelConfig

MODEL_TYPES = {EmbeddingLM.model_type: EmbeddingLM, ScoreModel.model_type: ScoreModel}

__all__ = ["Backbone", "BackboneConfig", "EmbeddingLM", "EmbeddingLMConfig", "MODEL_TYPES", "TimestepEmbedding",
           "ScoreModel", "ScoreModelConfig",
           "load_pretrained", "read_config", "save_pretrained"]

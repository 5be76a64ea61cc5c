"""Neural networks only (no sampling, no training loop)."""

from .ar_lm import ARLM, ARLMConfig, ARObjective
from .backbone import Backbone, BackboneConfig, TimestepEmbedding
from .edit_models import (
    IGNORE_INDEX,
    EditBatch,
    EditGenerator,
    EditGeneratorConfig,
    EditTagger,
    EditTaggerConfig,
    length_targets,
    make_edit_batch,
    placeholder_sequence,
)
from .edit_models_joint import EditModel, EditModelConfig, EditObjective, EditTrainingConfig
from .embedding_lm import EmbeddingLM, EmbeddingLMConfig
from .pretrained import load_pretrained, read_config, save_pretrained
from .score_model import ScoreModel, ScoreModelConfig

MODEL_TYPES = {m.model_type: m for m in (EmbeddingLM, ScoreModel, EditTagger, EditGenerator, EditModel, ARLM)}

__all__ = ["ARLM", "ARLMConfig", "ARObjective", "IGNORE_INDEX", "Backbone", "BackboneConfig", "EditBatch", "EditGenerator", "EditGeneratorConfig", "EditModel",
           "EditModelConfig", "EditObjective", "EditTrainingConfig",
           "EditTagger", "EditTaggerConfig", "length_targets", "make_edit_batch", "placeholder_sequence", "EmbeddingLM", "EmbeddingLMConfig", "MODEL_TYPES", "TimestepEmbedding",
           "ScoreModel", "ScoreModelConfig",
           "load_pretrained", "read_config", "save_pretrained"]

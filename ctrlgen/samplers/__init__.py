"""Sampling algorithms, one file each; every sampler is a small stateless object with a ``step()``."""

from .edit import EditSampler
from .edit_types import (
    EditCandidate,
    EditLayout,
    EditRevision,
    EditSampleOutput,
    EditStepOutput,
    Protect,
    RankFn,
    SpanGenerator,
    Tagger,
)
from .embedding import (
    EmbeddingSampler,
    FixedEmbeddings,
    SampleOutput,
    StepHook,
    StepOutput,
    round_to_words,
)
from .sedd import (
    PREDICTORS,
    Projector,
    SEDDSampleOutput,
    SEDDSampler,
    SEDDStepOutput,
    fixed_tokens_projector,
)

__all__ = [
    "PREDICTORS",
    "EditCandidate",
    "EditLayout",
    "EditRevision",
    "EditSampleOutput",
    "EditSampler",
    "EditStepOutput",
    "EmbeddingSampler",
    "FixedEmbeddings",
    "Projector",
    "Protect",
    "RankFn",
    "SEDDSampleOutput",
    "SEDDSampler",
    "SEDDStepOutput",
    "SampleOutput",
    "SpanGenerator",
    "StepHook",
    "StepOutput",
    "Tagger",
    "fixed_tokens_projector",
    "round_to_words",
]

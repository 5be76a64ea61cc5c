"""Sampling algorithms, one file each; every sampler is a small stateless object with a ``step()``."""

from .edit import (
    EditCandidate,
    EditRevision,
    EditSampleOutput,
    EditSampler,
    EditStepOutput,
    Protect,
    RankFn,
    SpanGenerator,
    Tagger,
)
from .embedding import EmbeddingSampler, FixedEmbeddings, SampleOutput, StepHook, StepOutput, round_to_words
from .sedd import PREDICTORS, Projector, SEDDSampleOutput, SEDDSampler, SEDDStepOutput, fixed_tokens_projector

__all__ = ["PREDICTORS", "EditCandidate", "EditRevision", "EditSampleOutput", "EditSampler", "EditStepOutput",
           "Protect", "RankFn", "SpanGenerator", "Tagger", "EmbeddingSampler", "FixedEmbeddings", "Projector", "SEDDSampleOutput", "SEDDSampler", "SEDDStepOutput",
           "SampleOutput", "StepHook", "StepOutput", "fixed_tokens_projector", "round_to_words"]

"""Sampling algorithms, one file each; every sampler is a small stateless object with a ``step()``."""

from .embedding import EmbeddingSampler, SampleOutput, StepHook, StepOutput, round_to_words

__all__ = ["EmbeddingSampler", "SampleOutput", "StepHook", "StepOutput", "round_to_words"]

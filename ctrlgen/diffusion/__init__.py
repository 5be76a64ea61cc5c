"""The math of each forward process and its loss (no weights)."""

from .discrete import Absorbing, DiscreteDiffusion, DiscreteDiffusionConfig, Geometric, LogLinear, Uniform
from .gaussian import DiffusionConfig, EmbeddingObjective, GaussianDiffusion, make_betas

__all__ = ["Absorbing", "DiffusionConfig", "DiscreteDiffusion", "DiscreteDiffusionConfig", "EmbeddingObjective",
           "GaussianDiffusion", "Geometric", "LogLinear", "Uniform", "make_betas"]

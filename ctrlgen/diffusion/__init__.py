"""The math of each forward process and its loss (no weights)."""

from .gaussian import DiffusionConfig, EmbeddingObjective, GaussianDiffusion, make_betas

__all__ = ["DiffusionConfig", "EmbeddingObjective", "GaussianDiffusion", "make_betas"]

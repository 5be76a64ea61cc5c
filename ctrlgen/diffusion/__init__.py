"""The math of each forward process and its loss (no weights)."""

from .discrete import Absorbing, DiscreteDiffusion, DiscreteDiffusionConfig, Geometric, LogLinear, Uniform
from .edits import Edit, EditDiffusion, EditDiffusionConfig, EditScript, align, apply_edits, edit_distance
from .gaussian import DiffusionConfig, EmbeddingObjective, GaussianDiffusion, make_betas

__all__ = ["Absorbing", "DiffusionConfig", "DiscreteDiffusion", "DiscreteDiffusionConfig", "Edit", "EditDiffusion",
           "EditDiffusionConfig", "EditScript", "EmbeddingObjective", "GaussianDiffusion", "Geometric", "LogLinear",
           "Uniform", "align", "apply_edits", "edit_distance", "make_betas"]

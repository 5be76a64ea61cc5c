"""Evaluation: teacher-free fluency statistics (oracles and teacher LM come with the evaluation issue)."""

from .fluency import BigramReference, distinct_n, length_histogram, well_formed

__all__ = ["BigramReference", "distinct_n", "length_histogram", "well_formed"]

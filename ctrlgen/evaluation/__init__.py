"""Evaluation: teacher-free fluency statistics and control metrics (oracles and teacher LM: evaluation issue)."""

from .fluency import BigramReference, distinct_n, length_histogram, well_formed
from .metrics import (
    EVALB_PUNCT_TAGS,
    BracketCounts,
    bracket_counts,
    constituent_spans,
    corpus_tree_f1,
    infill_bleu4,
    infill_rouge_l,
    labelled_brackets,
    length_success,
    pos_match,
    positions_to_word_span,
    read_span_target,
    semantic_success,
    span_success,
    tree_f1,
    word_span_to_positions,
)

__all__ = ["EVALB_PUNCT_TAGS", "BigramReference", "BracketCounts", "bracket_counts", "constituent_spans",
           "corpus_tree_f1", "distinct_n", "infill_bleu4", "infill_rouge_l", "labelled_brackets",
           "length_histogram", "length_success", "pos_match", "positions_to_word_span", "read_span_target",
           "semantic_success", "span_success", "tree_f1", "well_formed", "word_span_to_positions"]

"""Evaluation: teacher-free fluency statistics and control metrics (oracles and teacher LM: evaluation issue)."""

from ctrlgen.oracles.fluency import BigramReference, distinct_n, length_histogram, well_formed
from ctrlgen.oracles.metrics import (
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

# POS oracle (spaCy en_core_web_sm) and control targets (builders, Diffusion-LM JSON-lines formats).
from ctrlgen.evaluation.target_builders import (
           infill_targets,
           length_targets,
           pos_targets,
           semantic_targets,
           span_targets,
           tree_targets,
)
from ctrlgen.evaluation.targets import (
           DLM_FIELD_WORDS,
           TARGET_KINDS,
           InfillCase,
           LengthTarget,
           PosTarget,
           SemanticTarget,
           SpanTarget,
           TreeTarget,
           field_from_words,
           field_words,
           read_targets,
           write_targets,
)
from ctrlgen.oracles.pos import (
           POS_MODELS,
           UPOS_TAGS,
           UPOS_TO_UNIVERSAL12,
           POSModelNotFoundError,
           POSTagger,
           load_pos_pipeline,
           pos_tags,
)

__all__ += ["DLM_FIELD_WORDS", "POS_MODELS", "TARGET_KINDS", "UPOS_TAGS", "UPOS_TO_UNIVERSAL12", "InfillCase",
            "LengthTarget", "POSModelNotFoundError", "POSTagger", "PosTarget", "SemanticTarget", "SpanTarget",
            "TreeTarget", "field_from_words", "field_words", "infill_targets", "length_targets",
            "load_pos_pipeline", "pos_tags", "pos_targets", "read_targets", "semantic_targets", "span_targets",
            "tree_targets", "write_targets"]

# Teacher-LM fluency (lm-score): perplexity under a fixed, published ARLM teacher.
from ctrlgen.oracles.teacher import Teacher, TeacherScores, encode_for_teacher, lm_score, text_nlls

__all__ += ["Teacher", "TeacherScores", "encode_for_teacher", "lm_score", "text_nlls"]

# The evaluation harness behind `ctrlgen evaluate`: tasks, methods, oracles, target files.
from ctrlgen.evaluation.harness import EvalResult, Row, evaluate
from ctrlgen.evaluation.methods import METHODS, Method, PerTargetMethod, SampleContext, spaced_texts
from ctrlgen.evaluation.target_files import build_task_targets, read_task_targets
from ctrlgen.evaluation.tasks import TASKS, Task
from ctrlgen.oracles.bundle import MissingOracleError, Oracles

__all__ += ["METHODS", "TASKS", "EvalResult", "Method", "MissingOracleError", "Oracles", "PerTargetMethod", "Row",
            "SampleContext", "Task", "build_task_targets", "evaluate", "read_task_targets", "spaced_texts"]

"""The E2E control tasks: which targets they read, which oracles they need, how samples score.

Every scorer takes ``targets`` (one per target) and ``texts`` (for each target, the list of texts a
method produced for it) and returns metrics in **percent** (the paper's scale). Success-type metrics
are averaged the way Diffusion-LM's ``eval_control.py`` does: the mean over a target's samples, then
the mean over targets (a macro average; equal to the plain sample mean when every target has the
same number of samples).

- ``semantic``: the value occurs in the text as a run of whole words (:func:`semantic_success`).
- ``pos``: word-level exact match of the oracle's UPOS tags, truncated/padded to the target length.
- ``tree``: each sample's words are truncated or padded with ``"."`` to the target's word count, parsed,
  and scored against the target tree with labelled brackets; the root wrapper is not a bracket. Per
  target the bracket counts of its samples are summed (EVALB's corpus F1 over that target's samples,
  as Diffusion-LM ran EVALB once per target), then the F1s are averaged over targets. ``tree_f1``
  counts every word, as Diffusion-LM did (it relabelled every preterminal ``NN`` before EVALB, so no
  punctuation was deleted); ``tree_f1_punct`` deletes, from both trees, the words at the positions
  the *target* tree tags as punctuation (EVALB's ``COLLINS.prm`` labels ``, : `` '' .``), so the
  aligned trees keep equal lengths (deleting on each tree's own tags would make EVALB skip most
  pairs as "length unmatch"); ``tree_length_errors`` counts pairs that still differ in length
  (a parser that changed the number of words), which are skipped as EVALB skips them.
- ``spans``: the sample is parsed as is; success is the share of the target's spans ``(i, j, label)``
  that are constituents of the parse with exactly that unary chain (``span_success``, exact chain, as
  Diffusion-LM); ``span_success_any`` accepts the label anywhere in a unary chain.
- ``length``: word count within ±2 of the target (``length_within2``, the paper) and exact (``length_exact``,
  Diffusion-LM's code).
- ``infill``: corpus BLEU-4 over all samples (sacrebleu) and mean ROUGE-L F against the reference;
  ``*_mbr``: the same over one sample per target chosen by minimum Bayes risk (Diffusion-LM's αNLG
  protocol); ``fixed_preserved``: share of samples with every template word at its position.

The compositions ``semantic+pos`` and ``semantic+tree`` (Diffusion-LM's Table 4) are defined in
:mod:`.composite`, which registers them here.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ctrlgen.constraints.base import check_words
from ctrlgen.constraints.infill import parse_template
from ctrlgen.core.mbr import mbr_scores
from ctrlgen.errors import DataError
from ctrlgen.oracles.bundle import Oracles
from ctrlgen.oracles.metrics import (
    EVALB_PUNCT_TAGS,
    BracketCounts,
    _as_tree,
    bracket_counts,
    infill_bleu4,
    infill_rouge_l,
    length_success,
    pos_match,
    semantic_success,
    span_success,
)
from ctrlgen.registry import Registry
from ctrlgen.text.tokenizer import split_words

Texts = Sequence[Sequence[str]]
Scorer = Callable[[Sequence[Any], Texts, Oracles], dict[str, float | None]]
PAD_WORD = "."  # what Diffusion-LM padded short samples with before parsing them against a tree


@dataclass(frozen=True)
class Task:
    """One control task. ``columns``: metric keys for the table, the headline (ctrl success) first."""

    name: str
    kind: str  # the target kind it reads (a key of TARGET_KINDS)
    columns: tuple[str, ...]
    needs: tuple[str, ...]  # oracles (see Oracles.require)
    score: Scorer
    words_needed: Callable[[Any], int]  # words (START/END not counted) a target needs in the model's sequence

    @property
    def headline(self) -> str:
        return self.columns[0]


TASKS: Registry[Task] = Registry("evaluation task", builtin=("ctrlgen.evaluation.composite",))  # composites register there


def macro(per_target: Sequence[Sequence[float]]) -> float:
    """Mean over targets of the mean over each target's samples, in percent."""
    if not per_target or any(not s for s in per_target):
        raise DataError("every target needs at least one sample to score", hint="check the method's output")
    return 100 * statistics.fmean(statistics.fmean(s) for s in per_target)


def _flat(texts: Texts) -> list[str]:
    return [t for ts in texts for t in ts]


def _split_back(flat: Sequence[Any], texts: Texts) -> list[list[Any]]:
    out, k = [], 0
    for ts in texts:
        out.append(list(flat[k:k + len(ts)]))
        k += len(ts)
    return out


# -------------------------------------------------------------------------------------------- scorers
def score_semantic(targets: Sequence[Any], texts: Texts, oracles: Oracles) -> dict[str, float]:
    return {"semantic_success": macro([[float(semantic_success(t, g.value)) for t in ts]
                                       for g, ts in zip(targets, texts, strict=True)])}


def score_pos(targets: Sequence[Any], texts: Texts, oracles: Oracles) -> dict[str, float]:
    tags = _split_back(oracles.tag([split_words(t) for t in _flat(texts)]), texts)
    return {"pos_match": macro([[pos_match(p, g.tags) for p in ps] for g, ps in zip(targets, tags, strict=True)])}


def _fit(words: list[str], m: int) -> list[str]:
    return (words + [PAD_WORD] * m)[:m]


def align_punct(pred: Any, gold: Any) -> Any:
    """A copy of ``pred`` whose preterminal at word ``k`` is ``"."`` where ``gold``'s is a punctuation tag
    (:data:`EVALB_PUNCT_TAGS`) and never a punctuation tag elsewhere, so that EVALB's deletion removes
    the same positions from both trees. Both trees must have the same number of words."""
    out = pred.copy(deep=True)
    gold_tags = [tag for _, tag in gold.pos()]
    spots = [pos[:-1] for pos in out.treepositions("leaves")]
    if len(spots) != len(gold_tags):
        raise DataError(f"the trees have {len(spots)} and {len(gold_tags)} words", hint="pad or truncate first")
    for spot, tag in zip(spots, gold_tags, strict=True):
        if tag in EVALB_PUNCT_TAGS:
            out[spot].set_label(".")
        elif out[spot].label() in EVALB_PUNCT_TAGS:
            out[spot].set_label("NN")
    return out


def fitted_parses(targets: Sequence[Any], texts: Texts, oracles: Oracles) -> list[list[Any]]:
    """Each sample's words truncated or padded (:data:`PAD_WORD`) to its tree target's word count, parsed;
    the trees grouped per target like ``texts``."""
    sents = [_fit(split_words(t), len(g.words)) for g, ts in zip(targets, texts, strict=True) for t in ts]
    return _split_back(oracles.parse(sents), texts)


def score_tree(targets: Sequence[Any], texts: Texts, oracles: Oracles) -> dict[str, float | None]:
    return tree_scores(targets, fitted_parses(targets, texts, oracles))


def tree_scores(targets: Sequence[Any], trees: Sequence[Sequence[Any]]) -> dict[str, float | None]:
    """The tree metrics (module doc) of parses from :func:`fitted_parses` against their tree targets."""
    all_words, punct, errors = [], [], 0
    for g, preds in zip(targets, trees, strict=True):
        gold = _as_tree(g.tree)
        total, total_p, scored = BracketCounts(), BracketCounts(), 0
        for p in preds:
            try:
                total = total + bracket_counts(p, gold, punct_tags=())
                total_p, scored = total_p + bracket_counts(align_punct(p, gold), gold), scored + 1
            except DataError:  # the parse changed the number of words: EVALB's "Length unmatch", skipped
                errors += 1
        if scored:  # a target none of whose samples could be scored is left out of the mean, as in EVALB
            all_words.append(total.f1)
            punct.append(total_p.f1)
    return {"tree_f1": 100 * statistics.fmean(all_words) if all_words else None,
            "tree_f1_punct": 100 * statistics.fmean(punct) if punct else None,
            "tree_length_errors": float(errors)}


def score_spans(targets: Sequence[Any], texts: Texts, oracles: Oracles) -> dict[str, float]:
    trees = _split_back(oracles.parse([split_words(t) for t in _flat(texts)]), texts)

    def hit(tree: Any, spans: Sequence[tuple[int, int, str]], exact: bool) -> float:
        if tree is None:  # an empty sample has no constituents
            return 0.0
        return statistics.fmean(float(span_success(tree, i, j, lab, exact_chain=exact)) for i, j, lab in spans)

    pairs = list(zip(targets, trees, strict=True))
    return {"span_success": macro([[hit(t, g.spans, True) for t in ts] for g, ts in pairs]),
            "span_success_any": macro([[hit(t, g.spans, False) for t in ts] for g, ts in pairs])}


def score_length(targets: Sequence[Any], texts: Texts, oracles: Oracles) -> dict[str, float]:
    pairs = list(zip(targets, texts, strict=True))
    return {"length_within2": macro([[float(length_success(t, g.length, 2)) for t in ts] for g, ts in pairs]),
            "length_exact": macro([[float(length_success(t, g.length, 0)) for t in ts] for g, ts in pairs])}


def score_infill(targets: Sequence[Any], texts: Texts, oracles: Oracles) -> dict[str, float]:
    hyps = _flat(texts)
    refs = [g.reference for g, ts in zip(targets, texts, strict=True) for _ in ts]
    best = []
    for ts in texts:
        scores = mbr_scores(list(ts))
        best.append(ts[max(range(len(ts)), key=scores.__getitem__)])
    best_refs = [g.reference for g in targets]
    kept = [[float(s == 1.0) for s in check_words(list(ts), parse_template(g.template)[0], None)]
            for g, ts in zip(targets, texts, strict=True)]
    return {"bleu4": 100 * infill_bleu4(hyps, refs), "rouge_l": 100 * infill_rouge_l(hyps, refs),
            "bleu4_mbr": 100 * infill_bleu4(best, best_refs), "rouge_l_mbr": 100 * infill_rouge_l(best, best_refs),
            "fixed_preserved": macro(kept)}


# ---------------------------------------------------------------------------------------- the tasks
def _template_words(template: str) -> int:
    return parse_template(template)[1]


for _task in (
    Task("semantic", "semantic", ("semantic_success",), (), score_semantic, lambda g: len(g.value_words)),
    Task("pos", "pos", ("pos_match",), ("tagger",), score_pos, lambda g: len(g.tags)),
    Task("tree", "tree", ("tree_f1", "tree_f1_punct"), ("parser",), score_tree, lambda g: len(g.words)),
    Task("spans", "spans", ("span_success", "span_success_any"), ("parser",), score_spans,
         lambda g: max(j for _, j, _ in g.spans) + 1),
    Task("length", "length", ("length_within2", "length_exact"), (), score_length, lambda g: g.length),
    Task("infill", "infill", ("bleu4", "rouge_l", "fixed_preserved", "bleu4_mbr"), ("infill-metrics",),
         score_infill, lambda g: _template_words(g.template)),
):
    TASKS.register(_task.name, _task)

#: Column titles of the printed table (JSON keys stay as above).
TITLES: dict[str, str] = {
    "semantic_success": "semantic %", "pos_match": "POS match %", "tree_f1": "tree F1", "tree_f1_punct": "F1 -punct",
    "span_success": "span %", "span_success_any": "any-label %", "length_within2": "len ±2 %",
    "length_exact": "exact %", "bleu4": "BLEU-4", "rouge_l": "ROUGE-L", "fixed_preserved": "kept %",
    "bleu4_mbr": "BLEU-4 MBR",
}

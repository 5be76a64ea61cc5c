"""Check-face reranking, the generic fallback on any backend: draw ``n × rerank``, keep the ``n`` best by the checks.

:meth:`Generator.best_of <ctrlgen.core.contract.Generator.best_of>` calls the backend's own ``generate`` for
``n * rerank`` samples and keeps ``n`` of them: the ones whose ``report["satisfied"]`` is true first, then by the
constraints' combined check score (the weighted mean of each leaf's score), ties in the backend's own order (its
MBR order where it has one). Every per-sample report entry is cut to the kept samples in that order, and
``report["rerank"]`` says how many were drawn and how many passed — so a user sees what the constraint cost.
Without constraints (nothing to rank by) the first ``n`` are kept.

Two refinements, both inside the order above, never across "satisfied":

- **distinct texts first**: a text equal to a better-ranked one goes after every distinct text of its group
  (passing / not passing), so ``n`` kept samples are ``n`` different texts whenever the draw has them;
- **check-only constraints**: a leaf the backend cannot steer by (no face it uses: ``SyntaxTree`` on the discrete
  backend) but can check is left out of the draw and used only to rank (:func:`split_check_only`); the report
  still holds its check for every kept sample, and ``report["rerank"]["check_only"]`` names it — so
  ``best_of`` works on every backend for every checkable constraint;
- **fluency** (``fluency=``, off by default): among samples with equal checks, the more fluent first — a callable
  ``texts -> scores`` (higher is better) or ``"draft"``, the per-word log-likelihood under the bundled AR draft LM
  ``e2e-ar-draft`` (the edit backend's fluency model; *not* the teacher ``e2e-teacher-1`` that lm-scores are
  measured with).

**Trading check score for fluency** (``fluency_trade=w`` with ``fluency``): for graded checks (tree F1, POS word
match) "equal checks" almost never happens, so the tie-break above cannot buy fluency back. With a weight the
order is by ``score + w · fluency`` alone (still distinct texts first): one point of mean per-word log-likelihood
is worth ``w`` of check score (e.g. ``w = 0.2``: a tree F1 of 0.95 with log-likelihood −1.0 beats 1.00 with −1.3).
This crosses "satisfied" on purpose — an exact-tree sample can rank below a near-exact, fluent one — so it is
opt-in; ``report["rerank"]["fluency_trade"]`` records it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import torch

from ctrlgen.constraints.composition import (
    AllOf,
    ConstraintLike,
    PreparedConstraint,
    Weighted,
    as_constraint,
)
from ctrlgen.core.output import GenerationOutput, check_entries
from ctrlgen.errors import ConfigError
from ctrlgen.oracles.teacher import Teacher
from ctrlgen.registry import CHECK, BackendSpec

Fluency = Callable[[Sequence[str]], Sequence[float]]
DRAFT_LM = "e2e-ar-draft"


def order_by_checks(report: dict[str, Any], count: int, *, texts: Sequence[str] | None = None,
                    fluency: Sequence[float] | None = None, fluency_trade: float | None = None) -> list[int]:
    """Indices ``0 … count-1`` best first: satisfied, then mean check score (higher first), then ``fluency``
    (higher first, when given), then index; with ``fluency_trade`` w (and ``fluency``), by score + w · fluency
    alone (module doc). With ``texts``, a repeated text goes after the distinct ones of its group (satisfied or
    not; one group with a weight)."""
    satisfied = report.get("satisfied") or [None] * count
    constraints = report.get("constraints") or {}
    scores = [sum(c["scores"][k] for c in constraints.values()) / max(1, len(constraints)) for k in range(count)]
    fl = list(fluency) if fluency is not None else [0.0] * count
    if fluency_trade is not None:
        satisfied = [True] * count  # one group: the weighted sum decides
        order = sorted(range(count), key=lambda k: (-(scores[k] + fluency_trade * fl[k]), k))
    else:
        order = sorted(range(count), key=lambda k: (satisfied[k] is not True, -scores[k], -fl[k], k))
    if texts is None:
        return order
    seen: set[str] = set()
    repeated = []
    for k in order:
        repeated.append(texts[k] in seen)
        seen.add(texts[k])
    rank = {k: (satisfied[k] is not True, repeated[i], i) for i, k in enumerate(order)}
    return sorted(order, key=rank.__getitem__)


def split_check_only(constraints: ConstraintLike, spec: BackendSpec) -> tuple[ConstraintLike, list[str]]:
    """``(what the backend draws with, reprs of the leaves left out)``: leaves with no face ``spec`` steers by but
    a check face are left out (the draw is then ``None`` when nothing is left); ``constraints`` unchanged otherwise."""
    if constraints is None or constraints == []:
        return constraints, []
    kept: list[Any] = []
    left: list[str] = []
    for weight, leaf in as_constraint(constraints).leaves():
        if not (leaf.faces & spec.faces) and CHECK in leaf.faces:
            left.append(repr(leaf))
        else:
            kept.append(leaf if weight == 1.0 else Weighted(weight, leaf))
    if not left:
        return constraints, []
    return (AllOf(*kept) if len(kept) > 1 else kept[0] if kept else None), left


def check_report(out: GenerationOutput, constraints: ConstraintLike, spec: BackendSpec) -> GenerationOutput:
    """``out`` with its check entries (``report["constraints"]`` / ``["satisfied"]`` / ``["unchecked"]``) computed
    over every leaf of ``constraints`` (:func:`~ctrlgen.core.output.check_entries`), not only the drawn ones."""
    report = {**out.report, **check_entries(PreparedConstraint.for_checks(constraints, spec.name), out.texts)}
    return GenerationOutput(texts=out.texts, tokens=out.tokens, report=report, trajectory=out.trajectory)


def fluency_scores(fluency: Fluency | str, texts: Sequence[str]) -> list[float]:
    """``fluency`` (a callable, or ``"draft"``) on ``texts``: one score per text, higher = more fluent."""
    if fluency == "draft":
        scores = _draft_lm().nlls(list(texts))
        return [-float(v) for v in scores.per_text_perplexity().log()]  # mean per-token log-likelihood
    if not callable(fluency):
        raise ConfigError(f"fluency must be a callable texts -> scores or 'draft', got {fluency!r}",
                          "e.g. best_of(n=4, rerank=2, fluency='draft')")
    out = [float(v) for v in fluency(list(texts))]
    if len(out) != len(texts) or not all(math.isfinite(v) for v in out):
        raise ConfigError(f"the fluency callable returned {len(out)} scores (NaN or inf among them?) for {len(texts)} texts",
                          "return one finite float per text, higher = more fluent")
    return out


@lru_cache(maxsize=1)
def _draft_lm() -> Any:
    return Teacher.load(DRAFT_LM)


def keep_samples(out: GenerationOutput, keep: list[int]) -> GenerationOutput:
    """``out`` with only the samples ``keep`` (in that order): texts, ``tokens: LongTensor[n, L]`` and every report
    entry that holds one value per sample (lists of the call's length, each constraint's ``satisfied``/``scores``)."""
    n = len(out.texts)

    def cut(value: Any) -> Any:
        if isinstance(value, list) and len(value) == n:
            return [value[k] for k in keep]
        if isinstance(value, dict):
            return {key: cut(v) for key, v in value.items()}
        return value

    report = {key: cut(v) for key, v in out.report.items()}
    trajectory = None if out.trajectory is None else [[step[k] for k in keep] for step in out.trajectory]
    return GenerationOutput(texts=[out.texts[k] for k in keep], tokens=out.tokens[torch.tensor(keep)],
                            report=report, trajectory=trajectory)

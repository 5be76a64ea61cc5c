"""Check-face reranking, the generic fallback on any backend: draw ``n × rerank``, keep the ``n`` best by the checks.

:meth:`Generator.best_of <ctrlgen.core.contract.Generator.best_of>` calls the backend's own ``generate`` for
``n * rerank`` samples and keeps ``n`` of them: the ones whose ``report["satisfied"]`` is true first, then by the
constraints' combined check score (the weighted mean of each leaf's score), ties in the backend's own order (its
MBR order where it has one). Every per-sample report entry is cut to the kept samples in that order, and
``report["rerank"]`` says how many were drawn and how many passed — so a user sees what the constraint cost.
Without constraints (nothing to rank by) the first ``n`` are kept.
"""

from __future__ import annotations

from typing import Any

import torch

from ctrlgen.core.output import GenerationOutput


def order_by_checks(report: dict[str, Any], count: int) -> list[int]:
    """Indices ``0 … count-1`` best first: satisfied, then mean check score (higher first), then index."""
    satisfied = report.get("satisfied") or [None] * count
    constraints = report.get("constraints") or {}
    scores = [sum(c["scores"][k] for c in constraints.values()) / max(1, len(constraints)) for k in range(count)]
    return sorted(range(count), key=lambda k: (satisfied[k] is not True, -scores[k], k))


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

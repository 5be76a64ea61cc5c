"""What every backend returns: :class:`GenerationOutput`, built by the one report builder :func:`build_output`.

The report (``out.report``) has, per sample: ``well_formed`` (START … END then only PAD, and the text decodes
without loss: on a byte-level tokenizer a fragment of a character, which decodes to U+FFFD, makes a sample not
well formed — :meth:`~ctrlgen.text.base.BaseTokenizer.text_intact`), and with constraints
``constraints`` (per checkable leaf: ``satisfied`` and ``scores`` lists) and ``satisfied`` (every leaf holds:
True / False, or None — unknown — when a leaf has no check face; those leaves are listed in ``unchecked``);
plus call entries (``seconds``, ``steps``, ``seed`` and backend extras such as ``edits`` or ``mbr``). The
oracles behind the check faces run once per unique text per call: :func:`build_output` calls
:meth:`PreparedConstraint.check` once (each leaf judged once on the unique texts), and ``satisfied`` is derived
from the same results (:func:`~ctrlgen.constraints.composition.all_satisfied`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from ctrlgen.constraints.composition import PreparedConstraint, all_satisfied
from ctrlgen.oracles.fluency import well_formed


@dataclass
class GenerationOutput:
    texts: list[str]
    tokens: torch.Tensor  # Tensor[n, L] ids
    report: dict[str, Any] = field(default_factory=dict)  # well_formed per sample, seconds, ...
    trajectory: list[list[str]] | None = None  # per step, the n texts of round(x̂0)


def build_output(ids: torch.Tensor, tokenizer: Any, prepared: PreparedConstraint | None,
                 trajectory: list[list[str]] | None = None, **report: Any) -> GenerationOutput:
    """Decode ``ids: LongTensor[n, L]`` and report well-formedness and each constraint's check face
    (``report`` adds entries such as seconds, steps, seed). Shared by every backend's generator."""
    unk_words = prepared.hard.unk_words if prepared is not None and prepared.hard is not None else None
    texts = tokenizer.decode_batch(ids, unk_words)  # words fixed with allow_unk come back as written
    check = getattr(tokenizer, "text_intact", None)  # word-level spellings (the edit backend's) lose nothing
    intact = [True] * len(ids) if check is None else [check(row) for row in ids.tolist()]
    shape_ok = well_formed(ids, tokenizer.vocab).tolist()
    rep: dict[str, Any] = {"well_formed": [a and b for a, b in zip(shape_ok, intact, strict=True)], **report}
    if prepared is not None:
        rep.update(check_entries(prepared, texts))
    return GenerationOutput(texts=texts, tokens=ids, report=rep, trajectory=trajectory)


def check_entries(prepared: PreparedConstraint, texts: list[str]) -> dict[str, Any]:
    """The report's check entries for ``texts``: ``constraints`` (per leaf: satisfied and score per text),
    ``satisfied`` (per text), and where they apply ``served_by`` and ``unchecked`` — one oracle pass."""
    results = prepared.check(texts)
    rep: dict[str, Any] = {
        "constraints": {repr(r.constraint): {"satisfied": r.satisfied, "scores": r.scores} for r in results},
        "satisfied": all_satisfied(results, len(texts), unchecked=bool(prepared.unchecked))}
    served = {repr(t.constraint): t.constraint.served_by for t in prepared.terms if hasattr(t.constraint, "served_by")}
    if served:  # a leaf served by another form than its own (SemanticField with a value its classifier lacks)
        rep["served_by"] = served
    if prepared.unchecked:  # no check face: reported as unchecked, never as satisfied
        rep["unchecked"] = [repr(c) for c in prepared.unchecked]
    return rep


def decode_trajectory(batches: list[list[torch.Tensor]], tokenizer: Any) -> list[list[str]]:
    """Per-batch trajectories (``batches[b][k]``: ``LongTensor[n_b, L]`` ids at step k) → per step, all texts."""
    return [[text for b in batches for text in tokenizer.decode_batch(b[k])] for k in range(len(batches[0]))]

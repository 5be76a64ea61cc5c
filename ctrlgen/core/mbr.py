"""Minimum Bayes risk ordering of samples (``infill`` puts the MBR choice first)."""

from __future__ import annotations

from collections.abc import Sequence

from ctrlgen.core.output import GenerationOutput


def order_by_mbr(out: GenerationOutput, per_sample_keys: Sequence[str] = ()) -> GenerationOutput:
    """Reorder samples by minimum Bayes risk (highest mean sentence-BLEU against the others first), with every
    per-sample report entry (``well_formed``, ``satisfied``, the constraints' lists, and ``per_sample_keys``);
    ``report["mbr"]`` holds the scores. Modifies and returns ``out``."""
    scores = mbr_scores(out.texts)
    order = sorted(range(len(out.texts)), key=lambda i: -scores[i])
    out.texts = [out.texts[i] for i in order]
    out.tokens = out.tokens[order]
    for key in ("well_formed", "satisfied", *per_sample_keys):
        if key in out.report:
            out.report[key] = [out.report[key][i] for i in order]
    for rec in out.report.get("constraints", {}).values():
        rec["satisfied"] = [rec["satisfied"][i] for i in order]
        rec["scores"] = [rec["scores"][i] for i in order]
    out.report["mbr"] = [scores[i] for i in order]
    return out


def mbr_scores(texts: list[str]) -> list[float]:
    """Mean sentence-BLEU of each text against the others (1.0 for a single text)."""
    if len(texts) < 2:
        return [1.0] * len(texts)
    from sacrebleu.metrics import BLEU  # lazy: start-up speed

    bleu = BLEU(effective_order=True)
    return [sum(bleu.sentence_score(h, [r]).score for j, r in enumerate(texts) if j != i) / (len(texts) - 1) / 100
            for i, h in enumerate(texts)]

"""DiffusER's two span generators side by side, given the GOLD tags: placeholders + parallel fill (the bundled
``e2e-edit`` generator, Levenshtein-Transformer style) vs autoregressive spans (``EditARGenerator``, trained with
``recipes/configs/e2e_edit_ar_generator.toml``). Writes JSON::

    CTRLGEN_DATA=/path/to/data OMP_NUM_THREADS=1 python recipes/compare_generators.py \
        --ar runs/e2e-edit-ar-generator/model --out recipes/results/compare_generators.json

**Cases** (seeded, held out): ``--rows`` references of ``valid.csv`` (≤ 46 words, drawn with ``--seed``), each
corrupted with the training corruption of ``e2e_edit.toml`` for ``t`` steps, ``t ∈ {1, 3, 6}``, plus the
``empty`` start (``x_t`` = nothing, one INSERT of all of ``x_0`` at slot 0, as in training). Gold tags and spans are
the minimal alignment ``align(x_t, x_0)`` (the x0 targets both generators were trained on). Every case fits both
generators (neither input is ever longer than x_0).

**Metrics**, per ``t`` and over all cases:

- ``nll_per_word``: held-out negative log-likelihood of the gold spans (nats) divided by the number of gold span
  words. Placeholder = length NLL (−log p(gold length) at each REPLACE/INSERT slot, ``nll_length_per_word``) +
  fill NLL (−log p(gold word) at each [MASK], given the gold number of placeholders, ``nll_fill_per_word``).
  AR = the teacher-forced NLL of every span word, each with its go-on/STOP decision (STOP is folded into the last
  word), in the decoding order (all spans advance together). Both are proper likelihoods of the same span set
  given x_t, tags and t, so they compare.
- greedy decoding with the gold tags: ``span_word_acc`` (per span, position-wise matches over the longer of
  predicted and gold span, summed over spans), ``span_exact`` (share of spans written exactly), ``span_length_acc``;
  ``bleu4`` (sacrebleu corpus BLEU of the revised texts vs x_0, words joined by spaces) and ``word_edit_distance``
  (mean Levenshtein distance in words to x_0); the ``x_t`` row is the unrevised input, for scale.
- speed on one thread: encoder ``passes`` per revision and wall seconds per revision at batch 1 (the first
  ``--timing-rows`` cases of each t, one at a time) and at batch 32 (all cases of a t in batches of 32; seconds
  per batch and per revision). A placeholder revision is length pass → placeholders → fill pass; a predicted
  length total beyond 46 words is cut by shortening the longest spans (the edit sampler's ``fit`` does the same).
  A batch without REPLACE/INSERT slots (deletions only) takes no pass in either generator. The ``empty`` cases all
  have the same input (nothing, t = 6), so their greedy outputs are one text: only their NLL and speed say much.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from typing import Any

import torch

from ctrlgen.backends.edit.ar_generator import EditARGenerator
from ctrlgen.backends.edit.corruption import EditDiffusion
from ctrlgen.backends.edit.edits import Edit, EditScript, align, apply_edits, edit_distance
from ctrlgen.backends.edit.joint import EditModel, EditTrainingConfig, words_of
from ctrlgen.backends.edit.models import (
    IGNORE_INDEX,
    MASK_ID,
    EditGenerator,
    encode_batch,
    make_edit_batch,
    pad_targets,
)
from ctrlgen.evaluation.bench import data_dir, machine, write_json
from ctrlgen.models.assets import resolve_model_path
from ctrlgen.models.pretrained import load_pretrained
from ctrlgen.oracles.metrics import infill_bleu4
from ctrlgen.text.e2e import read_e2e_csv

Case = tuple[list[int], list[int], EditScript, float]  # (x_0, x_t, gold script, t)
STEPS = ("1", "3", "6", "empty")


def make_cases(refs: list[list[int]], dcfg: EditTrainingConfig, vocab_size: int, seed: int) -> dict[str, list[Case]]:
    process, out = EditDiffusion(dcfg, vocab_size), {}
    for name in STEPS:
        r, cases = random.Random(f"{seed}-{name}"), []
        for x0 in refs:
            if name == "empty":
                x_t, t = [], float(dcfg.steps)
            else:
                x_t, t = x0, float(name)
                for _ in range(int(name)):
                    nxt, _rev = process.corrupt_step(x_t, r)
                    if len(nxt) > 46:  # as in training: stop at the last state that fits
                        break
                    x_t = nxt
            script = align(x_t, x0)
            cases.append((x0, x_t, script, t))
        out[name] = cases
    return out


def spans_of(script: EditScript) -> list[tuple[int, ...]]:
    return [s for tg, s in zip(script.tags, script.spans) if tg in (Edit.REPLACE, Edit.INSERT)]


def batched(cases: list[Case], size: int) -> list[list[Case]]:
    return [cases[i:i + size] for i in range(0, len(cases), size)]


# -------------------------------------------------------------------------------------------- placeholder
def ph_nll(gen: EditGenerator, cases: list[Case]) -> tuple[float, float]:
    """Summed length NLL and fill NLL of the gold spans."""
    c = gen.config
    b = make_edit_batch([x[1] for x in cases], [x[2] for x in cases], c.seq_len, c.max_span)
    t = torch.tensor([x[3] for x in cases])
    with torch.no_grad():
        lp_len = gen.length_logits(b.ids, b.tags, t).log_softmax(-1)
        lp_fill = gen.fill_logits(b.fill_ids, t).log_softmax(-1)
    need = gen._needs_span(b.ids, b.tags) & (b.lengths != IGNORE_INDEX)
    ln = -lp_len.gather(-1, b.lengths.clamp(min=0)[..., None])[..., 0][need].sum()
    keep = b.fill_targets != IGNORE_INDEX
    fl = -lp_fill.gather(-1, b.fill_targets.clamp(min=0)[..., None])[..., 0][keep].sum()
    return float(ln), float(fl)


def ph_generate(gen: EditGenerator, cases: list[Case]) -> tuple[list[list[int]], list[list[tuple[int, ...]]], int]:
    """One greedy revision with the gold tags: (texts, spans per case, encoder passes)."""
    L = gen.config.seq_len
    if not any(spans_of(x[2]) for x in cases):  # deletions only: nothing to write, no pass (as the AR generator)
        return [apply_edits(x[1], x[2]) for x in cases], [[] for _ in cases], 0
    ids = encode_batch([x[1] for x in cases], L)
    tags = pad_targets([x[2].tags for x in cases], L)
    t = torch.tensor([x[3] for x in cases])
    lengths = gen.lengths(ids, tags, t)
    masked = []
    for b, (_x0, x_t, script, _t) in enumerate(cases):
        n = [int(v) if tg in (Edit.REPLACE, Edit.INSERT) else 0 for v, tg in zip(lengths[b].tolist(), script.tags)]
        while len(x_t) - sum(tg in (Edit.REPLACE, Edit.DELETE) for tg in script.tags[1:]) + sum(n) > L - 2:
            n[max(range(len(n)), key=lambda i: n[i])] -= 1  # cut the longest span (never below 1 in practice)
        masked.append((apply_edits(x_t, EditScript(script.tags, tuple((MASK_ID,) * k for k in n))), n))
    filled = gen.fill(encode_batch([m[0] for m in masked], L), t)
    texts, spans = [], []
    for row, (m, n) in zip(filled, masked):
        words = words_of(row)
        it = iter(w for w, s in zip(words, m) if s == MASK_ID)
        spans.append([tuple(next(it) for _ in range(k)) for k in n if k])
        texts.append(words)
    return texts, spans, 2


# ------------------------------------------------------------------------------------------------ AR
def ar_nll(gen: EditARGenerator, cases: list[Case]) -> float:
    lp, _n = gen.score_spans([x[1] for x in cases], [x[2] for x in cases], torch.tensor([x[3] for x in cases]))
    return float(-lp.sum())


def ar_generate(gen: EditARGenerator, cases: list[Case]) -> tuple[list[list[int]], list[list[tuple[int, ...]]], int]:
    L = gen.config.seq_len
    out = gen.generate_spans(encode_batch([x[1] for x in cases], L), pad_targets([x[2].tags for x in cases], L),
                             torch.tensor([x[3] for x in cases]))
    return out.texts, [[tuple(s) for s, tg in zip(sp, x[2].tags) if tg in (Edit.REPLACE, Edit.INSERT)]
                       for sp, x in zip(out.spans, cases)], out.passes


# ------------------------------------------------------------------------------------------- metrics
def quality(cases: list[Case], texts: list[list[int]], spans: list[list[tuple[int, ...]]], words: list[str]) -> dict:
    match = total = exact = same_len = n_spans = 0
    for x, pred in zip(cases, spans):
        for g, p in zip(spans_of(x[2]), pred):
            match += sum(a == b for a, b in zip(g, p))
            total += max(len(g), len(p))
            exact += g == p
            same_len += len(g) == len(p)
            n_spans += 1
    join = lambda ids: " ".join(words[i] for i in ids)
    return {"span_word_acc": match / total, "span_exact": exact / n_spans, "span_length_acc": same_len / n_spans,
            "bleu4": infill_bleu4([join(s) for s in texts], [join(x[0]) for x in cases]),
            "word_edit_distance": statistics.mean(edit_distance(s, x[0]) for s, x in zip(texts, cases))}


def timed(fn: Any, gen: Any, cases: list[Case], size: int) -> tuple[dict, list, list]:
    """Greedy revisions of ``cases`` in batches of ``size``: (timing, texts, spans)."""
    secs, passes, texts, spans = [], [], [], []
    for chunk in batched(cases, size):
        t0 = time.perf_counter()
        tx, sp, p = fn(gen, chunk)
        secs.append(time.perf_counter() - t0)
        passes.append(p)
        texts += tx
        spans += sp
    return ({"batch": size, "batches": len(secs), "passes_mean": statistics.mean(passes), "passes_max": max(passes),
             "s_per_batch": statistics.mean(secs), "s_per_revision": sum(secs) / len(cases)}, texts, spans)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="folder with e2e/valid.csv (default $CTRLGEN_DATA)")
    ap.add_argument("--placeholder", default="e2e-edit", help="EditModel checkpoint (name or directory)")
    ap.add_argument("--ar", default="runs/e2e-edit-ar-generator/model", help="EditARGenerator checkpoint directory")
    ap.add_argument("--rows", type=int, default=300)
    ap.add_argument("--timing-rows", type=int, default=60, help="cases per t timed at batch 1")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="recipes/results/compare_generators.json")
    a = ap.parse_args()
    torch.set_num_threads(1)
    ph_model, tok, ph_cfg = load_pretrained(resolve_model_path(a.placeholder), EditModel)
    ar, ar_tok, ar_cfg = load_pretrained(a.ar, EditARGenerator)
    if ar_tok.vocab.words != tok.vocab.words:
        raise SystemExit("the two checkpoints have different vocabularies")
    ph, ar = ph_model.generator.eval(), ar.eval()
    valid = [tok.encode(e.ref)[1:-1] for e in read_e2e_csv(data_dir(a.data) / "e2e" / "valid.csv", parse_mrs=False)]
    valid = [v for v in valid if len(v) <= 46]
    refs = random.Random(a.seed).sample(valid, a.rows)
    all_cases = make_cases(refs, EditTrainingConfig(**ph_cfg["diffusion"]), len(tok), a.seed)
    words = tok.vocab.words
    res: dict[str, Any] = {"machine": machine(), "rows": a.rows, "seed": a.seed, "placeholder": a.placeholder,
                           "ar": a.ar, "ar_training": ar_cfg.get("training"), "per_t": {}}
    pooled: dict[str, list] = {"cases": [], "placeholder": [[], []], "ar": [[], []]}
    for name in STEPS:
        cases = all_cases[name]
        n_words = sum(len(s) for x in cases for s in spans_of(x[2]))
        ln = fl = ar_n = 0.0
        for chunk in batched(cases, 32):
            l1, f1 = ph_nll(ph, chunk)
            ln, fl, ar_n = ln + l1, fl + f1, ar_n + ar_nll(ar, chunk)
        no_spans = [[() for _ in spans_of(x[2])] for x in cases]
        row: dict[str, Any] = {"cases": len(cases), "gold_spans": sum(map(len, no_spans)), "gold_span_words": n_words,
                               "x_t": quality(cases, [x[1] for x in cases], no_spans, words)}
        for key, fn, gen in (("placeholder", ph_generate, ph), ("ar", ar_generate, ar)):
            speed32, texts, spans = timed(fn, gen, cases, 32)  # the quality metrics use these revisions
            pooled[key][0] += texts
            pooled[key][1] += spans
            row[key] = {**quality(cases, texts, spans, words), "batch1": timed(fn, gen, cases[:a.timing_rows], 1)[0],
                        "batch32": speed32}
        row["placeholder"].update(nll_per_word=(ln + fl) / n_words, nll_length_per_word=ln / n_words,
                                  nll_fill_per_word=fl / n_words)
        row["ar"]["nll_per_word"] = ar_n / n_words
        pooled["cases"] += cases
        res["per_t"][name] = row
        print(name, {k: (row[k]["nll_per_word"], row[k]["span_exact"], row[k]["bleu4"],
                         row[k]["batch1"]["s_per_revision"]) for k in ("placeholder", "ar")}, flush=True)
    n_words = sum(r["gold_span_words"] for r in res["per_t"].values())
    res["all"] = {k: {**quality(pooled["cases"], *pooled[k], words),
                      "nll_per_word": sum(r["gold_span_words"] * r[k]["nll_per_word"] for r in res["per_t"].values())
                      / n_words} for k in ("placeholder", "ar")}
    write_json(a.out, res)


if __name__ == "__main__":
    main()

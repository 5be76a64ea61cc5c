"""Benchmark the edit backend (DiffusER, ``e2e-edit``) on the E2E *edit task* and write JSON.

    CTRLGEN_DATA=/path/to/data OMP_NUM_THREADS=1 python recipes/bench_edit.py \
        --out recipes/results/bench_edit.json

**Task** (held-out ``valid.csv``): take a reference whose MR has ``food`` (or ``near``) and whose text says the
value verbatim, change that field to another value of the same field (drawn with a fixed seed from the values
of ``train.csv``), and ask for ``SemanticField(field, new value)``. Metrics per method: success (the check
face: the new value occurs as whole words), word-level edit distance from the source (median, mean), share of
*untouched* words kept (source words outside the old value's span that survive the edit, by a minimal
alignment), fluency proxy (bigram precision against the training references), teacher lm-score
(``e2e-teacher-1`` perplexity; it learned from the same training data as the draft model, not as the edit model),
seconds per sample — all methods side by side in one run, on one thread.

**Methods**: the edit backend from the source text (DiffusER's source bootstrap) with the 2D beam (r, b) = (3, 3)
— the default —, greedy (1, 1), the 2D beam without check-guided proposals, and a ``rank_weight`` sweep; and
*regenerating from scratch* on the embedding backend (``ctrlgen.load("e2e")``) under the same constraint: that
baseline draws ``--regen-samples`` texts per case, guided by the semantic classifier beside the model when there
is one (the bundled ``e2e`` has one; without it ``SemanticField`` has only its check face), and keeps the first
that passes the check (else the first), i.e. "sample n and pick by the check face"; the JSON notes which.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from typing import Any

import torch

import ctrlgen
from ctrlgen import Length, SemanticField
from ctrlgen.backends.edit.edits import Edit, align, edit_distance
from ctrlgen.backends.edit.sampler import EditSampler
from ctrlgen.evaluation.bench import data_dir, machine, write_json
from ctrlgen.oracles.fluency import BigramReference
from ctrlgen.oracles.metrics import semantic_success
from ctrlgen.oracles.teacher import Teacher
from ctrlgen.text.e2e import read_e2e_csv
from ctrlgen.text.tokenizer import split_words


def cases(valid: list, train: list, fields: tuple[str, ...], per_field: int, vocab: Any, seed: int) -> list[dict]:
    """Edit cases: (source text, field, old value, new value), deterministic given ``seed``."""
    r = random.Random(seed)
    out = []
    for f in fields:
        values = sorted({e.mr[f] for e in train if f in e.mr and all(w in vocab for w in split_words(e.mr[f]))})
        rows = [e for e in valid if f in e.mr and semantic_success(e.ref, e.mr[f]) and len(split_words(e.ref)) <= 40]
        r.shuffle(rows)
        seen: set[str] = set()
        for e in rows:
            if e.ref in seen:
                continue
            seen.add(e.ref)
            new = r.choice([v for v in values if v != e.mr[f] and not semantic_success(e.ref, v)])
            out.append({"source": e.ref, "field": f, "old": e.mr[f], "new": new})
            if sum(c["field"] == f for c in out) == per_field:
                break
    return out


def untouched_kept(source: str, old: str, output: str) -> float:
    """Share of the source's words outside the old value's first occurrence that the output keeps."""
    sw, ow, tw = split_words(source), split_words(old), split_words(output)
    span = next((range(k, k + len(ow)) for k in range(len(sw)) if sw[k:k + len(ow)] == ow), range(0))
    index: dict[str, int] = {}
    a, b = ([index.setdefault(w, len(index)) for w in ws] for ws in (sw, tw))
    script = align(a, b)
    kept = [tag in (Edit.KEEP, Edit.INSERT) for tag in script.tags[1:]]
    untouched = [k for k in range(len(sw)) if k not in span]
    return sum(kept[k] for k in untouched) / max(1, len(untouched))


def word_distance(a: str, b: str) -> int:
    index: dict[str, int] = {}
    return edit_distance(*([index.setdefault(w, len(index)) for w in split_words(t)] for t in (a, b)))


def score(name: str, items: list[dict], outputs: list[str], seconds: float, ref: BigramReference, teacher: Teacher,
          extra: dict | None = None) -> dict:
    ok = [semantic_success(o, c["new"]) for c, o in zip(items, outputs)]
    dist = [word_distance(c["source"], o) for c, o in zip(items, outputs)]
    kept = [untouched_kept(c["source"], c["old"], o) for c, o in zip(items, outputs)]
    res = {"method": name, "n": len(items), "success": sum(ok) / len(ok),
           "success_by_field": {f: statistics.mean(s for s, c in zip(ok, items) if c["field"] == f)
                                for f in sorted({c["field"] for c in items})},
           "edit_distance_median": statistics.median(dist), "edit_distance_mean": statistics.mean(dist),
           "edit_distance_median_successes": statistics.median([d for d, s in zip(dist, ok) if s] or [float("nan")]),
           "untouched_kept": statistics.mean(kept), "bigram_precision": ref.precision(outputs),
           "teacher_lm_score": teacher.score(outputs), "seconds_per_sample": seconds / len(items), **(extra or {}),
           "examples": [{"source": c["source"], "ask": f"{c['field']}={c['new']}", "output": o, "ok": s}
                        for c, o, s in list(zip(items, outputs, ok))[:6]]}
    print(f"{name:<34} success {res['success']:.3f}  dist med {res['edit_distance_median']:>4}  kept "
          f"{res['untouched_kept']:.3f}  bigram {res['bigram_precision']:.3f}  lm {res['teacher_lm_score']:.2f}  "
          f"{res['seconds_per_sample']:.2f} s/sample", flush=True)
    return res


def run_edit(gen: Any, items: list[dict], sampler: EditSampler, t_start: float) -> tuple[list[str], float, list[int]]:
    t0, outs, steps = time.perf_counter(), [], []
    for c in items:
        out = gen.edit(c["source"], constraints=SemanticField(c["field"], c["new"]), sampler=sampler, t_start=t_start)
        outs.append(out.texts[0])
        steps.append(out.report["steps"][0])
    return outs, time.perf_counter() - t0, steps


def run_regenerate(items: list[dict], k: int, steps: int) -> tuple[list[str], float, str]:
    gen = ctrlgen.load("e2e")
    t0, outs, how = time.perf_counter(), [], "sample and pick by the check face"
    for i, c in enumerate(items):
        con = SemanticField(c["field"], c["new"])
        try:
            gen.prepare(con)
            out, how = gen.generate(n=k, steps=steps, seed=i, constraints=con), "classifier guidance + check pick"
        except ctrlgen.CtrlgenError:  # no semantic classifier beside the model: the check face only
            out = gen.generate(n=k, steps=steps, seed=i)
        good = [t for t in out.texts if con.satisfied([t])[0]]
        outs.append(good[0] if good else out.texts[0])
    return outs, time.perf_counter() - t0, how


def control(gen: Any, valid: list, n_targets: int, k: int, steps: int, ref: BigramReference, teacher: Teacher,
            seed: int) -> list[dict]:
    """``generate --backend edit`` (AR drafts revised toward the constraint) next to the embedding backend, on
    semantic targets (field values of valid.csv MRs) and length targets; one text per target."""
    r = random.Random(seed)
    sem = sorted({(f, v) for e in valid for f, v in e.mr.items() if f in ("food", "area", "eatType", "near", "name")})
    sem = [c for c in sem if all(w in gen.tokenizer.vocab for w in split_words(c[1]))]
    targets = [SemanticField(f, v) for f, v in r.sample(sem, min(n_targets, len(sem)))]
    targets += [Length(n) for n in r.sample(range(10, 31), min(n_targets // 2, 21))]
    emb = ctrlgen.load("e2e")
    out = []
    for name, run in (("edit generate (AR draft, best of 32, revised)", lambda c, i: gen.generate(n=1, seed=i, constraints=c).texts[0]),
                      (f"embedding (hard faces exact; check faces: pick of {k})", lambda c, i: _embedding_pick(emb, c, i, k, steps))):
        t0, texts = time.perf_counter(), [run(c, i) for i, c in enumerate(targets)]
        secs = time.perf_counter() - t0
        ok = [c.satisfied([t])[0] for c, t in zip(targets, texts)]
        kinds = {"semantic": [o for o, c in zip(ok, targets) if isinstance(c, SemanticField)],
                 "length": [o for o, c in zip(ok, targets) if isinstance(c, Length)]}
        res = {"method": name, "targets": len(targets), **{f"{kd}_success": statistics.mean(v) for kd, v in kinds.items()},
               "bigram_precision": ref.precision(texts), "teacher_lm_score": teacher.score(texts),
               "seconds_per_sample": secs / len(targets),
               "examples": [{"constraint": repr(c), "text": t, "ok": o} for c, t, o in list(zip(targets, texts, ok))[:4]]}
        print(f"{name:<52} semantic {res['semantic_success']:.3f} length {res['length_success']:.3f} bigram "
              f"{res['bigram_precision']:.3f} lm {res['teacher_lm_score']:.2f} {res['seconds_per_sample']:.2f} s/sample",
              flush=True)
        out.append(res)
    return out


def _embedding_pick(gen: Any, c: Any, seed: int, k: int, steps: int) -> str:
    try:
        out = gen.generate(n=k, steps=steps, seed=seed, constraints=c)
    except ctrlgen.CtrlgenError:  # no classifier for the soft face: sample unconstrained, pick by the check face
        out = gen.generate(n=k, steps=steps, seed=seed)
    good = [t for t in out.texts if c.satisfied([t])[0]]
    return good[0] if good else out.texts[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="e2e-edit")
    ap.add_argument("--data")
    ap.add_argument("--per-field", type=int, default=15, help="edit cases per field (food, near)")
    ap.add_argument("--regen-samples", type=int, default=8, help="embedding samples per case (pick by check)")
    ap.add_argument("--regen-steps", type=int, default=200)
    ap.add_argument("--sweep", type=int, default=10, help="cases for the rank_weight / t_start sweeps (0: skip)")
    ap.add_argument("--generate", type=int, default=12, help="semantic targets for the generate comparison (0: skip)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="recipes/results/bench_edit.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    root = data_dir(args.data) / "e2e"
    train, valid = read_e2e_csv(root / "train.csv"), read_e2e_csv(root / "valid.csv")
    ref, teacher = BigramReference([e.ref for e in train]), Teacher.load("e2e-teacher-1")
    gen = ctrlgen.load(args.model)
    items = cases(valid, train, ("food", "near"), args.per_field, gen.tokenizer.vocab, args.seed)
    res: dict[str, Any] = {"model": args.model, "machine": machine(), "seed": args.seed, "data": "e2e/valid.csv",
                           "cases": len(items), "teacher": {"name": teacher.name, "fingerprint": teacher.fingerprint},
                           "source_references": score("source (unchanged)", items, [c["source"] for c in items], 0.0,
                                                      ref, teacher), "methods": [], "sweeps": []}
    runs = [("edit 2D beam (3,3) [default]", EditSampler(decoding="beam", beam=(3, 3)), 1.0),
            ("edit greedy (1,1)", EditSampler(), 1.0),
            ("edit 2D beam (3,3), no proposals", EditSampler(decoding="beam", beam=(3, 3), explore=False), 1.0)]
    default_outs: list[str] = []
    for name, sampler, t in runs:
        outs, secs, steps = run_edit(gen, items, sampler, t)
        default_outs = default_outs or outs
        res["methods"].append(score(name, items, outs, secs, ref, teacher, {"revisions_mean": statistics.mean(steps)}))
    outs, secs, how = run_regenerate(items, args.regen_samples, args.regen_steps)
    res["methods"].append(score(f"embedding regenerate ({how}, n={args.regen_samples})", items, outs, secs, ref,
                                teacher, {"baseline": how}))
    if args.sweep:  # on a subset (half food, half near); the default's numbers on it for reference
        pick = list(range(args.sweep // 2)) + list(range(len(items) // 2, len(items) // 2 + args.sweep // 2))
        sub = [items[i] for i in pick]
        res["sweeps"].append(score("default (rank_weight=30, t_start=1) on the subset", sub,
                                   [default_outs[i] for i in pick], float("nan"), ref, teacher))
        for kw, t in (({"rank_weight": 10.0}, 1.0), ({"rank_weight": 100.0}, 1.0), ({"fluency_weight": 0.0}, 1.0),
                      ({}, 2.0)):
            outs, secs, _ = run_edit(gen, sub, EditSampler(decoding="beam", beam=(3, 3), **kw), t)
            label = ", ".join(f"{k}={v:g}" for k, v in kw.items()) or f"t_start={t:g}"
            res["sweeps"].append(score(f"{label} (subset)", sub, outs, secs, ref, teacher, {**kw, "t_start": t}))
    if args.generate:
        res["generate_control"] = control(gen, valid, args.generate, args.regen_samples, args.regen_steps, ref,
                                          teacher, args.seed)
    write_json(args.out, res, references={e.ref for e in train} | {e.ref for e in valid})  # no data in the repo


if __name__ == "__main__":
    main()

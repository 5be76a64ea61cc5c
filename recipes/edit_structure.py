"""Structure control on the edit backend (issue 14, items 1, 2 and 4): control, fluency, diversity and time.

    CTRLGEN_DATA=/path/to/data OMP_NUM_THREADS=1 python recipes/edit_structure.py \
        --out recipes/results/edit_structure.json

**Targets** (held-out ``valid.csv``, distinct references, drawn with ``--seed``): ``pos`` and ``tree`` on
``--short`` references of ≤ 15 words and ``--long`` references of ≥ 20 words (the POS tags by the spaCy oracle,
the trees by the bundled parser), and ``semantic+pos`` / ``semantic+tree`` composites
(:func:`ctrlgen.evaluation.composite.composite_targets`, ``--composite`` of each). Constraints as the control
table asks them (:func:`ctrlgen.evaluation.guided.constraints_for`).

**Run**: ``ctrlgen.load(--model).generate(n=--n, seed=k, constraints=…)`` per target ``k``, one thread, the oracle
memos cleared before each target (a cold call: nothing carried over between targets but the loaded models).

**Columns** per kind and length: success (``pos_match`` % / ``tree_f1`` / ``joint`` % and ``semantic_success``
for composites), bigram precision against the training references, teacher lm-score (``e2e-teacher-1``; it
learned the same data as the AR draft model, so it is optimistic for this backend), ``distinct_samples`` (the
mean number of different texts among a target's ``n``), distinct-2, self-BLEU (mean BLEU-4 of each sample against
the target's other samples) and seconds per target. A ``no control`` row (``generate`` without constraints, the
same seeds) gives the lm-score the issue's 1.5× bound refers to. The JSON keeps numbers and ids only.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from typing import Any

import torch
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

import ctrlgen
from ctrlgen.backends.edit import guides
from ctrlgen.backends.edit.sampler import EditSampler
from ctrlgen.evaluation.bench import data_dir, machine, write_json
from ctrlgen.evaluation.composite import (
    composite_targets,
    score_semantic_pos,
    score_semantic_tree,
)
from ctrlgen.evaluation.guided import constraints_for
from ctrlgen.evaluation.targets import PosTarget, TreeTarget
from ctrlgen.evaluation.tasks import score_pos, score_tree
from ctrlgen.oracles.bundle import Oracles
from ctrlgen.oracles.fluency import BigramReference, distinct_n
from ctrlgen.oracles.memo import clear_memos
from ctrlgen.oracles.teacher import Teacher
from ctrlgen.text.e2e import read_e2e_csv
from ctrlgen.text.tokenizer import split_words

SCORERS = {"pos": score_pos, "tree": score_tree, "semantic+pos": score_semantic_pos,
           "semantic+tree": score_semantic_tree}


def pick_sentences(valid: list, count: int, lo: int, hi: int, limit: int, seed: int) -> list[list[str]]:
    """``count`` distinct references of ``lo … hi`` words (and ≤ ``limit``), drawn with ``seed`` (file order)."""
    refs = list(dict.fromkeys(e.ref for e in valid))
    words = [split_words(r) for r in refs]
    ok = [w for w in words if lo <= len(w) <= min(hi, limit)]
    rng = random.Random(seed)
    return [ok[k] for k in sorted(rng.sample(range(len(ok)), min(count, len(ok))))]


def build(kind: str, sents: list[list[str]], oracles: Oracles) -> list[Any]:
    if kind == "pos":
        return [PosTarget(tuple(w), tuple(t)) for w, t in zip(sents, oracles.tag(sents), strict=True)]
    return [TreeTarget(t.pformat(margin=1 << 30) if not isinstance(t, str) else t, tuple(w))
            for w, t in zip(sents, oracles.parse(sents), strict=True)]


def self_bleu(texts: list[str]) -> float | None:
    """Mean BLEU-4 of each text against the others (1.0: all the same); ``None`` for fewer than 2 texts."""
    if len(texts) < 2:
        return None
    toks, smooth = [split_words(t) for t in texts], SmoothingFunction().method1
    return statistics.fmean(sentence_bleu(toks[:k] + toks[k + 1:], toks[k], smoothing_function=smooth)
                            for k in range(len(toks)))


def run(gen: Any, targets: list[Any], n: int, kw: dict[str, Any]) -> tuple[list[list[str]], list[float], list[bool]]:
    """``n`` samples per target; seconds per target are CPU seconds of this process (one thread: the wall time on an
    idle machine; the shared benchmark machine's wall time is also printed)."""
    texts, secs, sat = [], [], []
    for k, t in enumerate(targets):
        clear_memos()
        t0, c0 = time.perf_counter(), time.process_time()
        out = gen.generate(n=n, seed=k, constraints=constraints_for(t) if t is not None else None, **kw)
        secs.append(time.process_time() - c0)
        texts.append(list(out.texts))
        sat += [bool(s) for s in out.report.get("satisfied") or []]
        print(f"  target {k}: {secs[-1]:.1f} s CPU ({time.perf_counter() - t0:.1f} s wall), "
              f"{len(set(out.texts))} distinct", flush=True)
    return texts, secs, sat


def row(kind: str, targets: list[Any], texts: list[list[str]], secs: list[float], sat: list[bool],
        oracles: Oracles, ref: BigramReference, teacher: Teacher) -> dict[str, Any]:
    flat = [t for ts in texts for t in ts]
    res: dict[str, Any] = SCORERS[kind](targets, texts, oracles) if kind in SCORERS else {}
    bleus = [b for ts in texts if (b := self_bleu(ts)) is not None]
    res.update({"targets": len(texts), "words_mean": statistics.fmean(len(t.words) for t in targets)
                if targets and targets[0] is not None else None,
                "bigram_precision": ref.precision(flat), "teacher_lm_score": teacher.score(flat),
                "distinct_samples": statistics.fmean(len(set(ts)) for ts in texts),
                "distinct_2": statistics.fmean(distinct_n(ts, 2) for ts in texts),
                "self_bleu": statistics.fmean(bleus) if bleus else None,
                "report_satisfied": sum(sat) / max(1, len(sat)),
                "cpu_seconds_per_target": statistics.fmean(secs), "cpu_seconds_max": max(secs)})
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="e2e-edit")
    ap.add_argument("--data")
    ap.add_argument("--kinds", default="pos,tree,semantic+pos,semantic+tree")
    ap.add_argument("--short", type=int, default=6, help="pos/tree targets of ≤ 15 words")
    ap.add_argument("--long", type=int, default=6, help="pos/tree targets of ≥ 20 words")
    ap.add_argument("--composite", type=int, default=3, help="semantic+pos / semantic+tree targets")
    ap.add_argument("--n", type=int, default=4, help="samples per target")
    ap.add_argument("--no-control", type=int, default=6, help="unconstrained calls for the lm-score baseline")
    ap.add_argument("--diversity", type=float, default=None, help="the generate(diversity=) knob (default: its default)")
    ap.add_argument("--fluency-weight", type=float, default=None, help="ablation: EditSampler(fluency_weight=)")
    ap.add_argument("--draft-fluency", type=float, default=None, help="ablation: guides.DRAFT_FLUENCY")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--label", default="", help="a name for this run in the JSON (e.g. before / after)")
    ap.add_argument("--out", default="recipes/results/edit_structure.json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    root = data_dir(args.data) / "e2e"
    train, valid = read_e2e_csv(root / "train.csv"), read_e2e_csv(root / "valid.csv")
    ref, teacher, oracles = BigramReference([e.ref for e in train]), Teacher.load("e2e-teacher-1"), Oracles()
    gen = ctrlgen.load(args.model)
    kw: dict[str, Any] = {} if args.diversity is None else {"diversity": args.diversity}
    if args.fluency_weight is not None:
        kw["sampler"] = EditSampler(decoding="beam", beam=(3, 3), fluency_weight=args.fluency_weight)
    if args.draft_fluency is not None:  # a module constant: set for this process only (an ablation)
        guides.DRAFT_FLUENCY = args.draft_fluency
    res: dict[str, Any] = {"model": args.model, "label": args.label, "machine": machine(), "threads": 1,
                           "seed": args.seed, "n": args.n, "data": "e2e/valid.csv", "generate_kwargs": {k: repr(v) for k, v in kw.items()},
                           "draft_fluency": guides.DRAFT_FLUENCY,
                           "teacher": {"name": teacher.name, "fingerprint": teacher.fingerprint}, "rows": []}
    limit = gen.limit
    lengths = {"short": (1, 15, args.short), "long": (20, 10 ** 6, args.long)}
    for kind in args.kinds.split(","):
        groups: list[tuple[str, list[Any]]] = []
        if kind in ("pos", "tree"):
            for name, (lo, hi, count) in lengths.items():
                if count:
                    groups.append((name, build(kind, pick_sentences(valid, count, lo, hi, limit, args.seed), oracles)))
        else:
            tg = composite_targets(valid, kind, n=10 * args.composite, seed=args.seed, tag=oracles.tag,
                                   parse=oracles.parse)
            groups.append(("any", [t for t in tg if len(t.words) <= limit][:args.composite]))
        for name, targets in groups:
            print(f"{kind} {name}: {len(targets)} targets", flush=True)
            texts, secs, sat = run(gen, targets, args.n, kw)
            r = {"kind": kind, "length": name, **row(kind, targets, texts, secs, sat, oracles, ref, teacher)}
            print({k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()}, flush=True)
            res["rows"].append(r)
    if args.no_control:
        texts, secs, sat = run(gen, [None] * args.no_control, args.n, kw)
        r = {"kind": "no control", "length": "any", **row("none", [None], texts, secs, sat, oracles, ref, teacher)}
        print(r, flush=True)
        res["rows"].append(r)
    write_json(args.out, res, references={e.ref for e in train} | {e.ref for e in valid})


if __name__ == "__main__":
    main()

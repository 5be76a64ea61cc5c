"""Open-vocabulary semantic control: ``SemanticField`` for seen and unseen values, every backend, beside AR best-of-N.

    CTRLGEN_DATA=/path/to/data OMP_NUM_THREADS=1 python recipes/open_vocab.py --out recipes/results/open_vocab.json
    (--emb-steps 50 --sedd-steps 32 --out recipes/results/open_vocab_fast.json: the fast setting)
    # two shards side by side (--rows …), then one file: python recipes/open_vocab.py --merge a.json b.json --out …

Targets (issue 13): one field each; half of them have values that never occur in ``train.csv`` (new names and
``near`` landmarks written from in-vocabulary words — ``The Golden Mill``, ``Café Wildwood`` …, checked against the
training MRs at run time), the rest are training values of every field. Rows, side by side in one run on one
thread: ``embedding`` (``e2e``, ``--emb-steps``) and ``discrete`` (``e2e-sedd``, ``--sedd-steps``) with the default
``steer="auto"`` (the value's phrase placed by the backend; ``*-rerank2``: the same through ``best_of(rerank=2)``,
the n best of 2n by the checks; ``*-rerankR-fluent``: the same with ties among passing samples broken by the AR
draft LM's likelihood, ``best_of(..., fluency="draft")`` — the draft LM, not the teacher), the ``embedding`` classifier guidance of Diffusion-LM
(``steer="classifier"``, known values only), the ``edit`` backend (``e2e-edit`` generating from drafts; ``edit-rerankR-fluent``
for R = 2, 4, 8 and ``embedding-/discrete-rerank8/16-fluent``: more candidates, the same tie-break), and best-of-N
from the AR draft LM (``e2e-ar-draft``, N = 8 and 64, ranked by the same slot check; ``ar-best-of-64-fluent``: ties
among passing draws broken by the same draft-LM likelihood, the strongest plain-AR baseline), and FUDGE-guided
decoding of the same draft LM (``ar-fudge``: n guided draws; ``ar-fudge-best-of-8`` / ``-64``: the n best of 8 / 64
guided draws by the same check; λ = 2, its future discriminator in ``ctrlgen/assets/e2e-ar-draft/fudge``). Columns: success (the slot
check, :func:`ctrlgen.oracles.slots.slot_realised`) for seen and unseen values, bigram precision against the
training references, teacher lm-score (``e2e-teacher-1``) — over all targets, over the seen-value and the
unseen-value targets apart, and delexicalised (each unseen value swapped for a training value of its field, ``DELEX``,
before scoring: a new name is an unseen bigram and a surprise to the teacher by construction) —, seconds per target,
the texts of every target — and the same fluency columns for
each backend without any constraint (``*-no-control``, as many samples), the reference point of "≤ 1.5× lm-score".
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import time
from pathlib import Path
from typing import Any

import torch

import ctrlgen
from ctrlgen import SemanticField
from ctrlgen.evaluation.bench import data_dir, machine, write_json
from ctrlgen.evaluation.best_of_n import ar_best_of_n
from ctrlgen.evaluation.fudge import fudge_best_of, fudge_decode
from ctrlgen.evaluation.fudge_model import FutureDiscriminator
from ctrlgen.models.ar_lm import ARLM
from ctrlgen.models.assets import resolve_model_path
from ctrlgen.models.pretrained import load_pretrained
from ctrlgen.oracles.fluency import BigramReference
from ctrlgen.oracles.teacher import Teacher
from ctrlgen.text.e2e import read_e2e_csv

#: For the delexicalised fluency columns: each unseen value replaced by a training value of the same field and word
#: count before scoring, so that bigram precision and the teacher judge the sentence around the new name, not the name
#: itself (which no training reference has, by construction).
DELEX = {"The Golden Mill": "The Portland Arms", "Blue Phoenix": "Blue Spice", "Café Wildwood": "Café Sicilia",
         "The Punter Blue": "The Golden Palace", "Green Palace": "Green Man", "The Eagle Arms": "The Portland Arms"}
UNSEEN = [("near", "The Golden Mill"), ("name", "Blue Phoenix"), ("near", "Café Wildwood"), ("name", "The Punter Blue"),
          ("name", "Green Palace"), ("near", "The Eagle Arms")]
SEEN = [("food", "Japanese"), ("familyFriendly", "yes"), ("familyFriendly", "no"), ("customer rating", "high"),
        ("priceRange", "moderate"), ("area", "riverside"), ("eatType", "coffee shop"), ("near", "Café Rouge")]


def run_row(name: str, targets: list[tuple[str, str, bool]], draw: Any, ref: BigramReference,
            teacher: Teacher) -> dict[str, Any]:
    per, texts, secs = [], [], []
    by_seen: dict[bool, list[str]] = {True: [], False: []}
    delex: list[str] = []  # every text, unseen values swapped for training ones (DELEX)
    for field, value, seen in targets:
        t0 = time.perf_counter()
        out = draw(SemanticField(field, value, steer="classifier" if name == "embedding-classifier" else "auto"))
        secs.append(time.perf_counter() - t0)
        ok = SemanticField(field, value).satisfied(out)
        per.append({"field": field, "value": value, "seen": seen, "success": sum(ok) / len(ok), "texts": out})
        texts += out
        by_seen[seen] += out
        delex += out if seen else [t.replace(value, DELEX[value]) for t in out]
        print(f"{name:22s} {field}={value}: {sum(ok)}/{len(ok)}  {out[0]}", flush=True)
    seen = [p["success"] for p in per if p["seen"]]
    unseen = [p["success"] for p in per if not p["seen"]]
    return {"success": statistics.fmean(p["success"] for p in per),
            "success_seen": statistics.fmean(seen) if seen else None,
            "success_unseen": statistics.fmean(unseen) if unseen else None,
            "bigram_precision": ref.precision(texts), "lm_score": teacher.score(texts),
            # The same fluency columns on the seen-value and the unseen-value targets apart: a text that says an
            # unseen name pays the teacher's surprise at the name itself, which a row that never says it does not.
            **{f"{col}_{part}": (fn(by_seen[flag]) if by_seen[flag] else None)
               for part, flag in (("seen", True), ("unseen", False))
               for col, fn in (("bigram_precision", ref.precision), ("lm_score", teacher.score))},
            "bigram_precision_delex": ref.precision(delex), "lm_score_delex": teacher.score(delex),
            "s_per_target": statistics.fmean(secs), "targets": per}


def no_control_row(draw: Any, count: int, ref: BigramReference, teacher: Teacher) -> dict[str, Any]:
    t0 = time.perf_counter()
    texts = draw(count)
    return {"bigram_precision": ref.precision(texts), "lm_score": teacher.score(texts),
            "s_per_sample": (time.perf_counter() - t0) / count, "examples": texts[:3]}


def _num(v: float | None) -> str:
    return "—" if v is None else f"{v:.2f}"


def merge(paths: list[str], out: str) -> None:
    """One file from shards of the same targets and settings: rows and no-control rows side by side. A row in two
    shards must agree (the AR rows are deterministic: a repeated one checks that the shards measured alike)."""
    shards = [json.loads(Path(p).read_text(encoding="utf-8")) for p in paths]
    result = {**shards[0], "rows": {}, "no_control": {}, "merged_from": len(shards)}
    for shard in shards:
        for key in ("n", "emb_steps", "sedd_steps", "unseen", "seen"):
            if shard[key] != result[key]:
                raise SystemExit(f"shards differ in {key}: {shard[key]!r} vs {result[key]!r}")
        for part in ("rows", "no_control"):
            for name, row in shard[part].items():
                old = result[part].setdefault(name, row)
                keys = ("success", "bigram_precision", "lm_score")
                if any(old.get(k) != row.get(k) for k in keys):
                    raise SystemExit(f"row {name} differs between shards: {[(old.get(k), row.get(k)) for k in keys]}")
    Path(out).write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    print(f"wrote {out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data")
    ap.add_argument("-n", type=int, default=4, help="samples per target")
    ap.add_argument("--out", default="recipes/results/open_vocab.json")
    ap.add_argument("--rows", default=None, help="comma-separated subset of rows (default: all)")
    ap.add_argument("--emb-steps", type=int, default=200, help="the e2e default")
    ap.add_argument("--sedd-steps", type=int, default=128, help="the e2e-sedd default")
    ap.add_argument("--merge", nargs="+", metavar="JSON",
                    help="combine the rows of these result files (shards run side by side) into --out, then exit")
    args = ap.parse_args()
    if args.merge:
        return merge(args.merge, args.out)
    torch.set_num_threads(1)
    train = read_e2e_csv(data_dir(args.data) / "e2e" / "train.csv")
    known = {(f, v) for e in train for f, v in e.mr.items()}
    for f, v in UNSEEN:
        assert (f, v) not in known and ("near" if f == "name" else "name", v) not in known, (f, v)
        assert (f, DELEX[v]) in known, (f, DELEX[v])  # the stand-in is a training value of the same field
    targets = [(f, v, False) for f, v in UNSEEN] + [(f, v, True) for f, v in SEEN]
    ref = BigramReference([e.ref for e in train])
    emb, sedd, editor = ctrlgen.load("e2e"), ctrlgen.load("e2e-sedd"), ctrlgen.load("e2e-edit")
    ar, ar_tok, _ = load_pretrained(resolve_model_path("e2e-ar-draft"), ARLM)
    fudge_disc = functools.cache(FutureDiscriminator.load)  # loaded on first use (only the ar-fudge rows need it)
    teacher = Teacher.load("e2e-teacher-1")
    n, es, ss = args.n, args.emb_steps, args.sedd_steps
    rows = {
        "embedding": lambda c: emb.generate(n=n, steps=es, seed=0, constraints=c).texts,
        "discrete": lambda c: sedd.generate(n=n, steps=ss, seed=0, constraints=c).texts,
        "edit": lambda c: editor.generate(n=n, seed=0, constraints=c).texts,
        "embedding-rerank2": lambda c: emb.best_of(n=n, rerank=2, steps=es, seed=0, constraints=c).texts,
        "discrete-rerank2": lambda c: sedd.best_of(n=n, rerank=2, steps=ss, seed=0, constraints=c).texts,
        "embedding-rerank2-fluent": lambda c: emb.best_of(n=n, rerank=2, steps=es, seed=0, constraints=c,
                                                          fluency="draft").texts,
        "discrete-rerank2-fluent": lambda c: sedd.best_of(n=n, rerank=2, steps=ss, seed=0, constraints=c,
                                                          fluency="draft").texts,
        "embedding-rerank4-fluent": lambda c: emb.best_of(n=n, rerank=4, steps=es, seed=0, constraints=c,
                                                          fluency="draft").texts,
        "discrete-rerank4-fluent": lambda c: sedd.best_of(n=n, rerank=4, steps=ss, seed=0, constraints=c,
                                                          fluency="draft").texts,
        "edit-rerank2-fluent": lambda c: editor.best_of(n=n, rerank=2, seed=0, constraints=c, fluency="draft").texts,
        "ar-best-of-8": lambda c: ar_best_of_n(ar, ar_tok, c, keep=n, pool=8, seed=0).texts,
        "ar-best-of-64": lambda c: ar_best_of_n(ar, ar_tok, c, keep=n, pool=64, seed=0).texts,
        "ar-best-of-64-fluent": lambda c: ar_best_of_n(ar, ar_tok, c, keep=n, pool=64, seed=0, fluency="draft").texts,
        # FUDGE (issue 13): the draft LM guided by its future discriminator (ctrlgen/assets/e2e-ar-draft/fudge),
        # strength λ = 2 picked on 4 targets outside this list (food=Chinese, priceRange=cheap, name=The Blue Raja,
        # near=Café Cotto; 16 samples each, seed 100); "-best-of-P": P FUDGE draws ranked by the same slot check.
        "ar-fudge": lambda c: fudge_decode(ar, ar_tok, fudge_disc(), c, n=n, seed=0, strength=2.0).texts,
        "ar-fudge-best-of-8": lambda c: fudge_best_of(ar, ar_tok, fudge_disc(), c, keep=n, pool=8, seed=0,
                                                      strength=2.0).texts,
        "ar-fudge-best-of-64": lambda c: fudge_best_of(ar, ar_tok, fudge_disc(), c, keep=n, pool=64, seed=0,
                                                       strength=2.0).texts,
    }
    for r in (4, 8):  # more candidates per kept sample: ties among passing ones go to the more fluent
        rows[f"edit-rerank{r}-fluent"] = lambda c, r=r: editor.best_of(n=n, rerank=r, seed=0, constraints=c,
                                                                      fluency="draft").texts
        rows[f"discrete-rerank{r * 2}-fluent"] = lambda c, r=r: sedd.best_of(n=n, rerank=2 * r, steps=ss, seed=0,
                                                                            constraints=c, fluency="draft").texts
        rows[f"embedding-rerank{r * 2}-fluent"] = lambda c, r=r: emb.best_of(n=n, rerank=2 * r, steps=es, seed=0,
                                                                             constraints=c, fluency="draft").texts
    rows["embedding-classifier"] = lambda c: emb.generate(n=n, steps=es, seed=0, constraints=c).texts
    plain = {"embedding": lambda k: emb.generate(n=k, steps=es, seed=1).texts,
             "discrete": lambda k: sedd.generate(n=k, steps=ss, seed=1).texts,
             "edit": lambda k: editor.generate(n=k, seed=1).texts,
             "ar": lambda k: ar_tok.decode_batch(ar.sample(k, torch.Generator().manual_seed(1)))}
    wanted = args.rows.split(",") if args.rows else list(rows)
    result: dict[str, Any] = {"machine": machine(), "n": n, "emb_steps": es, "sedd_steps": ss, "unseen": UNSEEN,
                              "seen": SEEN, "rows": {}, "no_control": {}}
    for name in wanted:
        mine = [t for t in targets if t[2]] if name == "embedding-classifier" else targets  # it knows seen values only
        result["rows"][name] = run_row(name, mine, rows[name], ref, teacher)
    for name, draw in plain.items():
        if args.rows is None or any(w.startswith(name) for w in wanted):
            result["no_control"][name] = no_control_row(draw, n * len(targets), ref, teacher)
    write_json(args.out, result, references={e.ref for e in train})  # a sample that copies a reference: omitted
    for name, r in result["rows"].items():
        print(f"{name:22s} success {r['success']:.3f} (seen {r['success_seen']}, unseen {r['success_unseen']}) "
              f"bigram {r['bigram_precision']:.3f} lm {r['lm_score']:.2f} (seen {_num(r['lm_score_seen'])} / "
              f"unseen {_num(r['lm_score_unseen'])}; delexicalised bigram {r['bigram_precision_delex']:.3f} "
              f"lm {r['lm_score_delex']:.2f})  {r['s_per_target']:.1f} s/target")
    for name, r in result["no_control"].items():
        print(f"{name + '-no-control':22s} bigram {r['bigram_precision']:.3f} lm {r['lm_score']:.2f}")


if __name__ == "__main__":
    main()

"""Whole meaning representations (data-to-text): every backend beside AR best-of-N, seen and unseen values, one run.

    CTRLGEN_DATA=/path/to/data python recipes/mr_describe.py --out recipes/results/mr_describe.json
    # the slow edit row on the first 8 seen and 4 unseen MRs only:  --subset edit=8,4
    # the edit row in two processes (every 2nd MR each), then one table:
    #   --rows edit,ar-best-of-64 --shard 0/2 --out a.json & --shard 1/2 --out b.json; --combine a.json b.json --out c.json
    # (a stopped shard leaves a.json.partial with the MRs it finished; --combine takes it too)

Targets (issue 13, "whole MRs"): ``--seen`` distinct MRs of ``valid.csv`` with 3–8 fields (a seeded sample; each has
its references, grouped by MR) and ``--unseen`` MRs whose ``name`` and ``near`` values are replaced by names written
from in-vocabulary words (``Blue Phoenix``, ``Café Wildwood`` …; asserted never to be a value in a ``train.csv`` MR).
Each MR is one constraint, ``MR.constraint(allow_unk=True)`` (the conjunction of its ``SemanticField``s), and gets
``-n`` samples per row on one thread: ``embedding`` (``e2e``, 50 steps), ``discrete`` (``e2e-sedd``, 32 steps),
``edit`` (``e2e-edit`` generating from drafts: 128 AR drafts per sample for a whole MR, every field worth
a lone constraint in the beam ranking, ``name`` / ``near`` placed in the draft in place of its own words where that
reads better — :mod:`ctrlgen.backends.edit.generator`), ``ar-best-of-8`` / ``ar-best-of-64`` (``e2e-ar-draft`` samples
ranked by the same check, :func:`ctrlgen.evaluation.best_of_n.ar_best_of_n`), ``ar-fudge-best-of-8`` / ``-64`` (the
same with FUDGE-guided draws toward every field, λ = 2, :func:`ctrlgen.evaluation.fudge.fudge_best_of`),
``embedding-rerank4-fluent`` / ``-rerank16-fluent`` and the same for ``discrete`` (``best_of``: the ``n`` best of 4n
or 16n draws by the checks, ties broken by the draft LM). Samples are ordered as ``ctrlgen
describe`` orders them (every field first, then more fields, then the row's own order); the first is "the best".

Columns per row, for seen and unseen MRs separately: all-fields success (share of samples with every field
realised, by :meth:`MR.check`), per-field success (per field name and over all fields), BLEU-4 of the best sample
against the MR's references (sacrebleu ``corpus_bleu``; seen MRs only — the unseen ones have no references),
bigram precision of all samples against the training references, seconds per MR (wall clock and CPU).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import sacrebleu
import torch

import ctrlgen
from ctrlgen.cli.describe import records
from ctrlgen.constraints.mr import MR
from ctrlgen.errors import CtrlgenError
from ctrlgen.evaluation.bench import VERBATIM, data_dir, machine, write_json
from ctrlgen.evaluation.best_of_n import ar_best_of_n
from ctrlgen.evaluation.fudge import fudge_best_of
from ctrlgen.evaluation.fudge_model import FutureDiscriminator
from ctrlgen.models.ar_lm import ARLM
from ctrlgen.models.assets import resolve_model_path
from ctrlgen.models.pretrained import load_pretrained
from ctrlgen.oracles.fluency import BigramReference
from ctrlgen.text.e2e import read_e2e_csv

# new restaurant names and landmarks, every word in the bundled vocabulary, none a value of a training MR
UNSEEN_NAMES = ["Blue Phoenix", "The Golden Mill", "Green Palace", "The Punter Blue", "The Golden Plough",
                "Blue Mill", "The Green Eagle", "Golden Spice", "The Rice Mill", "The Wrestlers Arms"]
UNSEEN_NEAR = ["Café Wildwood", "The Eagle Arms", "The Golden Boat", "Café Avalon", "The Portland Mill",
               "The Rice Palace", "Café Green", "The Blue Boat", "The Cricketers Hall", "The Bakers Arms"]
ROWS = ("embedding", "discrete", "edit", "ar-best-of-8", "ar-best-of-64", "ar-fudge-best-of-8", "ar-fudge-best-of-64",
        "embedding-rerank4-fluent", "discrete-rerank4-fluent", "embedding-rerank16-fluent", "discrete-rerank16-fluent")


def pick_targets(valid: list[Any], train: list[Any], seen: int, unseen: int, seed: int) -> list[dict[str, Any]]:
    """``seen`` valid MRs (3–8 fields) with their references, then ``unseen`` valid MRs with new name/near values."""
    refs: dict[tuple[tuple[str, str], ...], list[str]] = defaultdict(list)
    for e in valid:
        refs[tuple(e.mr.items())].append(e.ref)
    pool = sorted(k for k in refs if 3 <= len(k) <= 8)
    rng = random.Random(seed)
    rng.shuffle(pool)
    known = {v for e in train for v in e.mr.values()}
    for v in UNSEEN_NAMES + UNSEEN_NEAR:
        assert v not in known, f"{v!r} is a value in train.csv"
    targets = [{"mr": str(MR(k)), "seen": True, "refs": refs[k]} for k in pool[:seen]]
    rest = pool[seen:] + pool[:seen]  # MRs not used as seen targets first (there are 60 distinct in valid.csv)
    rest.sort(key=lambda k: "near" not in dict(k))  # stable: those with a near value first, so both get replaced
    for j, k in enumerate(rest[:unseen]):
        fields = dict(k)
        fields["name"] = UNSEEN_NAMES[j % len(UNSEEN_NAMES)]
        if "near" in fields:
            fields["near"] = UNSEEN_NEAR[j % len(UNSEEN_NEAR)]
        targets.append({"mr": str(MR.of(fields)), "seen": False, "refs": []})
    return targets


def check_vocabulary(targets: list[dict[str, Any]], vocab: Any) -> list[str]:
    """Words of the unseen values the model does not know (must be none: they are written from its vocabulary)."""
    words = {w for t in targets if not t["seen"] for f, v in MR.parse(t["mr"]).pairs if f in ("name", "near")
             for w in v.split()}
    return sorted(w for w in words if w not in vocab)


def run_row(name: str, targets: list[dict[str, Any]], draw: Any, ref: BigramReference, n: int,
            checkpoint: Any = None) -> dict[str, Any]:
    """Draw for every target; the per-MR results and the row's summary (seen / unseen / all). ``checkpoint(per)``
    is called after every MR with the MRs done so far (references removed): a slow row that is stopped keeps them."""
    per = []
    for t in targets:
        mr = MR.parse(t["mr"])
        t0, c0, error = time.perf_counter(), time.process_time(), None
        try:
            texts = draw(mr.constraint(allow_unk=True))
        except CtrlgenError as e:  # a failed call counts as n samples that realise nothing (never claimed)
            texts, error = [""] * n, f"{type(e).__name__}: {e.message}"
            print(f"{name:14s} ERROR {error}", flush=True)
        secs, cpu = time.perf_counter() - t0, time.process_time() - c0
        recs = records(texts, mr.check(texts), {})
        per.append({**{k: t[k] for k in ("mr", "seen")}, "seconds": secs, "cpu_seconds": cpu, "texts": [r["text"] for r in recs],
                    "fields": [r["fields"] for r in recs], "best": recs[0]["text"], "refs": t["refs"],
                    **({"error": error} if error else {})})
        print(f"{name:14s} {sum(r['satisfied'] for r in recs)}/{len(recs)} {secs:5.1f}s  {t['mr']}\n"
              f"{'':14s} {recs[0]['text']}", flush=True)
        if checkpoint is not None:
            checkpoint([{k: v for k, v in p.items() if k != "refs"} for p in per])
    summary = summaries(per, ref)
    for p in per:
        del p["refs"]
    return {**summary, "mrs": per}


def summaries(per: list[dict[str, Any]], ref: BigramReference) -> dict[str, Any]:
    """:func:`summarise` for the seen MRs, the unseen ones and all."""
    out = {part: summarise([p for p in per if p["seen"] == s], ref) for part, s in (("seen", True), ("unseen", False))}
    return {**out, "all": summarise(per, ref)}


def summarise(per: list[dict[str, Any]], ref: BigramReference) -> dict[str, Any] | None:
    """All-fields and per-field success, BLEU-4 of the best samples (where there are references), bigram
    precision, seconds per MR."""
    if not per:
        return None
    samples = [f for p in per for f in p["fields"]]
    by_field: dict[str, list[bool]] = defaultdict(list)
    for f in samples:
        for field, ok in f.items():
            by_field[field].append(ok)
    with_refs = [p for p in per if p["refs"]]
    bleu = None
    if with_refs:
        most = max(len(p["refs"]) for p in with_refs)
        streams = [[p["refs"][j] if j < len(p["refs"]) else None for p in with_refs] for j in range(most)]
        bleu = sacrebleu.corpus_bleu([p["best"] for p in with_refs], streams).score
    return {"mrs": len(per), "samples": len(samples),
            "all_fields": statistics.fmean(all(f.values()) for f in samples),
            "best_all_fields": statistics.fmean(all(p["fields"][0].values()) for p in per),
            "per_field": statistics.fmean(ok for oks in by_field.values() for ok in oks),
            "by_field": {k: statistics.fmean(v) for k, v in sorted(by_field.items())},
            "bleu4_best": bleu, "bigram_precision": ref.precision([t for p in per for t in p["texts"]]),
            "s_per_mr": statistics.fmean(p["seconds"] for p in per),
            "cpu_s_per_mr": statistics.fmean(p["cpu_seconds"] for p in per) if all("cpu_seconds" in p for p in per)
            else None}  # CPU seconds: what a shared machine's load does not inflate


def draws(rows: list[str], n: int) -> dict[str, Any]:
    """Row name → ``draw(constraint) -> texts`` (models loaded once, only for the rows asked for)."""
    out: dict[str, Any] = {}
    if "embedding" in rows:
        emb = ctrlgen.load("e2e")
        out["embedding"] = lambda c: emb.generate(n=n, steps=50, seed=0, constraints=c).texts
    if "discrete" in rows:
        sedd = ctrlgen.load("e2e-sedd")
        out["discrete"] = lambda c: sedd.generate(n=n, steps=32, seed=0, constraints=c).texts
    for name, model, steps in (("embedding", "e2e", 50), ("discrete", "e2e-sedd", 32)):
        for k in (4, 16):  # best_of: n of k·n by the checks, ties by the draft LM, distinct first
            if f"{name}-rerank{k}-fluent" in rows:
                gen = ctrlgen.load(model)
                out[f"{name}-rerank{k}-fluent"] = lambda c, g=gen, s=steps, r=k: g.best_of(
                    n=n, rerank=r, steps=s, seed=0, constraints=c, fluency="draft").texts
    if "edit" in rows:
        editor = ctrlgen.load("e2e-edit")
        out["edit"] = lambda c: editor.generate(n=n, seed=0, constraints=c).texts
    if any(r.startswith("ar-") for r in rows):
        ar, tok, _ = load_pretrained(resolve_model_path("e2e-ar-draft"), ARLM)
        for pool in (8, 64):
            if f"ar-best-of-{pool}" in rows:
                out[f"ar-best-of-{pool}"] = lambda c, k=pool: ar_best_of_n(ar, tok, c, keep=n, pool=k, seed=0).texts
            if f"ar-fudge-best-of-{pool}" in rows:  # FUDGE-guided draws (λ = 2, as in open_vocab.py), same ranking
                disc = FutureDiscriminator.load()
                out[f"ar-fudge-best-of-{pool}"] = lambda c, k=pool, d=disc: fudge_best_of(
                    ar, tok, d, c, keep=n, pool=k, seed=0, strength=2.0).texts
    return {r: out[r] for r in rows}


def table(result: dict[str, Any]) -> str:
    head = (f"{'row':14s} {'part':6s} {'MRs':>3s} {'all-fields':>10s} {'best-all':>8s} {'per-field':>9s} "
            f"{'BLEU-4':>6s} {'bigram':>6s} {'s/MR':>6s}")
    lines = [head]
    for name, r in result["rows"].items():
        for part in ("seen", "unseen", "all"):
            s = r.get(part)
            if s:
                bleu = "-" if s["bleu4_best"] is None else f"{s['bleu4_best']:.1f}"
                lines.append(f"{name:14s} {part:6s} {s['mrs']:3d} {s['all_fields']:10.3f} {s['best_all_fields']:8.3f} "
                             f"{s['per_field']:9.3f} {bleu:>6s} {s['bigram_precision']:6.3f} {s['s_per_mr']:6.1f}")
    return "\n".join(lines)


def combine(files: list[str], targets: list[dict[str, Any]], ref: BigramReference, out: str,
            references: set[str]) -> None:
    """One result from the shards' files (``--shard``; a ``.partial`` file: the MRs a stopped shard finished): per
    row, the shards' MRs in target order, summarised anew (the references come back from ``targets``: the files
    never hold them)."""
    parts = [json.loads(Path(f).read_text()) for f in files]
    order = {t["mr"]: j for j, t in enumerate(targets)}
    refs = {t["mr"]: t["refs"] for t in targets}
    result: dict[str, Any] = {**parts[0], "rows": {}, "combined_from": [Path(f).name for f in files],
                              "partial": any(p.get("partial", False) for p in parts)}
    names = list(dict.fromkeys(r for p in parts for r in p["rows"]))
    pers: dict[str, list[dict[str, Any]]] = {}
    for name in names:
        got = [r for p in parts if name in p["rows"] for r in [p["rows"][name]]]
        once = {m["mr"]: m for r in reversed(got) for m in r["mrs"]}  # an MR two files hold: the first file's
        pers[name] = [{**m, "refs": refs[m["mr"]]} for m in sorted(once.values(), key=lambda m: order[m["mr"]])]
        result["rows"][name] = {**summaries(pers[name], ref),
                                "mrs": [{k: v for k, v in m.items() if k != "refs"} for m in pers[name]],
                                "settings": {**got[0]["settings"], "mrs": len(pers[name]),
                                             "shard": [r["settings"].get("shard") for r in got]}}
    for name, per in pers.items():  # a scrubbed text (one equal to a reference) is gone: its bigrams and BLEU too
        gone = sum(t == VERBATIM for m in per for t in m["texts"])
        if gone:
            result["rows"][name]["scrubbed_texts"] = gone
            print(f"{name}: {gone} texts equal a reference and were scrubbed by the shards: bigram / BLEU understated")
    common = set.intersection(*({m["mr"] for m in per} for per in pers.values()))
    if any(len(per) != len(common) for per in pers.values()):  # rows that ran on different MRs: also side by side
        result["common_mrs"] = {"mrs": len(common), "rows": {
            name: summaries([m for m in per if m["mr"] in common], ref) for name, per in pers.items()}}
        print(f"on the {len(common)} MRs every row ran:\n" + table({"rows": result["common_mrs"]["rows"]}))
    print(table(result))
    write_json(out, result, references=references)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data")
    ap.add_argument("-n", type=int, default=4, help="samples per MR")
    ap.add_argument("--seen", type=int, default=30, help="valid.csv MRs (3-8 fields)")
    ap.add_argument("--unseen", type=int, default=10, help="MRs with unseen name / near values")
    ap.add_argument("--seed", type=int, default=0, help="which valid MRs (the sampling seed is 0)")
    ap.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated, of {', '.join(ROWS)}")
    ap.add_argument("--subset", action="append", default=[], metavar="ROW=SEEN,UNSEEN",
                    help="run ROW on the first SEEN seen and UNSEEN unseen MRs only (a slow row), e.g. edit=8,4")
    ap.add_argument("--merge", action="store_true", help="add these rows to the rows already in --out")
    ap.add_argument("--shard", default="0/1", metavar="K/N", help="run every row on targets K, K+N, K+2N, … only")
    ap.add_argument("--combine", nargs="+", metavar="JSON", help="join the shards' files into --out (no sampling)")
    ap.add_argument("--out", default="recipes/results/mr_describe.json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    d = data_dir(args.data) / "e2e"
    train, valid = read_e2e_csv(d / "train.csv"), read_e2e_csv(d / "valid.csv")
    targets = pick_targets(valid, train, args.seen, args.unseen, args.seed)
    if args.combine:
        combine(args.combine, targets, BigramReference([e.ref for e in train]), args.out,
                {e.ref for e in train} | {e.ref for e in valid})
        return
    k, n_shards = (int(x) for x in args.shard.split("/"))
    rows = [r.strip() for r in args.rows.split(",") if r.strip()]
    run = draws(rows, args.n)
    oov = check_vocabulary(targets, ctrlgen.load("e2e").tokenizer.vocab)
    assert not oov, f"unseen values use words outside the vocabulary: {oov}"
    ref = BigramReference([e.ref for e in train])
    # the JSON keeps the MRs and how many references each has, never the references (data stays outside the repo)
    listed = [{"mr": t["mr"], "seen": t["seen"], "n_refs": len(t["refs"])} for t in targets]
    result: dict[str, Any] = {"machine": machine(), "n": args.n, "seed": args.seed, "targets": listed, "rows": {}}
    if args.merge and Path(args.out).is_file():
        old = json.loads(Path(args.out).read_text())
        result["rows"] = old["rows"]
        assert old["targets"] == listed, "--merge needs the same --seen/--unseen/--seed as the file's run"
    subset = {row: [int(x) for x in counts.split(",")] for row, counts in (a.split("=") for a in args.subset)}
    for name, draw in run.items():
        mine = [t for j, t in enumerate(targets) if j % n_shards == k]
        if name in subset:
            k_seen, k_unseen = subset[name]
            mine = [t for t in mine if t["seen"]][:k_seen] + [t for t in mine if not t["seen"]][:k_unseen]
        def checkpoint(done: list[dict[str, Any]], name: str = name, mine: list[Any] = mine) -> None:
            part = {**result, "partial": True, "rows": {**result["rows"], name: {"mrs": done, "settings": {
                "threads": 1, "n": args.n, "mrs": len(mine), "shard": args.shard}}}}
            write_json(args.out + ".partial", part, references={e.ref for e in train} | {e.ref for e in valid})
        result["rows"][name] = run_row(name, mine, draw, ref, args.n, checkpoint)
        result["rows"][name]["settings"] = {"threads": 1, "n": args.n, "mrs": len(mine), "shard": args.shard}
    print(table(result))
    write_json(args.out, result, references={e.ref for e in train} | {e.ref for e in valid})


if __name__ == "__main__":
    main()

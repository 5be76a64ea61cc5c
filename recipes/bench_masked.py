"""The masked backend (``e2e-masked``, LLaDA architecture) against ``e2e-sedd`` (discrete backend) in one run.

    CTRLGEN_DATA=/path/to/data python recipes/bench_masked.py --out recipes/results/bench_masked.json

Sections (1 CPU thread by default, seed 0 everywhere; ``-n`` samples per unconditional row, ``--cases`` infill
cases with ``--per-case`` samples each, the MBR choice scored):

- ``unconditional``: both models at equal sampling steps (``--steps``), and e2e-sedd at the step count whose wall
  time equals e2e-masked's at ``--wall-steps`` (per-step costs probed first): bigram precision against
  ``train.csv`` (``BigramReference``), teacher lm-score (``e2e-teacher-1``, lower is better), distinct-2,
  well-formed share, samples/s;
- ``remasking``: e2e-masked with every remasking strategy × block length (``--blocks``), same seed and steps;
- ``infill``: both models on the same held-out holes (``bench_infill.make_case``; BLEU-4 / hole BLEU-4 /
  ROUGE-L by ``bench_infill.run_backend``), e2e-masked also with CFG strengths ``--cfg``;
- ``control``: ``Contains`` (the ten phrases of ``contains_control.py``) and ``SemanticField`` (``--fields``
  held-out ``field = value`` targets, default steering = placing a phrase) on both models, with the rate at which
  the same check holds without control.

E2E references never enter the JSON (``write_json(..., references=...)`` scrubs any text equal to one).

``--models e2e-masked,e2e-masked-bpe`` runs instead the word-level vs BPE comparison of issue 15 ("Measure") and
writes ``recipes/results/bench_masked_bpe.json`` (``--out`` to change it); discrete (SEDD) models are taken too, each
at ``--discrete-steps`` analytic steps, and embedding (Diffusion-LM) models at ``--embedding-steps`` (e.g.
``--models e2e,e2e-bpe --out recipes/results/bench_embedding_bpe.json``). For each masked model, at its own
``config.json`` block length and ``--wall-steps`` steps, the unconditional row (plus the copy rate: the share of
samples equal, word for word, to a ``train.csv`` text), infill on the same holes (CFG 0; fixed words kept = the
template's words in order; exact layout = the ``Infill`` check, every hole with its k words), ``Contains`` and
``SemanticField`` success, and the out-of-vocabulary inputs of the bad-input catalogue (``OOV``): the share of samples that keep every
character given (a word-level model refuses them with ``OutOfVocabularyError``). Default settings: ~6 minutes.
``--sections infill`` (any subset of ``SECTIONS``) reruns only those rows and merges them into the existing JSON.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import time
from pathlib import Path
from typing import Any

import torch
from bench_infill import (  # recipes/ is on sys.path when run as a script
    hole_text,
    make_case,
    run_backend,
)
from contains_control import PHRASES, run_variant

import ctrlgen
from ctrlgen.backends.discrete.sampler import SEDDSampler
from ctrlgen.backends.embedding.sampler import EmbeddingSampler
from ctrlgen.backends.masked.sampler import REMASKING, SamplerConfig
from ctrlgen.constraints.base import is_subword
from ctrlgen.constraints.contains import Contains
from ctrlgen.constraints.infill import Infill, Prefix
from ctrlgen.errors import CtrlgenError
from ctrlgen.evaluation.bench import build_targets, data_dir, machine, write_json
from ctrlgen.oracles.fluency import BigramReference, distinct_n
from ctrlgen.oracles.metrics import infill_bleu4, infill_rouge_l
from ctrlgen.oracles.teacher import Teacher
from ctrlgen.text.e2e import read_e2e_csv
from ctrlgen.text.tokenizer import split_words


def ints(value: str) -> list[int]:
    return [int(x) for x in value.split(",") if x]


SECTIONS = ["unconditional", "infill", "contains", "semantic", "oov"]  # the rows of --models
STEPS_ARG = {"masked": "wall_steps", "discrete": "discrete_steps", "embedding": "embedding_steps"}  # --models' steps
BLOCK: dict[str, int | None] = {"block_length": 16}  # e2e-masked's semi-autoregressive block (--block)


def sampler_for(backend: str, steps: int, **kw: Any) -> Any:
    """The masked sampler (low-confidence remasking, blocks of ``--block``), SEDD's analytic one, or the embedding
    backend's default sampler (clamping, L2 rounding) at ``steps``."""
    if backend == "embedding":
        return EmbeddingSampler(steps=steps)
    return SamplerConfig(steps=steps, **{**BLOCK, **kw}) if backend == "masked" else SEDDSampler(steps=steps)


def unconditional(name: str, gen: Any, sampler: Any, n: int, ref: BigramReference, teacher: Teacher,
                  train_words: set[str] | None = None) -> dict:
    """``n`` unconstrained samples (seed 0, one batch): quality and speed (and, given ``train_words`` — the
    training texts as space-joined words — the copy rate)."""
    t0 = time.perf_counter()
    out = gen.generate(n=n, seed=0, batch_size=n, sampler=sampler)
    secs = time.perf_counter() - t0
    row = {"model": name, "steps": sampler.steps, "n": n, "bigram_precision": ref.precision(out.texts),
           "lm_score": teacher.score(out.texts), "distinct_2": distinct_n(out.texts, 2),
           "well_formed": sum(out.report["well_formed"]) / n, "samples_per_s": n / secs, "seconds": secs,
           "garbled": sum("\ufffd" in t for t in out.texts) / n,  # a byte-level model's broken UTF-8 (U+FFFD)
           "examples": out.texts[:3]}
    if train_words is not None:
        row["copy_rate"] = sum(" ".join(split_words(t)) in train_words for t in out.texts) / n
    if isinstance(sampler, SamplerConfig):
        row.update(remasking=sampler.remasking, block_length=sampler.block_length or gen.seq_len)
    print(f"{name:11s} {sampler.steps:3d} steps {row.get('remasking', ''):14s} {row.get('block_length', '')!s:3s} "
          f"bigram {row['bigram_precision']:.3f} lm {row['lm_score']:.2f} d2 {row['distinct_2']:.3f} "
          f"wf {row['well_formed']:.2f} {row['samples_per_s']:.1f}/s", flush=True)
    return row


def seconds_per_step(gen: Any, backend: str, n: int, steps: int = 12) -> float:
    """Wall seconds of one sampling step for ``n`` samples (after one warm-up call); ``steps`` divides by the
    block count of any block length that divides 48 into ≤ 12 blocks."""
    gen.generate(n=2, seed=0, sampler=sampler_for(backend, steps))
    t0 = time.perf_counter()
    gen.generate(n=n, seed=0, batch_size=n, sampler=sampler_for(backend, steps))
    return (time.perf_counter() - t0) / steps


def make_cases(valid: list[str], count: int, gens: list[Any]) -> list[tuple[str, str, list[int]]]:
    """``count`` (template, reference, covered word indices) from shuffled ``valid`` (seed 0), as bench_infill
    builds them: in every model's vocabulary, fitting every model's length."""
    rng, cases = random.Random(0), []
    valid = list(valid)
    rng.shuffle(valid)
    for text in valid:
        words = split_words(text)
        if len(words) + 2 > min(g.model.config.seq_len for g in gens) or any(
                w not in g.tokenizer.vocab for g in gens if not is_subword(g.tokenizer) for w in words):
            continue
        case = make_case(words, rng)
        if case is None:
            continue
        for g in gens:
            Infill(case[0]).prepare(g.tokenizer, g.model.config.seq_len, g.backend)  # raises if it cannot fit
        cases.append((case[0], " ".join(words), case[1]))
        if len(cases) == count:
            break
    return cases


def semantic_control(name: str, gen: Any, targets: list, n: int, steps: int, backend: str) -> dict:
    """``SemanticField`` (default steering) per target: success by its check face; the same check on the
    unconstrained samples (``n`` × targets, one draw) as the no-control rate."""
    t0, ok = time.perf_counter(), []
    for k, t in enumerate(targets):
        c = ctrlgen.SemanticField(t.field, t.value)
        out = gen.generate(n=n, seed=k, sampler=sampler_for(backend, steps), constraints=c)
        ok.append(sum(out.report["constraints"][repr(c)]["satisfied"]) / n)
    secs = time.perf_counter() - t0
    plain = gen.generate(n=n * len(targets), seed=0, sampler=sampler_for(backend, steps)).texts
    base = [statistics.mean(ctrlgen.SemanticField(t.field, t.value).satisfied(plain)) for t in targets]
    row = {"model": name, "steps": steps, "targets": len(targets), "n_per_target": n,
           "success": statistics.mean(ok), "no_control": statistics.mean(base),
           "seconds_per_call": secs / len(targets)}
    print(f"{name} SemanticField: {row['success']:.2f} (no control {row['no_control']:.2f})", flush=True)
    return row


# the bad-input catalogue's out-of-vocabulary inputs (tests/catalogue_cases.py: oov-prefix, oov-template,
# infill-allow-unk) and new names with accents and emoji: (kind, text)
OOV = [("prefix", "Zyzzyva"), ("infill", "The Zyzzyva is a [MASK] ."), ("infill", "The Zyzzyva is a [MASK] pub ."),
       ("prefix", "Zoë's Café 😀 is"), ("infill", "Björk's Smørrebrød is a [MASK:2] pub near Łódź 🍕 ."),
       ("contains", "naïve café 😀")]


def kept(kind: str, given: str, text: str) -> bool:
    """Whether ``text`` keeps everything ``given``: the prefix's characters, or the phrase's / template pieces' words
    in order, each piece's words contiguous (words compared as spaCy splits them: detokenisers differ in spacing)."""
    if kind == "prefix":
        return text.startswith(given)
    words, at = split_words(text), 0
    for piece in [split_words(p) for p in re.split(r"\[MASK(?::\d+)?\]", given) if p.strip()]:
        at = next((i for i in range(at, len(words) - len(piece) + 1) if words[i:i + len(piece)] == piece), -1)
        if at < 0:
            return False
        at += len(piece)
    return True


def oov_rows(name: str, gen: Any, n: int, steps: int, backend: str = "masked") -> list[dict]:
    """Each ``OOV`` input, ``n`` samples: the share that keeps every given character and the check face's success;
    a refusal is recorded by its error type (nothing kept)."""
    rows = []
    for k, (kind, text) in enumerate(OOV):
        c = {"prefix": Prefix, "infill": Infill, "contains": Contains}[kind](text)
        try:
            out = gen.generate(n=n, seed=k, sampler=sampler_for(backend, steps), constraints=c)
        except CtrlgenError as e:
            rows.append({"kind": kind, "given": text, "error": type(e).__name__, "kept": 0.0, "satisfied": 0.0})
        else:
            rows.append({"kind": kind, "given": text, "kept": sum(kept(kind, text, t) for t in out.texts) / n,
                         "satisfied": sum(out.report["satisfied"]) / n, "examples": out.texts[:2]})
        print(f"{name} OOV {text!r}: {rows[-1].get('error') or rows[-1]['kept']}", flush=True)
    return rows


def infill_row(name: str, gen: Any, cases: list, n: int, sampler: Any, ref: BigramReference,
               teacher: Teacher) -> dict:
    """``run_backend``'s infill row for any tokenizer: ``fixed_kept`` = the template's words all there, in order;
    ``layout_exact`` = the ``Infill`` check (each fixed word at its word position: every hole has its k words)."""
    hyps, texts, kept_words, exact = [], [], [], []
    t0 = time.perf_counter()
    for template, _, _ in cases:
        out = gen.infill(template, n=n, seed=0, sampler=sampler)
        hyps.append(out.texts[0])
        texts += out.texts
        kept_words += [kept("infill", template, t) for t in out.texts]
        exact += [s == 1.0 for s in Infill(template).score(out.texts)]
    secs, refs = time.perf_counter() - t0, [r for _, r, _ in cases]
    row = {"model": name, "steps": sampler.steps, "bleu4": infill_bleu4(hyps, refs),
           "hole_bleu4": infill_bleu4([hole_text(h, c) for h, (_, _, c) in zip(hyps, cases, strict=True)],
                                      [hole_text(r, c) for _, r, c in cases]),
           "rouge_l": infill_rouge_l(hyps, refs), "fixed_kept": sum(kept_words) / len(kept_words),
           "layout_exact": sum(exact) / len(exact),
           "bigram_precision": ref.precision(texts), "lm_score": teacher.score(texts), "seconds": secs}
    print(f"{name} infill: BLEU-4 {row['bleu4']:.3f} hole {row['hole_bleu4']:.3f} kept {row['fixed_kept']:.0%} "
          f"exact {row['layout_exact']:.0%} "
          f"lm {row['lm_score']:.2f} {secs:.0f} s", flush=True)
    return row


def side_by_side(args: argparse.Namespace, train: list[str], valid: list[str], d: Any, ref: BigramReference,
                 teacher: Teacher) -> dict:
    """Word-level vs BPE models (``--models``) of the masked, discrete or embedding backend: a masked model at its own
    block length and ``--wall-steps`` steps, a discrete (SEDD) one at ``--discrete-steps`` analytic steps, an
    embedding one at ``--embedding-steps``; same seeds and settings otherwise."""
    names = [m for m in args.models.split(",") if m]
    gens = {m: ctrlgen.load(m) for m in names}
    if bad := [m for m, g in gens.items() if g.backend not in STEPS_ARG]:
        raise SystemExit(f"--models takes masked, discrete or embedding models; {bad} are not")
    train_words = {" ".join(split_words(t)) for t in train}
    cases = make_cases(valid, args.cases, list(gens.values()))
    targets = build_targets("semantic", d / "valid.csv", args.fields, 0,
                            min(g.model.config.seq_len for g in gens.values()), None)
    models: dict[str, Any] = {}
    for m, g in gens.items():
        backend = g.backend
        steps = getattr(args, STEPS_ARG[backend])
        if backend == "masked":
            BLOCK["block_length"] = g.defaults.block_length  # the model's measured default (config.json "sampling")
        sampler = sampler_for(backend, steps)
        call = (lambda phrase, g=g, sampler=sampler: g.generate(n=args.contains_n, seed=0, sampler=sampler,
                                                                constraints=Contains(phrase)))
        rows = {"unconditional": lambda g=g, m=m, sampler=sampler: unconditional(m, g, sampler, args.n, ref, teacher,
                                                                                 train_words),
                "infill": lambda g=g, m=m, sampler=sampler: infill_row(m, g, cases, args.per_case, sampler, ref,
                                                                       teacher),
                "contains": lambda m=m, call=call: run_variant(f"{m}/contains", call, ref)["summary"],
                "semantic": lambda g=g, m=m, b=backend, k=steps: semantic_control(m, g, targets, args.contains_n, k, b),
                "oov": lambda g=g, m=m, b=backend, k=steps: oov_rows(m, g, args.contains_n, k, b)}
        models[m] = {"backend": backend, "steps": steps, "tokenizer": getattr(g.tokenizer, "kind", "word"),
                     "vocab_size": len(g.tokenizer), "seq_len": g.model.config.seq_len,
                     "block_length": BLOCK["block_length"] if backend == "masked" else None,
                     **{k: f() for k, f in rows.items() if k in args.sections}}
        if "oov" in models[m]:
            models[m]["oov_kept"] = statistics.mean(r["kept"] for r in models[m]["oov"])
    return {"models": models, "steps": args.wall_steps, "discrete_steps": args.discrete_steps,
            "remasking": "low_confidence", "n": args.n,
            "infill": {"cases": len(cases), "samples_per_case": args.per_case, "cfg_scale": 0.0},
            "contains_phrases": PHRASES, "contains_n": args.contains_n, "semantic_targets": len(targets)}


def merge_rerun(path: str, result: dict, sections: list[str], seconds: float) -> dict:
    """The JSON at ``path`` with ``sections`` of each model replaced by ``result``'s (``--sections``), the rerun
    listed under ``"reruns"``; the other rows are kept as they were measured."""
    old = json.loads(Path(path).read_text())
    for m, row in result["models"].items():
        old["models"].setdefault(m, {}).update(row)
    old["reruns"] = [*old.get("reruns", []), {"sections": sections, "seconds": round(seconds, 1),
                                               "machine": machine()}]
    return old


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--masked", default="e2e-masked")
    ap.add_argument("--sedd", default="e2e-sedd")
    ap.add_argument("--teacher", default="e2e-teacher-1")
    ap.add_argument("--data")
    ap.add_argument("-n", type=int, default=64, help="samples per unconditional row")
    ap.add_argument("--steps", type=ints, default=[24, 48], help="equal-steps comparison")
    ap.add_argument("--block", type=int, default=16, help="e2e-masked's block length outside the remasking grid")
    ap.add_argument("--wall-steps", type=int, default=48, help="e2e-masked steps the equal-wall-time row matches")
    ap.add_argument("--blocks", type=ints, default=[48, 16, 8], help="block lengths of the remasking grid")
    ap.add_argument("--cases", type=int, default=50)
    ap.add_argument("--per-case", type=int, default=4)
    ap.add_argument("--infill-steps", type=int, default=48)
    ap.add_argument("--cfg", type=lambda s: [float(x) for x in s.split(",")], default=[0.0, 0.5, 1.0, 2.0])
    ap.add_argument("--contains-n", type=int, default=8, help="samples per Contains phrase / SemanticField target")
    ap.add_argument("--fields", type=int, default=10, help="SemanticField targets")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--models", help="comma-separated masked or discrete models: the word-level vs BPE comparison "
                                     "instead")
    ap.add_argument("--discrete-steps", type=int, default=64, help="with --models: a discrete model's sampling steps")
    ap.add_argument("--embedding-steps", type=int, default=200,
                    help="with --models: an embedding model's sampling steps (the backend's default)")
    ap.add_argument("--out", help="default recipes/results/bench_masked.json (bench_masked_bpe.json with --models)")
    ap.add_argument("--sections", type=lambda v: v.split(","), default=SECTIONS,
                    help=f"with --models: rows to run, of {','.join(SECTIONS)}; a subset replaces those rows of the "
                         "existing --out JSON and keeps the others")
    args = ap.parse_args()
    args.out = args.out or f"recipes/results/bench_masked{'_bpe' if args.models else ''}.json"
    torch.set_num_threads(args.threads)
    BLOCK["block_length"] = args.block
    t_start = time.perf_counter()
    d = data_dir(args.data) / "e2e"
    train = [e.ref for e in read_e2e_csv(d / "train.csv", parse_mrs=False)]
    valid = [e.ref for e in read_e2e_csv(d / "valid.csv", parse_mrs=False)]
    ref, teacher = BigramReference(train), Teacher.load(args.teacher)
    references = set(train) | set(valid) | {" ".join(split_words(t)) for t in valid}
    if args.models:
        result = side_by_side(args, train, valid, d, ref, teacher)
        if set(args.sections) != set(SECTIONS):
            write_json(args.out, merge_rerun(args.out, result, args.sections, time.perf_counter() - t_start),
                       references=references)
            return
        write_json(args.out, {"machine": machine(), "seed": 0, "threads": args.threads,
                              "teacher": {"name": teacher.name, "fingerprint": teacher.fingerprint}, **result,
                              "total_seconds": round(time.perf_counter() - t_start, 1)}, references=references)
        return
    gens = {"masked": ctrlgen.load(args.masked), "discrete": ctrlgen.load(args.sedd)}
    names = {"masked": args.masked, "discrete": args.sedd}

    rows = [unconditional(names[b], gens[b], sampler_for(b, k), args.n, ref, teacher) for k in args.steps for b in gens]
    per_step = {b: seconds_per_step(gens[b], b, args.n) for b in gens}
    k = max(1, round(args.wall_steps * per_step["masked"] / per_step["discrete"]))
    wall = {"masked_steps": args.wall_steps, "sedd_steps": k, "seconds_per_step": per_step,
            "rows": [unconditional(names["masked"], gens["masked"], sampler_for("masked", args.wall_steps), args.n,
                                   ref, teacher),
                     unconditional(names["discrete"], gens["discrete"], sampler_for("discrete", k), args.n, ref,
                                   teacher)]}
    grid = [unconditional(names["masked"], gens["masked"],
                          SamplerConfig(steps=args.wall_steps, remasking=r, block_length=b), args.n, ref, teacher)
            for r in REMASKING for b in args.blocks]

    cases = make_cases(valid, args.cases, list(gens.values()))
    infill = [run_backend("discrete", gens["discrete"], cases, args.per_case, SEDDSampler(steps=args.infill_steps),
                          ref, teacher)]
    for s in args.cfg:
        row = run_backend("masked", gens["masked"], cases, args.per_case,
                          sampler_for("masked", args.infill_steps, cfg_scale=s), ref, teacher)
        infill.append({**row, "cfg_scale": s})

    targets = build_targets("semantic", d / "valid.csv", args.fields, 0, min(g.model.config.seq_len for g in gens.values()), None)
    control: dict[str, Any] = {"contains_phrases": PHRASES}
    for b, g in gens.items():
        call = (lambda phrase, g=g, b=b: g.generate(n=args.contains_n, seed=0, sampler=sampler_for(b, args.wall_steps),
                                                    constraints=Contains(phrase)))
        control[f"{b}/contains"] = run_variant(f"{b}/contains", call, ref)["summary"]
        control[f"{b}/semantic"] = semantic_control(names[b], g, targets, args.contains_n, args.wall_steps, b)
    write_json(args.out, {
        "masked": args.masked, "sedd": args.sedd, "machine": machine(), "seed": 0, "n": args.n,
        "masked_sampler": {"remasking": "low_confidence", "block_length": args.block},
        "teacher": {"name": teacher.name, "fingerprint": teacher.fingerprint},
        "equal_steps": rows, "equal_wall_time": wall, "remasking_grid": grid,
        "infill": {"cases": len(cases), "samples_per_case": args.per_case, "steps": args.infill_steps,
                   "rows": infill},
        "control": control, "total_seconds": round(time.perf_counter() - t_start, 1),
    }, references=references)


if __name__ == "__main__":
    main()

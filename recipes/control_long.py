"""Structural control on short and long targets, every backend side by side, with diversity (issue 14, "Measure").

    CTRLGEN_DATA=/path/to/data OMP_NUM_THREADS=1 python recipes/control_long.py --targets 6 -n 4
    # one backend's rows only, after a change to it (other rows keep their numbers in their own run)
    python recipes/control_long.py --rows no-control,embedding --sets long --out recipes/results/control_long_emb.json

Tasks: POS (success = word-level tag match %), tree (labelled-bracket F1 over all words) and spans (span success %),
scored by the evaluation harness (:mod:`ctrlgen.evaluation.harness`) with the library's oracles (spaCy tagger,
bundled parser). Sets: ``table`` — the control table's targets (``recipes/control_table.py``: references of
``valid.csv`` that fit the sequence, drawn with ``--seed``; they average 28 words, so they are long too: runs before
session 14 called this set ``short``, and ``--merge`` renames it); ``short`` — references of at most
``--max-words-short`` (15) words, leaving out the tuning targets of ``recipes/fluent_structure.py`` /
``recipes/fluency_trade.py`` (where the trade and the decay were chosen); ``long`` — references of at least
``--min-words`` (20) words that still fit every model of the run
(:func:`ctrlgen.evaluation.target_builders.long_targets`). The models
trained on ``train.csv`` only; ``valid.csv`` is held out.

Rows (``--rows``; one generator call per target, seed ``--seed + k`` for target ``k``):

- ``no-control``: unguided samples of ``e2e`` (the lm-score and diversity reference);
- ``embedding``: ``e2e`` with classifier guidance (the control table's ``guided`` row, the task's default λ);
- ``discrete``: ``e2e-sedd`` with whatever steering it serves for the constraint today;
- ``discrete-unguided`` / ``discrete-rerank-unguided``: ``discrete`` / ``discrete-rerank`` at ``guidance_scale=0``
  (hard faces only, no classifier steering: the baseline a token-space classifier is measured against, same run);
- ``discrete-demote``: the same with ``guidance_demote=True`` (jumps outside the shortlist may only lose rate);
- ``discrete-lexicon`` / ``discrete-lexicon-rerank4-fluent``: ``discrete`` with ``lexicon=True`` (each labelled
  position draws only words of its label, :mod:`ctrlgen.core.lexicon`), and the same through ``best_of`` with the
  fluency trade below;
- ``discrete-rerank``: ``e2e-sedd`` through ``Generator.best_of(n, rerank=--rerank)`` (check-face reranking: a
  constraint the backend cannot steer by is left out of the draw and only ranks it, so no cell of it is refused);
- ``edit``: ``e2e-edit`` (AR drafts revised toward the constraint, ranked by its check face);
- ``embedding-rerank4-fluent`` / ``edit-rerank4-fluent`` (and ``embedding-rerank8-fluent`` / ``-rerank16-fluent``,
  ``edit-rerank8-fluent``: 8n / 16n drawn): the same
  backends through ``best_of(n, rerank=4, fluency="draft", fluency_trade=FLUENCY_TRADE)`` — 4n drawn, the n best by check score + 0.2 × per-word
  log-likelihood under the AR draft LM (not the teacher that scores lm); the embedding draws use the task's
  guidance with ``decay=1`` (strength × (1 − progress)). The trade and the decay were chosen on other targets
  (``recipes/fluency_trade.py``, ``recipes/results/fluency_trade.json``);
- ``ar-best-of-64``: ``--pool`` samples of the AR draft LM ``e2e-ar-draft`` ranked by the same check, best ``n`` kept
  (:func:`ctrlgen.evaluation.best_of_n.ar_best_of_n`).

A row whose backend refuses a constraint (at ``prepare()``, before any sampling) gets ``refused: <reason>`` in its
cell; the others still run. Columns: success / bigram precision % (against ``train.csv``) / lm-score (teacher
``e2e-teacher-1``, corpus perplexity) / distinct-2 within a target's samples % / self-BLEU % / different texts
among the n samples of a target / seconds per target (the method call, wall). The JSON (``--out``, default
``recipes/results/control_long.json``, rewritten after every cell) holds numbers and target ids only (the index of
each target's reference among the distinct ``valid.csv`` references, and its word count) — no reference words,
trees or tags; a markdown table is printed at the end and stored under ``"markdown"``.

``--second-parser [PATH]`` (default model: the bundled ``parser-ptb-sample-2``, trained on another split of the
treebank sample) scores the tree and spans cells a second time with that parser, on the same texts and against the
same targets (built with the first parser), and puts ``success_parser2`` / ``metrics_parser2`` beside ``success``;
``reference_scores`` holds both parsers' scores of the targets' own references (parser 1: 100 by construction;
parser 2: the ceiling its disagreement with parser 1 leaves). ``--save-texts FILE`` keeps the sampled texts (by
``set/task/row``) for ``recipes/parser_agreement.py --texts FILE``.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

import ctrlgen
from ctrlgen.cli.evaluate import write_json_atomic
from ctrlgen.errors import CtrlgenError
from ctrlgen.evaluation.bench import build_targets, data_dir, machine, reference_leak
from ctrlgen.evaluation.best_of_n import ar_best_of_n
from ctrlgen.backends.embedding.guidance import GuidanceConfig
from ctrlgen.evaluation.guided import TASK_FLUENCY, Guided, constraints_for
from ctrlgen.evaluation.harness import evaluate
from ctrlgen.evaluation.methods import (
    Method,
    NoControl,
    PerTargetMethod,
    SampleContext,
    spaced_texts,
)
from ctrlgen.evaluation.target_builders import LONG_WORDS, SHORT_WORDS, long_targets
from ctrlgen.evaluation.tasks import TASKS as TASK_SPECS
from ctrlgen.models.ar_lm import ARLM
from ctrlgen.models.assets import resolve_model_path
from ctrlgen.models.pretrained import load_pretrained
from ctrlgen.oracles.bundle import Oracles
from ctrlgen.oracles.fluency import BigramReference
from ctrlgen.text.e2e import read_e2e_csv
from ctrlgen.text.tokenizer import split_words
from long_table import SETS, SUCCESS, TASKS, cell, markdown, merge  # recipes/ is on sys.path when run as a script

RESULTS = Path(__file__).parent / "results"
ROWS = ("no-control", "embedding", "embedding-rerank4-fluent", "embedding-rerank8-fluent", "embedding-rerank16-fluent",
        "discrete-unguided", "discrete", "discrete-demote",
        "discrete-lexicon", "discrete-lexicon-rerank4-fluent", "discrete-rerank-unguided", "discrete-rerank", "edit",
        "edit-rerank4-fluent", "edit-rerank8-fluent", "ar-best-of-64")
FLUENCY_TRADE = 0.2  # check score per unit of draft log-likelihood (recipes/fluency_trade.py chose it on other targets)
PARSED = ("tree", "spans")  # the tasks a second parser re-scores
MODELS = {"no-control": "e2e", "embedding": "e2e", "discrete": "e2e-sedd", "discrete-demote": "e2e-sedd",
          "discrete-rerank": "e2e-sedd", "discrete-unguided": "e2e-sedd", "discrete-rerank-unguided": "e2e-sedd",
          "edit": "e2e-edit", "ar-best-of-64": "e2e-ar-draft", "embedding-rerank4-fluent": "e2e",
          "embedding-rerank8-fluent": "e2e", "embedding-rerank16-fluent": "e2e",
          "edit-rerank4-fluent": "e2e-edit", "edit-rerank8-fluent": "e2e-edit", "discrete-lexicon": "e2e-sedd", "discrete-lexicon-rerank4-fluent": "e2e-sedd"}


class Backend(PerTargetMethod):
    """``call(gen, n, seed, constraints)`` on each target's constraint objects (:func:`run_cell` prepares them first)."""

    def __init__(self, name: str, gen: Any, call: Callable[..., Any]) -> None:
        self.name, self.gen, self.call = name, gen, call

    def sample_one(self, target: Any, ctx: SampleContext, seed: int) -> list[str]:
        out = self.call(self.gen, ctx.n, seed, constraints_for(target))
        return spaced_texts(out, self.gen.tokenizer)


class ARBestOf(PerTargetMethod):
    """``pool`` AR draft samples ranked by the target's check face, the best ``n`` kept."""

    def __init__(self, pool: int) -> None:
        self.name = f"ar-best-of-{pool}"
        self.pool = pool
        self.model, self.tokenizer, _ = load_pretrained(resolve_model_path("e2e-ar-draft"), ARLM)

    def sample_one(self, target: Any, ctx: SampleContext, seed: int) -> list[str]:
        return ar_best_of_n(self.model, self.tokenizer, constraints_for(target), keep=ctx.n, pool=self.pool,
                            seed=seed).texts


class Recorded(Method):
    """``inner`` unchanged, keeping the texts of its last :meth:`sample` (to score them again with another oracle)."""

    def __init__(self, inner: Method) -> None:
        self.inner = inner
        self.texts: list[list[str]] | None = None
        self.name, self.needs_model, self.tasks = inner.name, inner.needs_model, inner.tasks  # type: ignore[misc]

    def check(self, targets: Sequence[Any], ctx: SampleContext) -> None:
        self.inner.check(targets, ctx)

    def sample(self, targets: Sequence[Any], ctx: SampleContext) -> list[list[str]]:
        self.texts = self.inner.sample(targets, ctx)
        return self.texts


def second_scores(task: str, targets: Sequence[Any], texts: Sequence[Sequence[str]], oracles: Oracles) -> dict[str, Any]:
    """``success_parser2`` and ``metrics_parser2``: ``texts`` scored by ``oracles.second_parser`` (empty when none is
    loaded or ``task`` needs no parser)."""
    if oracles.second_parser is None or task not in PARSED:
        return {}
    metrics = TASK_SPECS.get(task).score(targets, texts, oracles.with_second_parser())
    r2 = lambda v: None if v is None else round(v, 2)
    return {"success_parser2": r2(metrics.get(SUCCESS[task])), "metrics_parser2": {k: r2(v) for k, v in metrics.items()}}


def reference_scores(task: str, targets: Sequence[Any], oracles: Oracles) -> dict[str, Any]:
    """Both parsers' success on the targets' own references (one text per target)."""
    texts = [[" ".join(t.words)] for t in targets]
    first = TASK_SPECS.get(task).score(targets, texts, oracles)[SUCCESS[task]]
    return {"success": None if first is None else round(first, 2), **second_scores(task, targets, texts, oracles)}


def make_rows(names: Sequence[str], args: argparse.Namespace) -> tuple[Any, dict[str, Method]]:
    """The e2e generator (scoring context) and one method per row name."""
    loaded: dict[str, Any] = {}
    load = lambda model: loaded.setdefault(model, loaded.get(model) or ctrlgen.load(model))
    emb, steps = load("e2e"), args.sedd_steps
    out: dict[str, Method] = {}
    for name in names:
        if name == "no-control":
            out[name] = NoControl()
        elif name == "embedding":
            out[name] = Guided(name="embedding")
        elif name == "discrete":
            out[name] = Backend(name, load("e2e-sedd"),
                                lambda g, n, s, c: g.generate(n=n, steps=steps, seed=s, constraints=c))
        elif name == "discrete-unguided":
            out[name] = Backend(name, load("e2e-sedd"),
                                lambda g, n, s, c: g.generate(n=n, steps=steps, seed=s, constraints=c, guidance_scale=0.0))
        elif name == "discrete-rerank-unguided":
            out[name] = Backend(f"discrete rerank={args.rerank} γ=0", load("e2e-sedd"),
                                lambda g, n, s, c: g.best_of(n=n, rerank=args.rerank, steps=steps, seed=s,
                                                             constraints=c, guidance_scale=0.0))
        elif name == "discrete-demote":
            out[name] = Backend(name, load("e2e-sedd"),
                                lambda g, n, s, c: g.generate(n=n, steps=steps, seed=s, constraints=c,
                                                              guidance_demote=True))
        elif name == "discrete-lexicon":
            out[name] = Backend(name, load("e2e-sedd"),
                                lambda g, n, s, c: g.generate(n=n, steps=steps, seed=s, constraints=c, lexicon=True))
        elif name == "discrete-lexicon-rerank4-fluent":
            out[name] = Backend(name, load("e2e-sedd"),
                                lambda g, n, s, c: g.best_of(n=n, rerank=4, steps=steps, seed=s, constraints=c,
                                                             lexicon=True, fluency="draft", fluency_trade=FLUENCY_TRADE))
        elif name == "discrete-rerank":
            out[name] = Backend(f"discrete rerank={args.rerank}", load("e2e-sedd"),
                                lambda g, n, s, c: g.best_of(n=n, rerank=args.rerank, steps=steps, seed=s,
                                                             constraints=c))
        elif name == "edit":
            out[name] = Backend(name, load("e2e-edit"), lambda g, n, s, c: g.generate(n=n, seed=s, constraints=c))
        elif name in ("edit-rerank4-fluent", "edit-rerank8-fluent"):
            k = int(name.split("rerank")[1].split("-")[0])
            out[name] = Backend(name, load("e2e-edit"),
                                lambda g, n, s, c, k=k: g.best_of(n=n, rerank=k, seed=s, constraints=c, fluency="draft",
                                                                  fluency_trade=FLUENCY_TRADE))
        elif name in ("embedding-rerank4-fluent", "embedding-rerank8-fluent", "embedding-rerank16-fluent"):
            k = int(name.split("rerank")[1].split("-")[0])
            out[name] = Backend(name, emb, lambda g, n, s, c, k=k: g.best_of(
                n=n, rerank=k, steps=args.steps, seed=s, constraints=c, fluency="draft", fluency_trade=FLUENCY_TRADE,
                guidance=GuidanceConfig(fluency_weight=task_fluency(c), decay=1.0)))
        else:
            out[name] = ARBestOf(args.pool)
    return emb, out


def task_fluency(constraints: Any) -> float:
    """The task's default guidance λ (``TASK_FLUENCY``) for a target's constraint objects (one leaf per task)."""
    kind = {"POS": "pos", "SyntaxTree": "tree", "SyntaxSpans": "spans"}
    leaves = constraints if isinstance(constraints, list) else [constraints]
    return TASK_FLUENCY[kind[type(leaves[0]).__name__]]


def run_cell(method: Method, task: str, targets: Sequence[Any], emb: Any, oracles: Oracles,
             args: argparse.Namespace, source: str, texts_out: list[str] | None = None) -> dict[str, Any]:
    """One row on one target list: its numbers, ``{"refused": why}`` when the backend's ``prepare()`` refuses a
    target's constraints (before sampling), or ``{"failed": why}`` when sampling or scoring raised. ``texts_out``:
    a list the sampled texts are appended to."""
    if isinstance(method, Backend) and "rerank" not in method.name:  # best_of ranks by what it cannot steer by
        for t in targets:
            try:
                method.gen.prepare(constraints_for(t))
            except CtrlgenError as e:
                return {"refused": reason(e, constraints_for(t))}
    recorded = Recorded(method)
    try:
        result = evaluate(task, targets, gen=emb, methods=[recorded], n=args.n, steps=args.steps, seed=args.seed,
                          oracles=oracles, source=source)
    except CtrlgenError as e:
        return {"failed": reason(e, None)}
    assert recorded.texts is not None
    if texts_out is not None:
        texts_out.extend(t for ts in recorded.texts for t in ts)
    try:
        return {**cell(result.rows[0], task), **second_scores(task, targets, recorded.texts, oracles)}
    except CtrlgenError as e:
        return {**cell(result.rows[0], task), "parser2_failed": reason(e, None)}


def reason(e: CtrlgenError, constraint: Any) -> str:
    """``Type: message`` with the constraint's repr (which holds the target's words or tree) cut to its class."""
    msg = e.message if constraint is None else e.message.replace(repr(constraint), f"{type(constraint).__name__}(…)")
    return f"{type(e).__name__}: {msg}"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated, of {','.join(ROWS)} (default all)")
    ap.add_argument("--sets", default=",".join(SETS), help=f"{','.join(SETS)} (default all)")
    ap.add_argument("--tasks", default=",".join(TASKS), help="pos,tree,spans (default all)")
    ap.add_argument("--targets", type=int, default=6, help="targets per task and set (default 6)")
    ap.add_argument("-n", type=int, default=4, help="samples per target (default 4)")
    ap.add_argument("--steps", type=int, default=200, help="embedding denoising steps (default 200)")
    ap.add_argument("--sedd-steps", type=int, default=None, help="discrete steps (default: the model's)")
    ap.add_argument("--rerank", type=int, default=4, help="discrete-rerank: draw n × this, keep n (default 4)")
    ap.add_argument("--pool", type=int, default=64, help="AR best-of pool (default 64)")
    ap.add_argument("--min-words", type=int, default=LONG_WORDS, help=f"long set: words at least (default {LONG_WORDS})")
    ap.add_argument("--max-words-short", type=int, default=SHORT_WORDS,
                    help=f"short set: words at most (default {SHORT_WORDS})")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data", help="folder holding e2e/{train,valid}.csv (default $CTRLGEN_DATA)")
    ap.add_argument("--second-parser", nargs="?", const="", default=None, metavar="PATH",
                    help="also score tree and spans with a second parser (default model: the bundled parser-ptb-sample-2)")
    ap.add_argument("--save-texts", metavar="JSON", help="also write the sampled texts, by set/task/row, to this file "
                                                         "(for recipes/parser_agreement.py --texts; keep it outside the repository)")
    ap.add_argument("--out", default=str(RESULTS / "control_long.json"))
    ap.add_argument("--merge", nargs="+", metavar="JSON", help="only merge these runs' JSON (same settings, other "
                                                               "sets / tasks / rows, e.g. run side by side) into --out")
    args = ap.parse_args(argv)
    for key, allowed in (("rows", ROWS), ("sets", SETS), ("tasks", TASKS)):
        got = [x for x in getattr(args, key).split(",") if x]
        if not got or any(x not in allowed for x in got):
            ap.error(f"--{key}: choose from {','.join(allowed)}, got {getattr(args, key)!r}")
        setattr(args, key, got)
    return args


def untuned(valid: list[Any], data: Path, oracles: Oracles) -> list[Any]:
    """``valid`` without the references of the POS and tree tuning targets of ``recipes/fluent_structure.py``
    (``pick_targets``, seed 0), where the trade and the decay were chosen: the short set's source."""
    from fluent_structure import pick_targets  # recipes/ is on sys.path when run as a script (not when imported)

    tuned = {tuple(t.words) for task in ("pos", "tree") for t in pick_targets(task, data, 3, 3, 0, oracles)}
    return [e for e in valid if tuple(split_words(e.ref)) not in tuned]


def shown_args(argv: Sequence[str]) -> str:
    """The command line as recorded in the results: an absolute path is cut to its file name (no machine paths)."""
    cut = lambda a: Path(a).name if Path(a).is_absolute() else a
    return " ".join(a.split("=", 1)[0] + "=" + cut(a.split("=", 1)[1]) if a.startswith("--") and "=" in a else cut(a)
                    for a in argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.merge:
        merge(args.merge, args.out, ROWS)
        return
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    data = data_dir(args.data) / "e2e"
    emb, methods = make_rows(args.rows, args)
    seq_len = min([emb.model.config.seq_len, *(m.gen.model.config.seq_len for m in methods.values()
                                               if isinstance(m, Backend))])  # long targets fit every model
    oracles = Oracles()
    oracles.require(["tagger", "parser"])  # and the teacher
    if args.second_parser is not None:
        oracles.require_second_parser(args.second_parser or None)
    oracles.bigrams = BigramReference(e.ref for e in read_e2e_csv(data / "train.csv", parse_mrs=False))
    valid = read_e2e_csv(data / "valid.csv")
    ref_ids = {tuple(split_words(r)): k for k, r in enumerate(dict.fromkeys(e.ref for e in valid))}
    head = {"recipe": "recipes/control_long.py",
            "command": "python recipes/control_long.py " + shown_args(sys.argv[1:] if argv is None else argv),
            "machine": machine(), "models": {r: MODELS[r] for r in args.rows}, "teacher": "e2e-teacher-1",
            "data": "targets from e2e/valid.csv (held out), bigrams from e2e/train.csv", "n": args.n,
            "targets_per_task": args.targets, "embedding_steps": args.steps, "discrete_steps": args.sedd_steps,
            "rerank": args.rerank, "ar_pool": args.pool, "min_words_long": args.min_words, "seq_len": seq_len,
            "seed": args.seed, "sets": args.sets, "set_names": 2, "max_words_short": args.max_words_short, "tasks": args.tasks, "rows": args.rows,
            "parsers": {k: v for k, v in oracles.names.items() if k.startswith("parser")}}
    refs: dict[str, Any] = {}
    texts: dict[str, list[str]] = {}
    results: dict[str, Any] = {}
    target_ids: dict[str, Any] = {}
    seen: list[Any] = []
    short_source = untuned(valid, data, oracles) if "short" in args.sets else []
    for s in args.sets:
        for task in args.tasks:
            if s == "table":
                targets = build_targets(task, data / "valid.csv", args.targets, args.seed, seq_len, oracles)
            elif s == "short":
                targets = long_targets(task, short_source, seq_len=seq_len, n=args.targets, seed=args.seed, min_words=1,
                                       max_words=args.max_words_short, tag=oracles.tag, parse=oracles.parse)
            else:
                targets = long_targets(task, valid, seq_len=seq_len, n=args.targets, seed=args.seed,
                                       min_words=args.min_words, tag=oracles.tag, parse=oracles.parse)
            seen.extend(targets)
            target_ids.setdefault(s, {})[task] = [{"ref": ref_ids.get(tuple(t.words)), "words": len(t.words)}
                                                  for t in targets]
            if oracles.second_parser is not None and task in PARSED:
                refs.setdefault(s, {})[task] = reference_scores(task, targets, oracles)
            for name in args.rows:
                t0 = time.perf_counter()
                keep = texts.setdefault(f"{s}/{task}/{name}", []) if args.save_texts else None
                got = run_cell(methods[name], task, targets, emb, oracles, args, f"{s} {task} targets", keep)
                results.setdefault(s, {}).setdefault(task, {})[name] = got
                print(f"{s:5} {task:5} {name:16} {time.perf_counter() - t0:6.0f} s  "
                      f"{ {k: v for k, v in got.items() if k != 'metrics'} }", flush=True)
                partial = {**head, "targets": target_ids, "reference_scores": refs, "results": results, "partial": True}
                if reference_leak(partial, [t.words for t in seen]):  # never write reference words into the repository
                    raise SystemExit(f"{s} {task} {name}: a reference's words would be written; not writing")
                write_json_atomic(args.out, partial)
    table = markdown(results, args.rows, args.sets, args.tasks)
    print(table)
    wall = round(time.perf_counter() - t_start)
    words = {s: {t: statistics.fmean(x["words"] for x in ids) for t, ids in v.items()} for s, v in target_ids.items()}
    out = {**head, "wall_s": wall, "mean_words": words, "targets": target_ids, "reference_scores": refs,
           "results": results, "markdown": table}
    if reference_leak(out, [t.words for t in seen]):
        raise SystemExit("a reference's words would be written into the results; not writing")
    print(f"wall time {wall} s; wrote {write_json_atomic(args.out, out)}")
    if args.save_texts:
        print(f"wrote the sampled texts to {write_json_atomic(args.save_texts, texts)}")


if __name__ == "__main__":
    main()

"""The control table of Diffusion-LM's Tables 2 and 4 on the default model: no-control vs ctrlgen ``guided``.

Columns: semantic, POS, tree, spans, length, the compositions semantic+POS and semantic+tree, infill.
Rows: the paper's Diffusion-LM numbers (ctrl success only), ``no-control`` (unguided samples), ``guided``
(classifier guidance with the task's default :data:`~ctrlgen.evaluation.guided.TASK_FLUENCY` λ) and one
``guided λ=…`` row per ``--lambdas`` value. Each cell: ctrl success ↑ / lm-score ↓ / seconds per 50
samples (compositions: semantic % / POS % or tree F1 / lm / s; infill: BLEU-4 / ROUGE-L / lm / s)::

    # the table (writes recipes/results/control_table.json and prints it as markdown)
    CTRLGEN_DATA=/path/to/data OMP_NUM_THREADS=1 python recipes/control_table.py \\
        --targets 40 -n 4 --lambdas 0.05 --timing
    # a few tasks only, quick
    python recipes/control_table.py --tasks semantic+pos,semantic+tree --targets 10 -n 2 --steps 50
    # control/fluency trade-off over the fluency weight λ for one task: JSON + PNG plot
    python recipes/control_table.py --sweep semantic+pos --sweep-lambdas 0.0005,0.005,0.05,0.5

Per task, ``--targets`` targets are built from ``valid.csv`` with ``--seed`` (references of at most
``seq_len - 2`` words; semantic: a seeded sample of the distinct field values; compositions: a field value
and the POS tags / parse of the *same* reference, see ``ctrlgen/evaluation/composite.py``), ``-n``
samples are drawn per target by each method at ``--steps`` steps, and the evaluation harness scores them:
ctrl success with the oracles (spaCy POS tagger, the bundled parser), lm-score under the fixed teacher
``e2e-teacher-1`` (not on the paper's scale: compare rows with each other), bigram precision against
``train.csv``. Seconds per 50 samples in the cells come from the harness's throughput (``n`` samples per
call, so small batches); ``--timing`` also times 50 samples drawn in one batch, wall and CPU seconds,
unguided vs guided, per task (printed as a second table). A task whose oracle is missing is recorded
as pending and the others still run. The table goes to ``--out`` (default
``recipes/results/control_table.json``, rewritten atomically after every task, marked ``"partial"`` until
the run ends).

``--edit-model e2e-edit`` adds a row for the edit backend (``generate --backend edit``: AR drafts revised
toward the same constraint objects, ranked by their check faces). ``--merge A.json B.json …`` prints and
writes (``--out``) one table from the JSON of runs over different task subsets (run them in parallel).

``--sweep TASK`` runs only the sweep: no-control plus one guided row per ``--sweep-lambdas`` value
(default: the task's λ × 0.1, 1, 10, 100, 1000) on ``--sweep-targets`` targets spread over the list,
written to ``--sweep-out`` (default ``recipes/results/control_sweep_<task>.json``) and drawn as
ctrl success against lm-score beside it (``….png``) when matplotlib is installed
(``pip install 'ctrlgen[viz]'``; without it only the JSON is written, and the recipe says so).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

import ctrlgen
from ctrlgen.cli.evaluate import write_json_atomic
from ctrlgen.errors import CtrlgenError
from ctrlgen.evaluation.bench import (
    build_targets,
    classifier_info,
    data_dir,
    float_list,
    lambda_methods,
    machine,
    row_summary,
    time_fifty,
)
from ctrlgen.evaluation.guided import TASK_FLUENCY, Guided
from ctrlgen.evaluation.harness import evaluate
from ctrlgen.evaluation.methods import NoControl, PerTargetMethod, SampleContext, spaced_texts
from ctrlgen.oracles.bundle import Oracles
from ctrlgen.oracles.fluency import BigramReference
from ctrlgen.text.e2e import read_e2e_csv

RESULTS = Path(__file__).parent / "results"
TASKS = ("semantic", "pos", "tree", "spans", "length", "semantic+pos", "semantic+tree", "infill")
TITLES = {"semantic": "semantic", "pos": "POS", "tree": "tree", "spans": "spans", "length": "length",
          "semantic+pos": "semantic+POS", "semantic+tree": "semantic+tree", "infill": "infill"}
#: The control metrics of each task's cell (then lm-score and seconds per 50 samples).
CELLS: dict[str, tuple[str, ...]] = {
    "semantic": ("semantic_success",), "pos": ("pos_match",), "tree": ("tree_f1",), "spans": ("span_success",),
    "length": ("length_within2",), "semantic+pos": ("semantic_success", "pos_match"),
    "semantic+tree": ("semantic_success", "tree_f1"), "infill": ("bleu4", "rouge_l"),
}
#: Diffusion-LM's ctrl success (paper Table 2; compositions: Table 4, semantic / syntax). Infill is left
#: blank: the paper measured it on αNLG, another data set. Its lm-scores come from another teacher LM.
PAPER: dict[str, tuple[float, ...] | None] = {
    "semantic": (81.2,), "pos": (90.0,), "tree": (86.0,), "spans": (93.8,), "length": (99.9,),
    "semantic+pos": (63.7, 69.1), "semantic+tree": (69.8, 74.8), "infill": None,
}
PAPER_ROW = "Diffusion-LM (paper)"


class EditBackend(PerTargetMethod):
    """``generate --backend edit`` on the target's constraint objects (:func:`constraints_for`)."""

    name = "edit backend"

    def __init__(self, model: str) -> None:
        self.edit_gen = ctrlgen.load(model)
        if self.edit_gen.backend != "edit":
            raise SystemExit(f"--edit-model {model} is a {self.edit_gen.backend} model, not an edit model")

    def check(self, targets: Sequence[Any], ctx: SampleContext) -> None:
        from ctrlgen.evaluation.guided import constraints_for

        for t in targets:
            self.edit_gen.prepare(constraints_for(t))

    def sample_one(self, target: Any, ctx: SampleContext, seed: int) -> list[str]:
        from ctrlgen.evaluation.guided import constraints_for

        out = self.edit_gen.generate(n=ctx.n, seed=seed, constraints=constraints_for(target))
        return spaced_texts(out, self.edit_gen.tokenizer)


def merge(paths: Sequence[str], out: str) -> None:
    """One table from several runs' JSON (different task subsets of the same settings)."""
    import json

    runs = [json.loads(Path(p).read_text()) for p in paths]
    tasks = [t for r in runs for t in r["tasks"]]
    results = {t: r["tasks"][t] for r in runs for t in r["tasks"]}
    pending = {t: m for r in runs for t, m in r.get("pending", {}).items()}
    table = markdown_table(results, [t for t in TASKS if t in tasks or t in pending], pending)
    print(table)
    if any(r.get("timing_50") for r in results.values()):
        print(timing_table(results, [t for t in TASKS if t in results]))
    merged = {**{k: v for k, v in runs[0].items() if k not in ("tasks", "pending", "markdown", "command")},
              "commands": [r.get("command") for r in runs], "merged_from": [Path(p).name for p in paths],
              "tasks": results, "pending": pending, "markdown": table}
    print(f"wrote {write_json_atomic(out, merged)}")


def _fmt(v: float | None, spec: str = ".1f") -> str:
    return "–" if v is None else format(v, spec)


def cell(task: str, row: dict[str, Any]) -> str:
    """``ctrl / lm-score / s per 50`` of one summarised harness row (:func:`row_summary`)."""
    ctrl = [_fmt(row["metrics"].get(m)) for m in CELLS[task]]
    return " / ".join([*ctrl, _fmt(row["lm_score"], ".2f"), _fmt(row["seconds_per_50"], ".0f")])


def markdown_table(results: dict[str, Any], tasks: Sequence[str], pending: dict[str, str] | None = None) -> str:
    """The paper's layout: one column per task, one row per method (``results``: task → ``{"rows": [...]}``)."""
    pending = pending or {}
    methods = list(dict.fromkeys(r["method"] for t in tasks if t in results for r in results[t]["rows"]))
    lines = ["| method | " + " | ".join(TITLES.get(t, t) for t in tasks) + " |",
             "|---" * (len(tasks) + 1) + "|"]
    paper = [" / ".join(map(str, PAPER[t])) if PAPER.get(t) else "–" for t in tasks]
    lines.append(f"| {PAPER_ROW} | " + " | ".join(paper) + " |")
    for m in methods:
        cells = []
        for t in tasks:
            rows = {r["method"]: r for r in results[t]["rows"]} if t in results else {}
            cells.append(cell(t, rows[m]) if m in rows else "pending" if t in pending else "–")
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    legend = ("cells: ctrl success ↑ / lm-score ↓ / s per 50 samples; semantic+POS, semantic+tree: semantic % / "
              "POS % or tree F1 / lm / s; infill: BLEU-4 / ROUGE-L / lm / s; paper row: ctrl success only "
              "(its lm-scores use another teacher)")
    return "\n".join([*lines, "", legend])


def timing_table(results: dict[str, Any], tasks: Sequence[str]) -> str:
    """``--timing``: wall / CPU seconds for 50 samples in one batch, per task."""
    lines = ["| task | no-control wall / CPU s | guided wall / CPU s |", "|---|---|---|"]
    for t in tasks:
        tm = results.get(t, {}).get("timing_50")
        if tm:
            lines.append(f"| {TITLES.get(t, t)} | {tm['no-control']['wall_s']} / {tm['no-control']['cpu_s']} | "
                         f"{tm['guided']['wall_s']} / {tm['guided']['cpu_s']} |")
    return "\n".join(lines)


def plot_sweep(sweep: dict[str, Any], path: Path) -> Path | None:
    """Ctrl success against lm-score, one series per control metric (points labelled with λ, the
    no-control row as a cross); ``None`` (nothing written) when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for metric in CELLS[sweep["task"]]:
        pts = [(p["lm_score"], p["metrics"][metric], p["lambda"]) for p in sweep["points"]
               if p["lambda"] is not None and p["lm_score"] is not None and p["metrics"].get(metric) is not None]
        (line,) = ax.plot([x for x, _, _ in pts], [y for _, y, _ in pts], "o-", label=f"guided: {metric}")
        for x, y, lam in pts:
            ax.annotate(f"λ={lam:g}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
        for p in sweep["points"]:
            if p["lambda"] is None and p["lm_score"] is not None and p["metrics"].get(metric) is not None:
                ax.plot([p["lm_score"]], [p["metrics"][metric]], "x", color=line.get_color(), markersize=9)
                ax.annotate("no-control", (p["lm_score"], p["metrics"][metric]), textcoords="offset points",
                            xytext=(-6, 4), ha="right", fontsize=8)
    ax.set_xlabel("lm-score (teacher perplexity) ↓")
    ax.set_ylabel("ctrl success ↑")
    ax.set_title(f"{sweep['task']}: control vs fluency over λ ({sweep['targets']} targets × {sweep['n']})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        fig.savefig(tmp, format="png", dpi=120)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
        plt.close(fig)
    return path


def sweep_points(rows: Sequence[Any], lambdas: Sequence[float | None]) -> list[dict[str, Any]]:
    """One point per harness row (λ ``None``: no-control)."""
    return [{"method": r.method, "lambda": lam, "ctrl_success": r.ctrl_success, "metrics": r.metrics,
             "lm_score": r.lm_score, "bigram_precision": r.bigram_precision,
             "seconds_per_50": row_summary(r)["seconds_per_50"]} for r, lam in zip(rows, lambdas, strict=True)]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", default=",".join(TASKS), help=f"comma-separated, of {','.join(TASKS)} (default all)")
    ap.add_argument("--data", help="folder holding e2e/{train,valid}.csv (default $CTRLGEN_DATA)")
    ap.add_argument("--model", default="e2e", help="bundled model name or checkpoint directory (default e2e)")
    ap.add_argument("--targets", type=int, default=40, help="targets per task (default 40)")
    ap.add_argument("-n", type=int, default=4, help="samples per target (default 4)")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--lambdas", type=float_list, default=[],
                    help="extra guided rows with these fluency weights λ, e.g. 0.05 (every task)")
    ap.add_argument("--extra-step", type=float, default=0.1, help="step size of the --lambdas / sweep rows")
    ap.add_argument("--timing", action="store_true", help="also time 50 samples in one batch per task")
    ap.add_argument("--parser", help="benepar model file for tree / spans / semantic+tree (default: bundled)")
    ap.add_argument("--sweep", metavar="TASK", choices=TASKS, help="run only the λ sweep of this task")
    ap.add_argument("--sweep-lambdas", type=float_list, help="λ values of the sweep (default: task λ × 0.1…1000)")
    ap.add_argument("--sweep-targets", type=int, default=12, help="targets of the sweep (default 12)")
    ap.add_argument("--out", default=str(RESULTS / "control_table.json"), help="the table's JSON")
    ap.add_argument("--edit-model", help="also a row for the edit backend with this model (e.g. e2e-edit)")
    ap.add_argument("--merge", nargs="+", metavar="JSON", help="only merge these runs' JSON into one table (--out)")
    ap.add_argument("--sweep-out", help="the sweep's JSON (default recipes/results/control_sweep_<task>.json; "
                                        "the plot goes beside it as .png)")
    args = ap.parse_args(argv)
    args.tasks = [t for t in args.tasks.split(",") if t]
    unknown = [t for t in args.tasks if t not in TASKS]
    if unknown or not args.tasks:
        ap.error(f"unknown task(s) {unknown or args.tasks}: choose from {','.join(TASKS)}")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.merge:
        merge(args.merge, args.out)
        return
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    data = data_dir(args.data) / "e2e"
    gen = ctrlgen.load(args.model)
    oracles = Oracles()
    if args.parser:  # tree / spans / semantic+tree: targets, scoring and the syntax check faces use it
        from ctrlgen.constraints.syntax import use_parser
        from ctrlgen.oracles.bundle import load_parser_oracle

        oracles.parser = load_parser_oracle(args.parser)
        use_parser(oracles.parser)
    oracles.bigrams = BigramReference(e.ref for e in read_e2e_csv(data / "train.csv", parse_mrs=False))
    valid = read_e2e_csv(data / "valid.csv")
    common = {"gen": gen, "n": args.n, "steps": args.steps, "seed": args.seed, "oracles": oracles,
              "references": valid, "source": "valid.csv"}
    head = {"command": "python recipes/control_table.py " + " ".join(
                Path(a).name if a == args.parser else a for a in (sys.argv[1:] if argv is None else argv)),
            "model": args.model, "machine": machine(), "data": "e2e/valid.csv targets, e2e/train.csv bigrams",
            "parser": Path(args.parser).name if args.parser else "bundled", "classifiers": classifier_info(gen),
            "n": args.n, "steps": args.steps, "seed": args.seed}
    if args.sweep:
        run_sweep(args, gen, oracles, common, head, data)
    else:
        run_table(args, gen, oracles, common, head, data)
    print(f"wall time {time.perf_counter() - t_start:.0f} s")


def run_table(args: argparse.Namespace, gen: Any, oracles: Oracles, common: dict, head: dict, data: Path) -> None:
    methods = [NoControl(), Guided(), *lambda_methods(args.lambdas, args.extra_step),
               *([EditBackend(args.edit_model)] if args.edit_model else [])]
    results: dict[str, Any] = {}
    pending: dict[str, str] = {}
    for task in args.tasks:
        t0 = time.perf_counter()
        try:
            targets = build_targets(task, data / "valid.csv", args.targets, args.seed, gen.model.config.seq_len,
                                    oracles)
        except CtrlgenError as e:  # an oracle is missing: record the task as pending, go on
            pending[task] = f"{type(e).__name__}: {e.message} (hint: {e.hint})"
            print(f"{task}: pending — {e.message}", flush=True)
            continue
        result = evaluate(task, targets, methods=methods, **common)
        print(result.table(), flush=True)
        timing = time_fifty(gen, targets[0], task, args.steps, args.seed) if args.timing else None
        results[task] = {**result.settings, "headline": result.to_dict()["headline"], "targets": len(targets),
                         "guidance_default": {"fluency_weight": TASK_FLUENCY[task]},
                         "rows": [row_summary(r) for r in result.rows], "timing_50": timing,
                         "wall_s": round(time.perf_counter() - t0, 1)}
        write_json_atomic(args.out, {"recipe": "recipes/control_table.py", **head, "targets": args.targets,
                                     "tasks": results, "pending": pending, "partial": True})  # no lost work
    table = markdown_table(results, args.tasks, pending)
    print(table)
    if args.timing and results:
        print(timing_table(results, args.tasks))
    out = {"recipe": "recipes/control_table.py", **head, "targets": args.targets, "tasks": results,
           "pending": pending, "paper": {"row": PAPER_ROW, "ctrl_success": PAPER}, "cells": CELLS,
           "markdown": table}
    print(f"wrote {write_json_atomic(args.out, out)}")


def run_sweep(args: argparse.Namespace, gen: Any, oracles: Oracles, common: dict, head: dict, data: Path) -> None:
    task = args.sweep
    lambdas = args.sweep_lambdas or [TASK_FLUENCY[task] * m for m in (0.1, 1, 10, 100, 1000)]
    targets = build_targets(task, data / "valid.csv", args.targets, args.seed, gen.model.config.seq_len, oracles)
    k = max(1, min(args.sweep_targets, len(targets)))
    subset = [targets[i * len(targets) // k] for i in range(k)]  # evenly spread (semantic: across fields)
    result = evaluate(task, subset, methods=[NoControl(), *lambda_methods(lambdas, args.extra_step)], **common)
    print(result.table(), flush=True)
    json_path = Path(args.sweep_out) if args.sweep_out else RESULTS / f"control_sweep_{task}.json"
    sweep = {"recipe": "recipes/control_table.py", **head, "task": task, "targets": k, "metrics": CELLS[task],
             "step_size": args.extra_step, "lambda_default": TASK_FLUENCY[task],
             "points": sweep_points(result.rows, [None, *lambdas])}
    png = plot_sweep(sweep, json_path.with_suffix(".png"))
    sweep["plot"] = png.name if png else None
    if png is None:
        print("matplotlib is not installed (pip install 'ctrlgen[viz]'): wrote the JSON only, no plot")
    else:
        print(f"wrote {png}")
    print(f"wrote {write_json_atomic(json_path, sweep)}")


if __name__ == "__main__":
    main()

"""The table of ``recipes/control_long.py``: a harness row's cell, the markdown table, and merging runs (side by side
processes, or runs of other sets / tasks / rows) into one JSON, with the set names of older runs brought up to date."""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ctrlgen.cli.evaluate import write_json_atomic

SETS = ("table", "short", "long")
LEGACY_SETS = {"short": "table"}  # set names of runs written before session 14 (no "set_names" key) → today's
TASKS = ("pos", "tree", "spans")
SUCCESS = {"pos": "pos_match", "tree": "tree_f1", "spans": "span_success"}


def cell(row: Any, task: str) -> dict[str, Any]:
    """The numbers of one harness row (no texts)."""
    r2 = lambda v, k=2: None if v is None else round(v, k)
    return {"success": r2(row.metrics.get(SUCCESS[task])), "metrics": {k: r2(v) for k, v in row.metrics.items()},
            "bigram_precision": r2(row.bigram_precision), "lm_score": r2(row.lm_score),
            "distinct_2": r2(100 * row.distinct_2_target), "distinct_2_pool": r2(100 * row.distinct_2),
            "self_bleu": None if row.self_bleu is None else r2(100 * row.self_bleu),
            "distinct_samples": r2(row.distinct_samples), "n": row.n_samples // max(1, row.n_targets),
            "seconds_per_target": r2(row.seconds / max(1, row.n_targets), 1),
            "cpu_seconds_per_target": r2(row.cpu_seconds / max(1, row.n_targets), 1), "targets": row.n_targets}


def _f(v: Any, spec: str = ".1f") -> str:
    return "–" if v is None else format(v, spec)


def markdown(results: dict[str, Any], rows: Sequence[str], sets: Sequence[str], tasks: Sequence[str]) -> str:
    two = any("success_parser2" in c for v in results.values() for rs in v.values() for c in rs.values())
    head = ("| row | set | task | success ↑ | " + ("success parser 2 ↑ | " if two else "") + "bigram % ↑ | lm-score ↓ | "
            "distinct-2 % ↑ | self-BLEU % ↓ | distinct / n ↑ | s / target wall / CPU |")
    lines = [head, "|---" * (10 + two) + "|"]
    for name in rows:
        for s in sets:
            for t in tasks:
                c = results.get(s, {}).get(t, {}).get(name)
                if c is None:
                    continue
                if "refused" in c or "failed" in c:
                    why = c.get("refused") or c.get("failed")
                    lines.append(f"| {name} | {s} | {t} | {'refused' if 'refused' in c else 'failed'}: {why[:140]} |"
                                 + " |" * (6 + two))
                    continue
                second = f"{_f(c.get('success_parser2'))} | " if two else ""
                lines.append(f"| {name} | {s} | {t} | {_f(c['success'])} | {second}{_f(c['bigram_precision'])} | "
                             f"{_f(c['lm_score'], '.2f')} | {_f(c['distinct_2'])} | {_f(c['self_bleu'])} | "
                             f"{_f(c['distinct_samples'], '.2f')} / {c['n']} | {_f(c['seconds_per_target'])} / "
                             f"{_f(c.get('cpu_seconds_per_target'))} |")
    legend = ("success: POS word match %, tree F1 (all words), span success %; distinct-2 and self-BLEU within each "
              "target's samples, averaged over targets; distinct / n: different texts among a target's n samples; s / target: "
              "the method call only (scoring not counted), wall and this process's CPU seconds (1 thread)"
              + ("; success parser 2: the same texts judged by the second parser (targets built with the first)"
                 if two else ""))
    return "\n".join([*lines, "", legend])


def renamed(run: dict[str, Any]) -> dict[str, Any]:
    """A run written before session 14 with its sets under today's names (:data:`LEGACY_SETS`)."""
    if run.get("set_names") == 2:
        return run
    name = lambda s: LEGACY_SETS.get(s, s)
    out = {**run, "set_names": 2, "sets": [name(s) for s in run.get("sets", [])]}
    for key in ("results", "targets", "mean_words", "reference_scores"):
        if key in run:
            out[key] = {name(s): v for s, v in run[key].items()}
    return out


def merge(paths: Sequence[str], out: str, row_order: Sequence[str]) -> None:
    """One table from runs over different sets / tasks / rows (their settings must agree), rows in ``row_order``."""
    runs = [renamed(json.loads(Path(p).read_text())) for p in paths]
    same = ("n", "targets_per_task", "embedding_steps", "discrete_steps", "rerank", "ar_pool", "min_words_long",
            "seq_len", "seed")
    for r in runs[1:]:
        bad = [k for k in same if r.get(k) != runs[0].get(k)]
        if bad:
            raise SystemExit(f"cannot merge runs with different {bad}")
    results: dict[str, Any] = {}
    targets: dict[str, Any] = {}
    refs: dict[str, Any] = {}  # both parsers' scores of the targets' own references, by set and task
    for r in runs:
        for s, tasks in r["results"].items():
            for t, rows in tasks.items():
                results.setdefault(s, {}).setdefault(t, {}).update(rows)
        for s, tasks in r["targets"].items():
            targets.setdefault(s, {}).update(tasks)
        for s, tasks in r.get("reference_scores", {}).items():
            refs.setdefault(s, {}).update(tasks)
    order = lambda xs, allowed: [x for x in allowed if x in xs]
    rows = order({x for r in runs for x in r["rows"]}, row_order)
    sets, tasks = order(results, SETS), order({t for v in results.values() for t in v}, TASKS)
    table = markdown(results, rows, sets, tasks)
    print(table)
    merged = {**{k: v for k, v in runs[0].items() if k not in ("command", "wall_s", "partial")},
              # a run may itself be a merge: its commands, times and sources are carried over one by one
              "commands": [c for r in runs for c in (r.get("commands") or [r.get("command")])],
              "wall_s": [w for r in runs for w in (r["wall_s"] if "merged_from" in r else [r.get("wall_s")])],
              "merged_from": [m for r, p in zip(runs, paths) for m in r.get("merged_from", [Path(p).name])],
              "rows": rows, "sets": sets, "tasks": tasks, "targets": targets, "reference_scores": refs, "results": results, "markdown": table,
              "mean_words": {s: {t: statistics.fmean(x["words"] for x in ids) for t, ids in v.items()}
                             for s, v in targets.items()}}
    print(f"wrote {write_json_atomic(out, merged)}")

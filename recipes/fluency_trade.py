"""How much check score to trade for fluency when reranking structural control (issue 14, item 1): the evidence
behind ``control_long.py``'s ``*-rerank4-fluent`` rows (``FLUENCY_TRADE = 0.2``, embedding draws with ``decay=1``).

    CTRLGEN_DATA=/path/to/data OMP_NUM_THREADS=1 python recipes/fluency_trade.py --out recipes/results/fluency_trade.json
    CTRLGEN_DATA=/path/to/data OMP_NUM_THREADS=1 python recipes/fluency_trade.py --backend edit \
        --out recipes/results/fluency_trade_edit.json

For each task (POS, tree) and each guidance setting, ``--pool`` samples are drawn per target from ``e2e`` (200
steps, the targets of ``recipes/fluent_structure.py``: 3 short and 3 long ``valid.csv`` references, seed 0 — not the
targets of ``control_long.py``), once. Every sample is scored once: its check (POS word match / tree F1 by the
library's oracles) and its fluency under the AR draft LM (``fluency_scores("draft")``, per-word log-likelihood —
what ``best_of(fluency="draft")`` ranks by). Then, for each way of keeping ``n`` of the first ``p`` samples of a
target (``p`` in ``--pools``) — the first ``n`` (no rerank), the best by check score (``best_of`` without a trade),
and by check + w · fluency for each w in ``--trades`` (``best_of(fluency_trade=w)``), distinct texts first — the kept
texts are scored as ``control_long`` scores a row: mean check, bigram precision against ``train.csv``, teacher
lm-score (``e2e-teacher-1``, which no ranking reads), distinct texts per target. A ``no-control`` row (``n``
unguided samples per target) gives the lm-score the 1.5× target is measured against. The JSON holds numbers and
target ids only.

``--backend edit`` draws from ``e2e-edit`` instead (its default revision loop: AR drafts revised toward the labels;
``--settings default|fluency=20|…`` sets the loop's ``EditSampler.fluency_weight``, default 10), so the edit backend's trade is chosen on the same tuning targets as the embedding one's.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import torch

import ctrlgen
from ctrlgen.backends.edit.generator import DEFAULT_SAMPLER
from ctrlgen.cli.evaluate import write_json_atomic
from ctrlgen.core.rerank import fluency_scores
from ctrlgen.evaluation.bench import data_dir, machine
from ctrlgen.evaluation.guided import constraints_for
from ctrlgen.evaluation.tasks import TASKS
from fluent_structure import METRIC, SETTINGS, draw, pick_targets, structure_oracles  # recipes/ is on sys.path when run as a script


SETTINGS_DEFAULT = "guided|decay=1"


def edit_sampler(setting: str) -> Any:
    """The edit backend's default sampler, or with ``fluency=W`` its ``fluency_weight`` (draft LM log-prob per word in
    every candidate's score; default 10) set to W."""
    if setting == "default":
        return DEFAULT_SAMPLER
    if not setting.startswith("fluency="):
        raise SystemExit(f"--backend edit takes settings 'default' or 'fluency=W', not {setting!r}")
    return replace(DEFAULT_SAMPLER, fluency_weight=float(setting.split("=")[1]))


def keep(check: Sequence[float], fluency: Sequence[float], texts: Sequence[str], n: int, way: str) -> list[int]:
    """Indices of the ``n`` kept samples: ``first``, ``check`` (best check score) or ``trade=w`` (check + w ·
    fluency), distinct texts before repeats (as ``best_of`` orders them)."""
    idx = list(range(len(texts)))
    if way == "check":
        idx.sort(key=lambda i: (-check[i], -fluency[i], i))
    elif way.startswith("trade="):
        w = float(way.split("=")[1])
        idx.sort(key=lambda i: (-(check[i] + w * fluency[i]), i))
    seen: set[str] = set()
    first, later = [], []
    for i in idx:
        (later if texts[i] in seen else first).append(i)
        seen.add(texts[i])
    return (first + later)[:n] if way != "first" else idx[:n]


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data")
    ap.add_argument("--tasks", default="pos,tree")
    ap.add_argument("--settings", default=SETTINGS_DEFAULT,
                    help="|-separated names of fluent_structure.SETTINGS; with --backend edit: default|fluency=W|…")
    ap.add_argument("--pool", type=int, default=16)
    ap.add_argument("--pools", default="8,16")
    ap.add_argument("-n", type=int, default=4)
    ap.add_argument("--trades", default="0.1,0.2,0.3,0.5")
    ap.add_argument("--backend", choices=("embedding", "edit"), default="embedding",
                    help="draw from e2e (guided, --settings) or from e2e-edit (its default revision loop)")
    ap.add_argument("--out", default="recipes/results/fluency_trade.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    data = data_dir(args.data) / "e2e"
    model = {"embedding": "e2e", "edit": "e2e-edit"}[args.backend]
    gen, oracles = ctrlgen.load(model), structure_oracles(data)
    settings = args.settings.split("|") if args.backend == "embedding" or args.settings != SETTINGS_DEFAULT \
        else ["default"]
    assert oracles.teacher is not None and oracles.bigrams is not None
    ways = ["first", "check", *(f"trade={w}" for w in args.trades.split(","))]
    head = {"recipe": "recipes/fluency_trade.py", "command": " ".join(["python recipes/fluency_trade.py",
            *(sys.argv[1:] if argv is None else argv)]), "machine": machine(), "model": model,
            "steps": 200 if args.backend == "embedding" else gen.spec.default_steps,
            "n": args.n, "pool": args.pool, "teacher": "e2e-teacher-1", "fluency": "draft (e2e-ar-draft)"}
    results: dict[str, Any] = {}
    for task in args.tasks.split(","):
        targets = pick_targets(task, data, 3, 3, 0, oracles)
        def score(t: Any, x: str, task: str = task) -> float:
            return TASKS.get(task).score([t], [[x]], oracles)[METRIC[task]] / 100

        free = [gen.generate(n=args.n, seed=k, **({"steps": 200} if args.backend == "embedding" else {})).texts
                for k in range(len(targets))]
        flat = [x for xs in free for x in xs]
        rows = [{"setting": "no-control", "way": "first", "pool": args.n, "bigram": oracles.bigrams.precision(flat),
                 "lm_score": oracles.teacher.score(flat)}]
        for setting in settings:
            pool = []
            t0 = time.process_time()
            for k, t in enumerate(targets):
                texts = (draw(gen, t, task, args.pool, 200, k, SETTINGS[setting][0]).texts if args.backend == "embedding"
                         else gen.generate(n=args.pool, seed=k, constraints=constraints_for(t),
                                           sampler=edit_sampler(setting)).texts)
                pool.append((texts, [score(t, x) for x in texts], fluency_scores("draft", texts)))
            cpu = (time.process_time() - t0) / len(targets)
            for p in (int(v) for v in args.pools.split(",")):
                for way in ways:
                    kept = [[texts[i] for i in keep(c[:p], f[:p], texts[:p], args.n, way)] for texts, c, f in pool]
                    checks = [statistics.fmean(c[i] for i in keep(c[:p], f[:p], texts[:p], args.n, way))
                              for texts, c, f in pool]
                    flat = [x for xs in kept for x in xs]
                    rows.append({"setting": setting, "way": way, "pool": p, METRIC[task]: 100 * statistics.fmean(checks),
                                 "bigram": oracles.bigrams.precision(flat), "lm_score": oracles.teacher.score(flat),
                                 "distinct_per_target": statistics.fmean(len(set(xs)) for xs in kept),
                                 "cpu_s_per_target_for_pool": cpu})
                    print(task, rows[-1], flush=True)
        results[task] = {"targets_words": [len(t.words) for t in targets], "rows": rows}
        write_json_atomic(args.out, {**head, "tasks": results})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

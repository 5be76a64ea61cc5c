"""``ctrlgen edit "TEXT" --constraint SPEC … [-n N] [--beam R,B] [--json]``: revise a text toward constraints.

Prints each edited text, the operations applied and per-constraint satisfaction; ``--json`` prints one object
per result with ``"text"``, ``"edits"`` (``{"op", "position", "old", "new"}``), ``"satisfied"`` (per constraint)
and ``"all_satisfied"``. Also gives ``generate`` / ``infill`` their edit-backend sampler (``--beam``).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ctrlgen.backends.edit.flags import parse_beam, sampler_from_args
from ctrlgen.core.options import positive_int as _positive_int


def _show(out: Any, as_json: bool) -> None:
    per = out.report.get("constraints", {})
    for i, text in enumerate(out.texts):
        sat = {name: r["satisfied"][i] for name, r in per.items()}
        if as_json:
            rec = {"index": i, "text": text, "edits": out.report["edits"][i], "satisfied": sat,
                   "all_satisfied": all(sat.values())}
            print(json.dumps(rec, ensure_ascii=False))
            continue
        print(text)
        for op in out.report["edits"][i]:
            print(f"  {op['op']:<7} @{op['position']:<2} {op['old']!r} → {op['new']!r}")
        for name, ok in sat.items():
            print(f"  {'✓' if ok else '✗'} {name}")


def _cmd_edit(args: argparse.Namespace) -> int:
    from ctrlgen.api import load
    from ctrlgen.constraints.specs import parse_constraint
    from ctrlgen.errors import ConfigError

    constraints = [parse_constraint(spec) for spec in args.constraint or []]
    gen = load(args.model)
    if getattr(gen, "backend", None) != "edit":
        raise ConfigError(f"--model {args.model} is a {getattr(gen, 'backend', '?')!r} model, not an edit model",
                          "pass an edit checkpoint such as e2e-edit")
    out = gen.edit(args.text, constraints=constraints or None, n=args.n, seed=args.seed, sampler=sampler_from_args(args),
                   steps=args.steps, progress=sys.stderr.isatty())
    _show(out, args.json)
    return 0


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``edit`` subcommand to ``ctrlgen``'s subparsers."""
    e = subparsers.add_parser("edit", help="revise a text toward constraints with few changes (edit backend)")
    e.add_argument("text", help='e.g. "The Vaults is a cheap pub near Café Adriatic ."')
    e.add_argument("--model", default="e2e-edit", help="edit checkpoint: bundled name or directory (default e2e-edit)")
    e.add_argument("--constraint", action="append", metavar="SPEC",
                   help="repeatable: length=8, prefix=TEXT, any registered spec with a hard or check face")
    e.add_argument("-n", type=_positive_int, default=1, help="number of results, best first (default 1)")
    e.add_argument("--beam", type=parse_beam, default=None, metavar="R,B",
                   help="2D beam: R revisions kept, B candidates each (default 3,3; 1,1 = greedy)")
    e.add_argument("--steps", type=_positive_int, default=None, help="most revisions (default 12)")
    e.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    e.add_argument("--json", action="store_true", help="one JSON object per result: text, edits, satisfied")
    e.set_defaults(func=_cmd_edit)
    return e

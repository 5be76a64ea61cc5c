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


def parse_beam(s: str) -> tuple[int, int]:
    """``"R,B"`` → ``(r, b)``, both ≥ 1."""
    try:
        r, b = (int(x) for x in s.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected R,B (two integers, e.g. 3,5), got {s!r}") from None
    if r < 1 or b < 1:
        raise argparse.ArgumentTypeError(f"R and B must be ≥ 1, got {s!r}")
    return r, b


def sampler_from_args(args: argparse.Namespace) -> Any:
    """The edit sampler for ``--beam R,B`` (``1,1``: greedy); the backend's default without ``--beam``."""
    beam = getattr(args, "beam", None)
    if beam is None:
        return None
    from ..samplers.edit import EditSampler

    return EditSampler(decoding="greedy" if beam[1] == 1 else "beam", beam=beam)


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
    from ..constraints import parse_constraint
    from ..errors import ConfigError
    from ..pipeline import load

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
    from ..cli import _positive_int

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

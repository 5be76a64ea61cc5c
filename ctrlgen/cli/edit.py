"""``ctrlgen edit "TEXT" --constraint SPEC … [-n N] [--beam R,B] [--json]``: revise a text toward constraints.

Prints each edited text, the operations applied and per-constraint satisfaction; ``--json`` prints one object
per result with ``"text"``, ``"edits"`` (``{"op", "position", "old", "new"}``), ``"satisfied"`` (per constraint)
and ``"all_satisfied"``. The arguments are in :mod:`ctrlgen.cli.arguments` (checked before the model loads);
the backend's own flags (the edit backend's ``--beam``) become keyword arguments through its ``BackendFlags``.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from ctrlgen.api import load
from ctrlgen.cli.arguments import backend_flags
from ctrlgen.cli.generate import parse_constraints
from ctrlgen.cli.stream import progress_mode, set_threads
from ctrlgen.errors import ConfigError
from ctrlgen.registry import BACKENDS


def _show(out: Any, as_json: bool) -> None:
    per = out.report.get("constraints", {})
    for i, text in enumerate(out.texts):
        sat = {name: r["satisfied"][i] for name, r in per.items()}
        if as_json:
            rec = {"index": i, "text": text, "edits": out.report["edits"][i], "satisfied": sat,
                   "all_satisfied": out.report.get("satisfied", [True] * len(out.texts))[i]}  # None: unchecked
            if "unchecked" in out.report:
                rec["unchecked"] = out.report["unchecked"]
            print(json.dumps(rec, ensure_ascii=False))
            continue
        print(text)
        for op in out.report["edits"][i]:
            print(f"  {op['op']:<7} @{op['position']:<2} {op['old']!r} → {op['new']!r}")
        for name in out.report.get("unchecked", []):
            print(f"  ? {name} (no check face: unchecked)")
        for name, ok in sat.items():
            print(f"  {'✓' if ok else '✗'} {name}")


def run(args: argparse.Namespace) -> int:
    """``ctrlgen edit``."""
    constraints = parse_constraints(args)
    gen = load(args.model)
    if "edit" not in gen.spec.operations:
        editors = BACKENDS.serving("edit")
        raise ConfigError(f"--model {args.model} is a {gen.backend!r} model, not an edit model",
                          "pass a checkpoint of a backend that edits, such as "
                          + " or ".join(BACKENDS.get(n).default_model for n in editors))
    set_threads(args.threads)
    opts = args.options.with_defaults(steps=gen.spec.default_steps)
    flags = backend_flags(gen.backend)
    out = gen.edit(args.text, constraints=constraints or None, n=opts.n, seed=opts.seed, steps=opts.steps,
                   progress=progress_mode(args.quiet)[0], **(flags.to_kwargs(args) if flags is not None else {}))
    _show(out, args.json)
    return 0

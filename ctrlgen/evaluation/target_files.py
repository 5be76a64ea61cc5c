"""Targets for an evaluation run: read a JSON-lines file strictly, check that targets fit the model,
or build them from held-out E2E references.

:func:`read_task_targets` checks each line against the task's format *before* building a target, so
an error names the file, the line and the key (``pos.jsonl line 3: key 'pos' is missing``), with an
example line as the hint. The formats are those of :mod:`.targets` (Diffusion-LM's ``target_*.json``
plus ctrlgen's tree / length / infill records); unknown extra keys are ignored.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ctrlgen.errors import CtrlgenError, DataError
from ctrlgen.evaluation.composite import COMPOSITE_KINDS, composite_targets
from ctrlgen.evaluation.target_builders import (
    infill_targets,
    length_targets,
    pos_targets,
    semantic_targets,
    span_targets,
    tree_targets,
)
from ctrlgen.evaluation.targets import TARGET_KINDS
from ctrlgen.evaluation.tasks import TASKS
from ctrlgen.oracles.bundle import Oracles
from ctrlgen.text.e2e import E2EExample, read_e2e_csv
from ctrlgen.text.tokenizer import split_words

log = logging.getLogger(__name__)

_STRS, _SPANS = "a list of strings", "a list of [i, j, label]"
#: kind → key → (required, what the value must be); semantic records are lists, not objects.
SCHEMAS: dict[str, dict[str, tuple[bool, str]]] = {
    "pos": {"pos": (True, _STRS), "words_": (True, _STRS)},
    "spans": {"words_": (True, _STRS), "spans": (True, _SPANS)},
    "tree": {"tree": (True, "a bracketed tree string"), "words_": (False, _STRS)},
    "length": {"length": (True, "an integer >= 1"), "words_": (False, _STRS)},
    "infill": {"template": (True, "a string with [MASK] holes"), "reference": (True, "a string")},
}
# Composite targets (.composite): the syntax part's record plus the semantic part's list under "semantic".
SCHEMAS["semantic+pos"] = {"semantic": (True, _STRS), **SCHEMAS["pos"]}
SCHEMAS["semantic+tree"] = {"semantic": (True, _STRS), **SCHEMAS["tree"]}


def _valid(value: Any, what: str) -> bool:
    if what == _STRS:
        return isinstance(value, list) and all(isinstance(w, str) for w in value)
    if what == _SPANS:
        return isinstance(value, list) and bool(value) and all(
            isinstance(s, list) and len(s) == 3 and all(isinstance(x, int) and not isinstance(x, bool) for x in s[:2])
            and isinstance(s[2], str) for s in value)
    if what.startswith("an integer"):
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, str)


def check_record(rec: Any, kind: str) -> str | None:
    """Why ``rec`` is not a ``kind`` record (naming the key), or ``None`` when its shape is right."""
    if kind == "semantic":
        if not (isinstance(rec, list) and all(isinstance(w, str) for w in rec)):
            return f"a semantic target is a JSON list of strings, got {type(rec).__name__}"
        return None if ":" in rec else "the semantic target has no ':' between field and value"
    if not isinstance(rec, dict):
        return f"a {kind} target is a JSON object, got {type(rec).__name__}"
    for key, (required, what) in SCHEMAS[kind].items():
        if key not in rec:
            if required:
                return f"key {key!r} is missing (a {kind} target needs {', '.join(repr(k) for k, (r, _) in SCHEMAS[kind].items() if r)})"
        elif not _valid(rec[key], what):
            return f"key {key!r} must be {what}, got {json.dumps(rec[key], ensure_ascii=False)[:60]}"
    if "semantic" in SCHEMAS[kind] and ":" not in rec["semantic"]:
        return "key 'semantic' has no ':' between field and value"
    return None


def read_task_targets(path: str | os.PathLike, task: str) -> tuple[list[Any], list[int]]:
    """The targets of ``path`` for ``task`` and the line number of each (blank lines are skipped)."""
    kind = TASKS.get(task).kind
    cls, p = TARGET_KINDS[kind], Path(path)
    if not p.is_file():
        raise DataError(f"targets file {p} does not exist",
                        hint=f"build one with: ctrlgen build-targets --task {task} --from valid.csv --out {p.name}")
    example = json.dumps(cls.example, ensure_ascii=False)
    targets, lines = [], []
    for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError as e:
            raise DataError(f"{p.name} line {n} is not JSON ({e.msg}): {line[:60]!r}",
                            hint=f"one {task} target per line, e.g. {example}") from None
        problem = check_record(rec, kind)
        if problem:
            raise DataError(f"{p.name} line {n}: {problem}", hint=f"a {task} target line looks like {example}")
        try:
            targets.append(cls.from_record(rec))
        except CtrlgenError as e:
            raise DataError(f"{p.name} line {n}: {e.message}", hint=e.hint) from e
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise DataError(f"{p.name} line {n} is not a valid {task} target ({e})",
                            hint=f"a {task} target line looks like {example}") from e
        lines.append(n)
    if not targets:
        raise DataError(f"targets file {p} has no targets", hint=f"one {task} target per line, e.g. {example}")
    return targets, lines


def check_fits(targets: Sequence[Any], task: str, seq_len: int, *, where: str = "targets",
               lines: Sequence[int] | None = None) -> None:
    """Raise ``DataError`` naming the first target (line) that needs more than ``seq_len - 2`` words."""
    need = TASKS.get(task).words_needed
    for k, target in enumerate(targets):
        words = need(target)
        if words + 2 > seq_len:
            at = f"line {lines[k]}" if lines is not None else f"target {k}"
            raise DataError(f"{where} {at}: the target needs {words} words + START + END = {words + 2} positions, "
                            f"more than the model's seq_len = {seq_len}",
                            hint=f"drop targets longer than {seq_len - 2} words (build-targets --max-words "
                                 f"{seq_len - 2}) or use a model with a longer seq_len")


def fitting_examples(source: str | os.PathLike | Sequence[E2EExample], max_words: int | None) -> list[E2EExample]:
    """The rows of an E2E CSV (or list) whose reference has at most ``max_words`` words (all if ``None``)."""
    rows = read_e2e_csv(source) if isinstance(source, (str, os.PathLike)) else list(source)
    if max_words is None:
        return rows
    kept = [e for e in rows if len(split_words(e.ref)) <= max_words]
    if len(kept) < len(rows):
        log.info("targets: skipped %d of %d references longer than %d words", len(rows) - len(kept), len(rows), max_words)
    return kept


def build_task_targets(task: str, source: str | os.PathLike | Sequence[E2EExample], *, count: int | None = 50,
                       seed: int = 0, max_words: int | None = None, oracles: Oracles | None = None) -> list[Any]:
    """Targets for ``task`` from held-out references: ``count`` references drawn with ``seed`` (all when
    ``None``; semantic targets are every distinct field value of the MRs, then the first ``count``).
    POS targets use the oracle tagger, tree / spans the parser oracle (loaded from ``oracles``);
    ``semantic+pos`` / ``semantic+tree`` take both parts from one reference (:mod:`.composite`)."""
    spec = TASKS.get(task)
    rows = fitting_examples(source, max_words)
    oracles = oracles or Oracles(teacher_name=None)
    oracles.require([o for o in spec.needs if o in ("tagger", "parser")])
    if task == "semantic":
        return semantic_targets(rows)[:count]
    if task == "pos":
        return pos_targets(rows, n=count, seed=seed, tag=oracles.tag)
    if task == "tree":
        return tree_targets(rows, oracles.parse, n=count, seed=seed)
    if task == "spans":
        return span_targets(rows, oracles.parse, n=count, seed=seed)
    if task == "length":
        return length_targets(rows, n=count, seed=seed)
    if spec.kind in COMPOSITE_KINDS:  # semantic value + syntax of the same reference
        return composite_targets(rows, spec.kind, n=count, seed=seed, tag=oracles.tag, parse=oracles.parse)
    return infill_targets(rows, n=count, seed=seed)

"""The machinery of the bad-input catalogue (issue 18, "Measure"): a case record, the run of one case and the
classification of its outcome. The cases themselves are in :mod:`catalogue_cases`.

Every case is tried as a careless or hostile user would, and its outcome is put in one class:

- ``typed_error``: a :class:`~ctrlgen.errors.CtrlgenError` with a hint (API), or exit status 2 with a one-line
  ``error: …`` and a ``hint: …`` and no traceback (CLI);
- ``honest``: it ran and the result passed its honesty checks (``n`` non-blank texts, report lists of length
  ``n``, a constraint without a check face reported unchecked — ``satisfied`` None — and the case's own check);
- ``silent_wrong``: it ran but a check failed (blank texts, a wrong ``satisfied``, a broken model loaded);
- ``traceback``: any other exception (API) or a traceback / other exit status (CLI);
- ``hang``: it did not finish within :data:`TIMEOUT_S` (a ``SIGALRM`` guard).

CLI cases run in-process through :func:`ctrlgen.cli.main.main`, with stdout and stderr captured.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shlex
import signal
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ctrlgen.errors import CtrlgenError

TIMEOUT_S = 30  # a case that runs longer is a hang
CLASSES = ("typed_error", "honest", "silent_wrong", "traceback", "hang")
HONEST = "honest"
# what every sampling CLI case gets unless it says otherwise (argparse: a later flag wins)
TINY_CLI = {"generate": ["-n", "1", "--steps", "2", "--quiet", "--json"],
            "infill": ["-n", "1", "--steps", "2", "--quiet", "--json"],
            "edit": ["-n", "1", "--steps", "2", "--quiet", "--json"]}
CLI_ENV = {"OMP_NUM_THREADS": "1"}  # the CLI's default thread count follows it (a case may set its own)

Verify = Callable[[Any, "Case"], "str | None"]  # the result (API) or the JSON records (CLI) -> a problem, or None


class Hang(BaseException):
    """Raised by the SIGALRM guard; a BaseException so that no ``except Exception`` in the code swallows it."""


@dataclass(frozen=True)
class Case:
    """One bad input. ``call``: for ``kind="cli"`` an argv string (shlex; placeholders filled by
    :meth:`Context.fill`), for ``kind="api"`` a function of the :class:`Context`. ``expect``: the
    ``CtrlgenError`` subclass it must raise, or ``HONEST``. ``verify``: the honesty check of a result."""

    id: str
    kind: str  # "cli" | "api"
    backend: str  # "embedding" | "discrete" | "edit" | "any"
    call: Any
    expect: type[CtrlgenError] | str
    verify: Verify | None = None
    n: int = 1  # texts an honest sampling result must have
    env: Mapping[str, str] = field(default_factory=dict)
    xfail: str | None = None  # a known defect in a file the catalogue does not own: what SHOULD happen

    @property
    def expected_class(self) -> str:
        return HONEST if self.expect == HONEST else "typed_error"

    def describe(self) -> str:
        return self.call if isinstance(self.call, str) else getattr(self.call, "__doc__", None) or repr(self.call)


@dataclass
class Outcome:
    cls: str  # one of CLASSES
    error_type: type[BaseException] | None = None  # the typed error's class
    detail: str = ""
    clean: bool = True  # a typed error: a one-line message and a hint

    @property
    def error(self) -> str | None:
        return None if self.error_type is None else self.error_type.__name__

    def matches(self, case: Case) -> bool:
        """The class expected, and for a typed error the expected error class (or a subclass) with a hint."""
        if self.cls != case.expected_class:
            return False
        return case.expect == HONEST or (self.clean and self.error_type is not None
                                         and issubclass(self.error_type, case.expect))  # type: ignore[arg-type]


@contextlib.contextmanager
def alarm(seconds: int) -> Iterator[None]:
    """Raise :class:`Hang` in the main thread after ``seconds``."""
    def on_alarm(signum: int, frame: object) -> None:
        raise Hang

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def environment(env: Mapping[str, str]) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def raised_errors() -> Iterator[list[CtrlgenError]]:
    """Every CtrlgenError constructed inside (to name the class of the one the CLI printed)."""
    made: list[CtrlgenError] = []
    original = CtrlgenError.__init__

    def record(self: CtrlgenError, *a: Any, **kw: Any) -> None:
        original(self, *a, **kw)
        made.append(self)

    CtrlgenError.__init__ = record  # type: ignore[method-assign]
    try:
        yield made
    finally:
        CtrlgenError.__init__ = original  # type: ignore[method-assign]


def generic_problem(result: Any, n: int) -> str | None:
    """The honesty checks every sampling result gets (a ``GenerationOutput``)."""
    from ctrlgen.core.output import GenerationOutput

    if not isinstance(result, GenerationOutput):
        return None
    texts, rep = result.texts, result.report
    if len(texts) != n or result.tokens.shape[0] != n:
        return f"asked for {n} texts, got {len(texts)}"
    if any(not isinstance(t, str) or not t.strip() for t in texts):
        return f"blank text(s): {texts!r}"
    if len(rep.get("well_formed", [])) != n:
        return "report['well_formed'] does not have one entry per text"
    if "satisfied" in rep:
        sat = rep["satisfied"]
        if len(sat) != n or any(s not in (True, False, None) for s in sat):
            return f"report['satisfied'] is malformed: {sat!r}"
        if rep.get("unchecked") and any(s is True for s in sat):
            return f"satisfied is True although {rep['unchecked']} cannot be checked"
    return None


def run_api(case: Case, ctx: Any) -> Outcome:
    try:
        with environment(case.env), alarm(TIMEOUT_S):
            result = case.call(ctx)
    except Hang:
        return Outcome("hang", detail=f"no answer within {TIMEOUT_S} s")
    except CtrlgenError as e:
        clean = bool(e.hint) and "\n" not in e.message
        return Outcome("typed_error", type(e), e.message if clean else f"NO ONE-LINE MESSAGE AND HINT: {e!s}", clean)
    except Exception as e:  # noqa: BLE001 — classifying it is the point
        return Outcome("traceback", type(e), "".join(traceback.format_exception_only(e)).strip())
    problem = generic_problem(result, case.n) or (case.verify(result, case) if case.verify else None)
    return Outcome("silent_wrong", detail=problem) if problem else Outcome(HONEST, detail=_short(result))


def run_cli(case: Case, ctx: Any) -> Outcome:
    from ctrlgen.cli.main import main

    argv = [ctx.fill(a) for a in shlex.split(case.call)]
    argv = [argv[0], *TINY_CLI.get(argv[0], []), *argv[1:]] if argv else argv
    out, err = io.StringIO(), io.StringIO()
    code: Any = None
    try:
        with environment({**CLI_ENV, **case.env}), raised_errors() as made, contextlib.redirect_stdout(out), \
                contextlib.redirect_stderr(err), alarm(TIMEOUT_S):
            try:
                code = main(argv)
            except SystemExit as e:  # argparse
                code = e.code
    except Hang:
        return Outcome("hang", detail=f"no answer within {TIMEOUT_S} s")
    except Exception as e:  # noqa: BLE001 — escaped main(): the user sees a traceback
        return Outcome("traceback", type(e), "".join(traceback.format_exception_only(e)).strip())
    stderr = err.getvalue()
    if "Traceback" in stderr:
        return Outcome("traceback", detail=stderr[-400:])
    if code == 2:
        lines = [line for line in stderr.splitlines() if line.startswith(("error: ", "hint: "))
                 or ": error: " in line]
        message = next((line.split("error: ", 1)[1] for line in lines if "error: " in line), None)
        if message is None:
            return Outcome("traceback", detail=f"exit 2 without an error line: {stderr[-300:]!r}")
        kind = next((type(e) for e in reversed(made) if " ".join(e.message.split()) == message), None)
        clean = any(line.startswith("hint: ") for line in lines)
        return Outcome("typed_error", kind or SystemExit, message if clean else f"NO HINT: {stderr[-300:]!r}", clean)
    if code not in (0, None):
        return Outcome("traceback", detail=f"exit status {code}: {stderr[-300:]!r}")
    try:
        records = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    except json.JSONDecodeError:
        records = out.getvalue().splitlines()
    problem = cli_problem(records, case) or (case.verify(records, case) if case.verify else None)
    return Outcome("silent_wrong", detail=problem) if problem else Outcome(HONEST, detail=_short(records))


def cli_problem(records: list[Any], case: Case) -> str | None:
    """The honesty checks of a sampling command's ``--json`` output."""
    command = shlex.split(case.call)[0]
    if command not in TINY_CLI:
        return None
    if len(records) != case.n:
        return f"asked for {case.n} records, got {len(records)}"
    for r in records:
        if not isinstance(r, dict) or not str(r.get("text", "")).strip():
            return f"blank or malformed record {r!r}"
        if r.get("unchecked") and r.get("all_satisfied") is True:
            return f"all_satisfied is True although {r['unchecked']} cannot be checked"
    return None


def run_case(case: Case, ctx: Any) -> Outcome:
    return run_cli(case, ctx) if case.kind == "cli" else run_api(case, ctx)


def _short(x: Any) -> str:
    texts = getattr(x, "texts", None)
    return repr(texts if texts is not None else x)[:200]


def summary(cases: list[Case], outcomes: list[Outcome]) -> dict[str, Any]:
    """Counts per class, per kind and per backend, and the cases whose outcome was not typed / honest or not the
    expected one."""
    def count(keep: Callable[[Case], bool]) -> dict[str, int]:
        got = [o.cls for c, o in zip(cases, outcomes, strict=True) if keep(c)]
        return {k: got.count(k) for k in CLASSES}

    kinds = sorted({c.kind for c in cases})
    backends = sorted({c.backend for c in cases})
    return {
        "cases": len(cases),
        "counts": count(lambda c: True),
        "by_kind": {k: count(lambda c, k=k: c.kind == k) for k in kinds},
        "by_backend": {b: count(lambda c, b=b: c.backend == b) for b in backends},
        "not_typed_or_honest": [{"id": c.id, "kind": c.kind, "backend": c.backend, "call": c.describe(),
                                 "class": o.cls, "error": o.error, "detail": o.detail}
                                for c, o in zip(cases, outcomes, strict=True) if o.cls not in ("typed_error", HONEST)],
        "unexpected": [{"id": c.id, "expected": c.expect if isinstance(c.expect, str) else c.expect.__name__,
                        "class": o.cls, "error": o.error, "detail": o.detail, "known_defect": c.xfail}
                       for c, o in zip(cases, outcomes, strict=True) if not o.matches(c)],
    }

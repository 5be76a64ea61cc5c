"""Long runs from the command line: results printed batch by batch, progress on stderr, ``--threads``.

``ctrlgen generate`` hands the generator an ``on_batch`` callback (:data:`ctrlgen.core.contract.OnBatch`):
each finished batch's records are printed and flushed at once, so ``-n 1024`` shows output after the first
batch and a kill keeps every finished sample. ``infill`` prints at the end (its order is by MBR, which needs
every sample) but still reports progress. Progress: on a terminal the generators' tqdm bars; otherwise (a log
file, a pipe, a job scheduler) a plain line every :data:`EVERY_S` seconds, e.g.
``generate: 128/1024 samples, 41 s elapsed, ~4.6 min left``; ``--quiet`` switches both off.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

from ctrlgen.errors import ConfigError

logger = logging.getLogger(__name__)
EVERY_S = 5.0  # seconds between two progress lines when stderr is not a terminal


def records(out: Any, start: int = 0) -> list[dict[str, Any]]:
    """One JSON record per text of ``out`` (a ``GenerationOutput``), indexed from ``start``: index, text,
    well_formed, and when present satisfied (per constraint), unchecked and mbr."""
    per = out.report.get("constraints", {})
    recs = []
    for i, text in enumerate(out.texts):
        rec: dict[str, Any] = {"index": start + i, "text": text, "well_formed": out.report["well_formed"][i]}
        if per:
            rec["satisfied"] = {name: r["satisfied"][i] for name, r in per.items()}
        if "unchecked" in out.report:  # constraints no oracle can check: never reported as satisfied
            rec["unchecked"] = out.report["unchecked"]
        if "mbr" in out.report:
            rec["mbr"] = out.report["mbr"][i]
        recs.append(rec)
    return recs


def duration(seconds: float) -> str:
    """``41 s`` / ``4.6 min`` / ``2.1 h``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


class Stream:
    """The ``on_batch`` callback of one CLI call: prints finished batches (when ``stream``), counts samples and,
    when ``lines``, writes a progress line to stderr every ``every`` seconds from a timer thread.

    Use as a context manager around the generator call; :meth:`finish` prints what was not streamed (all of it
    for ``infill``, or when a generator does not call ``on_batch``)."""

    def __init__(self, label: str, total: int, as_json: bool, stream: bool = True, lines: bool = False,
                 every: float = EVERY_S) -> None:
        self.label, self.total, self.as_json, self.stream, self.lines, self.every = (label, total, as_json, stream,
                                                                                      lines, every)
        self.done = self.printed = 0
        self.t0 = time.monotonic()
        self._stop = threading.Event()
        self._timer: threading.Thread | None = None

    def __call__(self, start: int, part: Any) -> None:
        """``on_batch``: the batch starting at sample ``start`` is done."""
        self.done = start + len(part.texts)
        if self.stream and start == self.printed:
            self._print(part, start)

    def _print(self, out: Any, start: int = 0) -> None:
        for rec in records(out, start):  # one write per record: a signal between two leaves whole lines
            sys.stdout.write((json.dumps(rec, ensure_ascii=False) if self.as_json else rec["text"]) + "\n")
        sys.stdout.flush()
        self.printed = start + len(out.texts)

    def finish(self, out: Any) -> None:
        """Print the records of ``out`` (the call's whole output) not printed yet."""
        if self.printed < len(out.texts):
            rest = type(out)(texts=out.texts[self.printed:], tokens=out.tokens[self.printed:],
                             report=_tail(out.report, self.printed, len(out.texts)))
            self._print(rest, self.printed)

    def line(self) -> str:
        """``generate: 128/1024 samples, 41 s elapsed, ~4.6 min left``."""
        elapsed = time.monotonic() - self.t0
        left = f", ~{duration(elapsed / self.done * (self.total - self.done))} left" if self.done else ""
        return f"{self.label}: {self.done}/{self.total} samples, {duration(elapsed)} elapsed{left}"

    def _tick(self) -> None:
        while not self._stop.wait(self.every):
            print(self.line(), file=sys.stderr, flush=True)

    def __enter__(self) -> Self:
        if self.lines:
            self._timer = threading.Thread(target=self._tick, name="ctrlgen-progress", daemon=True)
            self._timer.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        if self._timer is not None:
            self._timer.join(timeout=1.0)
            if kind is None and time.monotonic() - self.t0 >= self.every:  # a long run: say that it finished
                print(f"{self.label}: {self.total}/{self.total} samples in {duration(time.monotonic() - self.t0)}",
                      file=sys.stderr, flush=True)


def _tail(report: dict[str, Any], start: int, n: int) -> dict[str, Any]:
    """``report`` with its per-sample lists (length ``n``) cut to ``[start:]``; other entries as they are."""
    def cut(v: Any) -> Any:
        return v[start:] if isinstance(v, list) and len(v) == n else v

    out = {k: cut(v) for k, v in report.items() if k not in ("constraints", "unchecked")}
    if "unchecked" in report:
        out["unchecked"] = report["unchecked"]
    if "constraints" in report:
        out["constraints"] = {name: {k: cut(v) for k, v in r.items()} for name, r in report["constraints"].items()}
    return out


def accepts(fn: Callable[..., Any], name: str) -> bool:
    """Whether ``fn`` takes the keyword ``name`` (by name or through ``**kwargs``)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == name or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def progress_mode(quiet: bool) -> tuple[bool, bool]:
    """``(tqdm bars, plain lines)``: bars on a terminal, lines otherwise, neither with ``--quiet``."""
    if quiet:
        return False, False
    tty = sys.stderr.isatty()
    return tty, not tty


def default_threads() -> int:
    """The torch thread count when ``--threads`` is not given: ``OMP_NUM_THREADS`` when set (its first value, a
    positive integer), else the cores that are actually free — the cores this process may run on
    (``os.sched_getaffinity``; ``os.cpu_count()`` where that does not exist) minus the 1-minute load average
    (``os.getloadavg``), rounded, at least 1. Under CPU contention fewer threads are much faster than torch's
    default of one per core."""
    raw = os.environ.get("OMP_NUM_THREADS", "").strip()
    if raw:
        first = raw.split(",")[0].strip()
        if not first.isdigit() or int(first) < 1:
            raise ConfigError(f"OMP_NUM_THREADS must be a positive integer, got {raw!r}",
                              "unset it, or set e.g. OMP_NUM_THREADS=4 (or pass --threads 4)")
        return int(first)
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0]
    except (AttributeError, OSError):  # not available on this platform
        busy = 0.0
    return max(1, round(cores - busy))


def set_threads(threads: int | None) -> int:
    """``torch.set_num_threads``: ``threads`` (``--threads N``) when given, else :func:`default_threads`. Returns
    the count, which is logged at INFO."""
    n = threads if threads is not None else default_threads()
    import torch  # lazy: start-up speed (the CLI parses arguments without torch)

    torch.set_num_threads(n)
    logger.info("torch threads: %d (%s)", n, "--threads" if threads is not None else
                "OMP_NUM_THREADS" if os.environ.get("OMP_NUM_THREADS", "").strip() else "free cores")
    return n

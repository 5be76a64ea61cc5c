"""Every fenced ```python and ```bash block of README.md and docs/*.md runs (issue 18, item 7).

What runs, and how — all in this process, so torch and the bundled models load once (``ctrlgen ...`` as a
subprocess per command cost ~5 CPU-minutes):

- **python**: the blocks of one file run in order in one namespace (they build on each other; ``exec``); a
  block's test fails with its traceback.
- **bash**: every command (``\\`` continuations joined, ``a && b`` split) is a unit. ``ctrlgen ARGS`` runs as
  ``ctrlgen.cli.main.main(ARGS)`` with stdout / stderr captured; it must exit 0 (``SystemExit`` counts as an exit),
  and with ``--json`` every stdout line must be a JSON object (``generate`` / ``infill``: exactly ``n`` of them).
  ``export VAR=...`` and ``VAR=... cmd`` set the environment of the commands that follow (``$VAR`` is expanded).
  :func:`test_console_entry_point_runs` is the one subprocess: ``python -m ctrlgen.cli env`` (the real entry point).
- Every unit runs (:func:`in_process`) with ``OMP_NUM_THREADS=1``, an empty-at-start ``CTRLGEN_HOME`` of this
  module's own (classifiers the docs train with tiny settings must not reach other test modules) and without the
  caller's ``CTRLGEN_DATA`` (bash commands get the tiny data folder below: the docs assume it is set, README
  "Data"), in a temporary folder that holds what the docs assume (:func:`workspace`):
  ``recipes/configs/`` (a copy, so relative ``output_dir`` stays inside), ``runs/my-model/model`` and
  ``path/to/my-model`` (a tiny untrained checkpoint), ``my.csv`` and, for ``/path/to/data``, a data folder
  whose ``e2e/train.csv`` and ``e2e/valid.csv`` are the 10-row fixture. Afterwards torch's thread count is
  restored and classifiers the docs registered are unregistered.
- ``ctrlgen.load`` does not cache, so while a unit runs ``load`` is replaced (in ``ctrlgen``, ``ctrlgen.api`` and
  every ctrlgen module that imported it) by :func:`_cached_load`: a bundled model name loads once per
  ``(name, device, dtype)`` for this module and the same generator is handed to every later unit (they sample from it and train
  classifiers against it; state a unit leaves on it stays inside this module); checkpoint directories load afresh.

Tiny settings — the only rewrites, so the whole file runs in about a minute on one core:

- python: ``n=<int>`` → ``n=2``, ``steps=<int>`` → ``steps=4``, and ``, steps=4`` is added to the
  ``.generate(`` / ``.infill(`` / ``.edit(`` calls that have no ``steps=`` (the edit backend: 4 revisions);
- bash: ``-n N`` → ``-n 2``, ``--steps N`` → ``--steps 4``, ``--count N`` → ``--count 2``,
  ``--batch-size N`` → ``--batch-size 4``, and ``--steps 4`` is added to the commands of :data:`STEP_COMMANDS`
  that have none (not to ``--help``).

A unit that cannot run here is listed in :data:`SKIP` (a substring of its text → the reason, printed by the
skip); a unit that is neither a ``ctrlgen`` command nor listed fails, and so does a ``SKIP`` key that matches
nothing or a fence language other than python / bash / none (plain fences are layouts and printed output).
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LANGS = {"python", "bash", ""}  # "" = a plain fence: a layout or printed output, not run
STEP_COMMANDS = {"generate", "infill", "edit", "train", "train-classifier", "evaluate"}
TIMEOUT = 120  # seconds: the one subprocess (test_console_entry_point_runs)

SKIP: dict[str, str] = {
    "pip install": "installs the package; this suite runs in the install it makes (.ci/run does it from a clean checkout)",
    "python -m pytest": "the test suite itself, which this test is part of",
    "torchrun": "launches two DDP worker processes; DDP training is covered by tests/test_training.py",
    "--prepared tree-data.pt ...": "elided arguments ('...'): not a complete command",
    "python recipes/control_table.py": "benchmark recipe over the real E2E data ($CTRLGEN_DATA), tens of minutes; "
                                       "its results are recipes/results/control_table*.json",
    "python recipes/control_guided.py": "benchmark recipe over the real E2E data ($CTRLGEN_DATA), tens of minutes; "
                                        "its results are recipes/results/control_{semantic,pos}.json",
    "class EchoGenerator(Generator)": "run by tests/test_docs.py::test_architecture_example_backend_runs, "
                                      "which also checks what it prints",
}


@dataclass(frozen=True)
class Unit:
    """One thing the docs ask to run: a python block or one bash command."""

    file: str  # "README.md", "docs/classifiers.md"
    line: int  # 1-based: the fence line (python), the command's first line (bash)
    lang: str
    text: str  # the block's code / the command as written (continuations joined)
    block: int  # index of its bash block within the file (python: 0)
    part: int = 0  # index of the command within its line (``a && b``)

    @property
    def id(self) -> str:
        return f"{self.file}:{self.line}" + (f"+{self.part}" if self.part else "")

    @property
    def skip(self) -> str | None:
        return next((reason for key, reason in SKIP.items() if key in self.text), None)


def fences(path: Path) -> list[tuple[str, int, str]]:
    """``(language, fence line, code)`` of every fenced block of a markdown file."""
    lines, out, i = path.read_text().splitlines(), [], 0
    while i < len(lines):
        m = re.match(r"^```(\S*)\s*$", lines[i])
        if m is None:
            i += 1
            continue
        j = i + 1
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        out.append((m.group(1), i + 1, "\n".join(lines[i + 1:j]) + "\n"))
        i = j + 1
    return out


def units(path: Path) -> list[Unit]:
    name = path.relative_to(ROOT).as_posix()
    out: list[Unit] = []
    for b, (lang, line, code) in enumerate(fences(path)):
        if lang == "python":
            out.append(Unit(name, line, lang, code, 0))
        elif lang == "bash":
            rows, start, buf = code.splitlines(), None, ""
            for k, row in enumerate(rows):
                start = line + 1 + k if start is None else start
                buf += row.rstrip()
                if buf.endswith("\\"):
                    buf = buf[:-1] + " "
                    continue
                for p, cmd in enumerate(_split_and(buf)):
                    out.append(Unit(name, start, lang, cmd, b, p))
                start, buf = None, ""
    return out


def _split_and(command: str) -> list[str]:
    """A command line without its comment, split at ``&&``; ``[]`` for a comment-only line."""
    tokens = shlex.split(command, comments=True)
    parts: list[list[str]] = [[]]
    for t in tokens:
        if t == "&&":
            parts.append([])
        else:
            parts[-1].append(t)
    return [shlex.join(p) for p in parts if p]


ALL = [u for p in DOC_FILES for u in units(p)]


def tiny_python(code: str) -> str:
    code = re.sub(r"\bsteps=\d[\d_]*", "steps=4", re.sub(r"\bn=\d[\d_]*", "n=2", code))
    for m in reversed(list(re.finditer(r"\.(generate|infill|edit)\(", code))):
        depth, end = 1, m.end()
        while depth:  # the call's closing parenthesis (the docs put no parentheses inside strings)
            depth += {"(": 1, ")": -1}.get(code[end], 0)
            end += 1
        if "steps=" not in code[m.end():end - 1]:
            code = code[:end - 1] + ", steps=4" + code[end - 1:]
    return code


def tiny_cli(args: list[str]) -> list[str]:
    """The tiny-settings rewrite of ``ctrlgen`` arguments (after the word ``ctrlgen``)."""
    sizes = {"-n": "2", "--steps": "4", "--count": "2", "--batch-size": "4"}
    out = [sizes[args[i - 1]] if i and args[i - 1] in sizes and a.isdigit() else a for i, a in enumerate(args)]
    if out and out[0] in STEP_COMMANDS and "--steps" not in out and "--help" not in out:
        out += ["--steps", "4"]
    return out


# ---------------------------------------------------------------------------------------------- the workspace

@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The folder every unit runs in, the environment it sees, the bundled-model cache and caches of results."""
    import torch
    from conftest import TINY_CSV, tiny_config

    from ctrlgen.backends.embedding.model import EmbeddingLM
    from ctrlgen.models.pretrained import save_pretrained
    from ctrlgen.text.e2e import read_e2e_csv
    from ctrlgen.text.tokenizer import Tokenizer

    work = tmp_path_factory.mktemp("doc-blocks")
    data = work / "data"
    (data / "e2e").mkdir(parents=True)
    for name in ("train.csv", "valid.csv"):
        shutil.copy(TINY_CSV, data / "e2e" / name)
    shutil.copy(TINY_CSV, work / "my.csv")
    shutil.copytree(ROOT / "recipes" / "configs", work / "recipes" / "configs")
    tok = Tokenizer.train([e.ref for e in read_e2e_csv(TINY_CSV)], min_count=1)
    torch.manual_seed(0)
    model = EmbeddingLM(tiny_config(len(tok))).eval()
    for where in ("runs/my-model/model", "path/to/my-model"):
        save_pretrained(work / where, model, tok, {"diffusion": {"steps": 100}})
    (work / "home").mkdir()
    env = {"OMP_NUM_THREADS": "1", "CTRLGEN_HOME": str(work / "home")}  # set while a unit runs (+ no CTRLGEN_DATA)
    return {"dir": work, "data": data, "env": env, "models": {}, "python": {}, "bash": {}}


def _cached_load(ws: dict) -> Callable[..., Any]:
    """``ctrlgen.api.load`` that loads each bundled model once per ``(name, device, dtype)`` for this module
    (``ws["models"]``) — in a subprocess per command every command loaded its model afresh. Directories load
    afresh every time (a doc command may have just written one)."""
    from ctrlgen.api import load
    from ctrlgen.models.assets import DEFAULT_MODEL, MODELS

    @functools.wraps(load)
    def cached(name_or_path: Any = DEFAULT_MODEL, *, device: str | None = None, dtype: str | None = None) -> Any:
        if not (isinstance(name_or_path, str) and name_or_path in MODELS and not Path(name_or_path).is_dir()):
            return load(name_or_path, device=device, dtype=dtype)
        key = (name_or_path, device, dtype)
        if key not in ws["models"]:
            ws["models"][key] = load(name_or_path, device=device, dtype=dtype)
        return ws["models"][key]

    return cached


@contextlib.contextmanager
def in_process(ws: dict, env: dict[str, str]) -> Iterator[None]:
    """What a fresh process in the workspace would see, for the units run inside: the workspace as the current
    folder, ``env`` set and ``CTRLGEN_DATA`` unset unless ``env`` sets it, ``load`` cached (:func:`_cached_load`)
    wherever a ctrlgen module bound it. Undone on exit, with what the units may change in this process: torch's
    thread count (the CLI sets it) and classifiers the docs register."""
    import torch

    import ctrlgen.api
    from ctrlgen.cli.lazy import COMMANDS
    from ctrlgen.constraints.plugin import CLASSIFIERS
    from ctrlgen.registry import resolve

    for cmd in COMMANDS.values():  # import every command now, so that its `from ctrlgen.api import load` is patched
        resolve(cmd.run)
    original, cached = ctrlgen.api.load, _cached_load(ws)
    threads, registered = torch.get_num_threads(), set(CLASSIFIERS)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(ws["dir"])
        mp.delenv("CTRLGEN_DATA", raising=False)
        for k, v in env.items():
            mp.setenv(k, v)
        mp.setattr(ctrlgen, "load", cached)
        for name, module in list(sys.modules.items()):
            if name.startswith("ctrlgen.") and getattr(module, "__dict__", {}).get("load") is original:
                mp.setattr(module, "load", cached)
        try:
            yield
        finally:
            torch.set_num_threads(threads)
            for name in set(CLASSIFIERS) - registered:
                CLASSIFIERS.unregister(name)


# ---------------------------------------------------------------------------------------------- python blocks

def python_results(ws: dict, file: str) -> dict[str, dict]:
    """Run the file's python blocks (those not skipped) in order in one namespace, once; results by unit id."""
    if file not in ws["python"]:
        done, ns = {}, {"__name__": "__main__"}
        with in_process(ws, ws["env"]):
            for u in ALL:
                if u.file != file or u.lang != "python" or u.skip:
                    continue
                t = time.perf_counter()
                try:
                    exec(compile(tiny_python(u.text), u.id, "exec"), ns)  # noqa: S102 — the docs' own code
                    error = None
                except (Exception, SystemExit):  # noqa: BLE001 — any failure of a block is its test's failure
                    error = traceback.format_exc()
                done[u.id] = {"error": error, "seconds": round(time.perf_counter() - t, 1)}
        ws["python"][file] = done
    return ws["python"][file]


@pytest.mark.parametrize("unit", [u for u in ALL if u.lang == "python"], ids=lambda u: u.id)
def test_python_block(unit: Unit, workspace: dict) -> None:
    if unit.skip:
        pytest.skip(unit.skip)
    result = python_results(workspace, unit.file)[unit.id]
    assert result["error"] is None, f"{unit.id} (tiny settings) failed:\n{result['error']}"


# ---------------------------------------------------------------------------------------------- bash commands

def _expand(token: str, env: dict[str, str], ws: dict) -> str:
    token = token.replace("/path/to/data", str(ws["data"]))
    return re.sub(r"\$\{?([A-Za-z_]\w*)\}?", lambda m: env.get(m.group(1), os.environ.get(m.group(1), m.group(0))),
                  token)


def run_cli(ws: dict, args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    """``ctrlgen ARGS`` through :func:`ctrlgen.cli.main.main` in this process: (exit status, stdout, stderr)."""
    from ctrlgen.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with in_process(ws, env), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(args)
        except SystemExit as e:  # argparse's --help (0); anything else that exits
            code = e.code if isinstance(e.code, int) else 0 if e.code is None else 1
            if not isinstance(e.code, int | None):
                print(e.code, file=sys.stderr)
        except Exception:  # noqa: BLE001 — an uncaught error: a traceback and status 1, as in a real process
            code = 1
            traceback.print_exc()
    return code, out.getvalue(), err.getvalue()


def run_command(ws: dict, unit: Unit, env: dict[str, str]) -> dict:
    """Run one bash unit (``env`` is the block's environment, updated by ``export``)."""
    tokens = shlex.split(unit.text)
    if tokens[0] == "export":
        for t in tokens[1:]:
            k, v = t.split("=", 1)
            env[k] = _expand(v, env, ws)
        return {"returncode": 0, "stdout": "", "stderr": "", "argv": tokens}
    local = dict(env)
    while tokens and re.match(r"^[A-Za-z_]\w*=", tokens[0]):
        k, v = tokens.pop(0).split("=", 1)
        local[k] = _expand(v, local, ws)
    if not tokens or tokens[0] != "ctrlgen":
        return {"returncode": None, "stdout": "", "stderr": "", "argv": tokens}
    args = [_expand(t, local, ws) for t in tiny_cli(tokens[1:])]
    code, out, err = run_cli(ws, args, local)
    return {"returncode": code, "stdout": out, "stderr": err, "argv": ["ctrlgen", *args]}


def bash_result(ws: dict, unit: Unit) -> dict:
    """Run the unit's bash block up to and including it (once, in order: later lines may use earlier files)."""
    key = (unit.file, unit.block)
    env, done = ws["bash"].setdefault(key, ({**ws["env"], "CTRLGEN_DATA": str(ws["data"])}, {}))
    for u in ALL:
        if (u.file, u.block, u.lang) == (*key, "bash") and u.id not in done and u.skip is None:
            done[u.id] = run_command(ws, u, env)
            if u == unit:
                break
    return done[unit.id]


@pytest.mark.parametrize("unit", [u for u in ALL if u.lang == "bash"], ids=lambda u: u.id)
def test_bash_command(unit: Unit, workspace: dict) -> None:
    if unit.skip:
        pytest.skip(unit.skip)
    r = bash_result(workspace, unit)
    assert r["returncode"] is not None, (
        f"{unit.id}: {unit.text!r} is neither a ctrlgen command nor in SKIP: make it run or add it to SKIP")
    assert r["returncode"] == 0, f"{shlex.join(r['argv'])} exited {r['returncode']}:\n{r['stderr'][-3000:]}"
    args = r["argv"][1:]
    if "--json" in args:
        rows = [json.loads(line) for line in r["stdout"].splitlines() if line.strip()]
        assert rows and all(isinstance(row, dict) for row in rows), r["stdout"][-2000:]
        if args[0] in ("generate", "infill") and "-n" in args:  # one object per sample
            assert len(rows) == int(args[args.index("-n") + 1]), r["stdout"][-2000:]


def test_console_entry_point_runs(workspace: dict) -> None:
    """The one subprocess: the real entry point (``python -m ctrlgen.cli``) starts, runs a command and exits 0 —
    everything else above goes through :func:`ctrlgen.cli.main.main` in this process."""
    env = {k: v for k, v in os.environ.items() if k != "CTRLGEN_DATA"}
    env.update(workspace["env"], PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p))
    r = subprocess.run([sys.executable, "-m", "ctrlgen.cli", "env"], cwd=workspace["dir"], env=env, check=False,
                       capture_output=True, text=True, timeout=TIMEOUT)
    from ctrlgen.version import __version__

    assert r.returncode == 0, r.stderr[-3000:]
    assert f"ctrlgen {__version__}" in r.stdout and "CTRLGEN_DATA=(unset)" in r.stdout, r.stdout


# ---------------------------------------------------------------------------------------------- coverage

def test_every_unit_is_run_or_skipped() -> None:
    """New docs get covered: no unknown fence language, no bash unit that is not a ctrlgen command unless it is
    skipped with a reason, no stale SKIP key; and the extraction finds the blocks it should."""
    langs = {lang for p in DOC_FILES for lang, _, _ in fences(p)}
    assert langs <= LANGS, f"fence languages {sorted(langs - LANGS)} are not run: extend this test"
    loose = [u.id for u in ALL if u.lang == "bash" and u.skip is None
             and not re.match(r"^(export |([A-Za-z_]\w*=\S* )*ctrlgen\b)", u.text)]
    assert not loose, f"neither run nor skipped: {loose}"
    stale = [k for k in SKIP if not any(k in u.text for u in ALL)]
    assert not stale, f"SKIP keys that match no block: {stale}"
    per_file = {p.name: sum(u.lang == "python" for u in ALL if u.file.endswith(p.name)) for p in DOC_FILES}
    assert per_file["README.md"] >= 4 and per_file["classifiers.md"] >= 3, per_file


def test_tiny_rewrites() -> None:
    assert tiny_python("gen.generate(n=16, steps=200, num_inner=3)") == "gen.generate(n=2, steps=4, num_inner=3)"
    assert tiny_python('g.infill("a [MASK] .", n=8)\ng.edit(f(x), c=P("a") & L(3))') == (
        'g.infill("a [MASK] .", n=2, steps=4)\ng.edit(f(x), c=P("a") & L(3), steps=4)')
    assert tiny_cli(["generate", "-n", "8", "--json"]) == ["generate", "-n", "2", "--json", "--steps", "4"]
    assert tiny_cli(["infill", "x", "--steps", "64", "-n", "4"]) == ["infill", "x", "--steps", "4", "-n", "2"]
    assert tiny_cli(["generate", "--help"]) == ["generate", "--help"] and tiny_cli(["env"]) == ["env"]
    [a, b] = [u for u in ALL if u.file == "README.md" and "pip install . &&" in _line(u)]
    assert (a.skip, b.skip is None, b.text) == (SKIP["pip install"], True, "ctrlgen generate -n 8")


def _line(u: Unit) -> str:
    return (ROOT / u.file).read_text().splitlines()[u.line - 1]


# ---------------------------------------------------------------------------------------------- deprecations

def test_edit_raises_no_deprecation_warning() -> None:
    """An edit whose check face makes the sampler probe phrases with the AR LM: no Future/DeprecationWarning."""
    import ctrlgen

    editor = ctrlgen.load("e2e-edit")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        editor.edit("The Vaults is a cheap pub near Café Adriatic .", n=1, steps=2)
        editor.edit("The Vaults is a cheap pub near Café Adriatic .", n=1, steps=2,
                    constraints=ctrlgen.SemanticField("food", "Japanese"))
    bad = [f"{w.filename}:{w.lineno}: {w.message}" for w in caught
           if issubclass(w.category, FutureWarning | DeprecationWarning)]
    assert not bad, "\n".join(bad)

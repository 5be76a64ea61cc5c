"""Start-up: ``ctrlgen --help``, ``ctrlgen generate --help`` and a rejected argument import none of the heavy
packages (torch, spaCy, transformers, benepar, nltk) nor the constraint language — an invariant read from
``python -X importtime``, not a timing. And every reference of the lazy table (``ctrlgen.cli.lazy.COMMANDS``,
the one place where the CLI defers imports) resolves."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

from ctrlgen.cli.lazy import COMMANDS, load
from ctrlgen.cli.main import build_parser, command_of

HEAVY = ("torch", "spacy", "transformers", "benepar", "nltk", "ctrlgen.constraints")


def imported_modules(importtime_stderr: str) -> set[str]:
    """The modules named by ``-X importtime`` lines (``import time: self | cumulative | name``)."""
    return {line.rsplit("|", 1)[1].strip() for line in importtime_stderr.splitlines()
            if line.startswith("import time:") and line.count("|") == 2}


def heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


def test_importtime_reader_can_see_a_heavy_import() -> None:
    """The check below can fail: the same reading of a process that imports torch finds it."""
    r = subprocess.run([sys.executable, "-X", "importtime", "-c", "import torch"], capture_output=True, text=True, check=False,
                       timeout=300)
    assert "torch" in heavy(imported_modules(r.stderr))


@pytest.mark.parametrize("argv,code", [
    (["--help"], 0),
    (["generate", "--help"], 0),
    (["infill", "--help"], 0),
    (["edit", "--help"], 0),
    (["generate", "-n", "0"], 2),
    (["generate", "--seed", "99999999999999999999999"], 2),
    (["generate", "--guidance-scale", "nan"], 2),
    (["generate", "--steps", "1000000000", "--backend", "discrete"], 2),
    (["generate", "--beam", "2,2", "--backend", "discrete"], 2),
    (["generate", "--no-such-flag"], 2),
    (["generate", "--constraint", "food=Chinese", "--constraint", "food=Japanese"], 2),
    (["edit", "x", "--constraint", "food=Chinese", "--constraint", "food=Japanese"], 2),
    (["no-such-command"], 2),
])
def test_help_and_argument_errors_import_nothing_heavy(argv: list[str], code: int) -> None:
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "ctrlgen.cli", *argv], capture_output=True, check=False,
                       text=True, timeout=300)
    modules = imported_modules(r.stderr)
    assert r.returncode == code, r.stderr[-2000:]
    assert "ctrlgen.cli.main" in modules  # the reading found the CLI itself
    assert heavy(modules) == [], f"ctrlgen {' '.join(argv)} imported {heavy(modules)[:10]}"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_lazy_table_resolves(name: str) -> None:
    cmd = COMMANDS[name]
    arguments, run = load(cmd.arguments), load(cmd.run)
    assert callable(arguments) and len(inspect.signature(arguments).parameters) == 1
    assert callable(run) and len(inspect.signature(run).parameters) == 1
    args = build_parser([name]).parse_args([name, *{"infill": ["T [MASK] ."], "edit": ["a text"], "train": ["c.toml"],
                                                    "evaluate": ["--task", "length"],
                                                    "build-targets": ["--task", "length", "--out", "x.jsonl"],
                                                    "train-classifier": ["pos"],
                                                    "finetune": ["e2e-masked", "--data", "d.csv", "--output", "o"]
                                                    }.get(name, [])])
    assert args.run == cmd.run and args.command == name


def test_command_of_skips_top_level_options() -> None:
    assert command_of(["-v", "generate", "-n", "2"]) == "generate"
    assert command_of(["--help"]) is None and command_of(["nope", "generate"]) is None

"""Adding a backend is one folder plus one registration: a tiny backend declared in this test (its generator,
its one CLI flag) is registered in ``BACKENDS`` and driven through ``ctrlgen generate`` — no CLI change."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch

from ctrlgen.cli.main import main
from ctrlgen.core.contract import Generator
from ctrlgen.core.flags import BackendFlags
from ctrlgen.core.output import GenerationOutput, build_output
from ctrlgen.errors import ConfigError
from ctrlgen.registry import BACKENDS, HARD, BackendSpec
from ctrlgen.text.tokenizer import Tokenizer

NAME, MODEL_TYPE, TEXT = "tiny-test", "tiny-test-lm", "The Mill is a pub."


class TinyGenerator(Generator):
    """Returns ``TEXT`` n times; records every call's keyword arguments in :attr:`calls`."""

    backend = NAME
    calls: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenizer = tokenizer

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike) -> TinyGenerator:
        return cls(Tokenizer.load(name_or_path))

    def prepare(self, constraints: Any) -> None:
        if constraints:
            raise ConfigError("the tiny backend takes no constraints", "leave --constraint out")

    def generate(self, n: int = 8, steps: int | None = None, seed: int | None = 0, constraints: Any = None,
                 **kwargs: Any) -> GenerationOutput:
        opts = self.options(n=n, steps=steps, seed=seed, batch_size=kwargs.get("batch_size", 64))
        self.calls.append({"n": n, "steps": steps, "seed": seed, **kwargs})
        ids = torch.tensor([self.tokenizer.encode(TEXT, 12)] * opts.n)  # LongTensor[n, 12]
        return build_output(ids, self.tokenizer, self.prepare(constraints), steps=opts.steps, seed=opts.seed)


class TinyFlags:
    """The tiny backend's one flag, ``--my-flag WORD``, passed to its generator as ``my_flag``."""

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--my-flag", default=None, metavar="WORD", help="tiny backend: a word")

    def to_kwargs(self, args: argparse.Namespace) -> dict[str, Any]:
        return {"my_flag": args.my_flag or "unset"}


FLAGS = TinyFlags()
SPEC = BackendSpec(name=NAME, faces=frozenset({HARD}), description="a test backend", generator=f"{__name__}:TinyGenerator",
                   model_types=(MODEL_TYPE,), default_model="", default_steps=7, operations=frozenset({"generate"}),
                   guidance="nothing", cli=f"{__name__}:FLAGS")


@pytest.fixture
def tiny_backend(tokenizer: Tokenizer, tmp_path: Path):
    """The backend registered for one test (removed after), and a checkpoint directory of its model type."""
    BACKENDS.register(NAME, SPEC)
    TinyGenerator.calls.clear()
    ckpt = tmp_path / "tiny"
    ckpt.mkdir()
    tokenizer.save(ckpt)
    (ckpt / "config.json").write_text(json.dumps({"model_type": MODEL_TYPE, "model": {}}))
    try:
        yield ckpt
    finally:
        BACKENDS.unregister(NAME)


def test_flags_object_implements_the_protocol() -> None:
    assert isinstance(FLAGS, BackendFlags)
    assert not isinstance(object(), BackendFlags)


def test_registered_backend_runs_through_the_cli(tiny_backend: Path, capsys) -> None:
    assert main(["generate", "--model", str(tiny_backend), "-n", "2", "--my-flag", "hello", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["text"] for r in rows] == [TEXT, TEXT] and all(r["well_formed"] for r in rows)
    (call,) = TinyGenerator.calls
    assert call["my_flag"] == "hello"  # its own flag reached its generator
    assert call["steps"] == 7 and call["n"] == 2  # --steps left out: the backend's default_steps


def test_registered_backend_is_a_backend_choice_with_its_flag_group(tiny_backend: Path, capsys) -> None:
    assert main(["generate", "--model", str(tiny_backend), "--backend", NAME, "--steps", "3"]) == 0
    assert TinyGenerator.calls[-1]["steps"] == 3 and TinyGenerator.calls[-1]["my_flag"] == "unset"
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["generate", "--help"])
    help_text = capsys.readouterr().out
    assert NAME in help_text and "--my-flag" in help_text and f"{NAME}: 7" in help_text


def test_flags_of_other_backends_are_refused(tiny_backend: Path, capsys) -> None:
    assert main(["generate", "--model", str(tiny_backend), "--beam", "2,2"]) == 2
    err = capsys.readouterr().err
    assert "--beam is for the edit backend" in err and "--my-flag" in err  # the hint lists the tiny backend's own
    assert main(["generate", "--backend", "embedding", "--my-flag", "x"]) == 2
    assert f"--my-flag is for the {NAME} backend" in capsys.readouterr().err
    assert TinyGenerator.calls == []


def test_unregistered_after_the_fixture() -> None:
    assert NAME not in BACKENDS

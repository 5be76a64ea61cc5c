"""Long runs: every generator streams finished batches through ``on_batch`` with the same results as a call
without it; the CLI prints each batch as it finishes, reports progress on stderr off a terminal, exits 143 on
SIGTERM / 130 on SIGINT keeping every streamed line, and takes ``--threads``."""

from __future__ import annotations

import inspect
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

import ctrlgen
from ctrlgen.cli.main import main
from ctrlgen.cli.stream import Stream
from ctrlgen.core.output import GenerationOutput
from ctrlgen.registry import BACKENDS, resolve


def _without_seconds(out: GenerationOutput) -> dict:
    return {k: v for k, v in out.report.items() if k != "seconds"}


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_every_generator_takes_on_batch(backend):
    gen_cls = resolve(BACKENDS.get(backend).generator)
    assert "on_batch" in inspect.signature(gen_cls.generate).parameters


@pytest.mark.parametrize("constraints", [None, ["length=5"], ["length=6", "prefix=The"]])
def test_streamed_batches_merge_to_the_unstreamed_output(model_dir, constraints):
    """Same texts, tokens and report (per-sample lists in order); the callback saw each batch once, in order,
    with that batch's own report."""
    gen = ctrlgen.load(str(model_dir))
    kw = {"n": 5, "steps": 3, "seed": 3, "batch_size": 2, "constraints": constraints}
    plain = gen.generate(**kw)
    seen: list[tuple[int, GenerationOutput]] = []
    streamed = gen.generate(**kw, on_batch=lambda start, part: seen.append((start, part)))
    assert [s for s, _ in seen] == [0, 2, 4] and [len(p.texts) for _, p in seen] == [2, 2, 1]
    assert streamed.texts == plain.texts == [t for _, p in seen for t in p.texts]
    assert torch.equal(streamed.tokens, plain.tokens)
    assert _without_seconds(streamed) == _without_seconds(plain)
    assert [w for _, p in seen for w in p.report["well_formed"]] == plain.report["well_formed"]
    if constraints:
        assert [v for _, p in seen for v in p.report["satisfied"]] == plain.report["satisfied"]


def test_edit_generator_streams_the_same_output():
    gen = ctrlgen.load("e2e-edit")
    kw = {"n": 3, "steps": 2, "seed": 0, "batch_size": 2, "drafts": 2, "constraints": ["length=8"]}
    plain = gen.generate(**kw)
    seen: list[int] = []
    streamed = gen.generate(**kw, on_batch=lambda start, part: seen.append(start) or None)
    assert seen == [0, 2]
    assert streamed.texts == plain.texts and _without_seconds(streamed) == _without_seconds(plain)


def test_generate_cli_streams_batches_in_order(model_dir, capsys):
    """The streamed records are the API's output, in order, with the per-sample report of each."""
    assert main(["generate", "--model", str(model_dir), "-n", "5", "--steps", "3", "--seed", "4", "--json",
                 "--constraint", "length=5", "--batch-size", "2"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    want = ctrlgen.load(str(model_dir)).generate(n=5, steps=3, seed=4, batch_size=2, constraints=["length=5"])
    assert [r["index"] for r in rows] == list(range(5)) and [r["text"] for r in rows] == want.texts
    assert [r["well_formed"] for r in rows] == want.report["well_formed"]
    assert [r["satisfied"]["Length(5)"] for r in rows] == want.report["constraints"]["Length(5)"]["satisfied"]


def test_infill_cli_prints_at_the_end_best_first(model_dir, capsys):
    assert main(["infill", "The Mill is a [MASK:2] pub .", "--model", str(model_dir), "-n", "4", "--steps", "3",
                 "--batch-size", "2", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["index"] for r in rows] == list(range(4))
    assert [r["mbr"] for r in rows] == sorted((r["mbr"] for r in rows), reverse=True)


def test_progress_line_format():
    s = Stream("generate", 1024, as_json=True, stream=False)
    s.done, s.t0 = 128, time.monotonic() - 41
    assert s.line() == "generate: 128/1024 samples, 41 s elapsed, ~4.8 min left"
    s.done = 0
    assert s.line().endswith("41 s elapsed")


def test_progress_lines_on_stderr_when_not_a_terminal(capsys):
    with Stream("generate", 4, as_json=True, stream=False, lines=True, every=0.05) as s:
        s(0, GenerationOutput(texts=["a", "b"], tokens=torch.zeros(2, 1), report={"well_formed": [True, True]}))
        time.sleep(0.3)
    err = capsys.readouterr().err.splitlines()
    assert any(line.startswith("generate: 2/4 samples, ") for line in err), err
    assert err[-1].startswith("generate: 4/4 samples in ")


def test_quiet_writes_nothing_on_stderr(model_dir, capsys, monkeypatch):
    monkeypatch.setattr("ctrlgen.cli.stream.EVERY_S", 0.0)  # a line at every chance, unless --quiet
    assert main(["generate", "--model", str(model_dir), "-n", "2", "--steps", "2", "--quiet"]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5"])
@pytest.mark.parametrize("command", [["generate"], ["infill", "The [MASK] ."], ["edit", "a pub ."]])
def test_bad_threads_is_a_typed_error(command, value, tmp_path, capsys):
    assert main([*command, "--model", str(tmp_path / "missing"), "--threads", value]) == 2
    err = capsys.readouterr().err
    assert "--threads must be a positive integer" in err and "hint:" in err and "no model named" not in err


def test_threads_sets_torch_threads(model_dir, capsys):
    before = torch.get_num_threads()
    try:
        assert main(["generate", "--model", str(model_dir), "-n", "1", "--steps", "2", "--threads", "2"]) == 0
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_interrupted_run_keeps_streamed_lines(model_dir, tmp_path, sig, code):
    """A long run killed after its first streamed line: the distinct exit code, and every line printed is a
    whole JSON record, in order from index 0."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "ctrlgen.cli", "generate", "--model", str(model_dir), "-n", "5000",
                             "--batch-size", "1", "--steps", "20", "--json", "--threads", "1"],
                            stdout=subprocess.PIPE, stderr=(tmp_path / "err").open("w"), text=True, env=env,
                            # a suite started in the background (nohup, `&`) passes SIGINT on as ignored, and Python
                            # then installs no Ctrl-C handler: give the child the terminal's default, as a user's has
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:  # stdout read through one buffered reader to EOF (communicate() would skip what readline buffered)
        first = proc.stdout.readline()
        proc.send_signal(sig)
        rest = proc.stdout.read()
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    err = (tmp_path / "err").read_text()
    assert first, err
    assert proc.returncode == code, err[-2000:]
    rows = [json.loads(line) for line in (first + rest).splitlines()]
    assert [r["index"] for r in rows] == list(range(len(rows))) and len(rows) < 5000
    assert "Traceback" not in err

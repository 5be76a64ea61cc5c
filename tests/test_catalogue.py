"""The bad-input catalogue (issue 18, "Measure"): every case of :mod:`catalogue_cases` must end in its expected
outcome — the typed error it names (with a hint; exit status 2 and no traceback on the command line) or an
honest result — never a silent wrong result, a traceback or a hang. ``recipes/bad_input_catalogue.py`` runs the
same cases and writes the counts."""

from __future__ import annotations

import logging
import os

import pytest
from catalogue_cases import CASES
from catalogue_harness import run_case
from catalogue_support import Context

from ctrlgen.errors import ConfigError


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> Context:
    return Context(tmp_path_factory.mktemp("catalogue"))


def test_catalogue_is_large_and_covers_every_backend():
    kinds = {k: sum(c.kind == k for c in CASES) for k in ("cli", "api")}
    assert len(CASES) >= 182 and kinds["cli"] >= 111 and kinds["api"] >= 71, kinds
    assert {"embedding", "discrete", "edit"} <= {c.backend for c in CASES}


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=[pytest.mark.xfail(strict=True, reason=c.xfail)]
                                               if c.xfail else []) for c in CASES])
def test_case(case, ctx):
    outcome = run_case(case, ctx)
    assert outcome.matches(case), (f"{case.describe()}: expected {case.expect if isinstance(case.expect, str) else case.expect.__name__}, "
                                   f"got {outcome.cls} {outcome.error or ''}: {outcome.detail}")


# ------------------------------------------------------------------ the CLI's default thread count (issue 18, item 6)
def test_default_threads_follows_omp_num_threads(monkeypatch):
    from ctrlgen.cli.stream import default_threads

    monkeypatch.setattr(os, "getloadavg", lambda: (100.0, 0.0, 0.0))  # ignored when OMP_NUM_THREADS is set
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert default_threads() == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "5,2")  # OpenMP's nested form: the outer level
    assert default_threads() == 5
    for bad in ("0", "many", "-2"):
        monkeypatch.setenv("OMP_NUM_THREADS", bad)
        with pytest.raises(ConfigError, match="OMP_NUM_THREADS"):
            default_threads()


@pytest.mark.parametrize("cores,load,expected", [(8, 0.0, 8), (8, 2.6, 5), (8, 7.8, 1), (8, 30.0, 1), (2, 0.4, 2)])
def test_default_threads_is_the_free_cores(monkeypatch, cores, load, expected):
    from ctrlgen.cli.stream import default_threads

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)), raising=False)
    monkeypatch.setattr(os, "getloadavg", lambda: (load, 0.0, 0.0))
    assert default_threads() == expected


def test_cli_sets_the_default_thread_count(monkeypatch, caplog):
    import torch

    from ctrlgen.cli.stream import set_threads

    before = torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    try:
        with caplog.at_level(logging.INFO, logger="ctrlgen.cli.stream"):
            assert set_threads(None) == 2 and torch.get_num_threads() == 2
            assert set_threads(1) == 1 and torch.get_num_threads() == 1
        assert "torch threads: 2 (OMP_NUM_THREADS)" in caplog.text and "torch threads: 1 (--threads)" in caplog.text
    finally:
        torch.set_num_threads(before)

"""``Generator.best_of``: draw n × rerank, keep the n best by the check faces, on any backend."""

from __future__ import annotations

import pytest
import torch

from ctrlgen import Length, SamplingError
from ctrlgen.backends.embedding.generator import EmbeddingGenerator
from ctrlgen.constraints import Contains
from ctrlgen.core.output import GenerationOutput
from ctrlgen.core.rerank import keep_samples, order_by_checks


@pytest.fixture
def gen(tiny_model, tokenizer, diffusion):
    return EmbeddingGenerator(tiny_model, tokenizer, diffusion)


def test_order_puts_satisfied_first_then_score():
    report = {"satisfied": [False, True, False, True],
              "constraints": {"a": {"satisfied": [False, True, False, True], "scores": [0.5, 1.0, 0.9, 1.0]}}}
    assert order_by_checks(report, 4) == [1, 3, 2, 0]
    assert order_by_checks({}, 3) == [0, 1, 2]                        # nothing to rank by: the backend's order


def test_keep_cuts_every_per_sample_entry():
    out = GenerationOutput(texts=["a", "b", "c"], tokens=torch.arange(6).reshape(3, 2),
                           report={"well_formed": [True, False, True], "seconds": 1.5, "steps": 7,
                                   "constraints": {"x": {"satisfied": [1, 2, 3], "scores": [4, 5, 6]}}})
    kept = keep_samples(out, [2, 0])
    assert kept.texts == ["c", "a"] and kept.tokens.tolist() == [[4, 5], [0, 1]]
    assert kept.report["well_formed"] == [True, True] and kept.report["seconds"] == 1.5
    assert kept.report["constraints"]["x"] == {"satisfied": [3, 1], "scores": [6, 4]}


def test_best_of_keeps_every_passing_sample_it_can(gen):
    """Of the n kept, min(n, passed among the drawn) pass — the passing ones first, each with its own report."""
    best = gen.best_of(n=3, rerank=3, steps=3, seed=0, constraints=Length(6) & Contains("pub"))
    assert len(best.texts) == 3 and best.tokens.shape[0] == 3
    drawn = best.report["rerank"]
    assert drawn["drawn"] == 9 and drawn["kept"] == 3
    assert sum(best.report["satisfied"]) == min(3, drawn["passed"])
    assert best.report["satisfied"] == sorted(best.report["satisfied"], reverse=True)   # passing ones first
    again = Length(6) & Contains("pub")
    assert best.report["satisfied"] == [all(v) for v in zip(*(c.satisfied(best.texts) for _, c in again.leaves()))]


def test_best_of_refuses_bad_sizes_and_streaming(gen):
    with pytest.raises(SamplingError, match="rerank"):
        gen.best_of(n=2, rerank=0, steps=2)
    with pytest.raises(SamplingError, match="rerank"):
        gen.best_of(n=2, rerank=1000, steps=2)
    from ctrlgen.errors import ConfigError
    with pytest.raises(ConfigError, match="stream"):
        gen.best_of(n=2, rerank=2, steps=2, on_batch=lambda *a: None)


def test_cli_rerank_prints_n_best(model_dir, capsys):
    import json

    from ctrlgen.cli.main import main
    assert main(["generate", "--model", str(model_dir), "-n", "2", "--rerank", "3", "--steps", "3",
                 "--constraint", "length=5", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 2 and all(r["satisfied"] == {"Length(5)": True} for r in rows)

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


def test_distinct_texts_come_before_repeats_within_each_group():
    report = {"satisfied": [True, True, True, False, False],
              "constraints": {"a": {"satisfied": [True, True, True, False, False], "scores": [1, 1, 1, 0.5, 0.5]}}}
    texts = ["x", "x", "y", "z", "z"]
    order = order_by_checks(report, 5, texts=texts)
    assert order == [0, 2, 1, 3, 4]  # the repeated "x" after the distinct "y", still before every failing sample
    assert [texts[k] for k in order[:2]] == ["x", "y"]


def test_fluency_breaks_ties_only_inside_equal_checks():
    report = {"satisfied": [False, True, True], "constraints": {"a": {"satisfied": [0, 1, 1], "scores": [0, 1, 1]}}}
    assert order_by_checks(report, 3, fluency=[9.0, -2.0, -1.0]) == [2, 1, 0]  # never lifts a failing sample


def test_best_of_with_a_fluency_callable_keeps_the_most_fluent(gen):
    def shortest_first(texts):
        return [-len(t) for t in texts]
    best = gen.best_of(n=2, rerank=3, steps=3, seed=0, fluency=shortest_first)
    drawn = gen.generate(n=6, steps=3, seed=0).texts
    distinct = sorted(set(drawn), key=lambda t: (len(t), drawn.index(t)))
    assert best.texts == distinct[:2]
    assert best.report["rerank"]["fluency"] == "callable" and best.report["rerank"]["distinct"] == len(set(best.texts))


def test_bad_fluency_is_refused_before_sampling(gen):
    from ctrlgen.errors import ConfigError
    with pytest.raises(ConfigError, match="fluency"):
        gen.best_of(n=2, rerank=2, steps=2, fluency="teacher")
    with pytest.raises(ConfigError, match="fluency"):
        gen.best_of(n=2, rerank=2, steps=2, fluency=lambda texts: [float("nan")] * len(texts))
    with pytest.raises(ConfigError, match="inf"):  # an infinite score would rank silently, never tie-break
        gen.best_of(n=2, rerank=2, steps=2, fluency=lambda texts: [float("-inf")] * len(texts))


def test_draft_fluency_prefers_a_sentence_to_word_salad():
    from ctrlgen.core.rerank import fluency_scores
    good, salad = fluency_scores("draft", ["The Vaults is a cheap pub near Café Rouge .",
                                           "pub near the is Vaults cheap . a Rouge Café"])
    assert good > salad


class _SaysWord(__import__("ctrlgen").constraints.base.Constraint):
    """A check-only constraint (no face any backend steers by): the text has ``word`` as a word."""

    faces = frozenset({"check"})

    def __init__(self, word: str) -> None:
        self.word = word

    def __repr__(self) -> str:
        return f"SaysWord({self.word!r})"

    def satisfied(self, texts):
        return [self.word in t.split() for t in texts]


def test_a_check_only_constraint_is_refused_by_generate_and_ranks_in_best_of(sedd_gen):
    """The generic fallback: a constraint the discrete backend cannot steer by is left out of the draw, judged on
    every drawn sample, and the passing ones come first; the hard constraints beside it still hold."""
    from ctrlgen.constraints.base import UnsupportedConstraintError
    c = _SaysWord("pub") & Length(6)
    with pytest.raises(UnsupportedConstraintError):
        sedd_gen.generate(n=2, steps=3, constraints=c)
    best = sedd_gen.best_of(n=3, rerank=4, steps=3, seed=0, constraints=c)
    rr = best.report["rerank"]
    assert rr["check_only"] == ["SaysWord('pub')"] and rr["drawn"] == 12
    says = [("pub" in t.split()) for t in best.texts]
    assert best.report["constraints"]["SaysWord('pub')"]["satisfied"] == says
    assert sum(best.report["satisfied"]) == min(3, rr["passed"])
    assert all(best.report["constraints"]["Length(6)"]["satisfied"])  # still a hard face of the draw
    assert best.report["satisfied"] == sorted(best.report["satisfied"], reverse=True)


def test_fluency_trade_weighs_check_score_against_fluency():
    report = {"satisfied": [True, False, False], "constraints": {"c": {"scores": [1.0, 0.95, 0.5]}}}
    fluency = [-1.3, -1.0, -0.1]
    assert order_by_checks(report, 3, fluency=fluency) == [0, 1, 2]  # satisfied first, fluency only breaks ties
    assert order_by_checks(report, 3, fluency=fluency, fluency_trade=0.2) == [1, 0, 2]  # 0.75 > 0.74 > 0.48
    assert order_by_checks(report, 3, fluency=fluency, fluency_trade=0.0) == [0, 1, 2]
    assert order_by_checks(report, 3, fluency=fluency, fluency_trade=1.0) == [2, 1, 0]
    texts = ["a", "a", "b"]  # a repeat goes after the distinct texts (one group with a trade)
    assert order_by_checks(report, 3, texts=texts, fluency=fluency, fluency_trade=0.2) == [1, 2, 0]


def test_best_of_with_a_fluency_trade(gen):
    from ctrlgen.errors import ConfigError

    def shortest_first(texts):
        return [-len(t) for t in texts]
    best = gen.best_of(n=2, rerank=3, steps=3, seed=0, fluency=shortest_first, fluency_trade=1.0,
                       constraints=Contains("pub"))
    assert best.report["rerank"]["fluency_trade"] == 1.0
    scores = best.report["constraints"]["Contains('pub')"]["scores"]
    keys = [s - len(t) for s, t in zip(scores, best.texts, strict=True)]
    assert keys == sorted(keys, reverse=True)
    for bad in (-1.0, float("nan"), True, "0.2"):
        with pytest.raises(ConfigError, match="fluency_trade"):
            gen.best_of(n=2, rerank=2, steps=2, fluency="draft", fluency_trade=bad)
    with pytest.raises(ConfigError, match="fluency score"):
        gen.best_of(n=2, rerank=2, steps=2, fluency_trade=0.2)


def test_cli_fluency_trade_needs_fluency(model_dir, capsys):
    from ctrlgen.cli.main import main
    assert main(["generate", "--model", str(model_dir), "-n", "1", "--rerank", "2", "--steps", "2",
                 "--fluency-trade", "0.2"]) != 0
    assert "--fluency draft" in capsys.readouterr().err

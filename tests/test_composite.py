"""Composite control tasks semantic+pos / semantic+tree: targets, builder, scorers, guided constraints, and
the control_table recipe's markdown layout (fake tagger and parser, tiny model)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from conftest import TINY_CSV
from test_evaluate import FakeParser, fake_tag

from ctrlgen.backends.embedding.generator import EmbeddingGenerator
from ctrlgen.constraints.composition import AllOf
from ctrlgen.constraints.length import Length
from ctrlgen.constraints.pos import POS
from ctrlgen.constraints.semantic import SemanticField
from ctrlgen.constraints.syntax import SyntaxTree
from ctrlgen.errors import ConfigError, DataError
from ctrlgen.evaluation.composite import SemanticPosTarget, SemanticTreeTarget, composite_targets
from ctrlgen.evaluation.guided import TASK_FLUENCY, Guided, constraints_for
from ctrlgen.evaluation.harness import evaluate
from ctrlgen.evaluation.target_files import build_task_targets, read_task_targets
from ctrlgen.evaluation.targets import TARGET_KINDS, PosTarget, SemanticTarget, TreeTarget, read_targets, write_targets
from ctrlgen.evaluation.tasks import TASKS
from ctrlgen.oracles.bundle import Oracles
from ctrlgen.oracles.metrics import semantic_success
from ctrlgen.text.e2e import read_e2e_csv

WORDS = ("The", "Mill", "is", "an", "Italian", "pub", ".")
SEM = SemanticTarget("food", "Italian")
SEM_POS = SemanticPosTarget(SEM, PosTarget(WORDS, tuple(fake_tag([list(WORDS)])[0])))
SEM_TREE = SemanticTreeTarget(SEM, TreeTarget(FakeParser().parse([list(WORDS)])[0].pformat(margin=1 << 30), WORDS))
GOOD, NO_VALUE = " ".join(WORDS), "The Mill is an Chinese pub ."  # same length and shape, value missing


@pytest.fixture
def oracles() -> Oracles:
    return Oracles(tagger=fake_tag, parser=FakeParser(), teacher_name=None)


@pytest.mark.parametrize("target", [SEM_POS, SEM_TREE], ids=lambda t: t.kind)
def test_round_trip(tmp_path: Path, target) -> None:
    path = tmp_path / "composite.jsonl"
    assert write_targets(path, [target, target]) == 2
    assert read_targets(path, target.kind) == [target, target]
    assert read_task_targets(path, target.kind) == ([target, target], [1, 2])  # the strict reader
    rec = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
    assert rec["semantic"] == ["food", ":", "Italian"] and rec["words_"] == ["START", *WORDS, "END"]
    assert TARGET_KINDS[target.kind].from_record(rec) == target and target.words == WORDS
    assert TASKS.get(target.kind).words_needed(target) == len(WORDS)


def test_bad_records_and_parts(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    rec = SEM_POS.to_record()
    path.write_text(json.dumps({**rec, "semantic": ["food", "Italian"]}) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match="line 1: key 'semantic' has no ':'"):
        read_task_targets(path, "semantic+pos")
    path.write_text(json.dumps({k: v for k, v in rec.items() if k != "semantic"}) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match="key 'semantic' is missing") as e:
        read_task_targets(path, "semantic+pos")
    assert '"semantic"' in e.value.hint  # the example line
    with pytest.raises(DataError, match="needs a SemanticTarget and a TreeTarget"):
        SemanticTreeTarget(SEM, SEM_POS.syntax)


@pytest.mark.parametrize("task", ["semantic+pos", "semantic+tree"])
def test_builder_takes_both_parts_from_one_reference(task, oracles) -> None:
    targets = build_task_targets(task, TINY_CSV, count=None, oracles=oracles)
    refs = list(dict.fromkeys(e.ref for e in read_e2e_csv(TINY_CSV)))
    assert len(targets) == len(refs)  # every tiny reference mentions a value of its MR (at least the name)
    for t in targets:
        assert isinstance(t, TARGET_KINDS[task])
        assert semantic_success(" ".join(t.words), t.semantic.value)  # jointly satisfiable by construction
    rows = {e.ref: e.mr for e in reversed(read_e2e_csv(TINY_CSV))}  # first row per reference wins
    for t, ref in zip(targets, refs, strict=True):
        assert rows[ref][t.semantic.field] == t.semantic.value
    again = build_task_targets(task, TINY_CSV, count=3, seed=1, oracles=oracles)
    assert again == build_task_targets(task, TINY_CSV, count=3, seed=1, oracles=oracles) and len(again) == 3


def test_builder_fields_and_errors() -> None:
    only_food = composite_targets(TINY_CSV, "semantic+pos", fields=["food"], tag=fake_tag)
    assert only_food and {t.semantic.field for t in only_food} == {"food"}
    with pytest.raises(ConfigError, match="unknown composite kind"):
        composite_targets(TINY_CSV, "semantic+spans")
    with pytest.raises(ConfigError, match="need a parser"):
        composite_targets(TINY_CSV, "semantic+tree")


@pytest.mark.parametrize(("target", "syntax"), [(SEM_POS, "pos_match"), (SEM_TREE, "tree_f1")], ids=["pos", "tree"])
def test_scorer_reports_each_part_and_joint(target, syntax, oracles) -> None:
    score = TASKS.get(target.kind).score
    both = score([target], [[GOOD]], oracles)
    assert both["semantic_success"] == both[syntax] == both["joint"] == pytest.approx(100.0)
    missing = score([target], [[NO_VALUE]], oracles)
    assert missing["semantic_success"] == missing["joint"] == 0.0 and missing[syntax] == pytest.approx(100.0)
    half = score([target], [[GOOD, NO_VALUE]], oracles)
    assert half["semantic_success"] == pytest.approx(50.0) and half["joint"] == pytest.approx(50.0)
    assert TASKS.get(target.kind).headline == "joint"


def test_constraints_for_composite_is_an_and() -> None:
    c = constraints_for(SEM_POS)
    assert isinstance(c, AllOf) and c.constraints == (SemanticField("food", "Italian", steer="classifier"), POS(SEM_POS.syntax.tags))
    assert constraints_for(SEM_TREE).constraints == (SemanticField("food", "Italian", steer="classifier"),
                                               SyntaxTree(SEM_TREE.syntax.tree))
    assert constraints_for(SEM_POS, with_length=True).constraints[-1] == Length(len(WORDS))
    for task in ("semantic+pos", "semantic+tree"):
        assert TASK_FLUENCY[task] == TASK_FLUENCY[task.split("+")[1]] and Guided().supports(task)


def test_harness_reference_row_is_100(model_dir: Path, oracles) -> None:
    gen = EmbeddingGenerator.from_pretrained(model_dir)
    for task in ("semantic+pos", "semantic+tree"):
        targets = build_task_targets(task, TINY_CSV, count=4, oracles=oracles)
        result = evaluate(task, targets, gen=gen, methods=["no-control", "reference"], n=2, steps=3, oracles=oracles,
                          references=read_e2e_csv(TINY_CSV))
        nc, ref = result.rows
        assert all(v == pytest.approx(100.0) for k, v in ref.metrics.items() if k != "tree_length_errors")
        assert 0 <= nc.ctrl_success <= 100 and nc.n_samples == 8
        assert "joint %" in result.table()


def _recipe():
    path = Path(__file__).parent.parent / "recipes" / "control_table.py"
    spec = importlib.util.spec_from_file_location("control_table", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_control_table_markdown_layout() -> None:
    ct = _recipe()
    row = {"method": "guided", "metrics": {"semantic_success": 50.0, "pos_match": 83.14}, "lm_score": 7.321,
           "seconds_per_50": 14.2}
    results = {"semantic+pos": {"rows": [{**row, "method": "no-control"}, row]}}
    table = ct.markdown_table(results, ["semantic+pos", "tree", "infill"], pending={"tree": "no parser"})
    lines = table.splitlines()
    assert lines[0] == "| method | semantic+POS | tree | infill |"
    assert lines[2] == "| Diffusion-LM (paper) | 63.7 / 69.1 | 86.0 | – |"  # Table 4 / Table 2; infill blank
    assert lines[4] == "| guided | 50.0 / 83.1 / 7.32 / 14 | pending | – |"
    with pytest.raises(SystemExit):
        ct.parse_args(["--tasks", "semantic,colour"])
    assert ct.parse_args([]).tasks == list(ct.TASKS)


def test_registries_load_their_built_in_modules_on_first_lookup():
    """TASKS and METHODS list entries defined in modules above them (composite tasks, the guided method) without
    importing those modules themselves: a fresh process that imports only the registries finds them."""
    import subprocess
    import sys

    code = ("from ctrlgen.evaluation.tasks import TASKS; from ctrlgen.evaluation.methods import METHODS; "
            "assert 'semantic+pos' in TASKS and 'semantic+tree' in TASKS, list(TASKS); "
            "assert 'guided' in METHODS, list(METHODS)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]

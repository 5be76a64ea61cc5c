"""The evaluation harness and `ctrlgen evaluate`: tiny model, fake tagger and parser, no teacher unless asked."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from conftest import TINY_CSV
from nltk import Tree

from ctrlgen.backends.embedding.generator import EmbeddingGenerator
from ctrlgen.cli.main import main
from ctrlgen.errors import ConfigError, DataError
from ctrlgen.evaluation.bench import corpus_texts
from ctrlgen.evaluation.harness import evaluate
from ctrlgen.evaluation.methods import (
    METHODS,
    PerTargetMethod,
    SampleContext,
    spaced_texts,
)
from ctrlgen.evaluation.target_builders import semantic_targets
from ctrlgen.evaluation.target_files import build_task_targets, read_task_targets
from ctrlgen.evaluation.targets import LengthTarget, write_targets
from ctrlgen.oracles.bundle import MissingOracleError, Oracles
from ctrlgen.oracles.fluency import BigramReference
from ctrlgen.registry import RegistryError
from ctrlgen.text.e2e import read_e2e_csv


def fake_tag(sentences: list[list[str]]) -> list[list[str]]:
    """Deterministic word → tag: enough for the reference row to match itself exactly."""
    return [["PROPN" if w[:1].isupper() else "PUNCT" if not w[:1].isalnum() else "NOUN" for w in s] for s in sentences]


class FakeParser:
    """Right-branching trees over the words (same interface as ctrlgen.oracles.parser)."""

    name = "fake-right-branching"

    def parse(self, sentences: list[list[str]]) -> list[Tree]:
        def build(words: list[str], label: str) -> Tree:
            pre = Tree("." if words[0] in {".", ","} else "NN", [words[0]])
            return Tree(label, [pre] if len(words) == 1 else [pre, build(words[1:], "VP" if label == "S" else "NP")])

        return [Tree("TOP", [build(list(s), "S")]) for s in sentences]


@pytest.fixture
def gen(model_dir: Path) -> EmbeddingGenerator:
    return EmbeddingGenerator.from_pretrained(model_dir)


@pytest.fixture
def oracles() -> Oracles:
    return Oracles(tagger=fake_tag, parser=FakeParser(), teacher_name=None,
                   bigrams=BigramReference(e.ref for e in read_e2e_csv(TINY_CSV)))


def run(task: str, gen, oracles, targets=None, methods=("no-control", "reference"), **kw):
    targets = targets if targets is not None else build_task_targets(task, TINY_CSV, count=None, oracles=oracles)
    return evaluate(task, targets, gen=gen, methods=methods, n=2, steps=3, oracles=oracles,
                    references=read_e2e_csv(TINY_CSV), **kw)


@pytest.mark.parametrize("task", ["pos", "length", "tree", "spans", "infill"])
def test_reference_row_scores_100_on_its_own_targets(task, gen, oracles):
    result = run(task, gen, oracles)
    nc, ref = result.rows
    assert ref.method == "reference" and ref.ctrl_success == pytest.approx(100.0)
    assert all(v == pytest.approx(100.0) for k, v in ref.metrics.items() if k != "tree_length_errors")
    assert ref.samples_per_s is None and ref.n_samples == ref.n_targets
    assert 0 <= nc.ctrl_success <= 100 and nc.n_samples == 2 * nc.n_targets and nc.samples_per_s > 0
    assert 0 <= nc.bigram_precision <= 100 and ref.bigram_precision == pytest.approx(100.0)
    json.dumps(result.to_dict())  # serialisable


def test_tree_pads_short_samples_and_skips_punct_mismatch_like_evalb(oracles):
    from ctrlgen.evaluation.targets import TreeTarget
    from ctrlgen.evaluation.tasks import score_tree

    words = ["The", "Mill", "is", "good"]
    gold = TreeTarget(FakeParser().parse([words])[0].pformat(margin=1 << 30), tuple(words))
    m = score_tree([gold], [["The Mill"]], oracles)  # padded to "The Mill . .": same right-branching shape
    assert m["tree_f1"] == m["tree_f1_punct"] == pytest.approx(100.0) and m["tree_length_errors"] == 0
    m = score_tree([gold], [["The Mill is good and more"]], oracles)  # truncated to 4 words
    assert m["tree_f1"] == pytest.approx(100.0) and m["tree_length_errors"] == 0


def test_punctuation_is_deleted_at_the_target_trees_positions():
    from ctrlgen.evaluation.tasks import align_punct
    from ctrlgen.oracles.metrics import tree_f1

    gold = Tree.fromstring("(S (NP (DT The) (NN pub)) (. .))")
    pred = Tree.fromstring("(S (NP (DT A) (NN pub) (NN x)))")  # no punctuation where the target has "."
    assert tree_f1(pred, gold, punct_tags=()) == pytest.approx(0.5)  # S matches, NP spans differ
    aligned = align_punct(pred, gold)
    assert [t for _, t in aligned.pos()] == ["DT", "NN", "."] and pred.pos()[2][1] == "NN"  # a copy
    assert tree_f1(aligned, gold) == pytest.approx(1.0)  # word 2 deleted from both: S and NP match
    assert [t for _, t in align_punct(gold, pred).pos()] == ["DT", "NN", "NN"]  # punct where the gold has none


def test_reference_semantic_uses_source_rows(gen, oracles):
    targets = semantic_targets(TINY_CSV, fields=["name", "eatType", "food"])
    ref = run("semantic", gen, oracles, targets=targets, methods=["reference"]).rows[0]
    assert ref.ctrl_success == pytest.approx(100.0) and ref.n_samples > len(targets)
    with pytest.raises(DataError, match="no reference sentence"):  # before sampling: checked up front
        evaluate("semantic", targets, gen=gen, methods=["no-control", "reference"], n=2, steps=3, oracles=oracles)


def test_teacher_lm_score(gen):
    result = run("length", gen, Oracles(), methods=["reference"])
    row = result.rows[0]
    assert 1 < row.lm_score < 1000 and 1 < row.lm_score_dlm < 1000
    assert result.settings["oracles"]["teacher"].startswith("e2e-teacher-1")


def test_hard_method_keeps_template_and_length(gen, oracles):
    infill = run("infill", gen, oracles, methods=["hard"]).rows[0]
    assert infill.metrics["fixed_preserved"] == pytest.approx(100.0)
    length = run("length", gen, oracles, methods=["hard"]).rows[0]
    assert length.metrics["length_exact"] == pytest.approx(100.0)
    with pytest.raises(ConfigError, match="cannot run the pos task"):
        run("pos", gen, oracles, methods=["hard"])


def test_a_registered_method_is_found(gen, oracles):
    class Echo(PerTargetMethod):
        name = "test-echo"
        tasks = frozenset({"length"})

        def sample_one(self, target, ctx: SampleContext, seed: int) -> list[str]:
            out = ctx.gen.generate(n=ctx.n, steps=ctx.steps, seed=seed)
            return spaced_texts(out, ctx.gen.tokenizer)

    METHODS.register("test-echo", Echo)
    try:
        assert run("length", gen, oracles, methods=["test-echo"]).rows[0].n_samples > 0
    finally:
        METHODS.unregister("test-echo")


def test_unknown_task_and_method_list_what_exists(gen, oracles):
    with pytest.raises(RegistryError, match=r"infill, length, pos, semantic, semantic\+pos, semantic\+tree, spans, tree"):
        evaluate("colour", [], gen=gen, oracles=oracles)
    with pytest.raises(RegistryError, match="no-control"):
        evaluate("length", [LengthTarget(3)], gen=gen, methods=["guidd"], oracles=oracles)


# ------------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("line,needle", [
    ('{"length": 4}\n{"words_": ["START", "a", "END"]}\n', "line 2: key 'length' is missing"),
    ('{"length": 4}\n\n{"length": "four"}\n', "line 3: key 'length' must be an integer"),
    ('{"length": 4}\n{"length": 4\n', "line 2 is not JSON"),
    ('["name", ":", "x"]\n', "line 1: a length target is a JSON object"),
])
def test_bad_format_names_line_and_key(tmp_path, line, needle):
    p = tmp_path / "t.jsonl"
    p.write_text(line)
    with pytest.raises(DataError, match=needle) as e:
        read_task_targets(p, "length")
    assert '{"length": 12}' in e.value.hint


def test_bad_pos_and_span_records(tmp_path):
    p = tmp_path / "pos.jsonl"
    p.write_text('{"pos": ["START", "DET", "END"], "words_": "The"}\n')
    with pytest.raises(DataError, match="line 1: key 'words_' must be a list of strings"):
        read_task_targets(p, "pos")
    p.write_text('{"words_": ["START", "a", "END"], "spans": [[0, 5, "NP"]]}\n')
    with pytest.raises(DataError, match="line 1: span"):
        read_task_targets(p, "spans")


def test_target_longer_than_seq_len_names_the_line(tmp_path, gen, oracles):
    p = tmp_path / "len.jsonl"
    write_targets(p, [LengthTarget(5), LengthTarget(30)])
    targets, lines = read_task_targets(p, "length")
    with pytest.raises(DataError, match=r"len.jsonl line 2: the target needs 30 words .* seq_len = 24"):
        evaluate("length", targets, gen=gen, oracles=oracles, lines=lines, source=p.name)


def test_missing_parser_says_what_to_install(monkeypatch, gen):
    import ctrlgen.oracles.bundle as bundle

    monkeypatch.setattr(bundle, "load_parser", _no_benepar)
    targets = build_task_targets("tree", TINY_CSV, count=2, oracles=Oracles(parser=FakeParser(), teacher_name=None))
    with pytest.raises(MissingOracleError, match="parser") as e:
        evaluate("tree", targets, gen=gen, oracles=Oracles(teacher_name=None))
    assert "pip install benepar" in e.value.hint


def test_missing_infill_metric_package(monkeypatch, gen, oracles):
    import ctrlgen.oracles.bundle as mod

    real = mod.importlib.util.find_spec
    monkeypatch.setattr(mod.importlib.util, "find_spec", lambda name: None if name == "rouge_score" else real(name))
    with pytest.raises(MissingOracleError, match="rouge-score") as e:
        run("infill", gen, oracles)
    assert e.value.hint == "pip install rouge-score"


# ------------------------------------------------------------------------------------------------ CLI
@pytest.fixture
def cli_env(monkeypatch):
    monkeypatch.delenv("CTRLGEN_DATA", raising=False)


def test_cli_evaluate_writes_json(cli_env, model_dir, tmp_path, capsys):
    targets = tmp_path / "len.jsonl"
    assert main(["build-targets", "--task", "length", "--from", str(TINY_CSV), "--out", str(targets),
                 "--count", "3", "--model", str(model_dir)]) == 0
    out = tmp_path / "res" / "len.json"
    assert main(["evaluate", "--task", "length", "--targets", str(targets), "--model", str(model_dir), "-n", "2",
                 "--steps", "3", "--teacher", "none", "--train", str(TINY_CSV), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "len ±2 %" in printed and "no-control" in printed and "reference" in printed
    data = json.loads(out.read_text())
    assert [r["method"] for r in data["rows"]] == ["no-control", "reference"]
    assert data["rows"][1]["ctrl_success"] == 100.0 and data["n"] == 2
    assert sorted(p.name for p in out.parent.iterdir()) == ["len.json"]  # no temporary file left


def test_cli_bad_targets_exit_2_and_write_nothing(cli_env, model_dir, tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"length": 3}\n{"lenght": 3}\n')
    out = tmp_path / "out.json"
    assert main(["evaluate", "--task", "length", "--targets", str(bad), "--model", str(model_dir),
                 "--teacher", "none", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "bad.jsonl line 2: key 'length' is missing" in err and "hint:" in err and "Traceback" not in err
    assert not out.exists() and not list(tmp_path.glob("*out.json*"))


def _no_benepar(path=None):  # what load_parser raises when benepar is not installed
    raise ImportError("No module named 'benepar'")


def test_cli_missing_oracle_writes_nothing(cli_env, monkeypatch, model_dir, tmp_path, capsys):
    import ctrlgen.oracles.bundle as bundle

    monkeypatch.setattr(bundle, "load_parser", _no_benepar)
    targets = tmp_path / "tree.jsonl"
    write_targets(targets, build_task_targets("tree", TINY_CSV, count=2,
                                              oracles=Oracles(parser=FakeParser(), teacher_name=None)))
    out = tmp_path / "out.json"
    assert main(["evaluate", "--task", "tree", "--targets", str(targets), "--model", str(model_dir),
                 "--teacher", "none", "--out", str(out)]) == 2
    assert "pip install benepar" in capsys.readouterr().err and not out.exists()


def test_cli_unknown_task_lists_tasks(cli_env, capsys):
    assert main(["evaluate", "--task", "colour", "--targets", "x.jsonl"]) == 2   # argparse errors: exit 2, a hint
    err = capsys.readouterr().err
    assert "semantic" in err and "hint:" in err


def test_cli_needs_targets_or_source(cli_env, model_dir, capsys):
    assert main(["evaluate", "--task", "length", "--model", str(model_dir), "--teacher", "none"]) == 2
    assert "--targets" in capsys.readouterr().err


def test_cli_builds_targets_from_source_when_no_file(cli_env, model_dir, tmp_path, capsys):
    out = tmp_path / "infill.json"
    assert main(["evaluate", "--task", "infill", "--from", str(TINY_CSV), "--count", "3", "--model", str(model_dir),
                 "-n", "2", "--steps", "3", "--teacher", "none", "--methods", "reference,hard", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["source"].startswith("tiny_e2e.csv (3 infill targets")
    assert [r["n_targets"] for r in data["rows"]] == [3, 3] and data["rows"][0]["ctrl_success"] == pytest.approx(100)
    assert data["train_references"] is None  # no --train and no CTRLGEN_DATA: the proxy is left out


def test_write_json_scrubs_data_texts(tmp_path):
    """Benchmark results go into the repository; E2E references never do, wherever they sit in the result."""
    from ctrlgen.evaluation.bench import VERBATIM, write_json
    ref = "The Mill is a pub near the river."
    out = tmp_path / "r.json"
    write_json(out, {"examples": [{"source": ref, "output": "The Mill is a pub."}], "n": 2}, references={ref})
    data = json.loads(out.read_text())
    assert data == {"examples": [{"source": VERBATIM, "output": "The Mill is a pub."}], "n": 2}
    assert ref not in out.read_text()


def test_corpus_texts_reads_a_text_file_with_its_digest(tmp_path):
    """The table recipes' corpus: one text per line (blank lines skipped), provenance = file name + sha256."""
    f = tmp_path / "mine.txt"
    f.write_text("The Mill is a pub .\n\nIt is cheap .\n", encoding="utf-8")
    texts, source = corpus_texts(None, str(f))
    assert texts == ["The Mill is a pub .", "It is cheap ."]
    assert source == f"mine.txt sha256:{hashlib.sha256(f.read_bytes()).hexdigest()}"

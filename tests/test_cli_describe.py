"""``ctrlgen describe "MR"``: descriptions best first with a per-field report, typed errors before loading."""

from __future__ import annotations

import json
from typing import ClassVar

import pytest
import torch

from ctrlgen.backends.discrete.model import ScoreModel, ScoreModelConfig
from ctrlgen.cli.describe import records
from ctrlgen.cli.main import main
from ctrlgen.constraints.composition import AllOf
from ctrlgen.constraints.mr import MR
from ctrlgen.core.output import GenerationOutput
from ctrlgen.models.pretrained import save_pretrained
from ctrlgen.registry import BACKENDS

MR_TEXT = "name[The Mill], eatType[pub], food[Italian]"  # in the tiny vocabulary (tests/fixtures/tiny_e2e.csv)


@pytest.fixture
def sedd_dir(tokenizer, tmp_path):
    """A tiny discrete (SEDD) checkpoint: it places the value phrases exactly (hard face)."""
    torch.manual_seed(0)
    m = ScoreModel(ScoreModelConfig(vocab_size=len(tokenizer), seq_len=24, hidden=32, layers=2, heads=2, dropout=0.0))
    torch.nn.init.normal_(m.head.weight, std=0.5)
    return save_pretrained(tmp_path / "sedd", m.eval(), tokenizer, {"diffusion": {"graph": "absorbing"}})


def _rows(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines()]


def _check_rows(rows: list[dict], n: int, mr: MR) -> None:
    """The per-field report is the slot check itself, recomputed here; rows are best first."""
    assert sorted(r["index"] for r in rows) == list(range(n))
    for r in rows:
        assert list(r["fields"]) == list(mr.fields)  # every field, in the MR's order
        assert r["fields"] == mr.check([r["text"]])[0]
        assert r["satisfied"] == all(r["fields"].values())
    keys = [(not r["satisfied"], -sum(r["fields"].values()), r["index"]) for r in rows]
    assert keys == sorted(keys)


def test_describe_json_on_the_discrete_backend(sedd_dir, capsys):
    assert main(["describe", MR_TEXT, "--model", str(sedd_dir), "-n", "3", "--steps", "4", "--json", "--quiet"]) == 0
    rows = _rows(capsys.readouterr().out)
    assert len(rows) == 3
    _check_rows(rows, 3, MR.parse(MR_TEXT))
    assert all("The Mill" in r["text"] for r in rows)  # placed by the backend: the name is there in every sample


def test_describe_plain_writes_texts_on_stdout_and_fields_on_stderr(model_dir, capsys):
    assert main(["describe", "name[The Mill], eatType[pub]", "--model", str(model_dir), "-n", "2", "--steps", "3",
                 "--quiet"]) == 0
    captured = capsys.readouterr()
    texts, report = captured.out.splitlines(), captured.err.splitlines()
    assert len(texts) == 2 and all(t.strip() for t in texts)
    lines = [line for line in report if line.startswith("  ")]
    assert len(lines) == 2 and all("name" in line and "eatType" in line and "/2)" in line for line in lines)
    for text, line in zip(texts, lines, strict=True):
        got = MR.parse("name[The Mill], eatType[pub]").check([text])[0]
        assert [("✓ " + f) in line for f in got] == list(got.values())  # the marks are the check's verdicts
    assert report[-1].endswith("descriptions realise every field")


def test_records_order_best_first():
    """All fields and the other constraints first, then more fields, then the backend's order."""
    fields = [{"a": False, "b": False}, {"a": True, "b": True}, {"a": True, "b": False}, {"a": True, "b": True}]
    recs = records(["t0", "t1", "t2", "t3"], fields, {"satisfied": [False, False, False, True]})
    assert [r["index"] for r in recs] == [3, 1, 2, 0]  # 1 realises every field but failed another constraint
    assert [r["satisfied"] for r in recs] == [True, False, False, False]
    assert [r["text"] for r in recs] == ["t3", "t1", "t2", "t0"]


class _Recorder:
    """A loaded generator of ``backend`` that records its ``generate`` arguments and returns fixed texts."""

    texts: ClassVar[list[str]] = ["a pub .", "The Mill is a pub .", "The Mill is an Italian pub ."]

    def __init__(self, backend: str) -> None:
        self.backend, self.spec, self.kwargs = backend, BACKENDS.get(backend), {}

    def generate(self, **kwargs):
        self.kwargs = kwargs
        return GenerationOutput(texts=self.texts, tokens=torch.zeros(3, 2, dtype=torch.long),
                                report={"well_formed": [True] * 3})


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_every_backend_gets_the_mr_and_its_defaults(backend, monkeypatch, capsys):
    rec = _Recorder(backend)
    monkeypatch.setattr("ctrlgen.cli.generate.load", lambda *a, **k: rec)
    assert main(["describe", MR_TEXT, "--backend", backend, "--json", "--quiet", "--seed", "3"]) == 0
    c = rec.kwargs["constraints"]
    assert isinstance(c, AllOf) and [(p.field, p.value) for p in c.constraints] == list(MR.parse(MR_TEXT).pairs)
    assert rec.kwargs["n"] == 4 and rec.kwargs["seed"] == 3 and rec.kwargs["steps"] == BACKENDS.get(backend).default_steps
    rows = _rows(capsys.readouterr().out)
    assert [r["index"] for r in rows] == [2, 1, 0]  # 3/3 fields, 2/3, 1/3
    assert [r["satisfied"] for r in rows] == [True, False, False]


@pytest.mark.parametrize("argv,msg,hint", [
    (["nam[The Vaults]"], "unknown field 'nam'", "did you mean 'name'"),
    (["name[The Mill], name[Zizzi]"], "'name'", "one value"),
    (["name[The Vaults"], "cannot parse MR", "name[The Vaults], eatType[pub]"),
    (["name[]"], "empty", "food[Japanese]"),
    ([], "needs a meaning representation", "ctrlgen describe 'name["),
    ([MR_TEXT, "--constraint", "food=Chinese"], "two values", "pick one value for 'food'"),
    ([MR_TEXT, "-n", "0"], "n must be a positive integer", ""),
])
def test_bad_input_exits_2_before_the_model_loads(argv, msg, hint, tmp_path, capsys):
    missing = str(tmp_path / "no" / "such" / "model")
    assert main(["describe", *argv, "--model", missing]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and msg in err and "\nhint: " in err and hint in err.split("\nhint: ")[1]
    assert "no model named" not in err and "Traceback" not in err


def test_out_of_vocabulary_value_names_the_flag(model_dir, capsys):
    mr = "name[The Zorblax], eatType[pub]"
    assert main(["describe", mr, "--model", str(model_dir), "-n", "1", "--steps", "2", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "Zorblax" in err and "--allow-unk" in err
    assert main(["describe", mr, "--model", str(model_dir), "-n", "1", "--steps", "2", "--quiet", "--json",
                 "--allow-unk"]) == 0
    assert len(_rows(capsys.readouterr().out)) == 1


def test_describe_rerank_keeps_n_of_n_times_r_best_first(sedd_dir, capsys):
    assert main(["describe", MR_TEXT, "--model", str(sedd_dir), "-n", "2", "--rerank", "3", "--steps", "4", "--json",
                 "--quiet", "--fluency", "draft"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 2
    assert [r["satisfied"] for r in rows] == sorted((r["satisfied"] for r in rows), reverse=True)


def test_fluency_without_rerank_is_refused_before_loading(tmp_path, capsys):
    assert main(["describe", MR_TEXT, "--model", str(tmp_path / "none"), "--fluency", "draft"]) == 2
    assert "--rerank" in capsys.readouterr().err

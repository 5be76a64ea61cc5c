"""The edit backend's facade (``ctrlgen.backends.edit.generator``) and CLI on tiny untrained models (hidden 32, 2 layers):
protection, stopping, beam (1, 1) = greedy, seeding, layouts from hard faces, reports and bad inputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import pytest
import torch
from edit_support import HasWord

from ctrlgen.api import load
from ctrlgen.backends.edit.generator import DiffusERGenerator
from ctrlgen.backends.edit.joint import EditModel, EditModelConfig
from ctrlgen.backends.edit.sampler import EditSampler
from ctrlgen.backends.edit.start import describe, layout_of, project
from ctrlgen.backends.edit.types import EditLayout
from ctrlgen.cli.main import main
from ctrlgen.constraints.base import (
    Constraint,
    UnsupportedConstraintError,
)
from ctrlgen.constraints.infill import FixedTokens, Prefix
from ctrlgen.constraints.length import Length
from ctrlgen.errors import CheckpointError, SamplingError
from ctrlgen.models.pretrained import save_pretrained
from ctrlgen.oracles.wellformed import well_formed
from ctrlgen.registry import SOFT_EMBEDDING
from ctrlgen.text.tokenizer import split_words

TEXT = "The Mill is a cheap pub near the river ."


def out_words(gen: DiffusERGenerator, out, i: int = 0) -> list[str]:
    """Word i of the output, from its ids (re-splitting detokenised text may join words, e.g. "Mill -")."""
    from ctrlgen.backends.edit.joint import words_of

    return [gen.tokenizer.vocab.word(w) for w in words_of(out.tokens[i])]


class SoftOnly(Constraint):
    faces: ClassVar[frozenset[str]] = frozenset({SOFT_EMBEDDING})


@pytest.fixture(scope="module")
def edit_dir(tmp_path_factory, tiny_texts) -> Path:
    from ctrlgen.text.tokenizer import Tokenizer

    tok = Tokenizer.train(tiny_texts, min_count=1)
    torch.manual_seed(0)
    model = EditModel(EditModelConfig(vocab_size=len(tok), seq_len=20, hidden=32, layers=2, heads=2, dropout=0.0))
    return save_pretrained(tmp_path_factory.mktemp("edit") / "ckpt", model, tok, {"diffusion": {"steps": 4}})


@pytest.fixture(scope="module")
def gen(edit_dir) -> DiffusERGenerator:
    return load(edit_dir)


def test_load_finds_the_edit_backend(gen):
    assert isinstance(gen, DiffusERGenerator) and gen.backend == "edit" and gen.T == 4


@pytest.mark.parametrize("beam", [(1, 1), (2, 3)])
def test_protected_tokens_never_change(gen, beam):
    sampler = EditSampler(decoding="greedy" if beam[1] == 1 else "beam", beam=beam, max_steps=4, rank_weight=100.0)
    words = split_words(TEXT)
    for seed in range(3):
        out = gen.edit(TEXT, constraints=HasWord("Italian"), protect=[1, 2, 6], sampler=sampler, seed=seed, t_start=3)
        got = out_words(gen, out)
        assert got[:2] == words[:2] and "pub" in got  # a protected word may move (insertions before it), never change
        assert got.index("pub") >= 2


def test_fixed_tokens_stay_at_their_positions(gen):
    c = FixedTokens({1: "Blue", 3: "is"}) & HasWord("Italian")
    out = gen.edit(TEXT, constraints=c, sampler=EditSampler(beam=(2, 1), max_steps=3, rank_weight=50.0))
    got = out_words(gen, out)
    assert got[0] == "Blue" and got[2] == "is"
    assert out.report["constraints"]["FixedTokens({1: 'Blue', 3: 'is'})"]["satisfied"] == [True]


def test_a_revision_that_changes_nothing_stops_the_loop():
    from types import SimpleNamespace

    from ctrlgen.backends.edit.edits import Edit

    class Keep(torch.nn.Module):
        config = SimpleNamespace(seq_len=12)

        def forward(self, ids, t):
            out = torch.zeros(*ids.shape, len(Edit))
            out[..., Edit.KEEP] = 10.0
            return out

    class Gen(Keep):
        def length_logits(self, ids, tags, t):
            return torch.zeros(*ids.shape, 3)

        def fill_logits(self, ids, t):
            return torch.zeros(*ids.shape, 20)

    out = EditSampler(max_steps=9).sample(Keep(), Gen(), [[7, 8, 9]], 3, rank=lambda rows: [1.0] * len(rows))
    assert out.steps == [1] and out.ids == [[7, 8, 9]]


def test_beam_1_1_equals_greedy(gen):
    c = HasWord("Italian") & Length(8)
    a = gen.edit(TEXT, constraints=c, sampler=EditSampler(decoding="beam", beam=(1, 1), max_steps=3))
    b = gen.edit(TEXT, constraints=c, sampler=EditSampler(decoding="greedy", beam=(1, 1), max_steps=3))
    assert a.texts == b.texts and a.report["edits"] == b.report["edits"]


def test_seeded_runs_reproduce(gen):
    sampler = EditSampler(decoding="nucleus", beam=(2, 2), max_steps=3)
    runs = [gen.generate(n=3, seed=s, bootstrap="random", sampler=sampler, constraints=Length(6)) for s in (5, 5, 6)]
    assert runs[0].texts == runs[1].texts and torch.equal(runs[0].tokens, runs[1].tokens)
    assert runs[0].texts != runs[2].texts


def test_length_is_steered_and_reports_hold(gen):
    out = gen.edit(TEXT, constraints=Length(7), sampler=EditSampler(beam=(2, 1), max_steps=8, rank_weight=100.0))
    assert len(out_words(gen, out)) == 7 and out.report["satisfied"] == [True]
    assert out.report["well_formed"] == [True]
    ops = out.report["edits"][0]
    assert ops and all(op["op"] in ("replace", "delete", "insert") for op in ops)


def test_unreachable_constraint_is_reported_unsatisfied(gen):
    out = gen.edit(TEXT, constraints=HasWord("zebra"), sampler=EditSampler(max_steps=2))  # not in the vocabulary
    assert out.report["satisfied"] == [False] and out.texts[0]  # the best attempt, never claimed


def test_infill_keeps_the_template(gen):
    out = gen.infill("The Mill is a [MASK:2] pub .", n=2, sampler=EditSampler(max_steps=2))
    for i in range(2):
        w = out_words(gen, out, i)
        assert len(w) == 8 and w[:4] == ["The", "Mill", "is", "a"] and w[6:] == ["pub", "."]
    # words in place; "satisfied" also asks for a well-formed fill, which 2 revisions of a tiny model need not give
    assert out.report["satisfied"] == [well_formed(t) for t in out.texts] and len(out.report["mbr"]) == 2


def test_empty_bootstrap_and_prefix(gen):
    out = gen.generate(n=2, bootstrap="empty", constraints=Prefix("Blue Door"), sampler=EditSampler(max_steps=3))
    assert all(out_words(gen, out, i)[:2] == ["Blue", "Door"] for i in range(2))


def test_layout_and_projection():
    from ctrlgen.constraints.composition import prepare
    from ctrlgen.text.tokenizer import Tokenizer

    tok = Tokenizer.train(["a b c d e f"], min_count=1)
    hard = prepare(FixedTokens({2: "b"}) & Length(4), tok, 10, "edit").hard
    fixed, layout = layout_of(hard, tok.vocab)
    assert fixed == {2: tok.vocab.id("b")} and layout == EditLayout(pinned=2, length=4)
    assert project([9, 9, 9, 9, 9], fixed, layout)[1] == tok.vocab.id("b") and len(project([9], fixed, layout)) == 4
    a, b, c = (tok.vocab.id(w) for w in "abc")
    assert describe(["a", "b", "c"], [a, b, c], [a, c, c], tok.vocab) == [
        {"op": "replace", "position": 2, "old": "b", "new": "c"}]


def test_bad_inputs_raise_clear_errors(gen):
    with pytest.raises(SamplingError, match="empty"):
        gen.edit("   ")
    with pytest.raises(SamplingError, match="more than"):
        gen.edit("word " * 40)
    with pytest.raises(UnsupportedConstraintError, match="'edit'"):
        gen.edit(TEXT, constraints=SoftOnly())
    with pytest.raises(SamplingError, match="protect"):
        gen.edit(TEXT, protect=[0])
    with pytest.raises(CheckpointError, match="draft"):
        gen.generate(n=1)  # this checkpoint names no AR draft model
    with pytest.raises(SamplingError, match="bootstrap"):
        gen.generate(n=1, bootstrap="nothing")


def test_cli_edit_json(edit_dir, capsys):
    assert main(["edit", TEXT, "--model", str(edit_dir), "--constraint", "length=8", "-n", "2", "--beam", "2,2",
                 "--steps", "3", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 2 and all({"text", "edits", "satisfied"} <= set(r) for r in rows)
    assert set(rows[0]["satisfied"]) == {"Length(8)"}
    assert main(["edit", "", "--model", str(edit_dir)]) == 2
    assert "hint:" in capsys.readouterr().err
    assert main(["infill", "The Mill is a [MASK:2] pub .", "--model", str(edit_dir), "--backend", "edit", "-n", "1",
                 "--beam", "1,1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["text"].startswith("The Mill is a")


def test_probe_phrases_finds_the_shortest_span_that_meets_a_check():
    from ctrlgen.backends.edit.start import probe_phrases
    from ctrlgen.constraints.semantic import SemanticField
    from ctrlgen.text.tokenizer import Tokenizer

    tok = Tokenizer.train(["The Mill is near Burger King .", "Blue Door is a pub near Café Rouge ."], min_count=1)
    rows = [tok.vocab.ids(split_words(t)) for t in ("The Mill is near Burger King .", "Blue Door is a pub .")]
    got = probe_phrases([SemanticField("near", "Burger King")], rows, tok.vocab, tok.detokenize)
    assert [[tok.vocab.word(i) for i in p] for p in got] == [["near", "Burger", "King"]]  # the slot check wants the cue
    assert probe_phrases([Length(3)], rows, tok.vocab, tok.detokenize) == []  # a whole-text check: no phrase


def test_ctrlgen_train_edit_backend_and_load(tmp_path):
    from ctrlgen.training.run import train_from_config

    TINY_CSV = Path(__file__).parent / "fixtures" / "tiny_e2e.csv"

    cfg = tmp_path / "edit.toml"
    cfg.write_text(f"""
output_dir = "{tmp_path / 'run'}"
backend = "edit"
[data]
train = "{TINY_CSV}"
min_count = 1
[model]
seq_len = 24
hidden = 16
layers = 1
heads = 2
dropout = 0.0
[diffusion]
steps = 3
target = "x0"
[training]
steps = 2
batch_size = 4
warmup_steps = 1
checkpoint_every = 2
log_every = 1
threads = 1
""")
    final = train_from_config(cfg)
    gen = load(final)
    assert isinstance(gen, DiffusERGenerator) and gen.T == 3 and gen.model.config.max_span == 22


def test_bundled_edit_model_edits_offline():
    gen = load("e2e-edit")
    assert isinstance(gen, DiffusERGenerator) and gen.draft_model == "e2e-ar-draft"
    gen.draft_model = None  # no AR model (no fluency term): keeps the test fast
    out = gen.edit("The Vaults is a cheap pub near Café Adriatic .", sampler=EditSampler(max_steps=2))
    assert out.report["well_formed"] == [True] and out.report["steps"][0] <= 2 and out.texts[0]


# ------------------------------------------------------------------------------ the contract (issue 12)
def test_steps_rule_explicit_then_sampler_then_default(gen):
    """An explicit ``steps`` wins over a passed sampler's ``max_steps``, which wins over the default (12)."""
    run = lambda sampler, steps, **kw: gen._options(sampler, steps, **kw)
    assert run(EditSampler(max_steps=9), 2)[1].max_steps == 2
    assert run(EditSampler(max_steps=5), None)[1].max_steps == 5
    assert run(None, None)[1].max_steps == gen.spec.default_steps == 12
    assert run(None, 3)[1].max_steps == 3 and run(None, 3)[0].steps == 3


@pytest.mark.parametrize("call", ["generate", "infill", "edit"])
def test_steps_honoured_with_a_sampler(gen, call):
    sampler = EditSampler(decoding="beam", beam=(2, 2), max_steps=9, rank_weight=100.0)
    c = HasWord("zebra")  # unreachable: nothing stops the revisions early on its account
    if call == "generate":
        out = gen.generate(n=2, steps=2, sampler=sampler, bootstrap="random", constraints=c, t_start=3)
    elif call == "infill":
        out = gen.infill("The Mill is a [MASK:2] pub .", n=2, steps=2, sampler=sampler, constraints=c)
    else:
        out = gen.edit(TEXT, steps=2, sampler=sampler, constraints=c, t_start=3)
    assert out.report["steps"] and all(1 <= s <= 2 for s in out.report["steps"])


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"seed": "x"}, "seed"), ({"seed": -1}, "seed"), ({"batch_size": 2.5}, "batch_size"), ({"n": 0}, "n"),
    ({"n": 10 ** 9}, "limit"), ({"steps": 0}, "steps"), ({"steps": 1.5}, "steps"), ({"guidance_scale": -1.0}, "guidance"),
    ({"guidance_scale": float("nan")}, "guidance"), ({"sampler": "beam"}, "EditSampler"), ({"progress": "yes"}, "progress"),
])
def test_bad_options_raise_typed_errors_with_hints(gen, kwargs, match):
    from ctrlgen.errors import CtrlgenError

    calls = [lambda kw: gen.generate(bootstrap="random", **kw),
             lambda kw: gen.infill("The Mill is a [MASK:2] pub .", **kw)]
    if "batch_size" not in kwargs:  # edit() revises one text: it takes no batch_size
        calls.append(lambda kw: gen.edit(TEXT, **kw))
    for call in calls:
        with pytest.raises(CtrlgenError, match=match) as err:
            call(dict(kwargs))
        assert err.value.hint


def test_guidance_scale_weights_the_check_in_the_ranking(gen):
    assert gen._options(None, None)[1].rank_weight == EditSampler().rank_weight  # 1.0: today's ranking
    assert gen._options(EditSampler(rank_weight=30.0), None, guidance_scale=2.0)[1].rank_weight == 60.0
    sampler = EditSampler(decoding="beam", beam=(2, 2), max_steps=3)
    c = HasWord("Italian")
    plain = gen.generate(n=3, seed=7, bootstrap="random", sampler=sampler)
    zero = gen.generate(n=3, seed=7, bootstrap="random", sampler=sampler, constraints=c, guidance_scale=0.0)
    guided = gen.generate(n=3, seed=7, bootstrap="random", sampler=replace_rank(sampler, 1000.0), constraints=c)
    assert zero.texts == plain.texts  # guidance 0: the check steers nothing
    assert "constraints" in zero.report and "constraints" not in plain.report  # ...but is still reported
    assert guided.texts != plain.texts and sum(guided.report["satisfied"]) >= sum(zero.report["satisfied"])


def replace_rank(sampler: EditSampler, w: float) -> EditSampler:
    from dataclasses import replace

    return replace(sampler, rank_weight=w)


def test_an_unreadable_word_is_kept_intact_and_marked(gen):
    """An emoji is no character of the model's vocabulary: never dropped, listed in ``unknown_words``."""
    text = "The Mill is a cheap pub 🍺 near the river ."
    for c in (Length(4), HasWord("Italian") & Length(6)):
        out = gen.edit(text, constraints=c, sampler=EditSampler(beam=(2, 1), max_steps=8, rank_weight=100.0), t_start=3)
        got = out.texts[0]
        assert "🍺" in split_words(got)
        assert all("🍺" not in op["old"] for op in out.report["edits"][0])
        k = out_words(gen, out).index("[UNK]") + 1  # the word positions of the output ids
        assert out.report["unknown_words"][0] == [{"position": k, "word": "🍺"}]


def test_report_schema(gen):
    """The keys of build_output (well_formed, constraints, satisfied) plus the edit entries, one per sample."""
    per_sample = {"well_formed", "satisfied", "steps", "edits", "start", "unknown_words"}
    common = per_sample | {"constraints", "seconds", "seed"}
    sampler = EditSampler(max_steps=2)
    outs = {"generate": gen.generate(n=3, bootstrap="random", sampler=sampler, constraints=Length(6)),
            "infill": gen.infill("The Mill is a [MASK:2] pub .", n=2, sampler=sampler),
            "edit": gen.edit(TEXT, n=2, sampler=sampler, constraints=Length(8))}
    extra = {"generate": {"bootstrap"}, "infill": {"mbr"}, "edit": set()}
    for call, out in outs.items():
        assert set(out.report) == common | extra[call], call
        for key in per_sample:
            assert len(out.report[key]) == len(out.texts), (call, key)
        for rec in out.report["constraints"].values():
            assert len(rec["satisfied"]) == len(rec["scores"]) == len(out.texts)
        assert out.tokens.shape[0] == len(out.texts) and out.report["seed"] == 0


def test_edit_backend_imports_stay_inside_and_below():
    """No module of the edit backend imports another backend, the API, the CLI or evaluation, and none has a
    function-local import of a ctrlgen module unless marked ``# lazy: start-up speed``."""
    import ast

    import ctrlgen.backends.edit as pkg

    forbidden = ("ctrlgen.api", "ctrlgen.cli", "ctrlgen.evaluation", "ctrlgen.backends.")
    for path in Path(pkg.__file__).parent.glob("*.py"):
        source = path.read_text()
        lines = source.splitlines()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                for inner in ast.walk(node):
                    if isinstance(inner, ast.ImportFrom) and (inner.module or "").startswith("ctrlgen"):
                        assert "# lazy: start-up speed" in lines[inner.lineno - 1], f"{path.name}:{inner.lineno}"
            if isinstance(node, ast.ImportFrom) and node.module:
                bad = node.module.startswith(forbidden) and not node.module.startswith("ctrlgen.backends.edit")
                assert not bad and node.module != "ctrlgen", f"{path.name} imports {node.module}"

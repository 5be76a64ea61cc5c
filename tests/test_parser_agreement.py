"""A second parser oracle: bracket agreement between two parsers, the ``Oracles`` view that scores with the second
one, ``recipes/control_long.py --second-parser`` wiring (stand-in parsers), and the bundled second model."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from nltk import Tree

from ctrlgen.errors import CtrlgenError, DataError
from ctrlgen.evaluation.targets import SpanTarget, TreeTarget
from ctrlgen.evaluation.tasks import TASKS
from ctrlgen.oracles.bundle import Oracles
from ctrlgen.oracles.parser import DEFAULT_PARSER, SECOND_PARSER, agreement, load_parser

ROOT = Path(__file__).resolve().parent.parent
T = Tree.fromstring
GOLD = T("(TOP (S (NP (DT The) (NN pub)) (VP (VBZ is) (ADJP (JJ cheap))) (. .)))")
# the same words: NP kept, VP lost its ADJP, and the VP swallowed the final "." (a punctuation-only difference)
OTHER = T("(TOP (S (NP (DT The) (NN pub)) (VP (VBZ is) (JJ cheap) (. .))))")
FLAT = T("(TOP (FRAG (DT The) (NN pub) (VBZ is) (JJ cheap) (. .)))")
SECOND = [T("(TOP (S (NP (DT A) (NN menu)) (VP (VBZ has) (NP (NN sushi)))))"), T("(TOP (NP (NN Food) (. .)))")]


# ------------------------------------------------------------------------------------ agreement
@pytest.mark.parametrize("punct", [False, True])
def test_a_parser_agrees_with_itself_completely(punct: bool) -> None:
    trees = [GOLD, OTHER, FLAT, *SECOND]
    c = agreement(trees, [t.copy(deep=True) for t in trees], punct_from=trees if punct else None)
    assert c.matched == c.pred == c.gold > 0 and c.f1 == 1.0


def test_agreement_is_symmetric_and_counts_by_hand() -> None:
    ab, ba = agreement([GOLD, SECOND[0]], [OTHER, SECOND[0]]), agreement([OTHER, SECOND[0]], [GOLD, SECOND[0]])
    # GOLD: S(0,5) NP(0,2) VP(2,4) ADJP(3,4); OTHER: S(0,5) NP(0,2) VP(2,5) -> 2 shared; SECOND[0]: S NP VP NP
    assert (ab.matched, ab.pred, ab.gold) == (2 + 4, 4 + 4, 3 + 4)
    assert ab.f1 == ba.f1 == pytest.approx(2 * 6 / 15)
    assert ab.precision == ba.recall and ab.recall == ba.precision
    assert agreement([GOLD], [FLAT]).f1 == 0.0 < ab.f1 < 1  # labelled: the whole-sentence FRAG is not an S


def test_punctuation_deleted_by_one_side_s_tags() -> None:
    # deleting "." by GOLD's tags makes OTHER's VP(2,5) the same span as GOLD's VP(2,4): one more match
    other_tags = T("(TOP (S (NP (DT The) (NN pub)) (VP (VBZ is) (JJ cheap) (NN .))))")  # "." mis-tagged by B
    assert agreement([GOLD], [OTHER]).matched == 2
    by_gold = agreement([GOLD], [other_tags], punct_from=[GOLD])
    assert by_gold.matched == 3 and by_gold.f1 > agreement([GOLD], [other_tags]).f1
    # by B's tags nothing is punctuation: every word counts, as without punct_from
    assert agreement([GOLD], [other_tags], punct_from=[other_tags]) == agreement([GOLD], [other_tags])


def test_agreement_skips_empty_and_rejects_mismatches() -> None:
    assert agreement([GOLD, None], [GOLD, FLAT]) == agreement([GOLD], [GOLD])
    with pytest.raises(DataError):
        agreement([GOLD], [GOLD, GOLD])
    with pytest.raises(DataError):
        agreement([GOLD], [SECOND[1]])  # different numbers of words
    with pytest.raises(DataError):
        agreement([GOLD], [GOLD], punct_from=[SECOND[1]])


# ------------------------------------------------------------------------------- stand-in parsers
class FixedParser:
    """Parses every word list to ``tree``'s shape when the words fit it, else to a flat ``FRAG``."""

    def __init__(self, tree: Tree, name: str = "stand-in") -> None:
        self.tree, self.name, self.calls = tree, name, 0

    def parse(self, sentences: Sequence[Sequence[str]]) -> list[Any]:
        self.calls += 1
        out = []
        for words in sentences:
            t = self.tree.copy(deep=True)
            if len(t.leaves()) != len(words):
                t = Tree("TOP", [Tree("FRAG", [Tree("NN", [w]) for w in words])])
            for pos, w in zip(t.treepositions("leaves"), words, strict=True):
                t[pos] = w
            out.append(t)
        return out


def test_oracles_view_scores_tree_and_spans_with_the_second_parser() -> None:
    first, second = FixedParser(GOLD), FixedParser(FLAT)
    oracles = Oracles(parser=first, teacher_name=None)
    with pytest.raises(CtrlgenError):
        oracles.with_second_parser()
    oracles.second_parser = second
    oracles.require_second_parser()  # already held: nothing loaded, only named
    assert oracles.names["parser2"] == "stand-in" and oracles.second_parser is second
    view = oracles.with_second_parser()
    assert view.parser is second and view.second_parser is None and oracles.parser is first
    assert view.names["parser"] == "stand-in" and "parser" not in oracles.names
    tree, spans = TASKS.get("tree"), TASKS.get("spans")
    tt = [TreeTarget(GOLD.pformat(margin=1 << 30))]
    st = [SpanTarget(tuple(GOLD.leaves()), ((0, 1, "NP"), (2, 3, "VP")))]
    texts = [["The pub is cheap .", "A pub is cheap ."]]
    assert tree.score(tt, texts, oracles)["tree_f1"] == pytest.approx(100.0)
    assert tree.score(tt, texts, view)["tree_f1"] < 50.0
    assert spans.score(st, texts, oracles)["span_success"] == pytest.approx(100.0)
    assert spans.score(st, texts, view)["span_success"] == 0.0
    assert first.calls == 2 and second.calls == 2


# -------------------------------------------------------------------------- control_long wiring
def _control_long() -> ModuleType:
    if str(ROOT / "recipes") not in sys.path:  # control_long imports its sibling long_table, as when run as a script
        sys.path.insert(0, str(ROOT / "recipes"))
    spec = importlib.util.spec_from_file_location("control_long_under_test", ROOT / "recipes" / "control_long.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def test_control_long_second_parser_option_and_cells() -> None:
    cl = _control_long()
    assert cl.parse_args([]).second_parser is None
    assert cl.parse_args(["--second-parser"]).second_parser == ""  # the bundled second model
    assert cl.parse_args(["--second-parser", "x.pt", "--tasks", "tree"]).second_parser == "x.pt"
    oracles = Oracles(parser=FixedParser(GOLD), teacher_name=None)
    tt = [TreeTarget(GOLD.pformat(margin=1 << 30))]
    texts = [["The pub is cheap ."]]
    assert cl.second_scores("tree", tt, texts, oracles) == {}  # no second parser: nothing added
    oracles.second_parser = FixedParser(OTHER)
    got = cl.second_scores("tree", tt, texts, oracles)
    assert got["success_parser2"] == got["metrics_parser2"]["tree_f1"] == pytest.approx(100 * 2 * 2 / 7, abs=0.01)  # 2 shared of 3 + 4
    assert cl.second_scores("pos", tt, texts, oracles) == {}  # the tagger task has no parser
    ref = cl.reference_scores("tree", tt, oracles)  # the targets' own words: parser 1 gives 100 by construction
    assert ref["success"] == 100.0 and ref["success_parser2"] == got["success_parser2"]


def test_recorded_method_keeps_texts_and_delegates() -> None:
    cl = _control_long()

    class Two(cl.Method):
        name, needs_model, tasks = "two", False, frozenset({"tree"})

        def sample(self, targets: Sequence[Any], ctx: Any) -> list[list[str]]:
            return [["a b", "c"] for _ in targets]

    rec = cl.Recorded(Two())
    assert rec.texts is None and rec.name == "two" and rec.supports("tree") and not rec.supports("pos")
    assert rec.sample([1, 2], None) == rec.texts == [["a b", "c"], ["a b", "c"]]


def test_markdown_has_a_second_parser_column_only_when_scored() -> None:
    cl = _control_long()
    c = {"success": 70.0, "bigram_precision": 90.0, "lm_score": 3.0, "distinct_2": 80.0, "self_bleu": 20.0,
         "distinct_samples": 4.0, "n": 4, "seconds_per_target": 1.0, "cpu_seconds_per_target": 1.0}
    one = cl.markdown({"table": {"tree": {"edit": c}}}, ["edit"], ["table"], ["tree"]).splitlines()
    two = cl.markdown({"table": {"tree": {"edit": {**c, "success_parser2": 55.5}}}}, ["edit"], ["table"],
                      ["tree"]).splitlines()
    assert "parser 2" not in one[0] and "success parser 2" in two[0]
    assert two[0].count("|") == one[0].count("|") + 1 == two[1].count("|") == two[2].count("|")
    assert "| 70.0 | 55.5 |" in two[2]


# ------------------------------------------------------------------------------ the bundled model
def test_second_bundled_parser_loads_and_differs_from_the_first() -> None:
    pytest.importorskip("benepar", reason="the parser oracle needs benepar")
    if not SECOND_PARSER.is_file():
        pytest.skip(f"no second parser asset at {SECOND_PARSER.parent.name}/ (run recipes/train_parser.py --export)")
    words = [["The", "Vaults", "is", "a", "cheap", "pub", "near", "Café", "Adriatic", "."], ["Food", "is", "good", "."]]
    second = load_parser(SECOND_PARSER)
    trees = second.parse(words)
    assert [t.leaves() for t in trees] == words and all(t.label() == "TOP" for t in trees)
    assert second.name == "parser-ptb-sample-2" and second.path.read_bytes() != DEFAULT_PARSER.read_bytes()
    c = agreement(trees, second.parse_uncached(words))
    assert c.f1 == 1.0 and c.matched > 0


def test_merge_renames_the_old_short_set_to_table(tmp_path: Path) -> None:
    cl = _control_long()
    cell = {"success": 70.0, "bigram_precision": 90.0, "lm_score": 3.0, "distinct_2": 80.0, "self_bleu": 20.0,
            "distinct_samples": 4.0, "n": 4, "seconds_per_target": 1.0, "cpu_seconds_per_target": 1.0}
    head = {"n": 4, "targets_per_task": 6, "embedding_steps": 200, "discrete_steps": None, "rerank": 4, "ar_pool": 64,
            "min_words_long": 20, "seq_len": 48, "seed": 0, "rows": ["edit"]}
    old = {**head, "sets": ["short", "long"], "results": {"short": {"tree": {"edit": cell}}, "long": {"tree": {"edit": cell}}},
           "targets": {"short": {"tree": [{"ref": 1, "words": 28}]}, "long": {"tree": [{"ref": 2, "words": 25}]}}}
    new = {**head, "set_names": 2, "sets": ["short"], "results": {"short": {"tree": {"edit": {**cell, "success": 50.0}}}},
           "targets": {"short": {"tree": [{"ref": 3, "words": 12}]}}}
    paths = []
    for k, run in enumerate((old, new)):
        paths.append(tmp_path / f"{k}.json")
        paths[-1].write_text(json.dumps(run))
    cl.merge([str(p) for p in paths], str(tmp_path / "out.json"), cl.ROWS)
    got = json.loads((tmp_path / "out.json").read_text())
    assert got["sets"] == ["table", "short", "long"] and got["set_names"] == 2
    assert got["results"]["table"]["tree"]["edit"]["success"] == 70.0  # the old run's "short" is today's "table"
    assert got["results"]["short"]["tree"]["edit"]["success"] == 50.0  # the new run's short set is kept as it is
    assert got["targets"]["short"]["tree"][0]["words"] == 12 and got["targets"]["table"]["tree"][0]["words"] == 28
    assert sys.modules["long_table"].renamed(new) is new  # a run with today's names is left alone
